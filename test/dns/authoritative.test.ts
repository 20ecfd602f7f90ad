import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { systemClock, fixedClock } from '../../src/core/clock.js';
import { AgentError } from '../../src/core/errors.js';
import { formatServer, parseServer, queryTxt, waitForTxt } from '../../src/dns/authoritative.js';
import { startTxtServer, type TxtServer } from './txt-server.js';

const NAME = '_acme-challenge.host1.example.com';

describe('parseServer', () => {
  it('reads host:port, bare hosts and bracketed IPv6', () => {
    assert.deepEqual(parseServer('127.0.0.1:5353'), { host: '127.0.0.1', port: 5353 });
    assert.deepEqual(parseServer('ns-1.awsdns-01.org'), { host: 'ns-1.awsdns-01.org', port: 53 });
    assert.deepEqual(parseServer('[::1]:5353'), { host: '::1', port: 5353 });
    assert.deepEqual(parseServer('::1'), { host: '::1', port: 53 });
    assert.equal(formatServer({ host: '::1', port: 53 }), '[::1]:53');
  });
  it('rejects a bad port, naming the input', () => {
    assert.throws(
      () => parseServer('127.0.0.1:99999'),
      (e: unknown) => e instanceof AgentError && e.code === 'DNS_BAD_SERVER' && e.message.includes('127.0.0.1:99999'),
    );
  });
});

describe('queryTxt / waitForTxt against a dns-packet server', () => {
  let srv: TxtServer;
  before(async () => {
    srv = await startTxtServer();
  });
  after(async () => {
    await srv.close();
  });

  it('returns every TXT value with its character-strings joined, over UDP', async () => {
    srv.mode.udp = 'answer';
    srv.records.set(NAME, [['token-a'], ['first-part-', 'second-part']]);
    const before = { ...srv.counts };
    const a = await queryTxt(NAME + '.', parseServer(srv.address));
    assert.deepEqual(a, { values: ['token-a', 'first-part-second-part'], authoritative: true });
    assert.equal(srv.counts.udp - before.udp, 1);
    assert.equal(srv.counts.tcp - before.tcp, 0);
  });

  it('retries over TCP when the UDP answer is truncated', async () => {
    srv.mode.udp = 'truncate';
    srv.records.set(NAME, [['x'.repeat(200)], ['y'.repeat(200)], ['z'.repeat(200)]]);
    const before = { ...srv.counts };
    const a = await queryTxt(NAME, parseServer(srv.address));
    assert.deepEqual(a.values, ['x'.repeat(200), 'y'.repeat(200), 'z'.repeat(200)]);
    assert.equal(srv.counts.tcp - before.tcp, 1);
  });

  it('treats NXDOMAIN as no values and other rcodes as errors', async () => {
    srv.mode.udp = 'answer';
    assert.deepEqual((await queryTxt('_acme-challenge.absent.example.com', parseServer(srv.address))).values, []);
    srv.mode.udp = 'refuse';
    await assert.rejects(queryTxt(NAME, parseServer(srv.address)), /rcode 5/);
  });

  it('times out when UDP answers never come', async () => {
    srv.mode.udp = 'drop';
    const t0 = Date.now();
    await assert.rejects(queryTxt(NAME, parseServer(srv.address), { timeoutMs: 200 }), /no UDP answer .* within 200 ms/);
    assert.ok(Date.now() - t0 < 1500);
  });

  it('waitForTxt resolves once the value appears', async () => {
    srv.mode.udp = 'answer';
    srv.records.set(NAME, [['other-client']]);
    setTimeout(() => srv.records.set(NAME, [['other-client'], ['ours']]), 150);
    const t0 = Date.now();
    await waitForTxt(NAME, 'ours', [srv.address], { clock: systemClock, timeoutMs: 5000, pollMs: 50 });
    assert.ok(Date.now() - t0 >= 100);
  });

  it('waitForTxt requires every server and names the ones still missing on timeout', async () => {
    srv.mode.udp = 'answer';
    srv.records.set(NAME, [['ours']]);
    const other = await startTxtServer();
    try {
      other.records.set(NAME, [['stale']]);
      const clock = fixedClock('2026-01-01T00:00:00Z');
      await assert.rejects(
        waitForTxt(NAME, 'ours', [srv.address, other.address], { clock, timeoutMs: 1000, pollMs: 250 }),
        (e: unknown) =>
          e instanceof AgentError &&
          e.code === 'DNS_PROPAGATION_TIMEOUT' &&
          e.message.includes(other.address) &&
          !e.message.includes(srv.address) &&
          e.message.includes(NAME),
      );
      // the fixed clock advanced by the polls only: 4 sleeps of 250 ms
      assert.equal(clock.now().toISOString(), '2026-01-01T00:00:01.000Z');
    } finally {
      await other.close();
    }
  });

  it('waitForTxt stops when aborted', async () => {
    srv.mode.udp = 'answer';
    srv.records.set(NAME, []);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    await assert.rejects(
      waitForTxt(NAME, 'never', [srv.address], { clock: systemClock, timeoutMs: 10_000, pollMs: 50, signal: ac.signal }),
      (e: unknown) => e instanceof Error && e.name === 'AbortError',
    );
  });
});
