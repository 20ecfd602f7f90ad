import type { X509Certificate } from 'node:crypto';
import { AgentError } from '../core/errors.js';
import { type CheckedArns, checkArns, checkDuration, checkRoleSessionName } from '../core/aws-ids.js';
import { readPemCertificates } from '../core/pem.js';
import type { KeyHandle } from '../keys/types.js';
import { MAX_CHAIN } from './sign.js';

export {
  type Arn,
  type ArnKind,
  type CheckedAnchor,
  type CheckedArns,
  checkAnchorAndProfile,
  checkArns,
  checkDuration,
  checkRoleSessionName,
  parseArn,
  partitionMismatch,
} from '../core/aws-ids.js';

/**
 * Local checks run before any CreateSession call. Each mistake the service would answer with a bare
 * "AccessDeniedException" (or that would burn a rate-limited call) is caught here with the value at fault and
 * what to do about it. Time is a parameter: nothing here reads the clock.
 */

const component = 'rolesanywhere';

/**
 * Every certificate of a PEM text, in order; `what` names the source in errors. Strict (core/pem.ts): a chain that
 * is junk, truncated, DER or a key is refused here, naming it, instead of being sent as "no chain" and answered by
 * the service as a trust-anchor problem. An empty text is no certificate (a leaf issued by the anchor itself).
 */
export function parseCertificates(pem: string, what: string): X509Certificate[] {
  try {
    return readPemCertificates(pem, {
      what,
      component,
      allowEmpty: true,
      hint: 're-run the enrolment if the file was damaged (iamra-agent renew --force)',
    });
  } catch (e) {
    if (!(e instanceof AgentError)) throw e;
    throw new AgentError({
      code: 'CERT_INVALID',
      component,
      message: e.message,
      ...(e.hint ? { hint: e.hint } : {}),
      ...(e.details ? { details: e.details } : {}),
      cause: e.cause ?? e,
    });
  }
}

/** The leaf: exactly one certificate (a bundle goes to the chain). */
export function parseLeaf(pem: string, what: string): X509Certificate {
  const certs = parseCertificates(pem, what);
  if (certs.length !== 1) {
    throw new AgentError({
      code: 'CERT_INVALID',
      component,
      message: `${what} holds ${certs.length} certificates; expected exactly the leaf`,
      hint: 'give the leaf certificate alone and the intermediates as the chain',
    });
  }
  return certs[0]!;
}

/** Node renders distinguished names one RDN per line; one line reads better in a message. */
/** Node gives `undefined` for an empty DN (leaves of profiles that do not promote the CN, like LE tlsserver). */
function dn(name: string | undefined): string {
  return name ? name.replace(/\n/g, ', ') : '(empty subject)';
}

function subjectOf(c: X509Certificate): string {
  return dn(c.subject);
}

/** The key must be the certificate's key, or the service answers only "Invalid signature". */
export async function checkKeyMatchesCertificate(key: KeyHandle, leaf: X509Certificate): Promise<void> {
  const mine = (await key.publicKey()).export({ type: 'spki', format: 'der' });
  const certs = leaf.publicKey.export({ type: 'spki', format: 'der' });
  if (!mine.equals(certs)) {
    throw new AgentError({
      code: 'KEY_CERT_MISMATCH',
      component,
      message: `the ${key.describe()} does not match the certificate ${subjectOf(leaf)} (serial ${leaf.serialNumber})`,
      hint: 'the certificate was issued for another key; renew the certificate (iamra-agent renew --force) or point key and certificate at the same version',
    });
  }
}

/** Each certificate must be valid at `now` (leaf first, then the chain). */
export function checkValidity(certs: X509Certificate[], now: Date): void {
  for (const [i, c] of certs.entries()) {
    const from = new Date(c.validFrom);
    const to = new Date(c.validTo);
    const which = i === 0 ? 'certificate' : `chain certificate ${i}`;
    if (now < from) {
      throw new AgentError({
        code: 'CERT_NOT_YET_VALID',
        component,
        message: `the ${which} ${subjectOf(c)} is not valid before ${from.toISOString()} (now ${now.toISOString()})`,
        hint: 'check the system clock (timedatectl, chronyc tracking); a clock running behind makes new certificates look future-dated',
        details: { notBefore: from.toISOString(), now: now.toISOString() },
      });
    }
    if (now > to) {
      throw new AgentError({
        code: 'CERT_EXPIRED',
        component,
        message: `the ${which} ${subjectOf(c)} expired at ${to.toISOString()} (now ${now.toISOString()})`,
        hint: i === 0 ? 'renew it: iamra-agent renew --force' : 'the chain file is stale; renew to fetch the current chain',
        details: { notAfter: to.toISOString(), now: now.toISOString() },
      });
    }
  }
}

/** The leaf must be signed by chain[0], chain[i] by chain[i+1]; at most 5 intermediates may be sent. */
export function checkChain(leaf: X509Certificate, chain: X509Certificate[]): void {
  if (chain.length > MAX_CHAIN) {
    throw new AgentError({
      code: 'CHAIN_TOO_LONG',
      component,
      message: `the chain has ${chain.length} certificates; X-Amz-X509-Chain allows at most ${MAX_CHAIN}`,
      hint: 'keep only the intermediates between the leaf and the trust anchor',
    });
  }
  const all = [leaf, ...chain];
  for (let i = 0; i + 1 < all.length; i++) {
    const child = all[i]!;
    const issuer = all[i + 1]!;
    if (!child.checkIssued(issuer) || !child.verify(issuer.publicKey)) {
      throw new AgentError({
        code: 'CHAIN_BROKEN',
        component,
        message: `${i === 0 ? 'the certificate' : `chain certificate ${i}`} ${subjectOf(child)} (issuer ${dn(child.issuer)}) is not signed by the next certificate ${subjectOf(issuer)}`,
        hint: 'the chain must list the issuer of the leaf first, then each issuer in turn; re-run the enrolment to rewrite chain.pem',
        details: { position: i },
      });
    }
  }
}

export interface PreflightInput {
  leaf: X509Certificate;
  chain: X509Certificate[];
  key: KeyHandle;
  trustAnchorArn: string;
  profileArn: string;
  roleArn: string;
  durationSeconds: number;
  roleSessionName?: string;
  /** configured signing region, if any */
  region?: string;
  now: Date;
}

/** All local checks, in the order a person would fix them; returns the parsed ARNs. */
export async function checkBeforeCreateSession(p: PreflightInput): Promise<CheckedArns> {
  const arns = checkArns(p);
  checkDuration(p.durationSeconds);
  if (p.roleSessionName !== undefined) checkRoleSessionName(p.roleSessionName);
  await checkKeyMatchesCertificate(p.key, p.leaf);
  checkValidity([p.leaf, ...p.chain], p.now);
  checkChain(p.leaf, p.chain);
  return arns;
}
