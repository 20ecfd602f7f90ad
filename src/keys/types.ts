import type { KeyObject } from 'node:crypto';

export type KeyAlgorithmName = 'ec-p256' | 'ec-p384' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096';

export type KeyAlgorithm = { type: 'ec'; curve: 'P-256' | 'P-384' } | { type: 'rsa'; bits: number };

/** The hashes a KeyHandle signs with (WebCrypto names): the three the AWS helper's sign-string offers. */
export type SignHash = 'SHA-256' | 'SHA-384' | 'SHA-512';

/** node:crypto's (and tpm2-tools') name of the hash */
export function hashName(hash: SignHash): 'sha256' | 'sha384' | 'sha512' {
  return hash === 'SHA-256' ? 'sha256' : hash === 'SHA-384' ? 'sha384' : 'sha512';
}

/**
 * The only way the agent uses a private key: ask for a signature. A file key, a PKCS#11 token (YubiKey) or a TPM
 * all fit behind this, so the CSR builder and the CreateSession signer never see key material.
 */
export interface KeyHandle {
  readonly kind: 'file' | 'pkcs11' | 'tpm';
  readonly algorithm: KeyAlgorithm;
  publicKey(): Promise<KeyObject>;
  /** RSA: RSASSA-PKCS1-v1_5; EC: ECDSA with an ASN.1 DER signature. Hash default SHA-256. */
  sign(data: Uint8Array, hash?: SignHash): Promise<Buffer>;
  /** safe to log: kind, algorithm and where it lives; never key material */
  describe(): string;
}

export function parseAlgorithm(name: KeyAlgorithmName): KeyAlgorithm {
  switch (name) {
    case 'ec-p256':
      return { type: 'ec', curve: 'P-256' };
    case 'ec-p384':
      return { type: 'ec', curve: 'P-384' };
    default:
      return { type: 'rsa', bits: Number(name.slice(4)) };
  }
}
