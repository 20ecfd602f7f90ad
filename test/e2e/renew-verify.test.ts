import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startSandbox, type E2eSandbox } from '../helpers/sandbox.js';
import { readLive, readState, stateDir } from './renew-support.js';

/**
 * Issue 4, "What must be shown" 4: a new identity that fails verification never goes live. Two real failures:
 *  - wrong trust anchor: trust.anchors names another CA (Pebble's HTTPS listener CA, which did not issue the
 *    certificate) → the chain check fails;
 *  - CreateSession refused: rolesAnywhere.verifyBeforeActivate on, and the sandbox's IAM Roles Anywhere profile no
 *    longer maps the SAN into session tags (delete-attribute-mapping x509SAN), so the role's trust policy condition
 *    on aws:PrincipalTag/x509SAN/DNS fails → AccessDenied for the new certificate.
 * Each time: `renew` exits 1, the old identity stays live (same version and serial), the rejected version is not
 * kept, state.json records lastRenewal.ok=false with the reason, and `status` turns WARNING with that reason.
 * Then `rollback` after two good renewals puts the previous serial back live.
 */

let sb: E2eSandbox;
let state: string;
before(async () => {
  sb = await startSandbox({ bootstrap: true });
  state = stateDir(sb);
});
after(async () => {
  await sb?.stop();
});

const versions = () =>
  readdirSync(path.join(state, 'versions'))
    .filter((n) => /^\d{4}$/.test(n))
    .sort();

async function statusOf(): Promise<{ code: number | null; lastRenewal?: { status: string; reason: string } }> {
  const r = await sb.cli(['status', '--json']);
  const j = JSON.parse(r.stdout) as { checks: { name: string; status: string; reason: string }[] };
  const lastRenewal = j.checks.find((c) => c.name === 'last-renewal');
  return { code: r.code, ...(lastRenewal ? { lastRenewal } : {}) };
}

test('wrong trust anchor: renew exits 1, the old identity stays live, state and status say why', async () => {
  const before = readLive(state);
  const beforeVersions = versions();
  const wrongCa = path.join(sb.dir, 'pebble', 'tls-ca.pem');
  const r = await sb.cli(['renew', '--force', '--set', `trust.anchors=[${wrongCa}]`]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /^iamra-agent: verify: .*chain/m);
  const live = readLive(state);
  assert.deepEqual([live.version, live.serial], [before.version, before.serial]);
  assert.deepEqual(versions(), beforeVersions, 'the rejected version was discarded');
  const st = readState(state);
  assert.equal(st.lastRenewal?.ok, false);
  assert.match(st.lastRenewal?.error ?? '', /chain/);
  assert.equal(st.counters['renewal_failures'], 1);
  const s = await statusOf();
  assert.equal(s.lastRenewal?.status, 'WARNING');
  assert.match(s.lastRenewal?.reason ?? '', /failed at .*chain/);
  assert.ok(s.code === 1 || s.code === 2, `status exit ${s.code}`);
});

test('CreateSession refused by the sandbox: verifyBeforeActivate keeps the old identity live', async () => {
  const vba = ['--set', 'rolesAnywhere.verifyBeforeActivate=true'];
  // First, with the profile as set up: the new identity passes a real CreateSession and goes live.
  const ok = await sb.cli(['renew', '--force', '--json', ...vba]);
  assert.equal(ok.code, 0, ok.stderr);
  const good = readLive(state);
  assert.equal(good.version, JSON.parse(ok.stdout).version);

  const profileArn = sb.info.profileArn;
  await sb.admin('rolesanywhere/delete-attribute-mapping', { profileArn, certificateField: 'x509SAN' });
  try {
    const beforeVersions = versions();
    const r = await sb.cli(['renew', '--force', ...vba]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /AccessDenied|not authorized/i);
    const live = readLive(state);
    assert.deepEqual([live.version, live.serial], [good.version, good.serial]);
    assert.deepEqual(versions(), beforeVersions);
    const st = readState(state);
    assert.equal(st.lastRenewal?.ok, false);
    assert.match(st.lastRenewal?.error ?? '', /AccessDenied|not authorized/i);
    const s = await statusOf();
    assert.equal(s.lastRenewal?.status, 'WARNING');
    assert.match(s.lastRenewal?.reason ?? '', /AccessDenied|not authorized/i);
    // the sandbox's CloudTrail saw the refused CreateSession
    const { events } = await sb.admin<{ events: { eventName: string; errorCode?: string }[] }>('rolesanywhere/events');
    assert.ok(events.some((e) => e.eventName === 'CreateSession' && e.errorCode));
  } finally {
    await sb.admin('rolesanywhere/put-attribute-mapping', { profileArn, certificateField: 'x509SAN', specifiers: ['*'] });
  }
});

test('rollback: after two good renewals the previous serial is live again; nothing older → exit 1', async () => {
  const a = await sb.cli(['renew', '--force', '--json']);
  assert.equal(a.code, 0, a.stderr);
  const prev = readLive(state);
  const b = await sb.cli(['renew', '--force', '--json']);
  assert.equal(b.code, 0, b.stderr);
  const newest = readLive(state);
  assert.notEqual(newest.serial, prev.serial);
  assert.equal(readState(state).lastRenewal?.ok, true);

  // consumers follow live back: hooks.afterRenew runs for the version rolled back to
  const seen = path.join(sb.dir, 'rollback-hook.txt');
  const hook = path.join(sb.dir, 'rollback-hook.sh');
  writeFileSync(hook, `#!/bin/sh\necho "$IAMRA_AGENT_VERSION $IAMRA_AGENT_CERT" > ${seen}\n`, { mode: 0o755 });
  const rb = await sb.cli(['rollback', '--json', '--set', `hooks.afterRenew=[[${hook}]]`]);
  assert.equal(rb.code, 0, rb.stderr);
  const r = JSON.parse(rb.stdout);
  assert.deepEqual([r.from, r.to, r.serial], [newest.version, prev.version, prev.serial]);
  const live = readLive(state);
  assert.deepEqual([live.version, live.serial], [prev.version, prev.serial]);
  assert.equal(readFileSync(seen, 'utf8'), `${prev.version} ${path.join(live.dir, 'cert.pem')}\n`);
  assert.deepEqual(
    r.hooks.map((h: { ok: boolean }) => h.ok),
    [true],
  );
  const text = await sb.cli(['rollback']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^rolled back: version \d{4} → \d{4} is live \(serial [0-9A-F]+, expires /);

  // roll back until the oldest version is live; one more has nowhere to go
  for (let i = 0; i < 10 && versions()[0] !== readLive(state).version; i++) assert.equal((await sb.cli(['rollback'])).code, 0);
  const none = await sb.cli(['rollback']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /nothing to roll back to/);
  // the oldest kept version is still a complete identity
  assert.equal(readLive(state).version, versions()[0]);
});
