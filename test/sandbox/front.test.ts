import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Clock } from '../../src/core/clock.js';
import { createAwsSandbox, type AwsSandbox } from '../../src/sandbox/aws/server.js';
import { AwsApiError, type AwsService, type Principal } from '../../src/sandbox/aws/types.js';

/**
 * The HTTP front: SigV4 verification as AWS does it, IAM authorization, throttling, call records and the admin API.
 * Requests are signed with @smithy/signature-v4, the signer inside the AWS SDK for JavaScript v3, and sent over a
 * real socket.
 */

const ACCOUNT = '111122223333';

/** A minimal service for the front's tests: authenticates, admits, optionally authorizes ?action= on ?resource=. */
const probe: AwsService = {
  name: 'probe',
  matches: (req) => req.path.startsWith('/probe'),
  async handle(req, ctx) {
    let principal: Principal | undefined;
    const action = req.query.get('action') ?? 'Probe';
    try {
      principal = ctx.authenticate(req, 'probe');
      ctx.admit('probe', principal);
      const resource = req.query.get('resource');
      if (resource) ctx.authorize(principal, action, resource, { 'aws:SourceIp': req.remoteAddress.replace(/^::ffff:/, '') });
      ctx.record({ time: ctx.clock.now().toISOString(), service: 'probe', action, principalArn: principal.arn, status: 200 });
      return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ arn: principal.arn, body: req.body.toString() }) };
    } catch (e) {
      if (!(e instanceof AwsApiError)) throw e;
      ctx.record({ time: ctx.clock.now().toISOString(), service: 'probe', action, principalArn: principal?.arn, status: e.status, errorCode: e.code });
      return { status: e.status, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: e.code, message: e.message }) };
    }
  },
};

/** wall clock plus an adjustable offset, so skew tests do not wait */
function offsetClock(): Clock & { offsetMs: number } {
  const c = {
    offsetMs: 0,
    now: () => new Date(Date.now() + c.offsetMs),
    sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
  };
  return c;
}

const pctEncode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);

interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

async function call(
  base: string,
  creds: Creds | undefined,
  o: {
    method?: string;
    query?: Record<string, string>;
    body?: string;
    sendBody?: string;
    service?: string;
    region?: string;
    date?: Date;
    headers?: Record<string, string>;
    dropToken?: boolean;
    noContentSha?: boolean;
  } = {},
): Promise<{ status: number; json: Record<string, string>; headers: Headers }> {
  const u = new URL(base);
  const method = o.method ?? (o.body ? 'POST' : 'GET');
  const query = o.query ?? {};
  let headers: Record<string, string> = { host: u.host, ...o.headers };
  if (creds) {
    const signer = new SignatureV4({
      credentials: creds,
      region: o.region ?? 'us-east-1',
      service: o.service ?? 'probe',
      sha256: Sha256,
      applyChecksum: !o.noContentSha,
    });
    const signed = await signer.sign(
      { method, protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: '/probe/x', query, headers, body: o.body },
      { signingDate: o.date ?? new Date() },
    );
    headers = signed.headers;
  }
  const { host: _host, ...send } = headers;
  if (o.dropToken) delete send['x-amz-security-token'];
  const qs = Object.entries(query)
    .map(([k, v]) => `${pctEncode(k)}=${pctEncode(v)}`)
    .join('&');
  const res = await fetch(`${base}/probe/x${qs ? `?${qs}` : ''}`, { method, headers: send, body: o.sendBody ?? o.body });
  return { status: res.status, json: (await res.json()) as Record<string, string>, headers: res.headers };
}

