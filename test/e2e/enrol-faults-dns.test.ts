import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { CliResult, E2eSandbox } from '../helpers/sandbox.js';
import { assertCleanFailure, assertNoTxt, enrolSandbox, exists } from '../helpers/enrol.js';

/**
 * Issue 2, "What must be shown" 5 (Route 53 side): a throttling storm and a slow PENDING → INSYNC, injected through
 * the sandbox's admin API while the built CLI enrols. Recovered, and never an orphan TXT record.
 * CA-side faults (nonce rejection, 5xx): enrol-faults-ca.test.ts.
 */

interface Call {
  action: string;
  status: number;
  errorCode?: string;
}

describe('Route 53 faults during bootstrap', () => {
  let sb: E2eSandbox;
  before(async () => {
    sb = await enrolSandbox();
  });
  after(async () => {
    await sb?.stop();
  });

  it('recovers from a storm of 6 Throttling answers', async () => {
    await sb.admin('reset-calls', {});
    await sb.admin('faults', { throttleStorm: 6, throttleStormService: 'route53' });
    const state = path.join(sb.dir, 'state-throttle');
    const r = await sb.cli(['bootstrap', '--json', '--log-level', 'debug', '--set', `state.dir=${state}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(exists(path.join(state, 'live', 'cert.pem')));
    const calls = await sb.admin<Call[]>('calls?service=route53');
    assert.equal(calls.filter((c) => c.errorCode === 'Throttling').length, 6, 'the whole storm was met');
    assert.ok(
      calls.every((c) => c.status === 200 || c.errorCode === 'Throttling'),
      JSON.stringify(calls),
    );
    assert.match(r.stderr, /route53 call retried/);
    assert.equal((await sb.admin<{ throttleStorm: number }>('faults')).throttleStorm, 0);
    await assertNoTxt(sb);
  });

  it('a storm that outlasts the throttling budget (dns.propagationTimeout per call): one clear line, nothing live, no TXT', async () => {
    // Throttling is retried for a time budget, not a number of attempts: an endless storm with a 3 s budget
    await sb.admin('faults', { throttleStorm: 100_000, throttleStormService: 'route53' });
    const state = path.join(sb.dir, 'state-storm');
    let r: CliResult;
    try {
      r = await sb.cli(['bootstrap', '--set', `state.dir=${state}`, '--set', 'dns.propagationTimeout=3s']);
    } finally {
      await sb.admin('faults', { throttleStorm: 0 });
    }
    // the budget is checked before each wait, so the last wait (at most the 5 s backoff cap) may end past it
    const m = /still throttled or busy after \d+ attempts over (\d+\.\d) s/.exec(r.stderr);
    assert.ok(m && Number(m[1]) >= 3 && Number(m[1]) < 8.5, r.stderr);
    assertCleanFailure(r, /^iamra-agent: route53: still throttled or busy/, /_acme-challenge\.agent\.example\.com/, /retry later/);
    assert.equal(exists(path.join(state, 'live')), false);
    await assertNoTxt(sb);
  });

  it('waits for a slow INSYNC (5 s) before asking the CA to validate, and succeeds', async () => {
    await sb.admin('reset-calls', {});
    await sb.admin('faults', { insyncDelayMs: 5000 });
    try {
      const state = path.join(sb.dir, 'state-insync');
      const started = Date.now();
      const r = await sb.cli(['bootstrap', '--json', '--set', `state.dir=${state}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(Date.now() - started >= 5000, 'the run waited for the change to be INSYNC');
      const calls = await sb.admin<Call[]>('calls?service=route53');
      assert.ok(calls.filter((c) => c.action === 'GetChange').length >= 2, 'GetChange was polled while PENDING');
      assert.ok(
        calls.every((c) => c.status === 200),
        JSON.stringify(calls),
      );
      // the DELETE is PENDING for 5 s as well before the nameserver stops answering the value
      await assertNoTxt(sb, { syncWaitMs: 8000 });
    } finally {
      await sb.admin('faults', { insyncDelayMs: 500 });
    }
  });
});
