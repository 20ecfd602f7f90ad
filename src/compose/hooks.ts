/** Composition of hooks.afterRenew: run for every version that goes live (bootstrap, renew, rollback). */
import type { AgentConfig } from '../config/schema.js';
import { runHooksForVersion, type HookConfig, type HookResult } from '../renew/hooks.js';
import type { IdentityStore, StateFile } from '../store/index.js';
import type { Runtime } from './runtime.js';

export function hookConfig(cfg: AgentConfig): HookConfig {
  return { commands: cfg.hooks.afterRenew, timeoutMs: cfg.hooks.timeout, env: cfg.hooks.env };
}

/** hooks.afterRenew for a version that just went live. */
export function afterRenewHooks(cfg: AgentConfig, rt: Runtime, life: { store: IdentityStore; state: StateFile }, version: string): Promise<HookResult[]> {
  return runHooksForVersion({ clock: rt.clock, logger: rt.logger, state: life.state, env: rt.env, store: life.store }, hookConfig(cfg), version);
}
