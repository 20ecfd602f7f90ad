import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MAX_AGE_MS, renewalDecision, stableFraction } from '../../src/renew/policy.js';

const H = 3600_000;
const D = 24 * H;
const issued = new Date('2026-11-01T00:00:00Z');
const cert = (lifetimeMs: number) => ({ notBefore: issued, notAfter: new Date(issued.getTime() + lifetimeMs) });
const at = (ms: number) => new Date(issued.getTime() + ms);

// LE windows (boulder RenewalInfoSimple): ideal = notAfter - validity/3 (validity/2 under 10 days) ± validity/100.
function leWindow(lifetimeMs: number) {
  const c = cert(lifetimeMs);
  const ideal = c.notAfter.getTime() - (lifetimeMs < 10 * D ? lifetimeMs / 2 : lifetimeMs / 3);
  return { windowStart: new Date(ideal - lifetimeMs / 100), windowEnd: new Date(ideal + lifetimeMs / 100) };
}

test('160 h (shortlived) without ARI: half the lifetime, maxAge 7d never binds later', () => {
  const c = cert(160 * H);
  for (const maxAgeMs of [DEFAULT_MAX_AGE_MS, 0]) {
    const before = renewalDecision(c, { now: at(79 * H), maxAgeMs });
    assert.equal(before.due, false);
    assert.equal(before.reason, 'lifetime');
    assert.equal(before.renewAt.toISOString(), at(80 * H).toISOString());
    assert.equal(before.nextCheck?.toISOString(), at(80 * H).toISOString());
    const after = renewalDecision(c, { now: at(80 * H), maxAgeMs });
    assert.equal(after.due, true);
    assert.equal(after.reason, 'lifetime');
  }
});

test('160 h with ARI: inside the window, chosen by random; a passed window renews now', () => {
  const c = cert(160 * H);
  const w = leWindow(160 * H);
  const lo = renewalDecision(c, { now: at(1 * H), maxAgeMs: DEFAULT_MAX_AGE_MS, ari: w, random: () => 0 });
  assert.equal(lo.reason, 'ari-window');
  assert.equal(lo.renewAt.toISOString(), w.windowStart.toISOString());
  const mid = renewalDecision(c, { now: at(1 * H), maxAgeMs: DEFAULT_MAX_AGE_MS, ari: w, random: () => 0.5 });
  assert.equal(mid.renewAt.toISOString(), at(80 * H).toISOString());
  assert.equal(mid.due, false);
  const hi = renewalDecision(c, { now: at(1 * H), maxAgeMs: 0, ari: w, random: () => 0.999999 });
  assert.ok(hi.renewAt < w.windowEnd && hi.renewAt > mid.renewAt);
  const passed = renewalDecision(c, { now: new Date(w.windowEnd.getTime() + 1), maxAgeMs: 0, ari: w });
  assert.deepEqual([passed.due, passed.reason], [true, 'ari-window-passed']);
});

test('45-day (tlsserver): lifetime rule at day 30; maxAge 7d renews at day 7; off with 0', () => {
  const c = cert(45 * D);
  const weekly = renewalDecision(c, { now: at(6 * D), maxAgeMs: DEFAULT_MAX_AGE_MS });
  assert.deepEqual([weekly.due, weekly.reason, weekly.renewAt.toISOString()], [false, 'max-age', at(7 * D).toISOString()]);
  assert.equal(renewalDecision(c, { now: at(7 * D), maxAgeMs: DEFAULT_MAX_AGE_MS }).due, true);
  const off = renewalDecision(c, { now: at(7 * D), maxAgeMs: 0 });
  assert.deepEqual([off.due, off.reason, off.renewAt.toISOString()], [false, 'lifetime', at(30 * D).toISOString()]);
  assert.equal(renewalDecision(c, { now: at(30 * D), maxAgeMs: 0 }).due, true);
});

test('45-day with ARI: the window wins over the lifetime rule, maxAge still pulls earlier', () => {
  const c = cert(45 * D);
  const w = leWindow(45 * D);
  const d = renewalDecision(c, { now: at(10 * D), maxAgeMs: 0, ari: w, random: () => 0.25 });
  assert.equal(d.reason, 'ari-window');
  assert.equal(d.renewAt.getTime(), w.windowStart.getTime() + Math.floor(0.25 * (w.windowEnd.getTime() - w.windowStart.getTime())));
  const withMax = renewalDecision(c, { now: at(10 * D), maxAgeMs: DEFAULT_MAX_AGE_MS, ari: w, random: () => 0.25 });
  assert.deepEqual([withMax.due, withMax.reason], [true, 'max-age']);
  // an early ARI window (incident) is honoured even though maxAge would be later
  const early = { windowStart: at(2 * D), windowEnd: at(3 * D) };
  const e = renewalDecision(c, { now: at(1 * D), maxAgeMs: DEFAULT_MAX_AGE_MS, ari: early, random: () => 0.5 });
  assert.deepEqual([e.reason, e.renewAt.toISOString()], ['ari-window', at(2.5 * D).toISOString()]);
});

