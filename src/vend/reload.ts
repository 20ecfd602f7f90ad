/**
 * Hot reload: the only importer of chokidar. The store switches identities by renaming a fresh symlink over
 * `<state.dir>/live` (store.ts activate), so the watch is on the state directory itself (depth 0, symlinks not
 * followed): a rename over `live` is reported as an event for `live`, while a watch on the link would follow the old
 * target. The watcher only says "something happened to live"; the caller compares the version live resolves to, so
 * duplicate or spurious events cost one readlink.
 */
import path from 'node:path';
import { watch } from 'chokidar';
import { formatError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

export interface LiveWatcher {
  close(): Promise<void>;
}

/**
 * Calls `onChange` after each change of `<stateDir>/live`, never two at once: events that arrive while it runs
 * collapse into one more call. Resolves once the watch is established, so a switch after that is never missed.
 */
export async function watchLive(stateDir: string, onChange: () => Promise<unknown>, logger: Logger): Promise<LiveWatcher> {
  const dir = path.resolve(stateDir);
  const live = path.join(dir, 'live');
  let running: Promise<void> | undefined;
  let again = false;
  const trigger = () => {
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        await onChange().catch((e: unknown) => logger.warn('identity reload failed', { error: formatError(e) }));
      } while (again);
    })().finally(() => (running = undefined));
  };
  const watcher = watch(dir, { depth: 0, followSymlinks: false, ignoreInitial: true, persistent: true });
  watcher.on('all', (_event, p) => {
    if (path.resolve(p) === live) trigger();
  });
  watcher.on('error', (e) => logger.warn('watching the identity store failed', { dir, error: formatError(e) }));
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  logger.debug('watching the live identity', { file: live });
  return {
    close: async () => {
      await watcher.close();
      await running;
    },
  };
}
