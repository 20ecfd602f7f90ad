import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { codesBetween } from '../../src/envsense/totp.js';
import type { CreateSessionEvent } from '../../src/sandbox/iamra/cloudtrail.js';
import { startSandbox, type E2eSandbox } from '../helpers/sandbox.js';
import { tempDir } from '../helpers/paths.js';
import { imdsCredentials, startServe, type Serve } from './credentials-support.js';

/**
 * Issue 8, "What must be shown" 2 and 4, against `sandbox up --totp` (the profile accepts session names, the role's
 * trust policy is `policy trust --cn NAME --totp`'s, agent.yaml has rolesAnywhere.roleSessionName: totp):
 * credential-process, serve, update and the pre-activation check get credentials whose assumed-role ARN ends with
 * the TOTP code of that moment, and the CloudTrail event carries it; then `policy deny --cn` applied to the role
 * refuses the next CreateSession while serve keeps the last good credentials and status says why.
 */

let sb: E2eSandbox;
const servers: Serve[] = [];
const work = tempDir('envsense-e2e');
before(async () => {
  sb = await startSandbox({ args: ['--totp'], bootstrap: true });
});
after(async () => {
  for (const s of servers) await s.stop();
  await sb?.stop();
});

interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

async function callerArn(c: Creds): Promise<string> {
  const sts = new STSClient({ endpoint: sb.info.awsUrl, region: 'us-east-1', credentials: c });
  const r = await sts.send(new GetCallerIdentityCommand({}));
  return r.Arn ?? '';
}

