import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fixedClock } from '../../src/core/clock.js';
import { AgentError } from '../../src/core/errors.js';
import { memoryLogger } from '../../src/core/logger.js';
import type { AwsCredentials } from '../../src/core/provider.js';
import { credentialsProvider } from '../../src/signer/provider.js';

const T0 = new Date('2026-06-01T00:00:00Z');
const MIN = 60_000;
const HOUR = 60 * MIN;

function creds(n: number, expiration: Date): AwsCredentials {
  return { accessKeyId: `ASIA${n}`, secretAccessKey: `secret${n}`, sessionToken: `token${n}`, expiration };
}

/** A credentials source whose answers the test scripts: each call returns the next outcome. */
function source(clock: { now(): Date }, outcomes: ('ok' | 'fail' | AwsCredentials)[]) {
  let calls = 0;
  const fn = async (): Promise<AwsCredentials> => {
    const o = outcomes[calls++] ?? 'ok';
    await new Promise((r) => setImmediate(r)); // resolve asynchronously, like a network call
    if (o === 'fail') throw new AgentError({ code: 'CREATE_SESSION_SERVER_ERROR', component: 'rolesanywhere', message: 'HTTP 500', hint: 'retry later' });
    if (o === 'ok') return creds(calls, new Date(clock.now().getTime() + HOUR));
    return o;
  };
  return { fn, calls: () => calls };
}

function setup(outcomes: ('ok' | 'fail' | AwsCredentials)[] = [], retryAfterFailureMs?: number) {
  const clock = fixedClock(T0);
  const logger = memoryLogger();
  const src = source(clock, outcomes);
  const p = credentialsProvider({ clock, logger }, src.fn, { refreshBeforeMs: 5 * MIN, ...(retryAfterFailureMs === undefined ? {} : { retryAfterFailureMs }) });
  const advanceTo = (ms: number) => clock.set(new Date(T0.getTime() + ms));
  return { clock, logger, src, p, advanceTo };
}

