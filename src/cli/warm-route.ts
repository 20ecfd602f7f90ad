/**
 * The warm route's module (cli/credential-process-config.ts), as credential-process-hot.ts loads it. This is the
 * tsc build's way (dist/src, which the tests import): a plain import. In the hot bundle tools/bundle.mjs puts
 * warm-route-bundled.ts in this module's place, which loads the bundled file through the V8 code cache.
 */

export interface LoadedWarmRoute {
  module: typeof import('./credential-process-config.js');
  /** writes the code cache when this load had none: once the call's work is done (core/code-cache.ts) */
  saveCodeCache(): void;
}

export type WarmRouteLoader = (env: NodeJS.ProcessEnv) => Promise<LoadedWarmRoute>;

export const loadWarmRoute: WarmRouteLoader = async () => ({ module: await import('./credential-process-config.js'), saveCodeCache: () => {} });
