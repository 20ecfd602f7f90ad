import assert from 'node:assert/strict';
import { constants, createHash, generateKeyPairSync, privateEncrypt, sign, verify } from 'node:crypto';
import { test } from 'node:test';
import { curveOf, digestInfo, ecParams, ecPublicKey, p1363ToDer, rsaPublicKey } from '../../src/keys/pkcs11-encoding.js';

test('raw r||s converts to the DER that OpenSSL (node:crypto) produces for the same signature', () => {
  for (const namedCurve of ['P-256', 'P-384']) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve });
    // many signatures, so r or s with a high bit (leading 0x00 in DER) and with leading zero bytes both occur
    for (let i = 0; i < 64; i++) {
      const data = Buffer.from(`message ${i}`);
      const raw = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      const der = p1363ToDer(raw);
      assert.ok(verify('sha256', data, { key: publicKey, dsaEncoding: 'der' }, der));
    }
  }
  // fixed vector: r = 0x80…01 (high bit: 0x00 prefix), s = 0x00…7f (leading zeros stripped)
  const r = Buffer.alloc(32, 0);
  r[0] = 0x80;
  r[31] = 1;
  const s = Buffer.alloc(32, 0);
  s[31] = 0x7f;
  assert.equal(p1363ToDer(Buffer.concat([r, s])).toString('hex'), `3026022100${r.toString('hex')}02017f`);
});

test('CKA_EC_PARAMS and CKA_EC_POINT (wrapped or bare) give the public key', () => {
  for (const curve of ['P-256', 'P-384'] as const) {
    assert.equal(curveOf(ecParams(curve)), curve);
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
    const jwk = publicKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
    const wrapped = Buffer.concat([Buffer.from([4, point.length]), point]);
    assert.ok(ecPublicKey(curve, wrapped).equals(publicKey));
    assert.ok(ecPublicKey(curve, point).equals(publicKey));
  }
  assert.equal(curveOf(Buffer.from('06052b8104000a', 'hex')), undefined, 'secp256k1 is not supported');
  assert.throws(() => ecPublicKey('P-256', Buffer.alloc(10)), /not an uncompressed P-256 point/);
});

test('RSA modulus/exponent and the DigestInfo for CKM_RSA_PKCS', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' });
  assert.ok(rsaPublicKey(Buffer.from(jwk.n!, 'base64url'), Buffer.from(jwk.e!, 'base64url')).equals(publicKey));
  // RSASSA-PKCS1-v1_5 over each hash: the raw PKCS#1 padding of DigestInfo must equal node's signature
  const data = Buffer.from('data');
  for (const [hash, name] of [
    ['SHA-256', 'sha256'],
    ['SHA-384', 'sha384'],
    ['SHA-512', 'sha512'],
  ] as const) {
    const viaDigestInfo = privateEncrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, digestInfo(hash, createHash(name).update(data).digest()));
    assert.deepEqual(viaDigestInfo, sign(name, data, privateKey), hash);
  }
  // RFC 8017 §9.2 note 1, SHA-512: the DigestInfo prefix byte for byte
  assert.equal(digestInfo('SHA-512', Buffer.alloc(64)).subarray(0, 19).toString('hex'), '3051300d060960864801650304020305000440');
});
