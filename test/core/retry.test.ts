import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Clock } from '../../src/core/clock.js';
import { clampAriRetryAfterSec, clampRetryAfter, retry } from '../../src/core/retry.js';

/** A clock whose sleep only records the delay, so the backoff's waits are visible and cost no time. */
function recordingClock(): Clock & { slept: number[] } {
  const slept: number[] = [];
  return { slept, now: () => new Date(0), sleep: async (ms) => void slept.push(ms) };
}

describe('core/retry', () => {
  it('clamps a server-given delay into [min, max]', () => {
    assert.equal(clampRetryAfter(-5_000, 0, 10_000), 0);
    assert.equal(clampRetryAfter(3_000, 0, 10_000), 3_000);
    assert.equal(clampRetryAfter(7_200_000, 0, 10_000), 10_000);
    // ARI's seconds bounds (RFC 9773 §4.3): 1 minute … 1 day
    assert.equal(clampRetryAfter(1, 60, 86_400), 60);
    assert.equal(clampRetryAfter(172_800, 60, 86_400), 86_400);
  });

  it('RFC 9773: renewalInfo Retry-After kept within 60 s … 1 day; missing or invalid → 6 h', () => {
    assert.deepEqual([0, 1, 59.4, 60, 21_600, 86_400, 86_401, 1e9, -5].map(clampAriRetryAfterSec), [60, 60, 60, 60, 21_600, 86_400, 86_400, 86_400, 60]);
    assert.equal(clampAriRetryAfterSec(undefined), 21_600);
    assert.equal(clampAriRetryAfterSec(Number.NaN), 21_600);
    assert.equal(clampAriRetryAfterSec(Number.POSITIVE_INFINITY), 21_600);
  });

  it('waits a Retry-After verdict, capped at maxMs, and otherwise full jitter under the exponential ceiling', async () => {
    const clock = recordingClock();
    const verdicts: (boolean | { afterMs: number })[] = [{ afterMs: 60_000 }, { afterMs: -1 }, true, true];
    let calls = 0;
    const out = await retry(
      async (attempt) => {
        calls++;
        if (attempt <= verdicts.length) throw new Error(`fail ${attempt}`);
        return 'done';
      },
      { attempts: 5, baseMs: 100, maxMs: 1_000, clock, random: () => 0.5, retryable: () => verdicts[calls - 1]! },
    );
    assert.equal(out, 'done');
    // 60 s capped to 1 s; a negative delay waits 0; then jitter 0.5 × min(1000, 100·2^(n-1)) for attempts 3 and 4
    assert.deepEqual(clock.slept, [1_000, 0, 200, 400]);
  });

  it('gives up after the last attempt or on a non-retryable error, with that error', async () => {
    const clock = recordingClock();
    await assert.rejects(
      retry(
        async (a) => {
          throw new Error(`attempt ${a}`);
        },
        { attempts: 3, baseMs: 10, maxMs: 100, clock, random: () => 0, retryable: () => true },
      ),
      /attempt 3/,
    );
    assert.deepEqual(clock.slept, [0, 0]);
    await assert.rejects(
      retry(
        async () => {
          throw new Error('fatal');
        },
        { attempts: 3, baseMs: 10, maxMs: 100, clock, retryable: () => false },
      ),
      /fatal/,
    );
    assert.equal(clock.slept.length, 2);
  });
});
