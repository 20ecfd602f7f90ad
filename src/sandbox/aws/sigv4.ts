import { createHash, timingSafeEqual } from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { AwsApiError, type AwsHttpRequest, type Principal, type PrincipalRegistry } from './types.js';

/**
 * Server-side verification of AWS Signature Version 4 header authentication (AWS4-HMAC-SHA256), the scheme the AWS
 * SDKs, the AWS CLI and aws-sdk-go use: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
 *
 * The signature is recomputed with @smithy/signature-v4 (the signer inside the AWS SDK for JavaScript v3) over the
 * raw request as received: the raw path, the raw query, and exactly the headers the client listed in SignedHeaders.
 * Errors carry the codes and messages AWS answers with.
 */

const ALGORITHM = 'AWS4-HMAC-SHA256';
/** AWS rejects requests whose X-Amz-Date is more than 5 minutes from its clock */
export const MAX_SKEW_MS = 5 * 60_000;

export interface CredentialScope {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
}

/** The outcome of verifying one request; the service later checks that the scope names it (checkScope). */
export interface SigV4Outcome {
  scope?: CredentialScope;
  principal?: Principal;
  error?: AwsApiError;
}

interface ParsedAuthorization {
  scope: CredentialScope;
  signedHeaders: string[];
  signature: string;
}

const incomplete = (msg: string) => new AwsApiError(400, 'IncompleteSignature', msg);

function parseAuthorization(header: string): ParsedAuthorization {
  const space = header.indexOf(' ');
  const algorithm = space < 0 ? header : header.slice(0, space);
  if (algorithm !== ALGORITHM) {
    throw incomplete(`Unsupported AWS 'algorithm': '${algorithm}'. The sandbox accepts ${ALGORITHM} in the Authorization header.`);
  }
  const params = new Map<string, string>();
  for (const part of header.slice(space + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) params.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  for (const name of ['Credential', 'SignedHeaders', 'Signature']) {
    if (!params.get(name)) throw incomplete(`Authorization header requires '${name}' parameter.`);
  }
  const cred = params.get('Credential')!.split('/');
  if (cred.length !== 5 || cred[4] !== 'aws4_request' || !/^\d{8}$/.test(cred[1]!)) {
    throw incomplete(
      `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/aws4_request, got '${params.get('Credential')!.split('/').slice(1).join('/')}'.`,
    );
  }
  const [accessKeyId, date, region, service] = cred as [string, string, string, string];
  return { scope: { accessKeyId, date, region, service }, signedHeaders: params.get('SignedHeaders')!.split(';'), signature: params.get('Signature')! };
}

/** 20260102T030405Z -> Date */
function parseAmzDate(v: string | undefined): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(v ?? '');
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  return new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!));
}

const amz = (d: Date) =>
  d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

