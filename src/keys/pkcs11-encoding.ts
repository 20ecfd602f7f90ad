import { createPublicKey, type KeyObject } from 'node:crypto';
import type { SignHash } from './types.js';

/**
 * The byte formats PKCS#11 speaks and the agent does not: DER-encoded curve OIDs (CKA_EC_PARAMS), EC points wrapped
 * in an OCTET STRING (CKA_EC_POINT), raw r||s ECDSA signatures (CKM_ECDSA), and the DigestInfo that CKM_RSA_PKCS
 * expects the caller to prepend. Pure functions, so they are tested with fixed vectors.
 */
export type Curve = 'P-256' | 'P-384';

/** DER OBJECT IDENTIFIERs: prime256v1 1.2.840.10045.3.1.7, secp384r1 1.3.132.0.34 */
const CURVE_OIDS: Record<Curve, string> = {
  'P-256': '06082a8648ce3d030107',
  'P-384': '06052b81040022',
};
const COORD: Record<Curve, number> = { 'P-256': 32, 'P-384': 48 };

export function ecParams(curve: Curve): Buffer {
  return Buffer.from(CURVE_OIDS[curve], 'hex');
}

export function curveOf(params: Uint8Array): Curve | undefined {
  const hex = Buffer.from(params).toString('hex');
  return (Object.keys(CURVE_OIDS) as Curve[]).find((c) => CURVE_OIDS[c] === hex);
}

/**
 * CKA_EC_POINT is an OCTET STRING holding the uncompressed point (PKCS#11 2.40 §2.3.3); some tokens hand back the
 * bare point. Both start with 0x04, so the curve's length decides which one this is.
 */
export function ecPublicKey(curve: Curve, ecPoint: Uint8Array): KeyObject {
  const n = COORD[curve];
  const bare = 1 + 2 * n;
  let point = Buffer.from(ecPoint);
  if (point.length === bare + 2 && point[0] === 0x04 && point[1] === bare) point = point.subarray(2);
  else if (point.length === bare + 3 && point[0] === 0x04 && point[1] === 0x81 && point[2] === bare) point = point.subarray(3);
  if (point.length !== bare || point[0] !== 0x04) throw new Error(`not an uncompressed ${curve} point (${ecPoint.length} bytes)`);
  const b64 = (b: Buffer) => b.toString('base64url');
  return createPublicKey({ key: { kty: 'EC', crv: curve, x: b64(point.subarray(1, 1 + n)), y: b64(point.subarray(1 + n)) }, format: 'jwk' });
}

export function rsaPublicKey(modulus: Uint8Array, exponent: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'RSA', n: Buffer.from(modulus).toString('base64url'), e: Buffer.from(exponent).toString('base64url') }, format: 'jwk' });
}

/** Fixed-width r||s (what CKM_ECDSA returns) → ECDSA-Sig-Value DER SEQUENCE{INTEGER r, INTEGER s}. */
export function p1363ToDer(raw: Uint8Array): Buffer {
  if (raw.length === 0 || raw.length % 2 !== 0) throw new Error(`ECDSA signature of odd length ${raw.length}`);
  const int = (v: Uint8Array) => {
    let i = 0;
    while (i < v.length - 1 && v[i] === 0) i++;
    let b = Buffer.from(v.subarray(i));
    if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
    return Buffer.concat([Buffer.from([0x02, b.length]), b]);
  };
  const half = raw.length / 2;
  const body = Buffer.concat([int(raw.subarray(0, half)), int(raw.subarray(half))]);
  // P-384's two INTEGERs fit in 104 bytes, so one length octet (short or 0x81) is always enough
  const len = body.length < 0x80 ? Buffer.from([body.length]) : Buffer.from([0x81, body.length]);
  return Buffer.concat([Buffer.from([0x30]), len, body]);
}

/** DER DigestInfo prefixes (RFC 8017 §9.2 note 1), for tokens that only offer CKM_RSA_PKCS. */
const DIGEST_INFO: Record<SignHash, string> = {
  'SHA-256': '3031300d060960864801650304020105000420',
  'SHA-384': '3041300d060960864801650304020205000430',
  'SHA-512': '3051300d060960864801650304020305000440',
};

export function digestInfo(hash: SignHash, digest: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(DIGEST_INFO[hash], 'hex'), digest]);
}
