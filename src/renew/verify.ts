import { nameSet, sameNames } from '../core/names.js';
import * as x509 from '@peculiar/x509';
import { createPublicKey, randomBytes, verify as cryptoVerify, X509Certificate } from 'node:crypto';
import { AgentError, messageOf } from '../core/errors.js';
import type { KeyHandle } from '../keys/types.js';

/**
 * Checks a certificate before it becomes live, so a bad issuance never replaces a good identity. The checks are
 * IAM Roles Anywhere's end-entity rules (reference/iamra-protocol.md: X.509v3, CA:false when basicConstraints is
 * present, keyUsage digitalSignature, SHA-256 or stronger) plus what the agent itself relies on: the chain reaches a
 * configured trust anchor, the key we hold is the certified key, the names are the identity's, and it is valid now.
 * Every failure is collected, so one run reports everything that is wrong.
 */

export type VerifyCheck = 'parse' | 'chain' | 'validity' | 'key' | 'key-usage' | 'names' | 'basic-constraints' | 'signature-algorithm';

/** Which certificate a failure is about, so a reader (status) tells a chain problem from a leaf problem without reading words. */
export type VerifyRole = 'leaf' | 'chain' | 'anchor';

export interface VerifyFailure {
  check: VerifyCheck;
  message: string;
  role: VerifyRole;
}

type Fail = (check: VerifyCheck, message: string, role?: VerifyRole) => void;

export interface VerifyInput {
  certPem: string;
  /** intermediates, leaf's issuer first (order is not required) */
  chainPem: string;
  /** the key we hold (proved by signing a nonce) or, for an external key, its SubjectPublicKeyInfo DER */
  key: KeyHandle | { publicKeyDer: Uint8Array };
  names: string[];
  /** PEM trust anchors (each string may hold several certificates) */
  anchorsPem: string[];
  now: Date;
}

export interface VerifiedIdentity {
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** subjects from the leaf to the trust anchor */
  path: string[];
}

export interface VerifyReport {
  failures: VerifyFailure[];
  /** present when the leaf parsed */
  identity?: VerifiedIdentity;
}

/** Throws IDENTITY_INVALID listing every failed check; returns the verified facts otherwise. */
export async function verifyIdentity(input: VerifyInput): Promise<VerifiedIdentity> {
  const r = await checkIdentity(input);
  if (r.failures.length === 0 && r.identity) return r.identity;
  const serial = r.identity?.serial;
  throw new AgentError({
    code: 'IDENTITY_INVALID',
    component: 'verify',
    message: `certificate${serial ? ` ${serial}` : ''} for ${input.names.join(', ')} failed verification: ${r.failures.map((f) => `${f.check}: ${f.message}`).join('; ')}`,
    hint: hintFor(r.failures),
    details: { failures: r.failures, ...(serial ? { serial } : {}) },
  });
}

/** The trust anchors a new or live identity is checked against, and where they came from. */
export interface TrustAnchors {
  pems: string[];
  source: 'configured' | 'chain-top';
}

/**
 * The configured trust anchors; without them, the top of the identity's own chain (leaf → intermediates), which
 * catches a broken or mismatched chain but not a wrong CA (source 'chain-top' says so). One rule for enrolment's
 * verification and for status. TRUST_ANCHORS_MISSING when there is neither.
 */
export function trustAnchorsFor(configuredPems: string[], chainPem: string): TrustAnchors {
  if (configuredPems.length) return { pems: configuredPems, source: 'configured' };
  const blocks = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (!blocks.length) {
    throw new AgentError({
      code: 'TRUST_ANCHORS_MISSING',
      component: 'verify',
      message: 'no trust anchors are configured and the identity has no chain to check against',
      hint: 'set trust.anchors to the CA certificates of the IAM Roles Anywhere trust anchor',
    });
  }
  return { pems: [blocks[blocks.length - 1]! + '\n'], source: 'chain-top' };
}

/**
 * IAM Roles Anywhere does not accept a certificate with an empty subject, which ACME profiles that put no CN in the
 * leaf (Let's Encrypt shortlived, tlsserver) produce: refused before such an identity goes live.
 */
export function assertSubjectForRolesAnywhere(certPem: string, profile: string | undefined): void {
  if (new X509Certificate(certPem).subject) return;
  throw new AgentError({
    code: 'IDENTITY_EMPTY_SUBJECT',
    component: 'verify',
    message: `the new certificate has an empty subject (ACME profile ${profile ?? 'default'} puts no CN in it), which IAM Roles Anywhere does not support`,
    hint: "use acme.profile: classic (the Let's Encrypt profile that keeps the CN)",
  });
}

