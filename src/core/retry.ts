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
 * Capped exponential backoff with full jitter (AWS architecture blog "Exponential Backoff And Jitter"): spreads
 * 500 hosts that failed together so they do not retry together. A server-given delay (Retry-After) is honoured
 * but capped at maxMs, so a rate-limit answer of hours never stalls a run.
 */
/**
 * A server-given delay (Retry-After, RFC 9110 §10.2.3) bounded to [min, max], in whatever unit the caller uses:
 * a date in the past gives no negative wait, and a rate-limit answer of hours cannot stall a run past `max`.
 */
export function clampRetryAfter(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

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
