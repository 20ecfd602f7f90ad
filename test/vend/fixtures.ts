import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { AwsCredentials, Provider } from '../../src/core/provider.js';

/** Fake but well-formed STS-style credentials: ASIA key id, 40-char secret, long session token. */
export function fakeCreds(expiration: Date, tag = 'A'): AwsCredentials {
  const id = ('ASIA' + tag.toUpperCase().replace(/[^A-Z0-9]/g, '') + randomBytes(16).toString('hex').toUpperCase()).slice(0, 20);
  return {
    accessKeyId: id,
    secretAccessKey: randomBytes(30).toString('base64').slice(0, 40),
    sessionToken: 'IQoJb3JpZ2luX2VjE' + randomBytes(96).toString('base64'),
    expiration,
  };
}

/** A real Provider object whose answers the test controls; counts calls. */
export function scriptedProvider(next: () => AwsCredentials | Promise<AwsCredentials>): Provider<AwsCredentials> & { calls: number } {
  const p = {
    calls: 0,
    get: async () => {
      p.calls++;
      return next();
    },
  };
  return p;
}

export function failingProvider(message = 'CreateSession failed: 403 AccessDeniedException'): Provider<AwsCredentials> & { calls: number } {
  return scriptedProvider(() => {
    throw new Error(message);
  });
}

/**
 * Environment for a child AWS tool: nothing inherited that could resolve credentials on its own (AWS_*, ~/.aws),
 * plus the given variables.
 */
export function awsEnv(home: string, vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_')) env[k] = v;
  return { ...env, HOME: home, AWS_PAGER: '', ...vars };
}

/** Runs the AWS CLI v2 (never the v1 shim on PATH) and returns its stdout; rejects with stderr on failure. */
export function awsCli(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/aws', args, { env, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`aws ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

/** Sets process.env for an in-process SDK call and restores it afterwards, whatever happens. */
export async function withEnv<T>(vars: NodeJS.ProcessEnv, fn: () => Promise<T>): Promise<T> {
  const saved = { ...process.env };
  for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}
