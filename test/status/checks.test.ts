import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHECK_NAMES, evaluate, human, worst, type Check, type StatusInput, type StatusReport } from '../../src/status/checks.js';
import { renderText } from '../../src/status/report.js';
import { emptyState, type AgentState } from '../../src/store/index.js';

const H = 3600_000;
const D = 24 * H;
const issued = new Date('2026-11-01T00:00:00Z');
const at = (ms: number) => new Date(issued.getTime() + ms);
const CERT_ID = 'aki.serial';

/** A healthy 90-day identity checked one day after issuance, with every fact present and fine. */
function base(now = at(1 * D), state: AgentState = emptyState()): StatusInput {
  return {
    now,
    config: {
      file: '/etc/iamra-agent/agent.yaml',
      names: ['host1.example.com'],
      maxAgeMs: 7 * D,
      ari: true,
      rolesAnywhere: true,
      pendingGraceMs: 15 * 60_000,
      overdueGraceMs: 0,
    },
    identity: {
      version: '0003',
      serial: '0A1B',
      notBefore: issued,
      notAfter: at(90 * D),
      names: ['host1.example.com'],
      subject: 'CN=host1.example.com',
      issuer: 'CN=Test CA',
      createdAt: at(60_000),
      certId: CERT_ID,
    },
    key: { present: true, describe: 'file key P-256 (/var/lib/iamra-agent/versions/0003/key.pem)' },
    verify: { failures: [], identity: { serial: '0A1B', notBefore: issued, notAfter: at(90 * D), path: ['CN=host1.example.com', 'CN=Test CA'] } },
    anchors: { source: 'configured', count: 1 },
    state,
  };
}

const check = (r: StatusReport, name: Check['name']) => r.checks.find((c) => c.name === name)!;
const statuses = (r: StatusReport) => Object.fromEntries(r.checks.map((c) => [c.name, c.status]));

test('a fresh identity: every check OK, exit 0, renewal point from the weekly maxAge', () => {
  const r = evaluate(base());
  assert.deepEqual(
    r.checks.map((c) => c.name),
    [...CHECK_NAMES],
  );
  assert.deepEqual(
    r.checks.filter((c) => c.status !== 'OK'),
    [],
  );
  assert.equal(r.overall, 'OK');
  assert.equal(r.exitCode, 0);
  assert.equal(r.generatedAt, at(1 * D).toISOString());
  assert.deepEqual(r.renewal, { renewAt: at(7 * D).toISOString(), reason: 'max-age', due: false, nextCheck: at(7 * D).toISOString() });
  assert.equal(check(r, 'validity').value, 89 * 86400);
  assert.equal(check(r, 'renewal').value, 6 * 86400);
  assert.match(check(r, 'renewal').reason, /renews at 2026-11-08T00:00:00.000Z \(in 6d 0h; renewal.maxAge\)/);
  assert.match(check(r, 'chain').reason, /configured trust anchor: CN=host1.example.com → CN=Test CA/);
  assert.equal(r.lastRenewalSuccess, at(60_000).toISOString());
  assert.equal(r.identity?.version, '0003');
});

test('past the renewal point: WARNING "renewal overdue", exit 1; with maxAge off the lifetime rule applies', () => {
  const r = evaluate(base(at(8 * D)));
  assert.equal(r.exitCode, 1);
  assert.equal(check(r, 'validity').status, 'WARNING');
  assert.match(
    check(r, 'validity').reason,
    /^renewal overdue: valid until 2027-01-30T00:00:00.000Z \(82d 0h left\) but the renewal point 2026-11-08T00:00:00.000Z passed 1d 0h ago/,
  );
  assert.equal(check(r, 'renewal').status, 'WARNING');
  assert.equal(check(r, 'renewal').value, -86400);
  assert.equal(r.renewal?.due, true);

  const off = base(at(8 * D));
  (off.config as { maxAgeMs: number }).maxAgeMs = 0;
  const r2 = evaluate(off);
  assert.equal(r2.exitCode, 0);
  assert.deepEqual([r2.renewal?.reason, r2.renewal?.renewAt], ['lifetime', at(60 * D).toISOString()]);
});

