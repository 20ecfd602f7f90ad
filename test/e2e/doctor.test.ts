import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { route53Policy } from '../../src/policy/index.js';
import { editedConfig, enrolSandbox, txtRecords } from '../helpers/enrol.js';
import type { E2eSandbox } from '../helpers/sandbox.js';
import { type Serve, startServe } from './credentials-support.js';

/**
 * Issue 9, "What must be shown" 4: `doctor` exits 0 on the quickstart's healthy setup (bootstrap,
 * static key removed), and each injected fault makes exactly the right check FAIL with its fix: wrong zone id, a
 * Route 53 policy scoped to another name, the CA unreachable, a trust anchor that does not match the chain, IAMRA
 * refusing the role, clock skew (the sandbox's AWS Date moved), serve not running (its socket gone). Every check is real: Pebble's directory, the AWS front's Date, a live CreateSession, and a
 * Route 53 UPSERT + DELETE of a probe value in the host's own record.
 */

interface Report {
  overall: string;
  exitCode: number;
  checks: { name: string; status: string; evidence: string; fix: string }[];
}

const NAMES = [
  'config',
  'acme-directory',
  'clock-acme',
  'clock-aws',
  'identity',
  'create-session',
  'route53-credentials',
  'dns-delegation',
  'route53-probe',
  'route53-scope',
  'serve',
  'credentials-file',
  'systemd',
];

