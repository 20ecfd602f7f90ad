import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

/** AWS CLI v2 (Debian's /usr/bin/aws; plain `aws` may be a v1 shim), the real client the sandbox is checked against. */
export const AWS_CLI = '/usr/bin/aws';

const run = promisify(execFile);

export interface AwsCliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `/usr/bin/aws ARGS --endpoint-url URL --output json` with a static key and nothing else from the machine: a
 * private HOME and config files, no instance metadata, no pager, one attempt (so an error is the service's answer).
 */
export async function awsCli(
  args: string[],
  o: { endpoint: string; home: string; accessKeyId: string; secretAccessKey: string; region?: string },
): Promise<AwsCliResult> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: o.home,
    AWS_ACCESS_KEY_ID: o.accessKeyId,
    AWS_SECRET_ACCESS_KEY: o.secretAccessKey,
    AWS_DEFAULT_REGION: o.region ?? 'us-east-1',
    AWS_CONFIG_FILE: path.join(o.home, 'config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(o.home, 'credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
    AWS_MAX_ATTEMPTS: '1',
  };
  try {
    const r = await run(AWS_CLI, [...args, '--endpoint-url', o.endpoint, '--output', 'json'], { env, timeout: 30_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}
