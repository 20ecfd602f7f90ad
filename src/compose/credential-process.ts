/** Composition of `credential-process`: the vending provider → one Version 1 JSON document (cached when allowed). */
import path from 'node:path';
import type { AgentConfig } from '../config/schema.js';
import { credentialProcessOutput, type CacheKey } from '../vend/process.js';
import type { Runtime } from './runtime.js';
import { openVend, type VendOverrides } from './vend.js';

/** Where the next call can find these credentials without loading the config (the CLI's fast path remembers it). */
export interface CachedCredentialRoute {
  cacheDir: string;
  /** the live leaf certificate (state.dir/live/cert.pem) */
  certFile: string;
  key: Omit<CacheKey, 'certFingerprint'>;
  refreshBeforeMs: number;
}

export async function credentialProcess(
  cfg: AgentConfig,
  rt: Runtime,
  overrides: VendOverrides,
  o: { cache: boolean },
): Promise<{ out: string; route?: CachedCredentialRoute }> {
  const vend = await openVend(cfg, { ...rt, oneShot: true }, overrides);
  const cache = cfg.vend.cache && o.cache ? vend.cache() : undefined;
  const out = await credentialProcessOutput({ provider: vend.provider, clock: rt.clock, logger: rt.logger, ...(cache ? { cache } : {}) });
  if (!cache) return { out };
  const { certFingerprint: _, ...key } = cache.key;
  return { out, route: { cacheDir: cache.dir, certFile: path.join(vend.stateDir, 'live', 'cert.pem'), key, refreshBeforeMs: cache.refreshBeforeMs } };
}