/** The same checks, returning the list (for `status`, which reports rather than fails). */
export async function checkIdentity(input: VerifyInput): Promise<VerifyReport> {
  const failures: VerifyFailure[] = [];
  const fail: Fail = (check, message, role = 'leaf') => failures.push({ check, message, role });

  let leaf: X509Certificate;
  let pLeaf: x509.X509Certificate;
  try {
    leaf = new X509Certificate(input.certPem);
    pLeaf = new x509.X509Certificate(leaf.raw);
  } catch (e) {
    fail('parse', `the certificate is not a PEM X.509 certificate: ${messageOf(e)}`);
    return { failures };
  }
  const chain = parseAll(input.chainPem, 'chain', 'chain', fail);
  const anchors = input.anchorsPem.flatMap((p, i) => parseAll(p, `trust anchor #${i + 1}`, 'anchor', fail));
  if (anchors.length === 0) fail('chain', 'no trust anchors configured', 'anchor');

  const serial = leaf.serialNumber.toUpperCase();
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);

  // validity of the leaf
  const now = input.now.getTime();
  if (now < notBefore.getTime()) fail('validity', `not valid before ${notBefore.toISOString()} (now ${input.now.toISOString()})`);
  if (now > notAfter.getTime()) fail('validity', `expired at ${notAfter.toISOString()} (now ${input.now.toISOString()})`);

  // chain: leaf → intermediates → anchor, each link by name and signature; each CA valid now
  const path = buildPath(leaf, chain, anchors, input.now, fail);

  // RFC 5280 §4.2.1.9: the leaf must not be a CA; IAM RA: "Basic constraints MUST include CA: false"
  const bc = pLeaf.getExtension(x509.BasicConstraintsExtension);
  if (bc?.ca) fail('basic-constraints', 'the certificate is a CA (basicConstraints CA:TRUE)');

  // RFC 5280 §4.2.1.3; IAM RA: "The key usage MUST include Digital Signature" (CreateSession is a signature)
  const ku = pLeaf.getExtension(x509.KeyUsagesExtension);
  if (!ku) fail('key-usage', 'no keyUsage extension; digitalSignature is required');
  else if ((ku.usages & x509.KeyUsageFlags.digitalSignature) === 0) fail('key-usage', 'keyUsage lacks digitalSignature');

  // names: the SAN dNSNames must be exactly the identity (case-insensitive, RFC 4343)
  const san = pLeaf.getExtension(x509.SubjectAlternativeNameExtension);
  const got = nameSet((san?.names.items ?? []).filter((n) => n.type === 'dns').map((n) => n.value));
  const want = nameSet(input.names);
  if (!sameNames(got, want)) fail('names', `the certificate names ${got.join(', ') || '(none)'} but the identity is ${want.join(', ')}`);

  // signature algorithms of the leaf and the intermediates
  for (const c of [leaf, ...path.slice(1, -1)]) {
    const weak = weakHash(c);
    if (weak)
      fail(
        'signature-algorithm',
        `${c === leaf ? 'the certificate' : `chain certificate "${dn(c.subject)}"`} is signed with ${weak}; SHA-256 or stronger is required`,
      );
  }

  await checkKey(leaf, input.key, fail);

  return { failures, identity: { serial, notBefore, notAfter, path: path.map((c) => dn(c.subject)) } };
}

function parseAll(pem: string, what: string, role: VerifyRole, fail: Fail): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const out: X509Certificate[] = [];
  for (const [i, b] of blocks.entries()) {
    try {
      out.push(new X509Certificate(b));
    } catch (e) {
      fail('parse', `${what} certificate #${i + 1} does not parse: ${messageOf(e)}`, role);
    }
  }
  return out;
}

