/**
 * cli/warm-route.ts in the hot bundle (tools/bundle.mjs swaps it in): the warm route is the bundle file beside this
 * one, dist/bin/credential-process/warm.js, required through the V8 code cache kept beside the credential routes
 * (core/code-cache.ts says why and what it trusts).
 */
import { fileURLToPath } from 'node:url';
import { requireWithCodeCache } from '../core/code-cache.js';
import { codeCacheDir } from './fast-credentials.js';
import type { LoadedWarmRoute, WarmRouteLoader } from './warm-route.js';

export const loadWarmRoute: WarmRouteLoader = async (env) => {
  // this file is CommonJS in the bundle: `require` is the bundle's own
  const loaded = requireWithCodeCache(fileURLToPath(new URL('./credential-process/warm.js', import.meta.url)), { cacheDir: codeCacheDir(env), require });
  return { module: loaded.exports as LoadedWarmRoute['module'], saveCodeCache: loaded.save };
};
