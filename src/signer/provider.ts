import type { Clock } from '../core/clock.js';
import { AgentError, isAgentError, messageOf } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { AwsCredentials, Provider } from '../core/provider.js';

export interface CredentialsProviderOptions {
  /** refresh once less than this is left before expiration (config vend.refreshBefore, default 5 min) */
  refreshBeforeMs: number;
  /**
   * after a failed refresh, keep serving the cached credentials this long before trying again (default 30 s),
   * so a service outage does not turn every get() into a CreateSession call
   */
  retryAfterFailureMs?: number;
}

export interface ProviderFailure {
  error: unknown;
  at: Date;
}

export interface CredentialsProviderStatus {
  /** empty: never fetched (or invalidated); fresh; refresh-due: valid but inside refreshBefore; expired */
  state: 'empty' | 'fresh' | 'refresh-due' | 'expired';
  expiration?: Date;
  /** when get() starts refreshing */
  refreshAt?: Date;
  lastSuccessAt?: Date;
  lastError?: ProviderFailure;
  consecutiveFailures: number;
  refreshing: boolean;
}

export interface CredentialsProvider<T extends AwsCredentials = AwsCredentials> extends Provider<T> {
  peek(): T | undefined;
  /** drop the cached credentials (the certificate or key changed); the next get() fetches anew */
  invalidate(): void;
  /** the failure of the latest refresh, undefined once a refresh succeeds */
  lastError(): ProviderFailure | undefined;
  status(): CredentialsProviderStatus;
}

/**
 * Memoised AWS credentials for the vending front-ends (credential-process, IMDS server, credentials file).
 *
 * - single flight: concurrent get() calls share one fetch;
 * - refresh ahead: inside `refreshBeforeMs` of expiry, get() refreshes;
 * - last good: if that refresh fails, the cached credentials are served while still valid, the failure is logged
 *   once and reported by lastError()/status();
 * - never empty, never expired: with nothing valid to serve, get() throws CREDENTIALS_UNAVAILABLE (with the
 *   underlying error as cause and its hint).
 */
export function credentialsProvider<T extends AwsCredentials>(
  deps: { clock: Clock; logger: Logger },
  fetchCreds: () => Promise<T>,
  opts: CredentialsProviderOptions,
): CredentialsProvider<T> {
  const retryAfterFailureMs = opts.retryAfterFailureMs ?? 30_000;
  let cached: T | undefined;
  let inflight: Promise<T> | undefined;
  let generation = 0;
  let lastSuccessAt: Date | undefined;
  let failure: ProviderFailure | undefined;
  let consecutiveFailures = 0;

  const valid = (c: T | undefined, now: Date): c is T => c !== undefined && now.getTime() < c.expiration.getTime();
  const refreshAt = (c: T) => new Date(c.expiration.getTime() - opts.refreshBeforeMs);

  const refresh = (): Promise<T> => {
    if (inflight) return inflight;
    const gen = generation;
    const run = async (): Promise<T> => {
      try {
        const c = await fetchCreds();
        checkUsable(c, deps.clock.now());
        if (gen === generation) {
          cached = c;
          lastSuccessAt = deps.clock.now();
          failure = undefined;
          consecutiveFailures = 0;
        }
        deps.logger.info('credentials refreshed', { expiration: c.expiration.toISOString() });
        return c;
      } catch (e) {
        if (gen === generation) {
          failure = { error: e, at: deps.clock.now() };
          consecutiveFailures++;
        }
        const serving = valid(cached, deps.clock.now()) ? cached.expiration.toISOString() : undefined;
        deps.logger.warn(serving ? 'credentials refresh failed; serving cached credentials' : 'credentials refresh failed', {
          code: isAgentError(e) ? e.code : undefined,
          error: messageOf(e),
          cachedUntil: serving,
          consecutiveFailures,
        });
        throw e;
      }
    };
    const flight: Promise<T> = run().finally(() => {
      if (inflight === flight) inflight = undefined;
    });
    inflight = flight;
    return flight;
  };

  // the cached credentials when get() has nothing to do: before the refresh window, or backing off after a failure
  const servable = (): T | undefined => {
    if (cached === undefined) return undefined;
    const now = deps.clock.now().getTime();
    const exp = cached.expiration.getTime();
    if (now >= exp) return undefined;
    if (now < exp - opts.refreshBeforeMs) return cached;
    return failure && now < failure.at.getTime() + retryAfterFailureMs ? cached : undefined;
  };

  return {
    peek: servable,
    async get() {
      const ready = servable();
      if (ready) return ready;
      try {
        return await refresh();
      } catch (e) {
        // Last good: read the cache again, it may have been invalidated while the refresh ran.
        if (valid(cached, deps.clock.now())) return cached;
        throw unavailable(e);
      }
    },
    invalidate() {
      generation++;
      cached = undefined;
      inflight = undefined;
      failure = undefined;
      consecutiveFailures = 0;
    },
    lastError: () => failure,
    status() {
      const now = deps.clock.now();
      const state = !cached ? 'empty' : !valid(cached, now) ? 'expired' : now < refreshAt(cached) ? 'fresh' : 'refresh-due';
      return {
        state,
        ...(cached ? { expiration: cached.expiration, refreshAt: refreshAt(cached) } : {}),
        ...(lastSuccessAt ? { lastSuccessAt } : {}),
        ...(failure ? { lastError: failure } : {}),
        consecutiveFailures,
        refreshing: inflight !== undefined,
      };
    },
  };
}

/** A fetch that "succeeds" with empty or already expired credentials is a failure like any other. */
function checkUsable(c: AwsCredentials, now: Date): void {
  const missing = (['accessKeyId', 'secretAccessKey', 'sessionToken'] as const).filter((k) => typeof c[k] !== 'string' || c[k] === '');
  const parsed = c.expiration instanceof Date && !Number.isNaN(c.expiration.getTime());
  if (missing.length || !parsed || c.expiration <= now) {
    throw new AgentError({
      code: 'CREDENTIALS_INVALID',
      component: 'credentials',
      message: missing.length
        ? `the credentials source returned no ${missing.join(', ')}`
        : `the credentials source returned credentials expiring at ${parsed ? c.expiration.toISOString() : String(c.expiration)} (now ${now.toISOString()})`,
      hint: 'check the system clock and the CreateSession endpoint',
    });
  }
}

function unavailable(e: unknown): AgentError {
  return new AgentError({
    code: 'CREDENTIALS_UNAVAILABLE',
    component: 'credentials',
    message: `no valid AWS credentials: ${isAgentError(e) ? `${e.component}: ${e.message}` : messageOf(e)}`,
    hint: isAgentError(e) && e.hint ? e.hint : 'see the error above; iamra-agent status shows the whole chain',
    cause: e,
    details: { causeCode: isAgentError(e) ? e.code : undefined },
  });
}