test('ARI: a window in the past makes renewal overdue; an answer for another certificate is not applied', () => {
  const s = emptyState();
  s.ari = {
    windowStart: at(2 * H).toISOString(),
    windowEnd: at(3 * H).toISOString(),
    checkedAt: at(4 * H).toISOString(),
    retryAfter: at(10 * H).toISOString(),
    certId: CERT_ID,
  };
  const r = evaluate(base(at(5 * H), s));
  assert.deepEqual([r.exitCode, r.renewal?.reason, r.renewal?.due], [1, 'ari-window-passed', true]);
  assert.equal(check(r, 'ari').status, 'OK');
  assert.match(
    check(r, 'ari').reason,
    /suggested window 2026-11-01T02:00:00.000Z – 2026-11-01T03:00:00.000Z; checked 2026-11-01T04:00:00.000Z; next ARI check at 2026-11-01T10:00:00.000Z/,
  );
  assert.equal(r.ari?.appliesToLive, true);

  s.ari.certId = 'other.cert';
  const other = evaluate(base(at(5 * H), s));
  assert.deepEqual([other.exitCode, other.renewal?.reason, other.ari?.appliesToLive], [0, 'max-age', false]);
  assert.match(check(other, 'ari').reason, /for another certificate/);
});

test('ARI: a future window sets the renewal point inside it; a stale answer (no check for 2 days) warns', () => {
  const s = emptyState();
  s.ari = {
    windowStart: at(3 * D).toISOString(),
    windowEnd: at(4 * D).toISOString(),
    checkedAt: at(12 * H).toISOString(),
    retryAfter: at(30 * H).toISOString(),
    certId: CERT_ID,
  };
  const r = evaluate(base(at(1 * D), s));
  assert.equal(r.renewal?.reason, 'ari-window');
  const renewAt = Date.parse(r.renewal!.renewAt);
  assert.ok(renewAt >= at(3 * D).getTime() && renewAt < at(4 * D).getTime());
  // ARI asks to be polled again before the renewal point
  assert.equal(r.renewal?.nextCheck, at(30 * H).toISOString());
  assert.equal(r.exitCode, 0);

  const stale = evaluate(base(at(2 * D + 12 * H + 1000), s));
  assert.equal(check(stale, 'ari').status, 'WARNING');
  assert.match(check(stale, 'ari').reason, /2d 0h ago: is the renewal timer running\?/);
  assert.equal(stale.exitCode, 1);

  const off = base(at(1 * D), s);
  (off.config as { ari: boolean }).ari = false;
  const r3 = evaluate(off);
  assert.equal(r3.renewal?.reason, 'max-age');
  assert.match(check(r3, 'ari').reason, /off \(renewal.ari: false\)/);
});

test('expired or not yet valid: CRITICAL, exit 2', () => {
  const expired = evaluate(base(at(91 * D)));
  assert.equal(expired.exitCode, 2);
  assert.equal(check(expired, 'validity').status, 'CRITICAL');
  assert.match(check(expired, 'validity').reason, /^expired at 2027-01-30T00:00:00.000Z \(1d 0h ago\)/);
  assert.equal(check(expired, 'renewal').status, 'CRITICAL');
  assert.equal(expired.renewal?.reason, 'expired');

  const early = evaluate(base(at(-2 * H)));
  assert.equal(early.exitCode, 2);
  assert.match(check(early, 'validity').reason, /^not valid before 2026-11-01T00:00:00.000Z \(in 2h 0m\)/);
});

test('key missing or not matching the certificate: CRITICAL', () => {
  const missing = base();
  missing.key = { present: false, reason: 'the key is missing: version 0003 has neither key.pem nor key.ref' };
  const r = evaluate(missing);
  assert.deepEqual(
    [r.exitCode, check(r, 'key').status, check(r, 'key').reason],
    [2, 'CRITICAL', 'the key is missing: version 0003 has neither key.pem nor key.ref'],
  );

  const mismatch = base();
  mismatch.verify = { failures: [{ check: 'key', message: "the certificate's public key does not match file key P-256 (k.pem)", role: 'leaf' }] };
  const r2 = evaluate(mismatch);
  assert.equal(r2.exitCode, 2);
  assert.equal(check(r2, 'key').reason, "the certificate's public key does not match file key P-256 (k.pem)");
  assert.equal(check(r2, 'chain').status, 'OK');
});

