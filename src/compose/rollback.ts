/** Composition of `rollback`: the version before the live one goes live again, under the run lock, then the hooks. */
import type { AgentConfig } from '../config/schema.js';
import type { HookResult } from '../renew/hooks.js';
import { IdentityStore, StateFile } from '../store/index.js';
import { afterRenewHooks } from './hooks.js';
import type { Runtime } from './runtime.js';

export interface RollbackResult {
  from: string | undefined;
  to: string;
  serial: string;
  notAfter: string;
}

export async function rollbackIdentity(cfg: AgentConfig, rt: Runtime): Promise<{ result: RollbackResult; hooks: HookResult[] }> {
  const { clock, logger } = rt;
  const store = await IdentityStore.open(cfg.state.dir, { clock, logger });
  // under the run lock, so a rollback never lands in the middle of a renewal
  const lock = await store.lock({ waitMs: cfg.state.lockTimeout });
  let result: RollbackResult;
  try {
    const from = await store.liveVersion();
    const to = await store.rollback();
    const id = await store.read(to.version);
    result = { from, to: to.version, serial: id.serial, notAfter: id.notAfter.toISOString() };
  } finally {
    await lock.release();
  }
  // consumers that copied or reloaded the files must follow live back, as they followed it forward
  const state = new StateFile(cfg.state.dir, { clock, logger });
  return { result, hooks: await afterRenewHooks(cfg, rt, { store, state }, result.to) };
}
