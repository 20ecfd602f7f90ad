import type { KeyObject } from 'node:crypto';

export type KeyAlgorithmName = 'ec-p256' | 'ec-p384' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096';

export type KeyAlgorithm = { type: 'ec'; curve: 'P-256' | 'P-384' } | { type: 'rsa'; bits: number };

/**
 * The only way the agent uses a private key: ask for a signature. A file key, a PKCS#11 token (YubiKey) or a TPM
 * all fit behind this, so the CSR builder and the CreateSession signer never see key material.
 */
export interface KeyHandle {
  readonly kind: 'file' | 'pkcs11' | 'tpm';
  readonly algorithm: KeyAlgorithm;
  publicKey(): Promise<KeyObject>;
  /** RSA: RSASSA-PKCS1-v1_5; EC: ECDSA with an ASN.1 DER signature. Hash default SHA-256. */
  sign(data: Uint8Array, hash?: 'SHA-256' | 'SHA-384'): Promise<Buffer>;
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
