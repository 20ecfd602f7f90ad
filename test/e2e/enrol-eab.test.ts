import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { E2eSandbox } from '../helpers/sandbox.js';
import { assertCleanFailure, assertNoTxt, editedConfig, enrolSandbox, exists } from '../helpers/enrol.js';

/**
 * Issue 2, "What must be shown" 3: External Account Binding (RFC 8555 §7.3.4) against a Pebble that requires it
 * (`sandbox up --eab KID`: the sandbox makes the HMAC key, writes it 0600 to D/eab.key and sets acme.eab).
 */

describe('External Account Binding against a Pebble that requires it', () => {
  let sb: E2eSandbox;
  before(async () => {
    sb = await enrolSandbox({ args: ['--eab', 'kid-e2e'] });
  });
  after(async () => {
    await sb?.stop();
  });

  it('the sandbox publishes the EAB key as a private file and in agent.yaml', () => {
    const keyFile = path.join(sb.dir, 'eab.key');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.match(readFileSync(keyFile, 'utf8'), /^[A-Za-z0-9_-]{43}\n$/);
    const yaml = readFileSync(path.join(sb.dir, 'agent.yaml'), 'utf8');
    assert.match(yaml, /kid: kid-e2e/);
    assert.match(yaml, new RegExp(`hmacKeyFile: ${keyFile}`));
  });

  it('bootstrap binds the new account with the kid and HMAC key, and enrols', async () => {
    const r = await sb.cli(['bootstrap', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).action, 'enrolled');
    assert.match(r.stderr, /"eab":"kid-e2e"/);
    const accountDir = path.join(sb.dir, 'state', 'account');
    const [host] = readdirSync(accountDir);
    const regFile = readdirSync(path.join(accountDir, host!)).find((f) => f.endsWith('.json'));
    assert.ok(regFile, 'the registration is recorded');
    assert.equal(JSON.parse(readFileSync(path.join(accountDir, host!, regFile), 'utf8')).eabKid, 'kid-e2e');
    assert.ok(exists(path.join(sb.dir, 'state', 'live', 'cert.pem')));
    await assertNoTxt(sb);
  });

  it('a wrong HMAC key, or none at all, is a clear error and creates nothing', async () => {
    const wrong = path.join(sb.dir, 'wrong-eab.key');
    writeFileSync(wrong, randomBytes(32).toString('base64url') + '\n', { mode: 0o600 });
    const s1 = path.join(sb.dir, 'state-wrong-eab');
    const r = await sb.cli(['bootstrap', '--set', `acme.eab.hmacKeyFile=${wrong}`, '--set', `state.dir=${s1}`]);
    assertCleanFailure(r, /^iamra-agent: acme: /, /acme\.eab/);
    assert.equal(exists(path.join(s1, 'live')), false);

    const noEab = editedConfig(sb, 'no-eab.yaml', (c) => {
      delete c.acme.eab;
      c.state.dir = path.join(sb.dir, 'state-no-eab');
    });
    const r2 = await sb.cli(['--config', noEab, 'bootstrap']);
    assertCleanFailure(r2, /External Account Binding/, /acme\.eab\.kid/);
    assert.equal(exists(path.join(sb.dir, 'state-no-eab', 'live')), false);
    await assertNoTxt(sb);
  });
});
