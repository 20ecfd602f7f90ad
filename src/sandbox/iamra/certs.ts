import * as x509 from '@peculiar/x509';
import { X509Certificate as NodeCertificate } from 'node:crypto';

/**
 * Certificate checks of the IAM Roles Anywhere stand-in, as the service documents them (iamra-protocol §3,
 * "Signature validation" in the IAM Roles Anywhere User Guide). The only importer of @peculiar/x509 in the
 * sandbox: it parses names and extensions, node:crypto verifies signatures.
 */

export interface ParsedCertificate {
  der: Buffer;
  cert: x509.X509Certificate;
  node: NodeCertificate;
  serial: bigint;
}

export function parseCertificateDer(der: Buffer): ParsedCertificate {
  const node = new NodeCertificate(der);
  const cert = new x509.X509Certificate(new Uint8Array(der));
  return { der, cert, node, serial: BigInt('0x' + node.serialNumber) };
}

/** Every CERTIFICATE block of a PEM bundle, in file order. Throws when there is none or one does not parse. */
export function parseCertificateBundle(pem: string): ParsedCertificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error('no CERTIFICATE block in the bundle');
  return blocks.map((b) => parseCertificateDer(Buffer.from(b.replace(/-----[A-Z ]+-----|\s+/g, ''), 'base64')));
}

/**
 * The serial as IAM Roles Anywhere prints it in session names: lower-case hex of the unsigned magnitude, padded
 * to whole bytes (real example `…:6c8a648800b353455b5520636b775431`, iamra-protocol §2.3).
 */
export function serialHex(serial: bigint): string {
  const hex = serial.toString(16);
  return hex.length % 2 ? '0' + hex : hex;
}

/** "Certificate signature algorithm MUST be SHA-256 or stronger; MD5 and SHA-1 signed certs are rejected" (§3). */
const STRONG_HASHES = new Set(['SHA-256', 'SHA-384', 'SHA-512']);

function signatureHash(c: ParsedCertificate): string | undefined {
  const alg = c.cert.signatureAlgorithm as { hash?: { name?: string } };
  return alg.hash?.name;
}

/** Offset of the content of the DER element at `at` (tag, then short or long-form length). */
function contentOffset(der: Buffer, at: number): number {
  const len = der[at + 1]!;
  return at + 2 + (len & 0x80 ? len & 0x7f : 0);
}

/**
 * X.509 v3 means tbsCertificate starts with `[0] EXPLICIT INTEGER 2` (RFC 5280 §4.1.2.1: version is 0-based and
 * absent for v1).
 */
function isV3(c: ParsedCertificate): boolean {
  const tbs = contentOffset(c.der, 0);
  const first = contentOffset(c.der, tbs);
  if (c.der[first] !== 0xa0) return false;
  const int = contentOffset(c.der, first);
  return c.der[int] === 0x02 && c.der[int + 1] === 0x01 && c.der[int + 2] === 0x02;
}

function basicConstraintsCa(c: ParsedCertificate): boolean | undefined {
  return c.cert.getExtension(x509.BasicConstraintsExtension)?.ca;
}

function keyUsage(c: ParsedCertificate): number | undefined {
  return c.cert.getExtension(x509.KeyUsagesExtension)?.usages;
}

function validityProblem(c: ParsedCertificate, now: Date, what: string): string | undefined {
  if (now < c.cert.notBefore) return `${what} is not valid before ${c.cert.notBefore.toISOString()}`;
  if (now > c.cert.notAfter) return `${what} expired at ${c.cert.notAfter.toISOString()}`;
  return undefined;
}

/** The end-entity requirements of §3; returns why the leaf is unacceptable, or undefined. */
export function leafProblem(leaf: ParsedCertificate, now: Date): string | undefined {
  if (!isV3(leaf)) return 'the signing certificate is not X.509 v3';
  if (basicConstraintsCa(leaf) === true) return 'the signing certificate has basicConstraints CA:TRUE';
  const ku = keyUsage(leaf);
  if (ku === undefined || (ku & x509.KeyUsageFlags.digitalSignature) === 0) return 'the signing certificate keyUsage lacks digitalSignature';
  const hash = signatureHash(leaf);
  if (!hash || !STRONG_HASHES.has(hash)) return `the signing certificate is signed with ${hash ?? 'an unknown hash'}, weaker than SHA-256`;
  if (leaf.cert.subjectName.toJSON().length === 0) return 'the signing certificate has an empty subject';
  return validityProblem(leaf, now, 'the signing certificate');
}