test('90-day (classic): day 60 without ARI, maxAge 7d, ARI window and Retry-After drive nextCheck', () => {
  const c = cert(90 * D);
  const lt = renewalDecision(c, { now: at(59 * D), maxAgeMs: 0 });
  assert.deepEqual([lt.due, lt.reason, lt.renewAt.toISOString()], [false, 'lifetime', at(60 * D).toISOString()]);
  assert.equal(renewalDecision(c, { now: at(60 * D), maxAgeMs: 0 }).due, true);
  const weekly = renewalDecision(c, { now: at(7 * D), maxAgeMs: DEFAULT_MAX_AGE_MS });
  assert.deepEqual([weekly.due, weekly.reason], [true, 'max-age']);
  const w = { ...leWindow(90 * D), retryAfter: at(1 * D + 6 * H) };
  const a = renewalDecision(c, { now: at(1 * D), maxAgeMs: 0, ari: w });
  assert.equal(a.reason, 'ari-window');
  assert.ok(a.renewAt >= w.windowStart && a.renewAt < w.windowEnd);
  assert.equal(a.nextCheck?.toISOString(), w.retryAfter.toISOString(), 're-fetch ARI before the chosen instant');
  // without `random`, the instant is fixed by certificate + window: decision and action agree
  const again = renewalDecision(c, { now: at(2 * D), maxAgeMs: 0, ari: w });
  assert.equal(again.renewAt.toISOString(), a.renewAt.toISOString());
  const frac = stableFraction(c, w);
  assert.ok(frac >= 0 && frac < 1);
  const wa = renewalDecision(c, { now: at(1 * D), maxAgeMs: DEFAULT_MAX_AGE_MS, ari: w });
  assert.deepEqual([wa.reason, wa.renewAt.toISOString(), wa.nextCheck?.toISOString()], ['max-age', at(7 * D).toISOString(), w.retryAfter.toISOString()]);
});

test('unusable ARI windows fall back to the lifetime rule and say why', () => {
  const c = cert(90 * D);
  const inverted = renewalDecision(c, { now: at(1 * D), maxAgeMs: 0, ari: { windowStart: at(60 * D), windowEnd: at(59 * D) } });
  assert.deepEqual([inverted.reason, inverted.renewAt.toISOString()], ['lifetime', at(60 * D).toISOString()]);
  assert.match(inverted.ariIgnored ?? '', /not after its start/);
  const beyond = renewalDecision(c, { now: at(1 * D), maxAgeMs: 0, ari: { windowStart: at(80 * D), windowEnd: at(95 * D) } });
  assert.equal(beyond.reason, 'lifetime');
  assert.match(beyond.ariIgnored ?? '', /after the certificate expires/);
});

test('expired certificates are due whatever the options; a malformed certificate is rejected', () => {
  const c = cert(90 * D);
  const d = renewalDecision(c, { now: at(91 * D), maxAgeMs: 0, ari: leWindow(90 * D) });
  assert.deepEqual([d.due, d.reason, d.nextCheck], [true, 'expired', undefined]);
  assert.throws(() => renewalDecision({ notBefore: issued, notAfter: issued }, { now: issued, maxAgeMs: 0 }), RangeError);
});

test('exactly 6 days (144 h): half-life with and without maxAge; ARI window passed renews now; the 10-day boundary', () => {
  const c = cert(6 * D);
  for (const maxAgeMs of [DEFAULT_MAX_AGE_MS, 0]) {
    const d = renewalDecision(c, { now: at(3 * D - 1), maxAgeMs });
    assert.deepEqual([d.due, d.reason, d.renewAt.toISOString()], [false, 'lifetime', at(3 * D).toISOString()]);
    assert.equal(renewalDecision(c, { now: at(3 * D), maxAgeMs }).due, true);
  }
  const w = { windowStart: at(2 * D), windowEnd: at(2 * D + 12 * H) };
  const before = renewalDecision(c, { now: at(1 * D), maxAgeMs: DEFAULT_MAX_AGE_MS, ari: w, random: () => 0.5 });
  assert.deepEqual([before.due, before.reason, before.renewAt.toISOString()], [false, 'ari-window', at(2 * D + 6 * H).toISOString()]);
  const passed = renewalDecision(c, { now: at(2 * D + 12 * H), maxAgeMs: DEFAULT_MAX_AGE_MS, ari: w });
  assert.deepEqual([passed.due, passed.reason], [true, 'ari-window-passed']);
  // the rule is read from the lifetime, not assumed: 10 days uses 1/2, a millisecond more uses 1/3
  assert.equal(renewalDecision(cert(10 * D), { now: issued, maxAgeMs: 0 }).renewAt.toISOString(), at(5 * D).toISOString());
  const over = cert(10 * D + 3);
  assert.equal(renewalDecision(over, { now: issued, maxAgeMs: 0 }).renewAt.getTime(), over.notAfter.getTime() - Math.floor((10 * D + 3) / 3));
});
