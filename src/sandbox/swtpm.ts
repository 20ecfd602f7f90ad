import { execFile, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { openSync, promises as fsp } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import { AgentError } from '../core/errors.js';
import { ensurePrivateDir } from '../core/fs.js';

/**
 * A software TPM 2.0 (swtpm) for `sandbox up --key tpm` and the tests, state in `dir`, on loopback. swtpm cannot
 * report a port it chose itself, so a random port pair is tried and, when swtpm cannot bind it (it exits), another:
 * the port is never picked, released and then re-bound by someone else.
 */
export interface Swtpm {
  pid: number;
  /** TPM2TOOLS_TCTI / key.tpm.tcti for it */
  tcti: string;
  port: number;
  /**
   * A unix socket carrying the same TPM, for $TPM_DEVICE of the AWS credential helper: its TPM library (go-tpm)
   * opens a device or a unix socket, not TCP, and swtpm serves one transport only, which tpm2-tools' TCTI needs
   * to be TCP. Served by this process, so it lives as long as the sandbox.
   */
  device: string;
  stop(): Promise<void>;
}

const SWTPM = '/usr/bin/swtpm';

export async function startSwtpm(dir: string, deps: { clock: Clock }, o: { attempts?: number; readyTimeoutMs?: number } = {}): Promise<Swtpm> {
  await ensurePrivateDir(dir);
  await ensurePrivateDir(path.join(dir, 'state'));
  let last = '';
  for (let attempt = 0; attempt < (o.attempts ?? 8); attempt++) {
    const port = 2 * randomInt(10_000, 30_000); // even, so port+1 (control) is below 60 001
    const log = openSync(path.join(dir, 'swtpm.log'), 'a', 0o600);
    const child = spawn(
      SWTPM,
      [
        'socket',
        '--tpm2',
        '--tpmstate',
        `dir=${path.join(dir, 'state')}`,
        '--server',
        `type=tcp,port=${port},bindaddr=127.0.0.1`,
        '--ctrl',
        `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
        '--flags',
        'not-need-init,startup-clear',
      ],
      { stdio: ['ignore', log, log], detached: false },
    );
    let exited = false;
    child.on('exit', () => (exited = true));
    const tcti = `swtpm:host=127.0.0.1,port=${port}`;
    const stop = async () => {
      if (exited) return;
      const gone = once(child, 'exit');
      child.kill('SIGTERM');
      await gone;
    };
    const deadline = deps.clock.now().getTime() + (o.readyTimeoutMs ?? 10_000);
    while (!exited && deps.clock.now().getTime() < deadline) {
      if (await answers(tcti)) {
        const bridge = await unixBridge(path.join(dir, 'tpm.sock'), port);
        return {
          pid: child.pid!,
          tcti,
          port,
          device: bridge.path,
          stop: async () => {
            await bridge.close();
            await stop();
          },
        };
      }
      await deps.clock.sleep(50);
    }
    last = exited ? `swtpm exited (port ${port} taken?)` : `swtpm on port ${port} did not answer in time`;
    await stop();
  }
  throw new AgentError({
    code: 'SANDBOX_SWTPM',
    component: 'sandbox',
    message: `cannot start swtpm in ${dir}: ${last}`,
    hint: 'install swtpm and tpm2-tools (test/setup/install.sh); see swtpm.log',
  });
}

function answers(tcti: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('/usr/bin/tpm2_getcap', ['properties-fixed'], { env: { PATH: process.env.PATH ?? '/usr/bin', TPM2TOOLS_TCTI: tcti }, timeout: 5000 }, (err) =>
      resolve(!err),
    );
  });
}

/** Each connection to the unix socket `file` becomes one connection to swtpm's TCP port, bytes passed unchanged. */
async function unixBridge(file: string, port: number): Promise<{ path: string; close(): Promise<void> }> {
  await fsp.rm(file, { force: true });
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const tpm = net.connect(port, '127.0.0.1');
    open.add(client).add(tpm);
    const end = () => {
      client.destroy();
      tpm.destroy();
      open.delete(client);
      open.delete(tpm);
    };
    client.pipe(tpm).on('error', end);
    tpm.pipe(client).on('error', end);
    client.on('close', end).on('error', end);
    tpm.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(file, () => resolve()));
  await fsp.chmod(file, 0o600);
  return {
    path: file,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
