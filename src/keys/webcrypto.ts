import { webcrypto } from 'node:crypto';
import { ECDSASigValue } from '@peculiar/asn1-ecc';
import { AsnConvert } from '@peculiar/asn1-schema';
import { messageOf } from '../core/errors.js';
import type { KeyHandle } from './types.js';

/**
 * A WebCrypto `Crypto` whose subtle.sign goes to a KeyHandle, so @peculiar/x509 can build and sign a CSR with a key
 * it never sees (file, PKCS#11, TPM alike). Everything else is Node's own WebCrypto.
 */
export async function keyHandleCrypto(key: KeyHandle): Promise<{ crypto: Crypto; keys: CryptoKeyPair; signingAlgorithm: EcdsaParams | Algorithm }> {
  const spki = (await key.publicKey()).export({ type: 'spki', format: 'der' });
  const alg = key.algorithm;
  const importAlg: EcKeyImportParams | RsaHashedImportParams =
    alg.type === 'ec' ? { name: 'ECDSA', namedCurve: alg.curve } : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const publicKey = await webcrypto.subtle.importKey('spki', spki, importAlg, true, ['verify']);
  // The private CryptoKey is only a token handed back to our sign(); it carries no key material.
  const privateKey = { type: 'private', extractable: false, algorithm: publicKey.algorithm, usages: ['sign'] } as unknown as CryptoKey;
  const hash = alg.type === 'ec' && alg.curve === 'P-384' ? 'SHA-384' : 'SHA-256';
  // Node's SubtleCrypto methods insist on their own `this`, so delegate with bound methods rather than a prototype.
  const real = webcrypto.subtle as unknown as Record<string, (...a: unknown[]) => unknown>;
  const subtle = Object.fromEntries(
    ['digest', 'importKey', 'exportKey', 'verify', 'generateKey', 'encrypt', 'decrypt', 'deriveBits', 'deriveKey', 'wrapKey', 'unwrapKey'].map((m) => [
      m,
      real[m]!.bind(webcrypto.subtle),
    ]),
  ) as unknown as SubtleCrypto;
  subtle.sign = async (_a: unknown, k: CryptoKey, data: BufferSource) => {
    if (k !== privateKey) throw new Error('keyHandleCrypto: unexpected key');
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const sig = await key.sign(bytes, hash);
    // WebCrypto ECDSA signatures are r||s (IEEE P1363); the KeyHandle port speaks DER.
    const out = alg.type === 'ec' ? derToP1363(sig, alg.curve === 'P-256' ? 32 : 48) : sig;
    return out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength) as ArrayBuffer;
  };
  const crypto = { subtle, getRandomValues: webcrypto.getRandomValues.bind(webcrypto), randomUUID: webcrypto.randomUUID.bind(webcrypto) } as unknown as Crypto;
  const signingAlgorithm = alg.type === 'ec' ? { name: 'ECDSA', hash } : { name: 'RSASSA-PKCS1-v1_5' };
  return { crypto, keys: { publicKey, privateKey } as CryptoKeyPair, signingAlgorithm };
}

/**
 * ECDSA-Sig-Value (RFC 3279 §2.2.3: SEQUENCE { r INTEGER, s INTEGER }) in DER → fixed-width r||s (IEEE P1363), as
 * WebCrypto expects. The DER is parsed by @peculiar/asn1-schema with @peculiar/asn1-ecc's schema; each INTEGER then
 * loses its sign-padding zero bytes and is left-padded to the curve's field size.
 */
export function derToP1363(der: Uint8Array, size: number): Buffer {
  let sig: ECDSASigValue;
  try {
    sig = AsnConvert.parse(der, ECDSASigValue);
  } catch (e) {
    throw new Error(`bad ECDSA DER signature: ${messageOf(e)}`);
  }
  return Buffer.concat([fixedWidth(sig.r, size), fixedWidth(sig.s, size)]);
}

function fixedWidth(int: ArrayBuffer, size: number): Buffer {
  let v = Buffer.from(int);
  while (v.length > 0 && v[0] === 0) v = v.subarray(1);
  if (v.length > size) throw new Error(`bad ECDSA DER signature: an integer of ${v.length} bytes for a ${size}-byte curve`);
  return Buffer.concat([Buffer.alloc(size - v.length), v]);
}