test('chain and certificate failures from the verifier land in their own checks', () => {
  const i = base();
  i.verify = {
    failures: [
      { check: 'chain', message: 'no issuer "CN=Other CA" for "CN=host1.example.com" among 1 chain certificate(s) and 1 trust anchor(s)', role: 'leaf' },
      { check: 'validity', message: 'chain certificate "CN=Int" expired at 2026-10-01T00:00:00.000Z', role: 'chain' },
      { check: 'key-usage', message: 'keyUsage lacks digitalSignature', role: 'leaf' },
    ],
  };
  const r = evaluate(i);
  assert.equal(r.exitCode, 2);
  assert.match(check(r, 'chain').reason, /no issuer "CN=Other CA".*; chain certificate "CN=Int" expired/);
  assert.equal(check(r, 'certificate').reason, 'key-usage: keyUsage lacks digitalSignature');
  assert.equal(check(r, 'validity').status, 'OK');
  assert.equal(check(r, 'key').status, 'OK');

  // the failure's role decides, not its words: a trust anchor expired is a chain problem however it is phrased
  const anchorExpired = base();
  anchorExpired.verify = { failures: [{ check: 'validity', message: 'the CA "CN=Root" expired', role: 'anchor' }] };
  assert.equal(check(evaluate(anchorExpired), 'chain').reason, 'the CA "CN=Root" expired');

  const top = base();
  top.anchors = { source: 'chain-top' };
  assert.equal(check(evaluate(top), 'chain').status, 'WARNING');
  const unreadable = base();
  unreadable.anchors = { source: 'error', error: 'fs: cannot read trust anchor /etc/ca.pem: ENOENT' };
  assert.deepEqual([check(evaluate(unreadable), 'chain').status, evaluate(unreadable).exitCode], ['UNKNOWN', 3]);

  const empty = base();
  (empty.identity as { subject: string }).subject = '';
  assert.match(check(evaluate(empty), 'certificate').reason, /empty subject/);
});

test('no live identity: CRITICAL, the checks that need one are UNKNOWN, overall CRITICAL (exit 2)', () => {
  const i = base();
  delete i.identity;
  delete i.key;
  delete i.verify;
  const r = evaluate(i);
  assert.equal(check(r, 'identity').reason, 'no live identity: run iamra-agent bootstrap');
  assert.deepEqual(statuses(r), {
    config: 'OK',
    identity: 'CRITICAL',
    validity: 'UNKNOWN',
    renewal: 'UNKNOWN',
    ari: 'UNKNOWN',
    key: 'UNKNOWN',
    chain: 'UNKNOWN',
    certificate: 'UNKNOWN',
    'last-renewal': 'OK',
    'create-session': 'OK',
    'route53-credentials': 'OK',
    'pending-txt': 'OK',
  });
  assert.deepEqual([r.overall, r.exitCode], ['CRITICAL', 2]);
  assert.equal(r.identity, undefined);

  const corrupt = base();
  corrupt.identity = { error: 'store: version 0003 is incomplete: cert.pem is missing' };
  assert.match(check(evaluate(corrupt), 'identity').reason, /cannot be read: store: version 0003 is incomplete/);
});

test('every verdict carries a structured code: skipped checks are "not-checked", causes say what failed', () => {
  const codes = (r: StatusReport) => Object.fromEntries(r.checks.map((c) => [c.name, c.code]));
  assert.deepEqual(
    evaluate(base())
      .checks.filter((c) => c.code !== 'ok')
      .map((c) => `${c.name}:${c.code}`),
    ['ari:no-ari-answer', 'last-renewal:no-renewal-yet', 'create-session:no-session-yet'],
  );
  const none = base();
  delete none.identity;
  delete none.key;
  delete none.verify;
  assert.deepEqual(codes(evaluate(none)), {
    config: 'ok',
    identity: 'no-identity',
    validity: 'not-checked',
    renewal: 'not-checked',
    ari: 'not-checked',
    key: 'not-checked',
    chain: 'not-checked',
    certificate: 'not-checked',
    'last-renewal': 'no-renewal-yet',
    'create-session': 'no-session-yet',
    'route53-credentials': 'ok',
    'pending-txt': 'ok',
  });
  const late = evaluate(base(at(8 * D)));
  assert.deepEqual([check(late, 'validity').code, check(late, 'renewal').code], ['renewal-overdue', 'renewal-overdue']);
  const expired = evaluate(base(at(91 * D)));
  assert.deepEqual([check(expired, 'validity').code, check(expired, 'renewal').code], ['expired', 'expired']);
  // a reason that happens to read like a skipped check is still a cause: the code decides, not the sentence
  const odd = base();
  odd.key = { present: false, reason: 'not checked: the key file vanished' };
  const r = evaluate(odd);
  assert.equal(check(r, 'key').code, 'key-unusable');
  assert.match(renderText(r), /^IAMRA-AGENT CRITICAL: key: not checked: the key file vanished\n/);
});

