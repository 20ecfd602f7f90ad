import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../src/sandbox/pebble.js';
import type { E2eSandbox } from './sandbox.js';
import { softhsmModule } from './softhsm.js';

/**
 * The AWS credential helper's flags (aws_signing_helper v1.4.0) for a sandbox identity, without the subcommand:
 * the same list works for the helper and for the agent in drop-in mode (the binary swapped).
 */
export interface HelperFlagOptions {
  /** the state directory whose live/ identity signs (default the sandbox's state/) */
  stateDir?: string;
  /** default the sandbox's host role */
  roleArn?: string;
  /**
   * a token key instead of live/key.pem, with --pkcs11-lib SoftHSM2. `pin` goes into the URI as the query attribute
   * `?pin-value=` (RFC 7512), the only way the helper takes a PIN; the agent refuses it and reads a PIN file.
   */
  pkcs11?: { uri: string; pin?: string };
}

export function helperFlags(sb: Pick<E2eSandbox, 'dir' | 'info'>, o: HelperFlagOptions = {}): string[] {
  const live = path.join(o.stateDir ?? path.join(sb.dir, 'state'), 'live');
  const key = o.pkcs11
    ? ['--private-key', o.pkcs11.pin === undefined ? o.pkcs11.uri : `${o.pkcs11.uri}?pin-value=${o.pkcs11.pin}`, '--pkcs11-lib', softhsmModule]
    : ['--private-key', path.join(live, 'key.pem')];
  return [
    '--certificate',
    path.join(live, 'cert.pem'),
    '--intermediates',
    path.join(live, 'chain.pem'),
    ...key,
    '--trust-anchor-arn',
    sb.info.trustAnchorArn,
    '--profile-arn',
    sb.info.profileArn,
    '--role-arn',
    o.roleArn ?? sb.info.roleArn,
    '--endpoint',
    sb.info.awsUrl,
    '--region',
    'us-east-1',
  ];
}

/** The token key of a `sandbox up --key pkcs11` identity: live/key.ref's URI and the sandbox's throwaway PIN. */
export function livePkcs11Key(sb: Pick<E2eSandbox, 'dir'>): { uri: string; pin: string } {
  const ref = JSON.parse(readFileSync(path.join(sb.dir, 'state', 'live', 'key.ref'), 'utf8')) as { uri: string };
  return { uri: ref.uri, pin: readFileSync(path.join(sb.dir, 'softhsm', 'pin'), 'utf8').trim() };
}

/** `BIN serve --port P FLAGS`, resolved once it says it listens (each names the port in its start-up line). */
export async function serveWith(bin: readonly string[], flags: string[], env: NodeJS.ProcessEnv): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(bin[0]!, [...bin.slice(1), 'serve', '--port', String(port), ...flags], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let err = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (/Local server started on port|"serving credentials"/.test(err)) resolve();
    });
    void exited.then(() => reject(new Error(`serve exited: ${err}`)));
  });
  return {
    url: `http://127.0.0.1:${port}/`,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