function issued(issuer: ParsedCertificate, child: ParsedCertificate): boolean {
  try {
    return child.node.checkIssued(issuer.node) && child.node.verify(issuer.node.publicKey);
  } catch {
    return false;
  }
}

function intermediateProblem(c: ParsedCertificate, now: Date): string | undefined {
  const name = `intermediate ${c.cert.subject}`;
  if (basicConstraintsCa(c) !== true) return `${name} is not a CA (basicConstraints)`;
  const ku = keyUsage(c);
  if (ku !== undefined && (ku & x509.KeyUsageFlags.keyCertSign) === 0) return `${name} keyUsage lacks keyCertSign`;
  const hash = signatureHash(c);
  if (!hash || !STRONG_HASHES.has(hash)) return `${name} is signed with ${hash ?? 'an unknown hash'}`;
  return validityProblem(c, now, name);
}

export type ChainResult = { ok: true; path: ParsedCertificate[] } | { ok: false; reason: string };

/**
 * PKIX path building from the leaf through the client's intermediates (X-Amz-X509-Chain) to one of the trust
 * anchor's certificates. The anchor certificate may itself be a root or an intermediate CA; it is trusted as
 * registered, so only its validity period is checked. Intermediates may arrive in any order.
 */
export function buildChain(leaf: ParsedCertificate, intermediates: ParsedCertificate[], anchors: ParsedCertificate[], now: Date): ChainResult {
  let lastReason = `no trust anchor certificate issued ${leaf.cert.issuer}`;
  const walk = (current: ParsedCertificate, used: Set<ParsedCertificate>): ParsedCertificate[] | undefined => {
    for (const a of anchors) {
      if (!issued(a, current)) continue;
      const expired = validityProblem(a, now, `trust anchor ${a.cert.subject}`);
      if (expired) {
        lastReason = expired;
        continue;
      }
      return [current, a];
    }
    for (const i of intermediates) {
      if (used.has(i) || !issued(i, current)) continue;
      const problem = intermediateProblem(i, now);
      if (problem) {
        lastReason = problem;
        continue;
      }
      const rest = walk(i, new Set([...used, i]));
      if (rest) return [current, ...rest];
    }
    return undefined;
  };
  const path = walk(leaf, new Set());
  return path ? { ok: true, path } : { ok: false, reason: lastReason };
}

export type CertificateField = 'x509Subject' | 'x509Issuer' | 'x509SAN';

/**
 * The attributes IAM Roles Anywhere can map into session tags (§2.5): every subject and issuer RDN by short name
 * (repeated or multi-valued RDNs joined with `/` in certificate order), and from the SAN the first DNS name, the
 * first URI and the RDNs of the first directory name (`Name/<RDN>`).
 */
export function certificateAttributes(c: ParsedCertificate): Record<CertificateField, Map<string, string>> {
  const fromName = (name: x509.Name): Map<string, string> => {
    const out = new Map<string, string[]>();
    for (const rdn of name.toJSON()) for (const [k, vs] of Object.entries(rdn)) out.set(k, [...(out.get(k) ?? []), ...vs]);
    return new Map([...out].map(([k, vs]) => [k, vs.join('/')]));
  };
  const san = new Map<string, string>();
  const names = c.cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON() ?? [];
  const dns = names.find((n) => n.type === 'dns');
  if (dns) san.set('DNS', dns.value);
  const uri = names.find((n) => n.type === 'url');
  if (uri) san.set('URI', uri.value);
  const dn = names.find((n) => n.type === 'dn');
  if (dn) for (const [k, v] of fromName(new x509.Name(dn.value))) san.set(`Name/${k}`, v);
  return { x509Subject: fromName(c.cert.subjectName), x509Issuer: fromName(c.cert.issuerName), x509SAN: san };
}

/** The subject CN, for the source identity (§2.5). */
export function subjectCommonName(c: ParsedCertificate): string | undefined {
  return c.cert.subjectName.getField('CN')[0];
}

export function subjectString(c: ParsedCertificate): string {
  return c.cert.subject;
}

export function issuerString(c: ParsedCertificate): string {
  return c.cert.issuer;
}
