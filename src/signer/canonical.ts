import { createHash } from 'node:crypto';
import { AgentError } from '../core/errors.js';

/**
 * SigV4 canonicalisation, shared by the AWS4-X509 signer and by verifiers (the sandbox IAM Roles Anywhere
 * stand-in recomputes a client's canonical request with these same functions).
 *
 * IAM Roles Anywhere signs exactly like SigV4 except for the key and algorithm ("identical to SigV4, with the
 * exception of the keys used, the signature algorithm, and the addition of headers related to the X.509
 * certificate", IAM Roles Anywhere User Guide, authentication-sign-process). Everything here is pure: strings in,
 * strings out, no clock and no I/O.
 *
 * Reference: AWS General Reference, "Create a canonical request for Signature Version 4"; the AWS SigV4 test
 * suite (test/signer/canonical.test.ts) checks these functions case by case.
 */

/** Hex SHA-256, lower case: the payload hash and the canonical-request hash. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The SigV4 timestamp `YYYYMMDD'T'HHMMSS'Z'` (UTC, whole seconds) of an instant. */
export function amzDate(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** `YYYYMMDD/region/service/aws4_request`; the date part is the first 8 characters of X-Amz-Date. */
export function credentialScope(xAmzDate: string, region: string, service: string): string {
  return `${xAmzDate.slice(0, 8)}/${region}/${service}/aws4_request`;
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * RFC 3986 percent-encoding as SigV4 wants it: unreserved characters (ALPHA, DIGIT, `-._~`) stay, every other
 * UTF-8 byte becomes `%XX` with upper-case hex (so space is `%20`, never `+`). `/` is kept when encodeSlash is
 * false (path segments).
 */
export function uriEncode(s: string, encodeSlash = true): string {
  let out = '';
  for (const ch of s) {
    if (UNRESERVED.test(ch) || (ch === '/' && !encodeSlash)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/**
 * CanonicalURI for every service but S3: the path as sent on the wire (already percent-encoded once), with empty
 * and `.` segments dropped and `..` resolved (RFC 3986 §5.2.4), then each segment URI-encoded once more. That
 * second encoding is SigV4's documented "encode twice" for non-S3 services; for `/sessions` the result is
 * `/sessions`.
 */
export function canonicalUri(path: string): string {
  const segments: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') segments.pop();
    else segments.push(seg);
  }
  if (segments.length === 0) return '/';
  const trailing = path.endsWith('/') ? '/' : '';
  return '/' + segments.map((s) => uriEncode(s)).join('/') + trailing;
}

/** Percent-decoding that leaves malformed escapes as they are (a verifier must not throw on client input). */
function decodeComponent(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * CanonicalQueryString: each name and value decoded from the raw query (`+` is kept literally, as SigV4 does),
 * re-encoded with uriEncode, sorted by encoded name then encoded value (code-point order), joined as `n=v` with
 * `&`. A parameter without `=` has an empty value. Accepts the raw query string (without `?`) or name/value pairs.
 */
export function canonicalQuery(query: string | Iterable<[string, string]>): string {
  const pairs: [string, string][] = [];
  if (typeof query === 'string') {
    const raw = query.startsWith('?') ? query.slice(1) : query;
    for (const part of raw.split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const name = eq < 0 ? part : part.slice(0, eq);
      const value = eq < 0 ? '' : part.slice(eq + 1);
      pairs.push([uriEncode(decodeComponent(name)), uriEncode(decodeComponent(value))]);
    }
  } else {
    for (const [n, v] of query) pairs.push([uriEncode(n), uriEncode(v)]);
  }
  pairs.sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([n, v]) => `${n}=${v}`).join('&');
}

/** Headers as a map or as ordered pairs (pairs may repeat a name; their values are joined in order). */
export type HeaderInput = Record<string, string | string[]> | Iterable<[string, string]>;

export interface CanonicalHeaders {
  /** `name:value\n` for each signed header, names lower-case and sorted */
  canonical: string;
  /** the same names joined with `;` (the SignedHeaders field) */
  signed: string;
}

/**
 * CanonicalHeaders and SignedHeaders. Names are lower-cased and sorted by byte value; each value is trimmed and
 * runs of whitespace collapse to one space ("Trimall"); repeated headers are joined with `,` in the order given
 * (values are not sorted). `only` restricts the result to those names (a verifier passes the client's
 * SignedHeaders list); a name listed there but absent from the headers is an error, since the request could not
 * have been signed with it.
 */
export function canonicalHeaders(headers: HeaderInput, only?: readonly string[]): CanonicalHeaders {
  const merged = new Map<string, string[]>();
  const add = (name: string, value: string) => {
    const k = name.toLowerCase();
    const v = value.trim().replace(/\s+/g, ' ');
    merged.set(k, [...(merged.get(k) ?? []), v]);
  };
  const entries: Iterable<[string, string | string[]]> = isPairs(headers) ? headers : Object.entries(headers);
  for (const [name, value] of entries) for (const v of Array.isArray(value) ? value : [value]) add(name, v);
  let names = [...merged.keys()];
  if (only) {
    names = only.map((n) => n.toLowerCase());
    const missing = names.filter((n) => !merged.has(n));
    if (missing.length) {
      throw new AgentError({
        code: 'SIGNED_HEADER_MISSING',
        component: 'sigv4',
        message: `signed header ${missing.join(', ')} is not in the request`,
        hint: 'SignedHeaders may only list headers the request carries',
      });
    }
  }
  names = [...new Set(names)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    canonical: names.map((n) => `${n}:${merged.get(n)!.join(',')}\n`).join(''),
    signed: names.join(';'),
  };
}

function isPairs(h: HeaderInput): h is Iterable<[string, string]> {
  return typeof (h as Iterable<unknown>)[Symbol.iterator] === 'function';
}

export interface CanonicalRequestInput {
  method: string;
  /** path as sent on the wire, without the query */
  path: string;
  /** raw query string (without `?`), or pairs; empty when the parameters are in the body */
  query?: string | Iterable<[string, string]>;
  headers: HeaderInput;
  /** restrict to these header names (a verifier passes the SignedHeaders of the Authorization header) */
  signedHeaders?: readonly string[];
  /** hex SHA-256 of the exact body bytes (sha256Hex(body)) */
  payloadHash: string;
}

/**
 * The canonical request:
 * `METHOD\nCanonicalURI\nCanonicalQuery\nCanonicalHeaders\nSignedHeaders\nHexPayloadHash` — CanonicalHeaders ends in
 * `\n` itself, so a blank line precedes SignedHeaders; there is no trailing newline.
 */
export function canonicalRequest(r: CanonicalRequestInput): string {
  const h = canonicalHeaders(r.headers, r.signedHeaders);
  return [r.method.toUpperCase(), canonicalUri(r.path), canonicalQuery(r.query ?? ''), h.canonical, h.signed, r.payloadHash].join('\n');
}

/**
 * StringToSign: `Algorithm\nX-Amz-Date\nCredentialScope\nHex(SHA256(CanonicalRequest))`. For AWS4-X509 this whole
 * string (UTF-8) is the message given to the private-key signature, which hashes it itself (iamra-protocol §1.5).
 */
export function stringToSign(algorithm: string, xAmzDate: string, scope: string, canonicalRequestText: string): string {
  return [algorithm, xAmzDate, scope, sha256Hex(canonicalRequestText)].join('\n');
}

export interface ParsedAuthorization {
  algorithm: string;
  /** the part before the scope: the certificate serial in decimal for AWS4-X509, the access key id for HMAC */
  credential: string;
  /** `YYYYMMDD/region/service/aws4_request` */
  scope: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

/**
 * Parses `ALG Credential=<id>/<date>/<region>/<service>/aws4_request, SignedHeaders=a;b, Signature=<hex>` (fields
 * separated by `,` with optional spaces), for verifiers. Returns undefined when the header is not of that form.
 */
export function parseAuthorization(header: string): ParsedAuthorization | undefined {
  const m = /^(\S+) (.*)$/.exec(header.trim());
  if (!m) return undefined;
  const fields = new Map<string, string>();
  for (const part of m[2]!.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const cred = fields.get('Credential')?.split('/');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (cred?.length !== 5 || cred[4] !== 'aws4_request' || !signedHeaders || !signature) return undefined;
  const [credential, date, region, service] = cred as [string, string, string, string, string];
  return {
    algorithm: m[1]!,
    credential,
    scope: cred.slice(1).join('/'),
    date,
    region,
    service,
    signedHeaders: signedHeaders.split(';'),
    signature,
  };
}
