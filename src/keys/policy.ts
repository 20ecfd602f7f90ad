import type { KeyObject } from 'node:crypto';
import { AgentError } from '../core/errors.js';
import type { KeyAlgorithm } from './types.js';

/**
 * The one key policy, for keys the agent makes, key.pem files it loads and the public key of an external CSR:
 * RSA of 2048 to 8192 bits, or EC on P-256 or P-384. Why: RSA under 2048 bits is disallowed for signatures since
 * 2014 (NIST SP 800-131A), and CAs refuse such keys (CA/Browser Forum Baseline Requirements §6.1.5), so an
 * identity with one would not last; the CA/B Forum and IAM Roles Anywhere's signing algorithms
 * (AWS4-X509-RSA-SHA256, AWS4-X509-ECDSA-SHA256) cover exactly P-256/P-384 ECDSA and RSA. 8192 bits bounds the cost
 * of each signature.
 */
export const RSA_MIN_BITS = 2048;
export const RSA_MAX_BITS = 8192;
export const KEY_POLICY = `RSA ${RSA_MIN_BITS}-${RSA_MAX_BITS} bits or EC P-256/P-384`;

/** The algorithm of a key that meets the policy; KEY_POLICY naming `what` (a file, "the CSR in X") otherwise. */
export function checkKeyPolicy(key: KeyObject, what: string): KeyAlgorithm {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec' && (d.namedCurve === 'prime256v1' || d.namedCurve === 'secp384r1')) {
    return { type: 'ec', curve: d.namedCurve === 'prime256v1' ? 'P-256' : 'P-384' };
  }
  let found: string;
  let why: string;
  if (key.asymmetricKeyType === 'rsa') {
    found = `an RSA key of ${d.modulusLength ?? '?'} bits`;
    const bits = d.modulusLength ?? 0;
    if (bits >= RSA_MIN_BITS && bits <= RSA_MAX_BITS) return { type: 'rsa', bits };
    why = bits < RSA_MIN_BITS ? 'RSA under 2048 bits is too weak (NIST SP 800-131A) and CAs refuse it' : 'larger RSA keys make every signature slow';
  } else if (key.asymmetricKeyType === 'ec') {
    found = `an EC key on curve ${d.namedCurve ?? '?'}`;
    why = 'only P-256 and P-384 are accepted by CAs and by IAM Roles Anywhere';
  } else {
    found = `a ${key.asymmetricKeyType ?? 'secret'} key`;
    why = 'IAM Roles Anywhere signs with RSA or ECDSA only';
  }
  throw new AgentError({
    code: 'KEY_POLICY',
    component: 'keys',
    message: `${what} is ${found}; the agent needs ${KEY_POLICY} (${why})`,
    hint: 'make a new key: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 (or key.algorithm ec-p256 for keys the agent makes)',
    details: { what, type: key.asymmetricKeyType, ...(d.modulusLength ? { bits: d.modulusLength } : {}), ...(d.namedCurve ? { curve: d.namedCurve } : {}) },
  });
}
