import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { computeFingerprint, systemFingerprintDeps } from '../../src/envsense/fingerprint.js';
import { codesBetween, totpAt } from '../../src/envsense/totp.js';
import { tempDir } from '../helpers/paths.js';

// RFC 6238 Appendix B: seeds "12345678901234567890" (SHA1, 20 bytes) and "12345678901234567890123456789012"
// (SHA256, 32 bytes), 8 digits, X = 30 s, T0 = 0.
const SEED_SHA1 = Buffer.from('12345678901234567890', 'ascii').toString('hex');
const SEED_SHA256 = Buffer.from('12345678901234567890123456789012', 'ascii').toString('hex');
const VECTORS: [number, string, string][] = [
  [59, '94287082', '46119246'],
  [1111111109, '07081804', '68084774'],
  [1111111111, '14050471', '67062674'],
  [1234567890, '89005924', '91819424'],
  [2000000000, '69279037', '90698825'],
  [20000000000, '65353130', '77737706'],
];

test('RFC 6238 Appendix B test vectors (SHA1 and SHA256)', () => {
  for (const [t, sha1, sha256] of VECTORS) {
    const at = new Date(t * 1000);
    assert.equal(totpAt(SEED_SHA1, { digest: 'sha1', period: 30, digits: 8 }, at), sha1, `SHA1 at ${t}`);
    assert.equal(totpAt(SEED_SHA256, { digest: 'sha256', period: 30, digits: 8 }, at), sha256, `SHA256 at ${t}`);
  }
});

const dir = tempDir('totp');
after(() => rmSync(dir, { recursive: true, force: true }));

/** Debian's oathtool (installed by test/setup/install.sh) as the independent implementation. */
function oathtool(hex: string, digest: 'sha1' | 'sha256', at: Date, period = 30): string {
  const flag = digest === 'sha1' ? '--totp' : '--totp=sha256';
  return execFileSync('/usr/bin/oathtool', [flag, '-d', '6', '-s', `${period}s`, '--now', `@${Math.floor(at.getTime() / 1000)}`, hex], {
    encoding: 'utf8',
  }).trim();
}

test("the agent's code equals `oathtool --totp --now` for a real fingerprint, now and around it, both digests", async () => {
  const src = path.join(dir, 'host-key.pub');
  writeFileSync(src, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyForTheFingerprintTest host1\n');
  const now = new Date();
  for (const digest of ['sha1', 'sha256'] as const) {
    const fp = await computeFingerprint({ sources: [{ file: src }], digest }, systemFingerprintDeps);
    assert.equal(fp.hex.length, digest === 'sha1' ? 40 : 64);
    for (const offset of [0, -30_000, 30_000, 86_400_000, -1_000_000_000]) {
      const at = new Date(now.getTime() + offset);
      assert.equal(totpAt(fp.hex, { digest, period: 30, digits: 6 }, at), oathtool(fp.hex, digest, at), `${digest} at ${at.toISOString()}`);
    }
    const at = new Date(now.getTime() + 5_000);
    assert.equal(totpAt(fp.hex, { digest, period: 60, digits: 6 }, at), oathtool(fp.hex, digest, at, 60), `${digest} with a 60 s step`);
  }
});

test('codesBetween lists the codes of every step from the first instant to the last', () => {
  const p = { digest: 'sha1', period: 30, digits: 8 } as const;
  const codes = codesBetween(SEED_SHA1, p, new Date(1111111109_000), new Date(1111111111_000));
  assert.deepEqual(codes, [
    { step: 37037036, code: '07081804' },
    { step: 37037037, code: '14050471' },
  ]);
});
