/**
 * `npm run bench -- keys [--runs N]`: issue 7, "What must be shown" 5. One sandbox per key kind (file key,
 * SoftHSM2 token, swtpm), each enrolled by `bootstrap`; then, side by side:
 *
 * - signature latency in process: the agent's KeyHandle for each key (what one CreateSession or CSR costs in
 *   signing), N signatures after one warm-up;
 * - CreateSession latency as the AWS CLI pays it: a cold `credential-process --no-cache` of the agent against the
 *   AWS credential helper v1.4.0 on the same certificate and the same key (file: key.pem; token: the live key.ref
 *   URI with `?pin-value=`, the only way the helper takes a PIN), run in alternation so machine drift hits both.
 *
 * The helper reaches the swtpm key (handle:0x81000010) through the sandbox's $TPM_DEVICE unix socket, and runs
 * under `script` (a pseudo-terminal): v1.4.0 opens /dev/tty before every TPM signature (test/helpers/pty.ts). The
 * pty adds a few ms, shown by the `script` floor line.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { FileKeyHandle } from '../../src/keys/file.js';
import { Pkcs11KeyHandle } from '../../src/keys/pkcs11.js';
import { TpmKeyHandle } from '../../src/keys/tpm.js';
import type { KeyHandle } from '../../src/keys/types.js';
import { helperFlags, livePkcs11Key } from '../helpers/aws-helper.js';
import { awsHelperBin, cliPath } from '../helpers/paths.js';
import { type E2eSandbox, startSandbox } from '../helpers/sandbox.js';
import { softhsmModule } from '../helpers/softhsm.js';

type Kind = 'file' | 'pkcs11' | 'tpm';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${path.basename(cmd)} exited ${code}: ${err}`))));
  });
}

async function openLiveKey(kind: Kind, sb: E2eSandbox): Promise<KeyHandle> {
  const live = path.join(sb.dir, 'state', 'live');
  if (kind === 'file') return FileKeyHandle.load(path.join(live, 'key.pem'));
  const ref = JSON.parse(readFileSync(path.join(live, 'key.ref'), 'utf8')) as { uri: string; handle: string };
  if (kind === 'pkcs11') return Pkcs11KeyHandle.open({ module: softhsmModule, uri: ref.uri, pin: { pinFile: path.join(sb.dir, 'softhsm', 'pin') } });
  return TpmKeyHandle.open({ tcti: sb.env.TPM2TOOLS_TCTI!, handle: ref.handle });
}

function helperArgs(kind: Kind, sb: E2eSandbox): string[] {
  if (kind === 'file') return ['credential-process', ...helperFlags(sb)];
  if (kind === 'pkcs11') return ['credential-process', ...helperFlags(sb, { pkcs11: livePkcs11Key(sb) })];
  const f = helperFlags(sb);
  f[f.indexOf('--private-key') + 1] = 'handle:0x81000010';
  return ['credential-process', ...f, '--no-tpm-key-password'];
}

export default async function keysBench(args: string[]): Promise<void> {
  const runs = args[0] === '--runs' ? Number(args[1]) : 10;
  const rows: string[] = [];
  for (const kind of ['file', 'pkcs11', 'tpm'] as const) {
    const sb = await startSandbox({ args: ['--key', kind], bootstrap: true });
    try {
      // SoftHSM reads its config once per process: this process signs with the sandbox's token
      if (kind === 'pkcs11') process.env.SOFTHSM2_CONF = sb.env.SOFTHSM2_CONF;
      const key = await openLiveKey(kind, sb);
      const data = Buffer.from('AWS4-X509-ECDSA-SHA256\n20261201T000000Z\n…canonical request hash…');
      await key.sign(data);
      const signs = kind === 'tpm' ? 20 : 200;
      const t0 = performance.now();
      for (let i = 0; i < signs; i++) await key.sign(data);
      const signMs = (performance.now() - t0) / signs;

      const agent: number[] = [];
      const helper: number[] = [];
      const h = helperArgs(kind, sb);
      for (let i = 0; i < runs; i++) {
        agent.push(await timed(process.execPath, [cliPath, 'credential-process', '--no-cache', '--log-level', 'error'], sb.env));
        helper.push(
          kind === 'tpm'
            ? await timed('/usr/bin/script', ['-qec', [awsHelperBin, ...h].map(q).join(' '), '/dev/null'], sb.env)
            : await timed(awsHelperBin, h, sb.env),
        );
      }
      const a = median(agent);
      const hm = median(helper);
      rows.push(
        `${key.describe().padEnd(52)} sign ${signMs.toFixed(2).padStart(7)} ms   credential-process: agent ${a.toFixed(0).padStart(4)} ms, helper ${hm.toFixed(0).padStart(4)} ms${kind === 'tpm' ? ' (in a pty)' : ''}`,
      );
    } finally {
      await sb.stop();
    }
  }
  const floor: number[] = [];
  const pty: number[] = [];
  for (let i = 0; i < runs; i++) {
    floor.push(await timed(process.execPath, ['-e', ''], process.env));
    pty.push(await timed('/usr/bin/script', ['-qec', '/bin/true', '/dev/null'], process.env));
  }
  process.stdout.write(
    `keys bench (${runs} cold credential-process runs each, medians; one CreateSession per run; node -e "" takes ${median(floor).toFixed(0)} ms here, script -c true ${median(pty).toFixed(0)} ms)\n${rows.join('\n')}\n`,
  );
}