test('config unreadable or invalid: UNKNOWN, exit 3, every problem in the reason', () => {
  const r = evaluate({
    now: at(0),
    config: {
      file: '/etc/a.yaml',
      error: 'config: /etc/a.yaml has 2 problem(s)',
      problems: ['identity.name: must be a lower-case fully qualified DNS name', 'renewal.maxAge: must be a duration'],
    },
  });
  assert.deepEqual([r.overall, r.exitCode], ['UNKNOWN', 3]);
  assert.equal(
    check(r, 'config').reason,
    '/etc/a.yaml is invalid: identity.name: must be a lower-case fully qualified DNS name; renewal.maxAge: must be a duration',
  );
  assert.ok(r.checks.slice(1).every((c) => c.status === 'UNKNOWN' && c.reason.startsWith('not checked:')));
  const missing = evaluate({ now: at(0), config: { file: '/etc/a.yaml', error: 'config: cannot read /etc/a.yaml: ENOENT' } });
  assert.equal(check(missing, 'config').reason, 'config: cannot read /etc/a.yaml: ENOENT');
});

test('last renewal: a failure warns with the recorded error; success reports its age', () => {
  const s = emptyState();
  s.lastRenewal = { at: at(20 * H).toISOString(), ok: false, error: 'verify: certificate 0B failed verification: chain: no issuer' };
  const r = evaluate(base(at(1 * D), s));
  assert.deepEqual([r.exitCode, check(r, 'last-renewal').status, check(r, 'last-renewal').value], [1, 'WARNING', 4 * 3600]);
  assert.equal(check(r, 'last-renewal').reason, 'failed at 2026-11-01T20:00:00.000Z (4h 0m ago): verify: certificate 0B failed verification: chain: no issuer');
  // the live identity's own creation stays the last success
  assert.equal(r.lastRenewalSuccess, at(60_000).toISOString());

  s.lastRenewal = { at: at(20 * H).toISOString(), ok: true, serial: '0A1B' };
  const ok = evaluate(base(at(1 * D), s));
  assert.equal(check(ok, 'last-renewal').reason, 'succeeded at 2026-11-01T20:00:00.000Z (4h 0m ago), serial 0A1B');
  assert.equal(ok.lastRenewalSuccess, at(20 * H).toISOString());
});

test('CreateSession: recorded failure warns, a failed probe is CRITICAL, expiry is reported', () => {
  const s = emptyState();
  s.lastCreateSession = { at: at(23 * H).toISOString(), ok: true, expiration: at(24 * H + 30 * 60_000).toISOString() };
  const r = evaluate(base(at(1 * D), s));
  assert.deepEqual([check(r, 'create-session').status, check(r, 'create-session').value], ['OK', 1800]);
  assert.match(
    check(r, 'create-session').reason,
    /last CreateSession at 2026-11-01T23:00:00.000Z succeeded; credentials expire at 2026-11-02T00:30:00.000Z \(in 30m 0s\)/,
  );
  assert.deepEqual(r.credentials, { source: 'state', ok: true, at: at(23 * H).toISOString(), expiration: at(24 * H + 30 * 60_000).toISOString() });

  s.lastCreateSession = { at: at(23 * H).toISOString(), ok: false, error: 'AccessDeniedException: untrusted certificate' };
  const failed = evaluate(base(at(1 * D), s));
  assert.deepEqual([failed.exitCode, check(failed, 'create-session').status], [1, 'WARNING']);
  assert.match(check(failed, 'create-session').reason, /AccessDeniedException: untrusted certificate/);

  const probed = base(at(1 * D), s);
  probed.probe = { source: 'probe', ok: false, at: at(1 * D), error: 'rolesanywhere: AccessDeniedException' };
  const p = evaluate(probed);
  assert.deepEqual([p.exitCode, check(p, 'create-session').status, p.credentials?.source], [2, 'CRITICAL', 'probe']);
  assert.match(check(p, 'create-session').reason, /^live CreateSession \(--probe\) at .* failed: rolesanywhere: AccessDeniedException/);

  const noRa = base();
  (noRa.config as { rolesAnywhere: boolean }).rolesAnywhere = false;
  assert.match(check(evaluate(noRa), 'create-session').reason, /not configured/);
});

