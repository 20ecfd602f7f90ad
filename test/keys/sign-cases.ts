import type { KeyAlgorithm, SignHash } from '../../src/keys/types.js';

/** What each key backend's signing tests sign: the AWS helper's fixed test string (sign-string signs it too). */
export const SIGN_DATA = Buffer.from('AWS Roles Anywhere Credential Helper Signing Test1');

/** The key algorithms every backend signs with in its tests. */
export const SIGN_ALGORITHMS: readonly KeyAlgorithm[] = [
  { type: 'ec', curve: 'P-256' },
  { type: 'ec', curve: 'P-384' },
  { type: 'rsa', bits: 2048 },
];

/** Each hash a KeyHandle signs with, and node:crypto's name for verifying it. */
export const SIGN_HASHES: readonly (readonly [SignHash, 'sha256' | 'sha384' | 'sha512'])[] = [
  ['SHA-256', 'sha256'],
  ['SHA-384', 'sha384'],
  ['SHA-512', 'sha512'],
];
