/**
 * Nothing a test file starts may outlive it. A file that node's test runner ends at its timeout gets SIGTERM, which
 * by default ends the process without running `exit` handlers or `after` hooks: a detached sandbox (its own process
 * group, with Pebble and the stand-ins in it) would keep running and holding ports. So every long-lived child is
 * registered here and killed (a whole process group where it leads one) on teardown, on exit and on the signals a
 * runner sends. SIGKILL of the test process itself cannot be caught; nothing in-process can cover that.
 */

import type { ChildProcess } from 'node:child_process';

/** pid → true when it leads its own process group (spawned detached) */
const live = new Map<number, boolean>();
let installed = false;

function killNow(pid: number, group: boolean): void {
  try {
    process.kill(group ? -pid : pid, 'SIGKILL');
  } catch {
    // already gone (ESRCH): that is the goal
  }
}

function killAll(): void {
  for (const [pid, group] of live) killNow(pid, group);
  live.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    const onSignal = () => {
      killAll();
      // then die of the same signal, as the runner expects (its default action, now that no handler is left)
      process.removeListener(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

/** Kill `pid` (with `group`: its whole process group) when this process exits or is signalled. */
export function reapOnExit(pid: number, o: { group: boolean }): void {
  install();
  live.set(pid, o.group);
}

/** The child ended normally: forget it, so a recycled pid is never killed later. */
export function forget(pid: number): void {
  live.delete(pid);
}

/** A child of this process (not detached): killed with this process, forgotten when it exits. */
export function reapChild<T extends ChildProcess>(child: T): T {
  const pid = child.pid;
  if (pid === undefined) return child;
  reapOnExit(pid, { group: false });
  child.once('exit', () => forget(pid));
  return child;
}

/** Kill it (its group) now and forget it. */
export function reap(pid: number): void {
  const group = live.get(pid);
  if (group === undefined) return;
  live.delete(pid);
  killNow(pid, group);
}

/** true while any process of the group `pgid` is alive */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
