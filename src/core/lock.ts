import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { AgentError } from './errors.js';
import type { Clock } from './clock.js';

export interface Lock {
  release(): Promise<void>;
}

/** What a contender saw in a lock file: the inode (which file) and the owner PID it names. */
interface Holder {
  ino: number;
  raw: string;
  pid: number;
}

/**
 * An exclusive lock file holding the owner's PID. A lock whose owner is dead (crash, SIGKILL) is taken over, so a
 * killed renewal never wedges the timer. Two live runs never interleave: the second waits up to waitMs, then fails
 * with LOCKED.
 *
 * Why it is built this way:
 *  - The file appears with its content already in it (written to a private temp file, then link(2)ed into place,
 *    which fails with EEXIST like O_EXCL). A contender therefore never reads an empty lock and mistakes a lock being
 *    created for a dead one.
 *  - Removing a stale lock is the racy step: two contenders may both see the dead owner, one removes it and takes a
 *    fresh lock, and the other would then remove that fresh lock. So removal happens only under a takeover guard
 *    named after the stale file's identity (inode + content), and only after re-checking, under the guard, that the
 *    lock file is still that same stale file. Only holders of that guard ever unlink that identity, so between the
 *    re-check and the unlink the file cannot change. A guard whose own holder died is removed the same way, one
 *    level up.
 */
export async function acquireLock(file: string, o: { clock: Clock; waitMs: number; pollMs?: number }): Promise<Lock> {
  const deadline = o.clock.now().getTime() + o.waitMs;
  for (;;) {
    const mine = await tryCreate(file);
    if (mine) {
      return {
        release: async () => {
          const now = await identify(file);
          if (now && now.ino === mine.ino && now.raw === mine.raw) await fsp.rm(file, { force: true });
          heldHere.delete(mine.ino);
        },
      };
    }
    const seen = await identify(file);
    if (!seen) continue; // released between our attempt and our look: try again at once
    if (!ownerAlive(seen)) {
      await removeStale(file, seen, 0);
      continue;
    }
    if (o.clock.now().getTime() >= deadline) {
      throw new AgentError({
        code: 'LOCKED',
        component: 'lock',
        message: `another iamra-agent run (pid ${seen.pid}) holds ${file}`,
        hint: 'wait for it to finish; runs never interleave',
      });
    }
    await o.clock.sleep(o.pollMs ?? 100);
  }
}

/** Create `file` holding our PID, atomically with its content; undefined if it already exists. */
async function tryCreate(file: string): Promise<Holder | undefined> {
  const raw = String(process.pid);
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await fsp.writeFile(tmp, raw, { mode: 0o600, flag: 'wx' });
    await fsp.link(tmp, file);
    const st = await fsp.stat(tmp); // same inode as `file`, read without a window in which `file` could change
    heldHere.add(st.ino);
    return { ino: st.ino, raw, pid: process.pid };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw new AgentError({
      code: 'LOCK_FAILED',
      component: 'lock',
      message: `cannot create lock ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      hint: 'check that the state/runtime directory is writable',
      cause: e,
    });
  } finally {
    await fsp.rm(tmp, { force: true });
  }
}

/** Inode and content read through one descriptor, so they describe the same file. */
async function identify(file: string): Promise<Holder | undefined> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(file, 'r');
    const st = await fh.stat();
    const raw = await fh.readFile('utf8');
    // Content that is not a PID (a file from elsewhere, a torn write by an old version) names no live owner.
    const pid = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : 0;
    return { ino: st.ino, raw, pid };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  } finally {
    await fh?.close();
  }
}

async function removeStale(target: string, seen: Holder, depth: number): Promise<void> {
  const guard = `${target}.takeover-${seen.ino}-${seen.pid}`;
  const g = await tryCreate(guard);
  if (g) {
    try {
      const now = await identify(target);
      if (now && now.ino === seen.ino && now.raw === seen.raw) await fsp.rm(target, { force: true });
    } finally {
      await fsp.rm(guard, { force: true });
      heldHere.delete(g.ino);
    }
    return;
  }
  // Another contender is taking this stale lock over. If it died doing so, its guard is stale in turn.
  const holder = await identify(guard);
  if (holder && !ownerAlive(holder) && depth < 4) await removeStale(guard, holder, depth + 1);
}

/** Inodes of lock files this process created and still holds. */
const heldHere = new Set<number>();

/**
 * A lock naming our own PID that we do not hold was left by an earlier process that had the same PID (the state
 * directory outlives reboots, PIDs repeat): it is stale, not ours.
 */
function ownerAlive(h: Holder): boolean {
  if (h.pid === process.pid) return heldHere.has(h.ino);
  return isAlive(h.pid);
}

function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
