import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import { derToP1363 } from '../../src/keys/webcrypto.js';

/**
 * derToP1363 against RFC 6979's deterministic ECDSA vector (A.2.5, P-256, SHA-256, message "sample") and against
 * Node's own DER and P1363 encodings of fresh signatures as the oracle.
 */

const hex = (h: string) => Buffer.from(h, 'hex');
const b64u = (h: string) => hex(h).toString('base64url');
const RFC6979_P256 = {
  x: '60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6',
  y: '7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299',
  r: 'EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716',
  s: 'F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8',
};

/** DER of SEQUENCE { INTEGER r, INTEGER s } built by hand from big-endian unsigned bytes (short lengths only). */
function derSig(r: Buffer, s: Buffer): Buffer {
  const int = (v: Buffer) => {
    let b = v;
    while (b.length > 1 && b[0] === 0 && b[1]! < 0x80) b = b.subarray(1);
    if (b[0]! >= 0x80) b = Buffer.concat([Buffer.from([0]), b]);
    return Buffer.concat([Buffer.from([0x02, b.length]), b]);
  };
  const body = Buffer.concat([int(r), int(s)]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

describe('keys/webcrypto derToP1363', () => {
  it('RFC 6979 A.2.5 (P-256, SHA-256, "sample"): r||s, and the result verifies as IEEE P1363', () => {
    const der = derSig(hex(RFC6979_P256.r), hex(RFC6979_P256.s));
    // both integers have the top bit set, so DER pads each with a zero byte: 0x30 0x46 …
    assert.equal(der.subarray(0, 5).toString('hex'), '3046022100');
    const p1363 = derToP1363(der, 32);
    assert.equal(p1363.toString('hex').toUpperCase(), RFC6979_P256.r + RFC6979_P256.s);
    const pub = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b64u(RFC6979_P256.x), y: b64u(RFC6979_P256.y) }, format: 'jwk' });
    assert.ok(verify('sha256', Buffer.from('sample'), { key: pub, dsaEncoding: 'ieee-p1363' }, p1363));
    assert.ok(verify('sha256', Buffer.from('sample'), { key: pub, dsaEncoding: 'der' }, der));
  });

  it('left-pads short integers to the field size (a DER INTEGER drops leading zero bytes)', () => {
    const out = derToP1363(derSig(Buffer.from([1]), Buffer.from([0x7f, 0xff])), 32);
    assert.equal(out.length, 64);
    assert.equal(out.toString('hex'), `${'00'.repeat(31)}01${'00'.repeat(30)}7fff`);
  });

  it("matches Node's P1363 encoding for fresh P-256 and P-384 signatures", () => {
    for (const [curve, size, hash] of [
      ['P-256', 32, 'sha256'],
      ['P-384', 48, 'sha384'],
    ] as const) {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
      for (let i = 0; i < 20; i++) {
        const data = Buffer.from(`message ${i}`);
        const p1363 = derToP1363(sign(hash, data, { key: privateKey, dsaEncoding: 'der' }), size);
        assert.equal(p1363.length, 2 * size);
        assert.ok(verify(hash, data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, p1363), `${curve} #${i}`);
      }
    }
  });

  it('refuses what is not an ECDSA-Sig-Value, and integers wider than the curve', () => {
    assert.throws(() => derToP1363(Buffer.from('not der'), 32), /bad ECDSA DER signature/);
    assert.throws(() => derToP1363(Buffer.from([0x31, 0x00]), 32), /bad ECDSA DER signature/);
    assert.throws(() => derToP1363(derSig(Buffer.alloc(33, 0x11), Buffer.from([1])), 32), /33 bytes for a 32-byte curve/);
  });
});
