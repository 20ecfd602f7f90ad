import { spawn } from 'node:child_process';
import { openSync, promises as fsp } from 'node:fs';
import type { Clock } from '../core/clock.js';
import { AgentError } from '../core/errors.js';
import { ensurePrivateDir, readFileOrUndefined } from '../core/fs.js';
import { files, type SandboxInfo } from './index.js';

/**
 * `sandbox up` / `down`: the sandbox runs as a detached background process (`sandbox run`) whose readiness signal is
 * D/sandbox.json; `down` stops exactly the PIDs it recorded.
 */

export async function sandboxUp(o: { dir: string; runArgs: string[]; command: string[]; clock: Clock; readyTimeoutMs: number }): Promise<SandboxInfo> {
  const f = files(o.dir);
  await ensurePrivateDir(o.dir);
  const existing = await readInfo(o.dir);
  if (existing && alive(existing.pid)) {
    throw new AgentError({
      code: 'SANDBOX_RUNNING',
      component: 'sandbox',
      message: `a sandbox is already running in ${o.dir} (pid ${existing.pid})`,
      hint: `iamra-agent sandbox down --dir ${o.dir}`,
    });
  }
  await fsp.rm(f.info, { force: true });
  const log = openSync(f.log, 'a', 0o600);
  const child = spawn(o.command[0]!, [...o.command.slice(1), 'sandbox', 'run', '--dir', o.dir, ...o.runArgs], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  child.unref();
  const deadline = o.clock.now().getTime() + o.readyTimeoutMs;
  for (;;) {
    const info = await readInfo(o.dir);
    if (info && info.pid === child.pid) return info;
    if (exited !== undefined) {
      const tail = ((await readFileOrUndefined(f.log)) ?? '').split('\n').slice(-15).join('\n');
      throw new AgentError({
        code: 'SANDBOX_FAILED',
        component: 'sandbox',
        message: `the sandbox exited (code ${exited}) before it was ready:\n${tail}`,
        hint: `see ${f.log}`,
      });
    }
    if (o.clock.now().getTime() > deadline) {
      if (child.pid) process.kill(child.pid, 'SIGTERM');
      throw new AgentError({
        code: 'SANDBOX_TIMEOUT',
        component: 'sandbox',
        message: `the sandbox was not ready within ${o.readyTimeoutMs} ms`,
        hint: `see ${f.log}`,
      });
    }
    await o.clock.sleep(50);
  }
}

export async function sandboxDown(o: { dir: string; clock: Clock }): Promise<{ stopped: number[] }> {
  const info = await readInfo(o.dir);
  if (!info) return { stopped: [] };
  const stopped: number[] = [];
  // the sandbox stops Pebble and swtpm itself on SIGTERM; they are stopped by PID too in case it could not
  for (const pid of [info.pid, info.pebblePid, ...(info.swtpmPid ? [info.swtpmPid] : [])]) {
    if (!alive(pid)) continue;
    process.kill(pid, 'SIGTERM');
    const deadline = o.clock.now().getTime() + 10_000;
    while (alive(pid) && o.clock.now().getTime() < deadline) await o.clock.sleep(50);
    if (alive(pid)) process.kill(pid, 'SIGKILL');
    stopped.push(pid);
  }
  await fsp.rm(files(o.dir).info, { force: true });
  return { stopped };
}

export async function readInfo(dir: string): Promise<SandboxInfo | undefined> {
  const text = await readFileOrUndefined(files(dir).info);
  if (!text) return undefined;
  try {
    return JSON.parse(text) as SandboxInfo;
  } catch {
    return undefined; // being written: atomic rename makes this rare, and the caller polls again
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