describe('credentialsProvider', () => {
  it('single flight: 20 concurrent get() share one fetch, then the result is memoised', async () => {
    const { p, src } = setup();
    const all = await Promise.all(Array.from({ length: 20 }, () => p.get()));
    assert.equal(src.calls(), 1);
    assert.ok(all.every((c) => c === all[0]));
    assert.equal(await p.get(), all[0]);
    assert.equal(src.calls(), 1);
    assert.equal(p.status().state, 'fresh');
  });

  it('refreshes ahead of expiry: inside refreshBefore, get() fetches new credentials', async () => {
    const { p, src, advanceTo } = setup();
    const first = await p.get();
    advanceTo(HOUR - 6 * MIN);
    assert.equal(await p.get(), first);
    assert.equal(src.calls(), 1);
    advanceTo(HOUR - 4 * MIN);
    assert.equal(p.status().state, 'refresh-due');
    const second = await p.get();
    assert.equal(src.calls(), 2);
    assert.equal(second.accessKeyId, 'ASIA2');
    assert.equal(second.expiration.getTime(), T0.getTime() + 2 * HOUR - 4 * MIN);
    assert.deepEqual(p.status().refreshAt, new Date(second.expiration.getTime() - 5 * MIN));
  });

  it('peek() is what get() would answer without work: empty, fresh, none inside the refresh window, cached while backing off', async () => {
    const { p, src, advanceTo } = setup(['ok', 'fail'], 30_000);
    assert.equal(p.peek(), undefined);
    const first = await p.get();
    assert.equal(p.peek(), first);
    advanceTo(HOUR - 4 * MIN);
    assert.equal(p.peek(), undefined, 'a refresh is due: only get() may start it');
    assert.equal(src.calls(), 1, 'peek() never fetches');
    assert.equal(await p.get(), first); // the refresh fails, the cached credentials are served
    assert.equal(p.peek(), first, 'backing off after the failure: get() would answer the cache');
    advanceTo(HOUR - 4 * MIN + 30_000);
    assert.equal(p.peek(), undefined);
    advanceTo(HOUR);
    assert.equal(p.peek(), undefined, 'never expired');
    p.invalidate();
    assert.equal(p.peek(), undefined);
  });

  it('last good: a failed refresh keeps serving valid credentials, reports and logs the failure, and backs off', async () => {
    const { p, src, advanceTo, logger } = setup(['ok', 'fail', 'fail', 'ok'], 30_000);
    const first = await p.get();
    advanceTo(HOUR - 4 * MIN);
    assert.equal(await p.get(), first);
    assert.equal(src.calls(), 2);
    assert.equal((p.lastError()!.error as AgentError).code, 'CREATE_SESSION_SERVER_ERROR');
    assert.deepEqual(p.lastError()?.at, new Date(T0.getTime() + HOUR - 4 * MIN));
    assert.equal(p.status().consecutiveFailures, 1);
    const warn = logger.entries.find((e) => e.msg === 'credentials refresh failed; serving cached credentials');
    assert.equal(warn?.level, 'warn');
    assert.equal(warn?.fields.code, 'CREATE_SESSION_SERVER_ERROR');
    // within the back-off window no new call is made
    advanceTo(HOUR - 4 * MIN + 10_000);
    assert.equal(await p.get(), first);
    assert.equal(src.calls(), 2);
    // after it, the refresh is tried again (fails again, still served), then succeeds
    advanceTo(HOUR - 3 * MIN);
    assert.equal(await p.get(), first);
    assert.equal(src.calls(), 3);
    assert.equal(p.status().consecutiveFailures, 2);
    advanceTo(HOUR - 2 * MIN);
    const fresh = await p.get();
    assert.equal(fresh.accessKeyId, 'ASIA4');
    assert.equal(p.lastError(), undefined);
    assert.equal(p.status().consecutiveFailures, 0);
  });

  it('never expired: once the cached credentials expire and the refresh fails, get() throws CREDENTIALS_UNAVAILABLE', async () => {
    const { p, advanceTo } = setup(['ok', 'fail', 'fail']);
    await p.get();
    advanceTo(HOUR); // exactly at expiration: no longer valid
    await assert.rejects(p.get(), (e: AgentError) => {
      assert.equal(e.code, 'CREDENTIALS_UNAVAILABLE');
      assert.match(e.message, /rolesanywhere: HTTP 500/);
      assert.equal(e.hint, 'retry later');
      assert.equal((e.cause as AgentError).code, 'CREATE_SESSION_SERVER_ERROR');
      return true;
    });
    assert.equal(p.status().state, 'expired');
  });

  it('never empty: a first fetch that fails, or returns empty or already expired credentials, throws', async () => {
    const a = setup(['fail']);
    await assert.rejects(a.p.get(), { code: 'CREDENTIALS_UNAVAILABLE' });
    assert.equal(a.p.status().state, 'empty');

    const b = setup([{ ...creds(1, new Date(T0.getTime() + HOUR)), sessionToken: '' }]);
    await assert.rejects(b.p.get(), (e: AgentError) => {
      assert.equal(e.code, 'CREDENTIALS_UNAVAILABLE');
      assert.equal((e.cause as AgentError).code, 'CREDENTIALS_INVALID');
      assert.match(e.message, /sessionToken/);
      return true;
    });

    const c = setup([creds(1, new Date(T0.getTime() - 1000))]);
    await assert.rejects(c.p.get(), (e: AgentError) => (e.cause as AgentError).code === 'CREDENTIALS_INVALID');

    const d = setup([creds(1, new Date('not a date'))]);
    await assert.rejects(d.p.get(), { code: 'CREDENTIALS_UNAVAILABLE' });
  });

  it('invalidate() drops the cache; a refresh started before it does not repopulate the cache', async () => {
    const { p, src } = setup();
    const first = await p.get();
    p.invalidate();
    assert.equal(p.status().state, 'empty');
    const second = await p.get();
    assert.notEqual(second, first);
    assert.equal(src.calls(), 2);

    p.invalidate();
    const stale = p.get(); // flight of the old generation (old certificate)
    p.invalidate();
    await stale;
    assert.equal(p.status().state, 'empty');
    const third = await p.get();
    assert.equal(third.accessKeyId, 'ASIA4');
    assert.equal(src.calls(), 4);
  });

  it('status() reports expiration, last success, last error and whether a refresh is running', async () => {
    const { p, advanceTo } = setup(['ok', 'fail']);
    assert.deepEqual(p.status(), { state: 'empty', consecutiveFailures: 0, refreshing: false });
    const pending = p.get();
    assert.equal(p.status().refreshing, true);
    const c = await pending;
    assert.deepEqual(p.status(), {
      state: 'fresh',
      expiration: c.expiration,
      refreshAt: new Date(c.expiration.getTime() - 5 * MIN),
      lastSuccessAt: T0,
      consecutiveFailures: 0,
      refreshing: false,
    });
    advanceTo(HOUR - MIN);
    await p.get();
    const s = p.status();
    assert.equal(s.state, 'refresh-due');
    assert.equal((s.lastError!.error as AgentError).code, 'CREATE_SESSION_SERVER_ERROR');
  });
});