async function fingerprintHex(): Promise<string> {
  const r = await sb.cli(['fingerprint', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const entry = JSON.parse(r.stdout) as Record<string, string>;
  assert.deepEqual(Object.keys(entry), [`CN=${sb.info.name}`]);
  return Object.values(entry)[0]!;
}

const events = async () => (await sb.admin<{ events: CreateSessionEvent[] }>('rolesanywhere/events')).events;

/**
 * Runs `act` and checks the credentials it yields: the session name (last ARN segment) is six digits and one of the
 * codes of the steps between start and end, and the newest CloudTrail event carries it as roleSessionName.
 */
async function assertTotpSession(act: () => Promise<Creds>): Promise<string> {
  const hex = await fingerprintHex();
  const from = new Date();
  const creds = await act();
  const to = new Date();
  const arn = await callerArn(creds);
  const code = arn.split('/').pop()!;
  assert.match(arn, /^arn:aws:sts::111122223333:assumed-role\/iamra-agent-sandbox\/\d{6}$/);
  const expected = codesBetween(hex, { digest: 'sha1', period: 30, digits: 6 }, from, to).map((c) => c.code);
  assert.ok(expected.includes(code), `${code} is one of the codes of that moment (${expected.join(', ')})`);
  const last = (await events()).filter((e) => e.responseElements).pop()!;
  assert.equal(last.requestParameters?.roleSessionName, code);
  assert.equal(last.responseElements?.credentialSet[0]?.assumedRoleUser.arn, arn);
  return code;
}

describe('roleSessionName: totp against the sandbox', () => {
  it('credential-process: the assumed-role ARN ends with the code of that moment', async () => {
    await assertTotpSession(async () => {
      const r = await sb.cli(['credential-process', '--no-cache']);
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout) as { AccessKeyId: string; SecretAccessKey: string; SessionToken: string };
      return { accessKeyId: j.AccessKeyId, secretAccessKey: j.SecretAccessKey, sessionToken: j.SessionToken };
    });
  });

  it('update --once: the credentials file holds a session named by the code', async () => {
    const file = path.join(work, 'credentials');
    await assertTotpSession(async () => {
      const r = await sb.cli(['update', '--once', '--file', file, '--profile', 'totp']);
      assert.equal(r.code, 0, r.stderr);
      const text = readFileSync(file, 'utf8');
      const v = (k: string) => new RegExp(`^${k} = (.+)$`, 'm').exec(text)?.[1] ?? '';
      return { accessKeyId: v('aws_access_key_id'), secretAccessKey: v('aws_secret_access_key'), sessionToken: v('aws_session_token') };
    });
  });

  it('serve: IMDS credentials come from a session named by the code', async () => {
    const s = await startServe(['--listen', '127.0.0.1:0'], sb.env);
    servers.push(s);
    await assertTotpSession(async () => {
      const r = await imdsCredentials(s.url);
      assert.equal(r.status, 200, r.text);
      return { accessKeyId: r.json!.AccessKeyId!, secretAccessKey: r.json!.SecretAccessKey!, sessionToken: r.json!.Token! };
    });
  });

  it('the pre-activation check of a renewal sends the code too (the trust policy refuses anything else)', async () => {
    const hex = await fingerprintHex();
    const from = new Date();
    const r = await sb.cli(['renew', '--force', '--set', 'rolesAnywhere.verifyBeforeActivate=true']);
    assert.equal(r.code, 0, r.stderr);
    const expected = codesBetween(hex, { digest: 'sha1', period: 30, digits: 6 }, from, new Date()).map((c) => c.code);
    const mine = (await events()).filter((e) => Date.parse(e.eventTime) >= Math.floor(from.getTime() / 1000) * 1000);
    assert.ok(mine.length >= 1, 'the renewal made a CreateSession');
    for (const e of mine) {
      assert.ok(expected.includes(e.requestParameters?.roleSessionName ?? ''), `${e.requestParameters?.roleSessionName} in ${expected}`);
      assert.equal(e.errorCode, undefined, e.errorMessage);
    }
  });

  it('the trust policy from `policy trust --totp` refuses a session name that is not six characters', async () => {
    const r = await sb.cli(['credential-process', '--no-cache', '--set', 'rolesAnywhere.roleSessionName=not-a-code']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /AccessDeniedException/);
    const last = (await events()).pop()!;
    assert.equal(last.requestParameters?.roleSessionName, 'not-a-code');
    assert.match(last.additionalEventData.failureReason ?? '', /trust policy/);
  });

  it('a change of a fingerprint source changes the code at once (nothing is cached)', async () => {
    const before = await fingerprintHex();
    const hostId = path.join(sb.dir, 'envsense', 'host-id');
    const saved = readFileSync(hostId);
    writeFileSync(hostId, 'another machine\n');
    try {
      assert.notEqual(await fingerprintHex(), before);
    } finally {
      writeFileSync(hostId, saved);
    }
    assert.equal(await fingerprintHex(), before);
  });
});

describe('revocation: policy deny --cn applied to the role', () => {
  it('refuses the next CreateSession with AccessDenied; serve keeps the last good credentials; status says why', async () => {
    // Short sessions so serve's refresh comes due within seconds instead of an hour.
    await sb.admin('faults', { iamraCredentialTtlSeconds: 25 });
    const s = await startServe(['--listen', '127.0.0.1:0', '--set', 'vend.refreshBefore=20s'], sb.env);
    servers.push(s);
    const good = await imdsCredentials(s.url);
    assert.equal(good.status, 200, good.text);

    const deny = await sb.cli(['policy', 'deny', '--cn', sb.info.name]);
    assert.equal(deny.code, 0, deny.stderr);
    const registry = await sb.admin<{ roles: { name: string; trustPolicy: { Version: string; Statement: unknown[] } }[] }>('rolesanywhere/registry');
    const role = registry.roles.find((r) => r.name === 'iamra-agent-sandbox')!;
    const policyDocument = { ...role.trustPolicy, Statement: [...role.trustPolicy.Statement, JSON.parse(deny.stdout)] };
    await sb.admin('rolesanywhere/update-assume-role-policy', { roleArn: sb.info.roleArn, policyDocument });

    const cp = await sb.cli(['credential-process', '--no-cache']);
    assert.equal(cp.code, 1);
    assert.equal(cp.stdout, '');
    assert.match(cp.stderr, /AccessDeniedException/);
    assert.match((await events()).pop()?.additionalEventData.failureReason ?? '', /trust policy: sts:AssumeRole ExplicitlyDenied/);

    // serve: once the refresh is due it fails, and the same (still valid) credentials keep being served.
    const deadline = Date.now() + 20_000;
    while (!/credentials refresh failed; serving cached credentials/.test(s.log())) {
      assert.ok(Date.now() < deadline, `serve never retried the refresh: ${s.log()}`);
      const r = await imdsCredentials(s.url);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json?.AccessKeyId, good.json?.AccessKeyId);
      await new Promise((res) => setTimeout(res, 250));
    }
    const still = await imdsCredentials(s.url);
    assert.equal(still.status, 200, still.text);
    assert.equal(still.json?.AccessKeyId, good.json?.AccessKeyId, 'the last good credentials until they expire');

    const st = await sb.cli(['status', '--json']);
    const report = JSON.parse(st.stdout) as { checks: { name: string; status: string; reason: string }[] };
    const cred = report.checks.find((c) => /credential|create-session/i.test(c.name));
    assert.ok(cred, `a credentials check in ${st.stdout}`);
    assert.notEqual(cred.status, 'OK');
    assert.match(cred.reason, /AccessDeniedException/);
  });
});