/** Walks issuer links from the leaf; anchors are preferred at every step, so the shortest trusted path wins. */
function buildPath(leaf: X509Certificate, chain: X509Certificate[], anchors: X509Certificate[], now: Date, fail: Fail): X509Certificate[] {
  const path = [leaf];
  const used = new Set<string>([leaf.fingerprint256]);
  let cur = leaf;
  for (let depth = 0; depth < 8; depth++) {
    if (depth > 0 && anchors.some((a) => a.fingerprint256 === cur.fingerprint256)) return path;
    const anchor = anchors.find((a) => issuedBy(cur, a));
    if (anchor) {
      path.push(anchor);
      checkCa(anchor, 'trust anchor', 'anchor', now, fail);
      return path;
    }
    const next = chain.find((c) => !used.has(c.fingerprint256) && issuedBy(cur, c));
    if (!next) {
      const sameName = [...chain, ...anchors].filter((c) => c.subject === cur.issuer);
      fail(
        'chain',
        sameName.length
          ? `"${dn(cur.subject)}" names issuer "${dn(cur.issuer)}", but its signature does not verify with that certificate's key (a different CA with the same name?)`
          : `no issuer "${dn(cur.issuer)}" for "${dn(cur.subject)}" among ${chain.length} chain certificate(s) and ${anchors.length} trust anchor(s)`,
        cur === leaf ? 'leaf' : 'chain',
      );
      return path;
    }
    checkCa(next, 'chain certificate', 'chain', now, fail);
    path.push(next);
    used.add(next.fingerprint256);
    cur = next;
  }
  fail('chain', 'the chain is longer than 8 certificates', 'chain');
  return path;
}

function issuedBy(c: X509Certificate, issuer: X509Certificate): boolean {
  try {
    // checkIssued: issuer name, AKI/SKI and keyCertSign; verify: the signature itself
    return c.checkIssued(issuer) && c.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function checkCa(c: X509Certificate, what: string, role: VerifyRole, now: Date, fail: Fail): void {
  if (!c.ca) fail('chain', `${what} "${dn(c.subject)}" is not a CA (basicConstraints CA:TRUE missing)`, role);
  const nb = new Date(c.validFrom);
  const na = new Date(c.validTo);
  if (now < nb) fail('validity', `${what} "${dn(c.subject)}" is not valid before ${nb.toISOString()}`, role);
  if (now > na) fail('validity', `${what} "${dn(c.subject)}" expired at ${na.toISOString()}`, role);
}

const STRONG = new Set(['SHA-256', 'SHA-384', 'SHA-512']);

function weakHash(c: X509Certificate): string | undefined {
  let alg: { name: string; hash?: { name: string } | string };
  try {
    alg = new x509.X509Certificate(c.raw).signatureAlgorithm as typeof alg;
  } catch (e) {
    return `an unrecognised algorithm (${messageOf(e)})`;
  }
  const hash = typeof alg.hash === 'string' ? alg.hash : alg.hash?.name;
  if (alg.name === 'Ed25519' || alg.name === 'Ed448') return undefined;
  return hash && STRONG.has(hash.toUpperCase()) ? undefined : `${alg.name}${hash ? ` with ${hash}` : ''}`;
}

async function checkKey(leaf: X509Certificate, key: VerifyInput['key'], fail: (c: VerifyCheck, m: string) => void): Promise<void> {
  const certSpki = leaf.publicKey.export({ type: 'spki', format: 'der' });
  if ('publicKeyDer' in key) {
    let given: Buffer;
    try {
      given = createPublicKey({ key: Buffer.from(key.publicKeyDer), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' });
    } catch (e) {
      fail('key', `the external public key is not a SubjectPublicKeyInfo: ${messageOf(e)}`);
      return;
    }
    if (!given.equals(certSpki)) fail('key', 'the certificate is for a different public key than the external key (key.ref / CSR)');
    return;
  }
  // Proof of possession through the port: the token or TPM signs, we check with the certified key.
  const nonce = randomBytes(32);
  let sig: Buffer;
  try {
    sig = await key.sign(nonce, 'SHA-256');
  } catch (e) {
    fail('key', `${key.describe()} could not sign a test value: ${messageOf(e)}`);
    return;
  }
  let ok = false;
  try {
    ok = cryptoVerify('sha256', nonce, { key: leaf.publicKey, dsaEncoding: 'der' }, sig);
  } catch {
    ok = false;
  }
  if (!ok) fail('key', `the certificate's public key does not match ${key.describe()}`);
}

/** Node gives `undefined` for an empty DN (leaves of profiles that do not promote the CN, like LE tlsserver). */
function dn(s: string | undefined): string {
  return s ? s.split('\n').join(', ') : '(empty subject)';
}

function hintFor(failures: VerifyFailure[]): string {
  const checks = new Set(failures.map((f) => f.check));
  if (checks.has('chain')) return 'check rolesAnywhere trust anchors (the CA that issued this certificate) and that the ACME chain is complete';
  if (checks.has('key')) return 'the certificate was issued for another key: re-enrol (iamra-agent renew --force)';
  if (checks.has('names')) return 'the order names differ from identity.name/extraNames: re-enrol';
  return 'the CA issued a certificate IAM Roles Anywhere will not accept';
}
