import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { startSandbox, type E2eSandbox } from '../helpers/sandbox.js';

/**
 * `credential-process` (the built CLI, with its credential cache) while IAM Roles Anywhere is unreachable
 * (issue 12 item 6). The sandbox issues sessions that end TTL_SECONDS after issue, so every cached entry is inside
 * the 5-minute refresh window at once and each run tries to refresh; `--endpoint` at a closed loopback port makes
 * the refresh fail the way an unreachable service does.
 */

const TTL_SECONDS = 20;
const UNREACHABLE = 'http://127.0.0.1:9/';
let sb: E2eSandbox;

before(async () => {
  sb = await startSandbox();
  const r = await sb.cli(['bootstrap']);
  assert.equal(r.code, 0, r.stderr);
});
after(async () => {
  await sb?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('IAMRA unreachable: still-valid cached credentials inside the refresh window are printed (refresh failure logged); expired → exit 1, nothing printed', async () => {
  await sb.admin('faults', { iamraCredentialTtlSeconds: TTL_SECONDS });
  rmSync(path.join(sb.dir, 'run', 'cache'), { recursive: true, force: true });
  const first = await sb.cli(['credential-process', '--log-format', 'json']);
  assert.equal(first.code, 0, first.stderr);
  const cached = JSON.parse(first.stdout) as { AccessKeyId: string; SessionToken: string; Expiration: string };
  const expiresAt = Date.parse(cached.Expiration);
  assert.ok(expiresAt - Date.now() < 5 * 60_000, 'the credentials are inside the refresh window');

  const during = await sb.cli(['credential-process', '--log-format', 'json', '--endpoint', UNREACHABLE]);
  assert.ok(Date.now() < expiresAt, `the run ended before the credentials expired (raise TTL_SECONDS on a slow machine): ${during.stderr}`);
  assert.equal(during.code, 0, during.stderr);
  assert.equal(during.stdout, first.stdout, 'the cached document, byte for byte');
  assert.match(during.stderr, /credentials not refreshed; printing the cached ones, still valid/);
  assert.match(during.stderr, /cannot reach http:\/\/127\.0\.0\.1:9/);
  assert.ok(!during.stderr.includes(cached.SessionToken), 'no secret in the log');

  await sleep(Math.max(0, expiresAt - Date.now()) + 500);
  const expired = await sb.cli(['credential-process', '--endpoint', UNREACHABLE]);
  assert.equal(expired.code, 1, expired.stderr);
  assert.equal(expired.stdout, '', 'never empty or expired credentials');
  assert.match(expired.stderr, /cannot reach http:\/\/127\.0\.0\.1:9/);
});