test('pending TXT: a record older than the grace period is a leftover (WARNING); a young one is a run in progress', () => {
  const s = emptyState();
  s.pendingTxt = [{ fqdn: '_acme-challenge.host1.example.com', value: 'v', createdAt: at(1 * D - 5 * 60_000).toISOString() }];
  const young = evaluate(base(at(1 * D), s));
  assert.deepEqual([check(young, 'pending-txt').status, check(young, 'pending-txt').value], ['OK', 1]);
  s.pendingTxt[0]!.createdAt = at(1 * D - 20 * 60_000).toISOString();
  const old = evaluate(base(at(1 * D), s));
  assert.deepEqual([old.exitCode, check(old, 'pending-txt').status], [1, 'WARNING']);
  assert.match(
    check(old, 'pending-txt').reason,
    /1 TXT record\(s\) left by an interrupted run: _acme-challenge.host1.example.com \(created 2026-11-01T23:40:00.000Z\)/,
  );
  assert.deepEqual(old.pendingTxt, [{ fqdn: '_acme-challenge.host1.example.com', createdAt: '2026-11-01T23:40:00.000Z' }]);
});

test('state.json unreadable: the checks that need it are UNKNOWN', () => {
  const i = base();
  i.state = { error: 'fs: cannot read /var/lib/iamra-agent/state.json: EACCES' };
  const r = evaluate(i);
  assert.deepEqual(
    [check(r, 'last-renewal').status, check(r, 'pending-txt').status, check(r, 'ari').status, check(r, 'create-session').status],
    ['UNKNOWN', 'UNKNOWN', 'UNKNOWN', 'UNKNOWN'],
  );
  assert.equal(r.exitCode, 3);
});

test('names in the config differ from the live identity: WARNING', () => {
  const i = base();
  (i.config as { names: string[] }).names = ['host2.example.com'];
  const r = evaluate(i);
  assert.equal(check(r, 'identity').status, 'WARNING');
  assert.match(check(r, 'identity').reason, /is for host1.example.com but the config names host2.example.com/);
});

test('worst: CRITICAL > UNKNOWN > WARNING > OK; durations read like a person writes them', () => {
  assert.equal(worst([]), 'OK');
  assert.equal(worst(['OK', 'WARNING']), 'WARNING');
  assert.equal(worst(['WARNING', 'UNKNOWN']), 'UNKNOWN');
  assert.equal(worst(['UNKNOWN', 'CRITICAL', 'WARNING']), 'CRITICAL');
  assert.deepEqual([human(42_000), human(7 * 60_000 + 3000), human(5 * H + 12 * 60_000), human(3 * D + 4 * H + 59_000)], ['42s', '7m 3s', '5h 12m', '3d 4h']);
});

test('a renewal due within status.overdueGrace is OK (the timer will act); past it, WARNING', () => {
  // maxAge 7 d → renewal point issued + 7 d
  const graced = (now: Date) => {
    const input = base(now);
    return evaluate({ ...input, config: { ...(input.config as Extract<StatusInput['config'], { maxAgeMs: number }>), overdueGraceMs: D } });
  };
  const within = graced(at(7 * D + 10 * H));
  assert.equal(check(within, 'renewal').status, 'OK');
  assert.match(check(within, 'renewal').reason, /renewal due since .* grace/);
  assert.equal(within.exitCode, 0);
  const late = graced(at(8 * D + H));
  assert.equal(check(late, 'renewal').status, 'WARNING');
  assert.equal(late.exitCode, 1);
});
