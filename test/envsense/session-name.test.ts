import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { validateConfig } from '../../src/config/load.js';
import { fixedClock } from '../../src/core/clock.js';
import { isAgentError } from '../../src/core/errors.js';
import { computeFingerprint, systemFingerprintDeps } from '../../src/envsense/fingerprint.js';
import { sessionNameProvider } from '../../src/envsense/session-name.js';
import { totpAt } from '../../src/envsense/totp.js';
import { tempDir } from '../helpers/paths.js';

const dir = tempDir('session-name');
after(() => rmSync(dir, { recursive: true, force: true }));
const src = path.join(dir, 'host-id');
writeFileSync(src, 'host one\n');

const ra = {
  trustAnchorArn: 'arn:aws:rolesanywhere:us-east-1:111122223333:trust-anchor/0f7d9a5c-1111-2222-3333-444455556666',
  profileArn: 'arn:aws:rolesanywhere:us-east-1:111122223333:profile/9b2c7e1d-1111-2222-3333-444455556666',
  roleArn: 'arn:aws:iam::111122223333:role/host-role',
};
const config = (extra: Record<string, unknown>) => validateConfig({ identity: { name: 'host1.example.com' }, ...extra }, 'test');

test('roleSessionName: totp gives the code of the moment, from a fingerprint read at each call', async () => {
  const cfg = config({ rolesAnywhere: { ...ra, roleSessionName: 'totp' }, envsense: { sources: [{ file: src }] } });
  const clock = fixedClock('2026-12-01T20:00:10Z');
  const next = sessionNameProvider(cfg, { clock, fingerprint: systemFingerprintDeps });
  const fp = await computeFingerprint({ sources: [{ file: src }], digest: 'sha1' }, systemFingerprintDeps);
  const p = { digest: 'sha1', period: 30, digits: 6 } as const;
  assert.equal(await next(), totpAt(fp.hex, p, clock.now()));
  assert.match((await next()) ?? '', /^\d{6}$/);

  clock.set(new Date('2026-12-01T20:00:40Z'));
  assert.equal(await next(), totpAt(fp.hex, p, clock.now()), 'the next step, the next code');

  // Nothing is kept between calls: another environment gives another code at once.
  writeFileSync(src, 'host two\n');
  try {
    const moved = await computeFingerprint({ sources: [{ file: src }], digest: 'sha1' }, systemFingerprintDeps);
    assert.equal(await next(), totpAt(moved.hex, p, clock.now()));
    assert.notEqual(moved.hex, fp.hex);
  } finally {
    writeFileSync(src, 'host one\n');
  }

  rmSync(src);
  try {
    await assert.rejects(next(), (e) => isAgentError(e) && e.code === 'FINGERPRINT_SOURCE' && e.message.includes(src));
  } finally {
    writeFileSync(src, 'host one\n');
  }
});

test('a fixed roleSessionName passes through; none stays none', async () => {
  const clock = fixedClock(0);
  const fixed = config({ rolesAnywhere: { ...ra, roleSessionName: 'build-runner' } });
  assert.equal(await sessionNameProvider(fixed, { clock, fingerprint: systemFingerprintDeps })(), 'build-runner');
  const none = config({ rolesAnywhere: ra });
  assert.equal(await sessionNameProvider(none, { clock, fingerprint: systemFingerprintDeps })(), undefined);
});

test('roleSessionName: totp without an envsense section is a config error keyed by path', () => {
  assert.throws(
    () => config({ rolesAnywhere: { ...ra, roleSessionName: 'totp' } }),
    (e) => isAgentError(e) && e.code === 'CONFIG_INVALID' && /envsense: is required when rolesAnywhere.roleSessionName is totp/.test(e.message),
  );
  assert.throws(
    () => config({ envsense: { sources: [] } }),
    (e) => isAgentError(e) && /envsense.sources: /.test(e.message),
  );
  assert.throws(
    () => config({ envsense: { sources: [{ dmi: 'bios_date' }] } }),
    (e) => isAgentError(e) && /envsense.sources.0/.test(e.message),
  );
});
