import assert from 'node:assert/strict';
import { verify } from 'node:crypto';
import { test } from 'node:test';
import { FileKeyHandle } from '../../src/keys/file.js';
import { SIGN_ALGORITHMS as ALGORITHMS, SIGN_DATA, SIGN_HASHES as HASHES } from './sign-cases.js';

test('a file key signs with SHA-256, SHA-384 and SHA-512 (EC P-256, P-384, RSA-2048): each verifies with that hash only', async () => {
  const data = SIGN_DATA;
  for (const alg of ALGORITHMS) {
    const key = FileKeyHandle.generate(alg);
    const pub = { key: await key.publicKey(), dsaEncoding: 'der' as const };
    for (const [hash, name] of HASHES) {
      const sig = await key.sign(data, hash);
      assert.ok(verify(name, data, pub, sig), `${key.describe()} ${hash}`);
      for (const [, other] of HASHES.filter(([h]) => h !== hash)) assert.ok(!verify(other, data, pub, sig), `${key.describe()} ${hash} is not ${other}`);
    }
    // RSASSA-PKCS1-v1_5 is deterministic: the same key and input give the same bytes
    if (alg.type === 'rsa') assert.deepEqual(await key.sign(data, 'SHA-512'), await key.sign(data, 'SHA-512'));
  }
});
