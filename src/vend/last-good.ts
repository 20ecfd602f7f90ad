import type { Clock } from '../core/clock.js';
import type { AwsCredentials, RefreshableProvider } from '../core/provider.js';

/**
 * For IMDS clients: they give up after about a second (AWS CLI metadata_service_timeout and the JS SDK's IMDS
 * timeout both default to 1 s), while a refresh inside the refresh window may wait for a slow or retrying
 * CreateSession far longer. So once a refresh has taken `waitMs`, the last good credentials are answered while they
 * are still valid, and the refresh goes on in the background (the provider is single-flight: later requests join
 * it). With nothing valid to fall back on, the request waits for the provider, which fails rather than hand out
 * expired credentials.
 */
export function lastGoodWhileRefreshing<P extends RefreshableProvider<AwsCredentials>>(inner: P, deps: { clock: Clock }, waitMs: number): P {
  let lastGood: AwsCredentials | undefined;
  let generation = 0;
  const usable = (c: AwsCredentials | undefined): c is AwsCredentials => c !== undefined && c.expiration.getTime() > deps.clock.now().getTime();
  return {
    ...inner,
    async get() {
      const gen = generation;
      const fresh = inner.get().then((c) => {
        if (gen === generation) lastGood = c;
        return c;
      });
      const fallback = lastGood;
      if (!usable(fallback)) return fresh;
      const timer = new AbortController();
      const waited = deps.clock.sleep(waitMs, timer.signal).then(
        () => 'timeout' as const,
        () => 'cancelled' as const,
      );
      try {
        const first = await Promise.race([
          fresh.then(
            (c) => ({ c }),
            (e: unknown) => ({ e }),
          ),
          waited,
        ]);
        if (first === 'timeout' || first === 'cancelled') {
          fresh.catch(() => undefined); // its failure is logged by the provider
          return usable(lastGood) ? lastGood : fresh;
        }
        if ('c' in first) return first.c;
        if (usable(lastGood)) return lastGood;
        throw first.e;
      } finally {
        timer.abort();
      }
    },
    invalidate() {
      generation++;
      lastGood = undefined;
      inner.invalidate();
    },
  };
}