/** Raw query -> decoded multimap, without URLSearchParams' form decoding of '+' (SigV4 is RFC 3986). */
function parseRawQuery(raw: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  for (const pair of raw.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const k = dec(eq < 0 ? pair : pair.slice(0, eq));
    const v = eq < 0 ? '' : dec(pair.slice(eq + 1));
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Verifies the request's signature against the registry at `now`. Never throws: the outcome holds the principal or
 * the AwsApiError, so the front can verify before it knows which service will answer.
 */
export async function verifySigV4(req: AwsHttpRequest, deps: { principals: PrincipalRegistry; now: Date; maxSkewMs?: number }): Promise<SigV4Outcome> {
  let scope: CredentialScope | undefined;
  try {
    const header = req.headers['authorization'];
    if (!header) {
      if (req.query.has('X-Amz-Algorithm')) {
        throw incomplete('The sandbox verifies SigV4 in the Authorization header only; presigned (query string) requests are not accepted.');
      }
      throw new AwsApiError(403, 'MissingAuthenticationToken', 'Missing Authentication Token');
    }
    const auth = parseAuthorization(header);
    scope = auth.scope;
    const amzDate = req.headers['x-amz-date'];
    const signedAt = parseAmzDate(amzDate);
    if (!signedAt) throw incomplete(`Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.`);
    if (!auth.signedHeaders.includes('host')) throw incomplete(`'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.`);
    if (auth.scope.date !== amzDate!.slice(0, 8)) {
      throw new AwsApiError(
        403,
        'SignatureDoesNotMatch',
        `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.scope.date}' != '${amzDate!.slice(0, 8)}', from '${amzDate}'.`,
      );
    }
    const skew = deps.maxSkewMs ?? MAX_SKEW_MS;
    const now = deps.now;
    if (signedAt.getTime() < now.getTime() - skew) {
      throw new AwsApiError(
        400,
        'RequestExpired',
        `Signature expired: ${amzDate} is now earlier than ${amz(new Date(now.getTime() - skew))} (${amz(now)} - ${skew / 60_000} min.)`,
      );
    }
    if (signedAt.getTime() > now.getTime() + skew) {
      throw new AwsApiError(
        400,
        'RequestExpired',
        `Signature not yet current: ${amzDate} is still later than ${amz(new Date(now.getTime() + skew))} (${amz(now)} + ${skew / 60_000} min.)`,
      );
    }
    const principal = deps.principals.get(auth.scope.accessKeyId);
    const token = req.headers['x-amz-security-token'];
    // an unknown key, a temporary key without its token, or a token that is not the key's: AWS says the same thing
    const wantsToken = Boolean(principal?.sessionToken);
    if (!principal || wantsToken !== (token !== undefined) || (wantsToken && !safeEqual(token!, principal.sessionToken!))) {
      throw new AwsApiError(403, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
    }
    if (principal.expiration && principal.expiration.getTime() <= now.getTime()) {
      throw new AwsApiError(403, 'ExpiredToken', 'The security token included in the request is expired');
    }
    const contentSha = req.headers['x-amz-content-sha256'];
    if (contentSha !== undefined && contentSha !== 'UNSIGNED-PAYLOAD' && contentSha !== createHash('sha256').update(req.body).digest('hex')) {
      throw new AwsApiError(400, 'XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.');
    }
    const expected = await computeSignature(req, auth, principal, signedAt);
    if (!safeEqual(expected, auth.signature)) {
      throw new AwsApiError(
        403,
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
      );
    }
    return { scope, principal };
  } catch (e) {
    if (e instanceof AwsApiError) return scope ? { scope, error: e } : { error: e };
    throw e;
  }
}

async function computeSignature(req: AwsHttpRequest, auth: ParsedAuthorization, p: Principal, signedAt: Date): Promise<string> {
  const headers: Record<string, string> = {};
  for (const name of auth.signedHeaders) {
    const v = req.headers[name];
    if (v !== undefined) headers[name] = v;
  }
  const signedToken = auth.signedHeaders.includes('x-amz-security-token');
  const signer = new SignatureV4({
    credentials: { accessKeyId: p.accessKeyId, secretAccessKey: p.secretAccessKey, ...(signedToken && p.sessionToken ? { sessionToken: p.sessionToken } : {}) },
    region: auth.scope.region,
    service: auth.scope.service,
    sha256: Sha256,
    // add no header the client did not sign; S3 alone signs the path without a second round of escaping
    applyChecksum: false,
    uriEscapePath: auth.scope.service !== 's3',
  });
  const signed = await signer.sign(
    {
      method: req.method,
      protocol: 'http:',
      hostname: headers['host'] ?? '',
      path: req.path,
      query: parseRawQuery(req.rawQuery ?? req.query.toString()),
      headers,
      body: req.body.length ? req.body : undefined,
    },
    { signingDate: signedAt, signableHeaders: new Set(auth.signedHeaders) },
  );
  const m = /Signature=([0-9a-f]+)/.exec(signed.headers['authorization'] ?? '');
  return m?.[1] ?? '';
}

/** The service's check of a verified request: the scope must name it and the expected region. */
export function checkScope(o: SigV4Outcome, service: string, region: string): Principal {
  if (o.scope && o.scope.service !== service) {
    throw new AwsApiError(403, 'SignatureDoesNotMatch', `Credential should be scoped to correct service: '${service}'. `);
  }
  if (o.scope && o.scope.region !== region) {
    throw new AwsApiError(403, 'SignatureDoesNotMatch', `Credential should be scoped to a valid region, not '${o.scope.region}'. `);
  }
  if (o.error) throw o.error;
  if (!o.principal) throw new AwsApiError(403, 'MissingAuthenticationToken', 'Missing Authentication Token');
  return o.principal;
}
