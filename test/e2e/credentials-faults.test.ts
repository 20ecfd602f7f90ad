import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startSandbox, type E2eSandbox } from '../helpers/sandbox.js';
import { imdsCredentials, startServe, type ImdsReply, type Serve } from './credentials-support.js';

/**
 * `serve` while the IAM Roles Anywhere stand-in fails. Credentials expire in test time through the sandbox fault
 * iamraCredentialTtlSeconds (the stand-in issues sessions that end seconds after issue); the agent and the clock are
 * the real ones. Two servers, so each failure mode meets a provider that has not yet backed off from the other.
 */

const TTL_SECONDS = 14;
let sb: E2eSandbox;
const servers: Serve[] = [];

before(async () => {
  sb = await startSandbox();
  const r = await sb.cli(['bootstrap']);
  assert.equal(r.code, 0, r.stderr);
});
after(async () => {
  for (const s of servers) await s.stop();
  await sb?.stop();
});

const faults = (f: Record<string, number>) => sb.admin('faults', f);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function assertNeverEmpty(r: ImdsReply): void {
  if (r.status === 200) {
    for (const k of ['AccessKeyId', 'SecretAccessKey', 'Token', 'Expiration']) assert.ok(r.json?.[k], `a 200 carries ${k}`);
  }
}

it('IAMRA 5xx and timeouts: last good credentials while valid, then 5xx, never a 200 with empty fields', async () => {
  await faults({ iamraCredentialTtlSeconds: TTL_SECONDS });
  const failing = await startServe(['--listen', '127.0.0.1:0'], sb.env);
  servers.push(failing);
  const slow = await startServe(['--listen', '127.0.0.1:0'], sb.env);
  servers.push(slow);

  const good5xx = await imdsCredentials(failing.url);
  const goodSlow = await imdsCredentials(slow.url);
  assert.equal(good5xx.status, 200, good5xx.text);
  assert.equal(goodSlow.status, 200, goodSlow.text);
  const expiresAt = Math.max(Date.parse(good5xx.json!.Expiration!), Date.parse(goodSlow.json!.Expiration!));

  // The service answers 500 to every CreateSession: the refresh fails, the cached credentials are served.
  await faults({ iamraServerErrors: -1 });
  const during5xx = await imdsCredentials(failing.url);
  assert.equal(during5xx.status, 200, during5xx.text);
  assert.equal(during5xx.json?.AccessKeyId, good5xx.json?.AccessKeyId);
  assert.equal(during5xx.json?.Token, good5xx.json?.Token);

  // The service hangs: the request is answered within a second (IMDS clients time out after 1 s) with the cached
  // credentials while the refresh waits for its 10 s CreateSession timeout.
  await faults({ iamraServerErrors: 0, iamraDelayMs: 60_000 });
  const started = Date.now();
  const duringHang = await imdsCredentials(slow.url);
  assert.ok(Date.now() - started < 1000, `answered in ${Date.now() - started} ms`);
  assert.equal(duringHang.status, 200, duringHang.text);
  assert.equal(duringHang.json?.AccessKeyId, goodSlow.json?.AccessKeyId);

  const calls = await sb.admin<{ status: number; errorCode?: string }[]>('calls?service=rolesanywhere');
  assert.ok(
    calls.some((c) => c.status === 500 && c.errorCode === 'InternalServerException'),
    'the sandbox answered 500s',
  );

  // Past expiry, with the service still failing: 503, never the expired keys, never empty fields.
  await faults({ iamraServerErrors: -1, iamraDelayMs: 0 });
  await sleep(Math.max(0, expiresAt - Date.now()) + 500);
  for (const s of [failing, slow]) {
    const r = await imdsCredentials(s.url);
    assertNeverEmpty(r);
    assert.ok(r.status >= 500 && r.status < 600, `expected 5xx, got ${r.status} ${r.text}`);
    assert.equal(r.json?.Code, 'CREDENTIALS_UNAVAILABLE', r.text);
    assert.ok(!r.text.includes(good5xx.json!.AccessKeyId!) && !r.text.includes(goodSlow.json!.AccessKeyId!), 'no expired keys in the body');
  }
  assert.match(slow.log(), /CREATE_SESSION_TIMEOUT/, 'the slow service hit the CreateSession timeout');
  assert.match(failing.log(), /CREATE_SESSION_SERVER_ERROR/);

  // The service recovers: the next request gets new credentials without a restart.
  await faults({ iamraServerErrors: 0, iamraCredentialTtlSeconds: 0 });
  let recovered = await imdsCredentials(failing.url);
  for (let i = 0; i < 40 && recovered.status !== 200; i++) {
    await sleep(250);
    recovered = await imdsCredentials(failing.url);
  }
  assert.equal(recovered.status, 200, recovered.text);
  assert.notEqual(recovered.json?.AccessKeyId, good5xx.json?.AccessKeyId);
});