describe('doctor', () => {
  let sb: E2eSandbox;
  let serve: Serve | undefined;
  // the host runs serve (on a unix socket) and update: doctor checks both endpoints
  const vend = () => [
    ...['--set', 'vend.serve.enabled=true', '--set', `vend.serve.socket=${path.join(sb.dir, 'imds.sock')}`],
    ...['--set', 'vend.update.enabled=true', '--set', `vend.update.file=${path.join(sb.dir, 'app', 'credentials')}`],
  ];
  const doctor = async (args: string[] = [], env: NodeJS.ProcessEnv = {}) => {
    const r = await sb.cli(['doctor', '--json', '--log-level', 'error', ...vend(), ...args], env);
    assert.ok(r.stdout, `doctor printed nothing (exit ${r.code}): ${r.stderr}`);
    const report = JSON.parse(r.stdout) as Report;
    assert.equal(r.code, report.exitCode, r.stderr);
    assert.deepEqual(
      report.checks.map((c) => c.name),
      NAMES,
    );
    return report;
  };
  const failed = (r: Report) => r.checks.filter((c) => c.status === 'FAIL');
  const named = (r: Report, n: string) => r.checks.find((c) => c.name === n)!;

  before(async () => {
    sb = await enrolSandbox();
    const boot = await sb.cli(['bootstrap']);
    assert.equal(boot.code, 0, boot.stderr);
    // the quickstart's state after bootstrap: the one-time Route 53 key is gone, renewals use the fleet DNS role
    rmSync(path.join(sb.dir, 'aws', 'credentials'));
    await sb.admin('principals/delete', { accessKeyId: sb.info.dnsUser.accessKeyId });
    serve = await startServe(['--socket', path.join(sb.dir, 'imds.sock')], sb.env);
    const update = await sb.cli(['update', '--once', ...vend()]);
    assert.equal(update.code, 0, update.stderr);
  });
  after(async () => {
    await serve?.stop();
    await sb?.stop();
  });

  it('healthy setup: every check OK (systemd SKIP saying why: it is not PID 1 here), exit 0, the probe record gone again', async () => {
    const r = await doctor();
    assert.deepEqual(
      r.checks.filter((c) => c.status !== 'OK').map((c) => `${c.name}: ${c.evidence}`),
      [`systemd: systemd is not PID 1 (PID 1 is ${readFileSync('/proc/1/comm', 'utf8').trim()}): the units and the timer are not checked`],
    );
    assert.equal(named(r, 'systemd').status, 'SKIP');
    assert.match(named(r, 'dns-delegation').evidence, /^zone example\.com NS .*, served authoritatively by 127\.0\.0\.1:\d+ \(dns\.resolvers\)$/);
    assert.match(named(r, 'route53-scope').evidence, /^ListHostedZonesByName denied to the rolesAnywhere credentials/);
    assert.deepEqual([r.overall, r.exitCode], ['OK', 0]);
    assert.match(named(r, 'route53-probe').evidence, /UPSERT \+ DELETE of a probe TXT at _acme-challenge\.agent\.example\.com .*signed with rolesAnywhere/);
    assert.deepEqual(await txtRecords(sb), []);
    assert.match(named(r, 'serve').evidence, /^serve answers at unix socket .*imds\.sock: IMDSv2 token, role iamra-agent-sandbox, credentials until /);
    assert.match(named(r, 'credentials-file').evidence, /app\/credentials \[default\] is 0600 and valid until /);
  });

  it('wrong zone id: route53-probe FAILs, with the policy fix', async () => {
    const r = await doctor(['--set', 'dns.route53.hostedZoneId=Z0WRONGZONE00000001']);
    assert.deepEqual(
      failed(r).map((c) => c.name),
      ['route53-probe'],
    );
    assert.match(named(r, 'route53-probe').evidence, /Z0WRONGZONE00000001/);
    assert.match(named(r, 'route53-probe').fix, /policy route53/);
    assert.equal(r.exitCode, 2);
  });

  it('a Route 53 policy scoped to another name: route53-probe FAILs with AccessDenied naming the record', async () => {
    const user = await sb.admin<{ accessKeyId: string; secretAccessKey: string }>('principals', {
      name: 'scoped-elsewhere',
      accountId: sb.info.accountId,
      policies: [route53Policy({ zoneId: sb.info.zoneId, names: ['other.example.com'] })],
    });
    const file = path.join(sb.dir, 'other-credentials');
    writeFileSync(file, `[elsewhere]\naws_access_key_id = ${user.accessKeyId}\naws_secret_access_key = ${user.secretAccessKey}\n`, { mode: 0o600 });
    const r = await doctor(['--set', 'dns.route53.credentials=sdk', '--set', 'dns.route53.profile=elsewhere'], { AWS_SHARED_CREDENTIALS_FILE: file });
    assert.deepEqual(
      failed(r).map((c) => c.name),
      ['route53-probe'],
    );
    assert.match(named(r, 'route53-probe').evidence, /AccessDenied.*_acme-challenge\.agent\.example\.com/);
    assert.deepEqual(await txtRecords(sb), [], 'nothing written');
  });

  it('credentials wider than needed (may list every zone although a zone id is set): route53-scope WARNs, exit 1', async () => {
    const user = await sb.admin<{ accessKeyId: string; secretAccessKey: string }>('principals', {
      name: 'any-zone',
      accountId: sb.info.accountId,
      policies: [route53Policy({ names: ['agent.example.com'] })],
    });
    const file = path.join(sb.dir, 'wide-credentials');
    writeFileSync(file, `[wide]\naws_access_key_id = ${user.accessKeyId}\naws_secret_access_key = ${user.secretAccessKey}\n`, { mode: 0o600 });
    const r = await doctor(['--set', 'dns.route53.credentials=sdk', '--set', 'dns.route53.profile=wide'], { AWS_SHARED_CREDENTIALS_FILE: file });
    assert.deepEqual(failed(r), []);
    assert.deepEqual(
      r.checks.filter((c) => c.status === 'WARN').map((c) => c.name),
      ['route53-scope'],
    );
    assert.match(named(r, 'route53-scope').evidence, /ListHostedZonesByName allowed.*wider than needed/);
    assert.match(named(r, 'route53-scope').fix, /policy route53 --from-config/);
    assert.equal(r.exitCode, 1);
  });

  it("clock skew (the AWS endpoint's Date 2 min ahead): clock-aws FAILs with the measured offset and the NTP fix", async () => {
    await sb.admin('faults', { dateOffsetSeconds: 120 });
    try {
      const r = await doctor();
      assert.deepEqual(
        failed(r).map((c) => c.name),
        ['clock-aws'],
      );
      assert.match(named(r, 'clock-aws').evidence, /^clock off by -1(19|20|21) s \(local .*, the AWS endpoint 127\.0\.0\.1:\d+ .*; 60 s is the limit\)$/);
      assert.match(named(r, 'clock-aws').fix, /timedatectl set-ntp true.*chronyc/);
      // Pebble's Date is the real one: the CA check stays OK
      assert.equal(named(r, 'clock-acme').status, 'OK');
    } finally {
      await sb.admin('faults', { dateOffsetSeconds: 0 });
    }
  });

  it('CA unreachable: acme-directory FAILs; the clock check against it is not run', async () => {
    const r = await doctor(['--set', 'acme.directory=https://127.0.0.1:9/dir']);
    assert.deepEqual(
      failed(r).map((c) => c.name),
      ['acme-directory'],
    );
    assert.match(named(r, 'acme-directory').evidence, /cannot reach the ACME directory https:\/\/127\.0\.0\.1:9\/dir/);
    assert.deepEqual([named(r, 'clock-acme').status, named(r, 'clock-acme').evidence], ['WARN', 'not run: acme-directory failed']);
  });

  it('trust anchor not matching the chain: identity FAILs (chain), CreateSession is not run', async () => {
    const cfg = editedConfig(sb, 'wrong-anchor.yaml', (c) => {
      c.trust.anchors = [path.join(sb.dir, 'pebble', 'tls-ca.pem')];
    });
    const r = await doctor(['--config', cfg]);
    assert.deepEqual(
      failed(r).map((c) => c.name),
      ['identity'],
    );
    assert.match(named(r, 'identity').evidence, /chain CRITICAL/);
    assert.equal(named(r, 'create-session').status, 'WARN');
  });

  it('serve not running: serve FAILs with the systemctl fix', async () => {
    await serve?.stop();
    serve = undefined;
    const r = await doctor();
    assert.deepEqual(
      failed(r).map((c) => c.name),
      ['serve'],
    );
    assert.match(named(r, 'serve').evidence, /^serve not running: nothing listens on unix socket .*imds\.sock \((ENOENT|ECONNREFUSED)\)$/);
    assert.match(named(r, 'serve').fix, /^systemctl start iamra-agent-serve\.service/);
  });

  it('IAMRA refusing the role: create-session FAILs with the rolesAnywhere fix', async () => {
    const r = await doctor(['--set', `rolesAnywhere.roleArn=arn:aws:iam::${sb.info.accountId}:role/not-in-the-profile`]);
    assert.deepEqual(
      failed(r).map((c) => c.name),
      ['create-session'],
    );
    assert.match(named(r, 'create-session').evidence, /AccessDenied|not one of those listed/);
    assert.match(named(r, 'create-session').fix, /rolesAnywhere/);
  });
});