describe('sandbox AWS front', () => {
  const clock = offsetClock();
  let sandbox: AwsSandbox;
  let base: string;
  let user: Principal;
  let session: Principal;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'iamra-front-'));
    sandbox = createAwsSandbox({ clock, throttle: false, callLog: path.join(dir, 'calls.jsonl') });
    sandbox.addService(probe);
    user = sandbox.principals.createUser({
      accountId: ACCOUNT,
      name: 'agent',
      policies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'route53:GetChange', Resource: 'arn:aws:route53:::change/*' }] }],
    });
    session = {
      arn: `arn:aws:sts::${ACCOUNT}:assumed-role/Workload/host-1`,
      roleArn: `arn:aws:iam::${ACCOUNT}:role/Workload`,
      accountId: ACCOUNT,
      accessKeyId: 'ASIAEXAMPLESESSION01',
      secretAccessKey: 'sessionSecretExample0000000000000000000',
      sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLETOKEN',
      expiration: new Date(Date.now() + 3600_000),
      policies: [],
    };
    sandbox.principals.add(session);
    base = await sandbox.listen();
  });
  after(async () => {
    await sandbox.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts a correctly signed request, with odd query characters and a body', async () => {
    const r = await call(base, user, { query: { 'a b': 'x+y/z~', empty: '', star: '*' }, body: '{"hello":"wörld"}' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json['arn'], user.arn);
    assert.equal(r.json['body'], '{"hello":"wörld"}');
    assert.ok(r.headers.get('x-amzn-requestid'));
    assert.ok(Math.abs(Date.parse(r.headers.get('date')!) - clock.now().getTime()) < 2000);
  });

  it('rejects a wrong secret with SignatureDoesNotMatch', async () => {
    const r = await call(base, { ...user, secretAccessKey: user.secretAccessKey.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')) });
    assert.equal(r.status, 403);
    assert.equal(r.json['code'], 'SignatureDoesNotMatch');
    assert.match(r.json['message']!, /^The request signature we calculated does not match the signature you provided/);
  });

  it('rejects a body changed after signing', async () => {
    const r = await call(base, user, { body: 'signed', sendBody: 'tampered', headers: {} });
    assert.equal(r.status, 400);
    assert.equal(r.json['code'], 'XAmzContentSHA256Mismatch');
    // without x-amz-content-sha256 (botocore, aws-sdk-go) the body hash is part of the canonical request
    const r2 = await call(base, user, { body: 'signed', sendBody: 'tampered', noContentSha: true });
    assert.deepEqual([r2.status, r2.json['code']], [403, 'SignatureDoesNotMatch']);
    assert.equal((await call(base, user, { body: 'signed', noContentSha: true })).status, 200);
  });

  it('rejects an unknown key with InvalidClientTokenId and no signature with MissingAuthenticationToken', async () => {
    const unknown = await call(base, { accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: 'x' });
    assert.deepEqual([unknown.status, unknown.json['code']], [403, 'InvalidClientTokenId']);
    assert.equal(unknown.json['message'], 'The security token included in the request is invalid.');
    const none = await call(base, undefined);
    assert.deepEqual([none.status, none.json['code'], none.json['message']], [403, 'MissingAuthenticationToken', 'Missing Authentication Token']);
    const bad = await call(base, undefined, { headers: { authorization: 'AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/probe/aws4_request' } });
    assert.deepEqual([bad.status, bad.json['code']], [400, 'IncompleteSignature']);
  });

  it('checks the credential scope: service and region', async () => {
    const svc = await call(base, user, { service: 'sts' });
    assert.deepEqual(
      [svc.status, svc.json['code'], svc.json['message']],
      [403, 'SignatureDoesNotMatch', "Credential should be scoped to correct service: 'probe'. "],
    );
    const reg = await call(base, user, { region: 'eu-west-1' });
    assert.deepEqual([reg.status, reg.json['code']], [403, 'SignatureDoesNotMatch']);
    assert.match(reg.json['message']!, /valid region, not 'eu-west-1'/);
  });

  it('allows ±5 minutes of clock skew and answers RequestExpired beyond', async () => {
    clock.offsetMs = 4 * 60_000;
    assert.equal((await call(base, user)).status, 200);
    clock.offsetMs = 6 * 60_000;
    const late = await call(base, user);
    assert.deepEqual([late.status, late.json['code']], [400, 'RequestExpired']);
    assert.match(late.json['message']!, /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$/);
    clock.offsetMs = -6 * 60_000;
    const early = await call(base, user);
    assert.deepEqual([early.status, early.json['code']], [400, 'RequestExpired']);
    assert.match(early.json['message']!, /^Signature not yet current/);
    clock.offsetMs = 0;
  });

  it('requires the session token of temporary credentials and their expiry', async () => {
    assert.equal((await call(base, session)).json['arn'], session.arn);
    const missing = await call(base, session, { dropToken: true });
    assert.equal(missing.json['code'], 'InvalidClientTokenId');
    const wrong = await call(base, { ...session, sessionToken: 'IQoJb3JpZ2luX2VjOTHERTOKEN' });
    assert.equal(wrong.json['code'], 'InvalidClientTokenId');
    clock.offsetMs = 3600_000 + 1000;
    const expired = await call(base, session, { date: clock.now() });
    clock.offsetMs = 0;
    assert.deepEqual(
      [expired.status, expired.json['code'], expired.json['message']],
      [403, 'ExpiredToken', 'The security token included in the request is expired'],
    );
  });

  it('authorizes with the IAM evaluator and answers AccessDenied in AWS words', async () => {
    const ok = await call(base, user, { query: { action: 'route53:GetChange', resource: 'arn:aws:route53:::change/C123' } });
    assert.equal(ok.status, 200);
    const denied = await call(base, user, { query: { action: 'route53:GetHostedZone', resource: 'arn:aws:route53:::hostedzone/Z1' } });
    assert.equal(denied.status, 403);
    assert.equal(
      denied.json['message'],
      `User: ${user.arn} is not authorized to perform: route53:GetHostedZone on resource: arn:aws:route53:::hostedzone/Z1 because no identity-based policy allows the route53:GetHostedZone action`,
    );
    const adminRes = await fetch(`${base}/_sandbox/principals/policies`, {
      method: 'POST',
      body: JSON.stringify({
        accessKeyId: user.accessKeyId,
        policies: [
          {
            Version: '2012-10-17',
            Statement: [
              { Effect: 'Deny', Action: 'route53:*', Resource: '*' },
              { Effect: 'Allow', Action: '*', Resource: '*' },
            ],
          },
        ],
      }),
    });
    assert.equal(adminRes.status, 200);
    const explicit = await call(base, user, { query: { action: 'route53:GetChange', resource: 'arn:aws:route53:::change/C123' } });
    assert.match(explicit.json['message']!, /with an explicit deny in an identity-based policy$/);
    const badPolicy = await fetch(`${base}/_sandbox/principals/policies`, {
      method: 'POST',
      body: JSON.stringify({ accessKeyId: user.accessKeyId, policies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow' }] }] }),
    });
    assert.equal(badPolicy.status, 400);
    assert.equal(((await badPolicy.json()) as { error: string }).error, 'SANDBOX_POLICY_INVALID');
  });

  it('records calls (memory, admin API, JSON lines file) and resets them', async () => {
    const res = (await (await fetch(`${base}/_sandbox/calls?service=probe`)).json()) as {
      action: string;
      status: number;
      errorCode?: string;
      principalArn?: string;
    }[];
    assert.ok(res.length >= 10);
    assert.ok(res.some((c) => c.errorCode === 'SignatureDoesNotMatch' && c.principalArn === undefined));
    assert.ok(res.some((c) => c.action === 'route53:GetHostedZone' && c.errorCode === 'AccessDenied' && c.principalArn === user.arn));
    const lines = readFileSync(path.join(dir, 'calls.jsonl'), 'utf8').trim().split('\n');
    assert.equal(lines.length, sandbox.calls.length);
    assert.doesNotMatch(lines.join('\n'), new RegExp(user.secretAccessKey.replace(/[+/]/g, '.')));
    const reset = (await (await fetch(`${base}/_sandbox/reset-calls`, { method: 'POST' })).json()) as { cleared: number };
    assert.equal(reset.cleared, res.length);
    assert.equal(sandbox.calls.length, 0);
  });

  it('creates users over the admin API and injects throttle storms', async () => {
    const created = (await (
      await fetch(`${base}/_sandbox/principals`, { method: 'POST', body: JSON.stringify({ name: 'quickstart', accountId: ACCOUNT, policies: [] }) })
    ).json()) as Principal;
    assert.match(created.accessKeyId, /^AKIA[A-Z2-7]{16}$/);
    assert.equal((await call(base, created)).status, 200);
    const f = await fetch(`${base}/_sandbox/faults`, { method: 'POST', body: JSON.stringify({ throttleStorm: 2 }) });
    assert.deepEqual(await f.json(), { applied: ['throttleStorm'] });
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await call(base, created)).json['code'] ?? 'ok');
    assert.deepEqual(codes, ['Throttling', 'Throttling', 'ok']);
    const unknown = await fetch(`${base}/_sandbox/faults`, { method: 'POST', body: JSON.stringify({ nonsense: 1 }) });
    assert.equal(unknown.status, 400);
  });

  it('dateOffsetSeconds moves the Date header only: signatures are still checked against the sandbox clock', async () => {
    const u = sandbox.principals.createUser({ accountId: ACCOUNT, name: 'skewed', policies: [] });
    const set = await fetch(`${base}/_sandbox/faults`, { method: 'POST', body: JSON.stringify({ dateOffsetSeconds: -600 }) });
    assert.deepEqual(await set.json(), { applied: ['dateOffsetSeconds'] });
    try {
      const r = await fetch(`${base}/probe`);
      const skew = Date.now() - Date.parse(r.headers.get('date')!);
      assert.ok(Math.abs(skew - 600_000) < 5_000, `Date ${r.headers.get('date')} is ${skew} ms behind`);
      // a request signed with the real time is accepted although the header claims 10 minutes earlier
      assert.equal((await call(base, u)).status, 200);
      assert.equal(((await (await fetch(`${base}/_sandbox/faults`)).json()) as Record<string, unknown>)['dateOffsetSeconds'], -600);
      const bad = await fetch(`${base}/_sandbox/faults`, { method: 'POST', body: JSON.stringify({ dateOffsetSeconds: 'soon' }) });
      assert.equal(bad.status, 400);
    } finally {
      await fetch(`${base}/_sandbox/faults`, { method: 'POST', body: JSON.stringify({ dateOffsetSeconds: 0 }) });
    }
  });
});

describe('sandbox AWS front throttling', () => {
  it('lets a burst of 5 through per account and service, then answers Throttling until tokens refill', async () => {
    let t = Date.parse('2026-01-01T00:00:00Z');
    const clock: Clock = { now: () => new Date(t), sleep: async () => {} };
    const sandbox = createAwsSandbox({ clock, maxSkewMs: 100 * 365 * 86400_000 });
    sandbox.addService(probe);
    const u = sandbox.principals.createUser({ accountId: ACCOUNT, name: 'a', policies: [] });
    const base = await sandbox.listen();
    try {
      const codes: string[] = [];
      for (let i = 0; i < 7; i++) codes.push((await call(base, u)).json['code'] ?? 'ok');
      assert.deepEqual(codes, ['ok', 'ok', 'ok', 'ok', 'ok', 'Throttling', 'Throttling']);
      t += 400; // 5/s refills 2 tokens in 400 ms
      codes.length = 0;
      for (let i = 0; i < 3; i++) codes.push((await call(base, u)).json['code'] ?? 'ok');
      assert.deepEqual(codes, ['ok', 'ok', 'Throttling']);
    } finally {
      await sandbox.close();
    }
  });
});
