import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { E2eSandbox } from '../helpers/sandbox.js';
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

  it('a storm of 10 outlasts the per-call retry budget (8 attempts): one clear line, nothing live, no TXT', async () => {
    await sb.admin('faults', { throttleStorm: 10, throttleStormService: 'route53' });
    const state = path.join(sb.dir, 'state-storm');
    const r = await sb.cli(['bootstrap', '--set', `state.dir=${state}`]);
    assertCleanFailure(r, /^iamra-agent: route53: still throttled or busy after 8 attempts/, /_acme-challenge\.agent\.example\.com/, /retry later/);
    assert.equal(exists(path.join(state, 'live')), false);
    await sb.admin('faults', { throttleStorm: 0 });
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
