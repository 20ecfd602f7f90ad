import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { startSandbox, type E2eSandbox } from '../helpers/sandbox.js';

let sb: E2eSandbox;
before(async () => {
  sb = await startSandbox();
});
after(async () => {
  await sb?.stop();
});

test('bootstrap enrols against the sandbox, then is idempotent', async () => {
  const first = await sb.cli(['bootstrap', '--json']);
  assert.equal(first.code, 0, first.stderr);
  const r = JSON.parse(first.stdout);
  assert.equal(r.action, 'enrolled');
  const live = path.join(sb.dir, 'state', 'live');
  const ok = execFileSync(
    'openssl',
    ['verify', '-CAfile', path.join(sb.dir, 'pebble-roots.pem'), '-untrusted', path.join(live, 'chain.pem'), path.join(live, 'cert.pem')],
    { encoding: 'utf8' },
  );
  assert.match(ok, /: OK/);
  assert.equal(statSync(path.join(live, 'key.pem')).mode & 0o777, 0o600);

  const again = await sb.cli(['bootstrap']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /already live/);
});
