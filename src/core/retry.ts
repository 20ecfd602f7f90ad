import type { Clock } from './clock.js';

export interface RetryOptions {
  /** total attempts including the first */
  attempts: number;
  baseMs: number;
  maxMs: number;
  clock: Clock;
  /** decides whether an error is worth another attempt; may return a server-given delay in ms */
  retryable: (e: unknown) => boolean | { afterMs: number };
  onRetry?: (e: unknown, attempt: number, delayMs: number) => void;
  signal?: AbortSignal;
  random?: () => number;
}

/**
 * A server-given delay (Retry-After, RFC 9110 §10.2.3) bounded to [min, max], in whatever unit the caller uses:
 * a date in the past gives no negative wait, and a rate-limit answer of hours cannot stall a run past `max`.
 */
export function clampRetryAfter(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/** RFC 9773 §4.3: a renewalInfo Retry-After under one minute counts as one minute, over one day as one day. */
export const ARI_RETRY_MIN_S = 60;
export const ARI_RETRY_MAX_S = 86_400;
/** RFC 9773 §4.3.3: a missing or invalid Retry-After (and a long-term error) → ask again in six hours */
export const ARI_RETRY_DEFAULT_S = 6 * 3600;

/** The one RFC 9773 rule for when to ask for renewal information again, in whole seconds. */
export function clampAriRetryAfterSec(sec: number | undefined): number {
  if (sec === undefined || !Number.isFinite(sec)) return ARI_RETRY_DEFAULT_S;
  return clampRetryAfter(Math.round(sec), ARI_RETRY_MIN_S, ARI_RETRY_MAX_S);
}

/**
 * Capped exponential backoff with full jitter (AWS architecture blog "Exponential Backoff And Jitter"): spreads
 * 500 hosts that failed together so they do not retry together. A server-given delay (Retry-After) is honoured
 * but capped at maxMs, so a rate-limit answer of hours never stalls a run.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions): Promise<T> {
  const rnd = o.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      const verdict = attempt < o.attempts ? o.retryable(e) : false;
      if (verdict === false) throw e;
      const ceiling = Math.min(o.maxMs, o.baseMs * 2 ** (attempt - 1));
      const delayMs = typeof verdict === 'object' ? clampRetryAfter(verdict.afterMs, 0, o.maxMs) : Math.floor(rnd() * ceiling);
      o.onRetry?.(e, attempt, delayMs);
      await o.clock.sleep(delayMs, o.signal);
    }
  }
}
