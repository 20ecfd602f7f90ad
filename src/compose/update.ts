/** Composition of `update`: the vending provider → a profile in a shared credentials file, kept fresh. */
import type { AgentConfig } from '../config/schema.js';
import { defaultCredentialsFile, runUpdater } from '../vend/credfile.js';
import { watchLive } from '../vend/reload.js';
import type { Runtime } from './runtime.js';
import { openVend } from './vend.js';

export interface UpdateOptions {
  once: boolean;
  file?: string;
  profile?: string;
  endpoint?: string;
  withProxy?: boolean;
}

/** Writes once (`once`) or until rt.signal fires. */
export async function updateCredentials(cfg: AgentConfig, rt: Runtime, o: UpdateOptions): Promise<void> {
  const { clock, logger, signal } = rt;
  const vend = await openVend(cfg, rt, { endpoint: o.endpoint, withProxy: o.withProxy });
  const options = {
    provider: vend.provider,
    file: o.file ?? cfg.vend.update.file ?? defaultCredentialsFile(rt.env),
    profile: o.profile ?? cfg.vend.update.profile,
    clock,
    logger,
    refreshBeforeMs: cfg.vend.refreshBefore,
    signal,
  };
  if (o.once) {
    await runUpdater({ ...options, once: true });
    return;
  }
  // A renewed identity is used from the next write on (the credentials already written stay valid).
  const watcher = await watchLive(vend.stateDir, () => vend.reload(), logger);
  try {
    await vend.reload();
    await runUpdater(options);
  } finally {
    await watcher.close();
  }
}
