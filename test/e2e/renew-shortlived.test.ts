import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { certId } from '../../src/acme/index.js';
import { startSandbox, type E2eSandbox } from '../helpers/sandbox.js';
import { liveProblem, readLive, readState, setPebbleRenewalInfo, spkiOf } from './renew-support.js';

/**
 * Issue 4, "What must be shown" 3 (the renew part): rotation with the shortlived profile (160-hour certificates, as
 * Let's Encrypt's) through the built CLI: bootstrap → renew --needed → renew.
 *
 * Shortlived leaves carry no CN (empty subject), and IAM Roles Anywhere rejects empty-subject certificates, so this
 * config has no rolesAnywhere section (the agent refuses such a leaf when rolesAnywhere is configured; see
 * IDENTITY_EMPTY_SUBJECT). What it proves:
 *  - the agent enrols and rotates a real 160 h certificate, with a new key, and keeps the previous version;
 *  - the renewal point the CLI computes for it without ARI is its half-life (notBefore + 80 h) — the lifetime rule for
 *    certificates of 10 days or less, read from the certificate itself; maxAge (7 d = 168 h) is later and does not
 *    bind. The CLI reads the wall clock, so *crossing* that instant is shown by the pure policy tests with fixed
 *    clocks (test/renew/policy.test.ts); here the rotation itself is triggered by moving Pebble's ARI window into the
 *    past, which renews at once.
 */

const H = 3600_000;
let sb: E2eSandbox;
let config: string;
let state: string;
before(async () => {
  sb = await startSandbox();
  const cfg = parse(readFileSync(path.join(sb.dir, 'agent.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
  delete cfg['rolesAnywhere'];
  cfg['acme']!['profile'] = 'shortlived';
  state = path.join(sb.dir, 'state-shortlived');
  cfg['state'] = { dir: state, runtimeDir: path.join(sb.dir, 'run-shortlived') };
  config = path.join(sb.dir, 'agent-shortlived.yaml');
  writeFileSync(config, stringify(cfg), { mode: 0o600 });
});
after(async () => {
  await sb?.stop();
  if (sb) rmSync(sb.dir, { recursive: true, force: true });
});

const cli = (args: string[]) => sb.cli([...args, '--config', config]);

test('shortlived: 160 h certificate, renewal point at half-life, rotated with a new key on renewal', async () => {
  const boot = await cli(['bootstrap', '--json']);
  assert.equal(boot.code, 0, boot.stderr);
  const v1 = readLive(state);
  const c1 = new X509Certificate(v1.certPem);
  const nb = Date.parse(c1.validFrom);
  const na = Date.parse(c1.validTo);
  // Pebble's notAfter is notBefore + period - 1 s (inclusive end, RFC 5280)
  assert.ok(Math.abs(na - nb - 160 * H) <= 1000, `lifetime ${(na - nb) / H} h`);
  assert.equal(v1.meta['profile'], 'shortlived');
  assert.equal(c1.subject ?? '', '', 'a shortlived leaf has no subject (no CN)');

  // Without ARI: the lifetime rule, half of this certificate's own lifetime.
  const noAri = await cli(['renew', '--needed', '--json', '--set', 'renewal.ari=false']);
  assert.equal(noAri.code, 1, noAri.stderr);
  const d = JSON.parse(noAri.stdout);
  assert.deepEqual([d.due, d.reason, d.renewAt], [false, 'lifetime', new Date(na - Math.floor((na - nb) / 2)).toISOString()]);
  assert.ok(Math.abs(Date.parse(d.renewAt) - (nb + 80 * H)) <= 1000, 'notBefore + 80 h');

  // With ARI: Pebble's window; in any case before maxAge's 168 h.
  const ari = await cli(['renew', '--needed', '--json']);
  assert.equal(ari.code, 1, ari.stderr);
  const a = JSON.parse(ari.stdout);
  assert.equal(a.reason, 'ari-window');
  assert.ok(Date.parse(a.renewAt) >= Date.parse(a.ari.windowStart) && Date.parse(a.renewAt) < Date.parse(a.ari.windowEnd));
  assert.ok(Date.parse(a.renewAt) < nb + 168 * H);
  const idle = await cli(['renew', '--json']);
  assert.equal(idle.code, 0, idle.stderr);
  assert.equal(JSON.parse(idle.stdout).action, 'not-due');

  // Rotation: the CA signals "renew now" (window passed). Retry-After from the check above still holds, so the
  // stored answer is cleared as if those 6 hours had passed (the CLI reads the wall clock; see renew-ari.test.ts).
  await setPebbleRenewalInfo(sb, v1.certPem, { start: new Date(Date.now() - 2 * H), end: new Date(Date.now() - H) });
  const s = JSON.parse(readFileSync(path.join(state, 'state.json'), 'utf8'));
  delete s.ari;
  writeFileSync(path.join(state, 'state.json'), JSON.stringify(s));
  const renewed = await cli(['renew', '--json']);
  assert.equal(renewed.code, 0, renewed.stderr);
  const r = JSON.parse(renewed.stdout);
  assert.deepEqual([r.action, r.decision.reason, r.replaces], ['renewed', 'ari-window-passed', certId(v1.certPem)]);

  const v2 = readLive(state);
  const c2 = new X509Certificate(v2.certPem);
  assert.notEqual(v2.serial, v1.serial);
  assert.notEqual(spkiOf(v2.certPem), spkiOf(v1.certPem), 'a new key (key.rotateOnRenew defaults to true)');
  assert.ok(Math.abs(Date.parse(c2.validTo) - Date.parse(c2.validFrom) - 160 * H) <= 1000);
  assert.equal(liveProblem(state), undefined);
  assert.deepEqual(
    readdirSync(path.join(state, 'versions')).filter((n) => /^\d{4}$/.test(n)),
    [v1.version, v2.version],
    'the previous version is kept for rollback',
  );
  const st = readState(state);
  assert.deepEqual([st.lastRenewal?.ok, st.counters['renewals']], [true, 2]);

  // and the fresh certificate is not due
  const again = await cli(['renew', '--needed']);
  assert.equal(again.code, 1, again.stdout + again.stderr);

  // status sees the rotated 160 h identity as healthy, with its half-life renewal point
  const status = await cli(['status', '--json']);
  assert.equal(status.code, 0, status.stdout + status.stderr);
  const report = JSON.parse(status.stdout);
  assert.equal(report.overall, 'OK');
  assert.equal(report.identity.serial, v2.serial);
  assert.ok(Date.parse(report.renewal.renewAt) < Date.parse(c2.validTo), 'renews well before expiry');
});
