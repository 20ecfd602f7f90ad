import { promises as fsp, constants } from 'node:fs';
import { AgentError } from './errors.js';
import type { Clock } from './clock.js';

export interface Lock {
  release(): Promise<void>;
}

/**
 * An exclusive lock file (O_CREAT|O_EXCL) holding the owner's PID. A lock whose owner is dead (crash, SIGKILL) is
 * taken over, so a killed renewal never wedges the timer. Two live runs never interleave: the second waits up to
 * waitMs, then fails with LOCKED.
 */
export async function acquireLock(file: string, o: { clock: Clock; waitMs: number; pollMs?: number }): Promise<Lock> {
  const deadline = o.clock.now().getTime() + o.waitMs;
  for (;;) {
    try {
      const fh = await fsp.open(file, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return {
        release: async () => {
          const owner = await fsp.readFile(file, 'utf8').catch(() => '');
          if (owner === String(process.pid)) await fsp.rm(file, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new AgentError({ code: 'LOCK_FAILED', component: 'lock', message: `cannot create lock ${file}: ${(e as NodeJS.ErrnoException).code}`, hint: 'check that the state/runtime directory is writable', cause: e });
      }
      const owner = Number((await fsp.readFile(file, 'utf8').catch(() => '')).trim());
      if (!owner || !isAlive(owner)) {
        // stale: the owner died without releasing. Remove only if it is still the same stale file.
        await fsp.rm(file, { force: true });
        continue;
      }
      if (o.clock.now().getTime() >= deadline) {
        throw new AgentError({ code: 'LOCKED', component: 'lock', message: `another iamra-agent run (pid ${owner}) holds ${file}`, hint: 'wait for it to finish; runs never interleave' });
      }
      await o.clock.sleep(o.pollMs ?? 100);
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
