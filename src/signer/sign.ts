import { X509Certificate } from 'node:crypto';
import { AgentError } from '../core/errors.js';
import type { KeyHandle } from '../keys/types.js';
import { amzDate as toAmzDate, canonicalHeaders, canonicalRequest, credentialScope, sha256Hex, stringToSign } from './canonical.js';

/** The signing name of IAM Roles Anywhere (credential scope `…/rolesanywhere/aws4_request`). */
export const SERVICE = 'rolesanywhere';
export const CREATE_SESSION_PATH = '/sessions';
/** "X-Amz-X509-Chain … MUST NOT exceed the maximum depth of 5 certificates" (IAM Roles Anywhere User Guide). */
export const MAX_CHAIN = 5;

export type X509Algorithm = 'AWS4-X509-RSA-SHA256' | 'AWS4-X509-ECDSA-SHA256';

/** RSA keys sign PKCS#1 v1.5, EC keys ECDSA; the suffix is SHA256 for every curve, P-384 included (§1.1, §1.5). */
export function algorithmFor(key: KeyHandle): X509Algorithm {
  return key.algorithm.type === 'rsa' ? 'AWS4-X509-RSA-SHA256' : 'AWS4-X509-ECDSA-SHA256';
}

/** A certificate serial as the unsigned decimal integer the `Credential=` field carries (not hex: §1.6). */
export function serialDecimal(certDer: Buffer): string {
  return BigInt('0x' + new X509Certificate(certDer).serialNumber).toString(10);
}

export interface SignCreateSessionInput {
  /** the signing instant; X-Amz-Date and the scope date both come from it */
  date: Date;
  /** signing region (the region of the endpoint) */
  region: string;
  /** the Host header exactly as sent: `name` or `name:port` for a non-default port */
  host: string;
  /** the exact body bytes that will be sent (serialise once, sign and send the same string) */
  body: string;
  leafDer: Buffer;
  /** intermediates, issuer of the leaf first; a copy of the leaf is dropped; at most 5 */
  chainDer?: Buffer[];
  key: KeyHandle;
  /** raw query string without `?`; empty when the ARNs are in the body (the agent's choice) */
  query?: string;
  /**
   * also send and sign `X-Amz-Content-Sha256` (Envoy does; the credential helper does not). Off by default; the
   * Envoy test vectors (iamra-protocol §5.2) need it.
   */
  signContentSha256?: boolean;
}

export interface SignedCreateSession {
  /**
   * Every header to send, lower-case names, `authorization` included. `host` is listed because it is signed; an
   * HTTP client that derives Host from the URL must produce exactly this value.
   */
  headers: Record<string, string>;
  authorization: string;
  amzDate: string;
  algorithm: X509Algorithm;
  signedHeaders: string;
  canonicalRequest: string;
  stringToSign: string;
  /** lower-case hex of the signature bytes (DER for ECDSA) */
  signature: string;
}

/**
 * Signs a CreateSession request (AWS4-X509, iamra-protocol §1): SigV4 canonical request over POST /sessions with
 * the signed headers content-type;host;x-amz-date;x-amz-x509[;x-amz-x509-chain], then the private key signs the
 * StringToSign itself (SHA-256 inside the primitive). The key is used only through the KeyHandle port.
 */
export async function signCreateSession(o: SignCreateSessionInput): Promise<SignedCreateSession> {
  const chain = (o.chainDer ?? []).filter((c) => !c.equals(o.leafDer));
  if (chain.length > MAX_CHAIN) {
    throw new AgentError({
      code: 'CHAIN_TOO_LONG',
      component: 'rolesanywhere',
      message: `the certificate chain has ${chain.length} intermediates; X-Amz-X509-Chain allows at most ${MAX_CHAIN}`,
      hint: 'send only the intermediates between the leaf and the trust anchor',
    });
  }
  const algorithm = algorithmFor(o.key);
  const xAmzDate = toAmzDate(o.date);
  const payloadHash = sha256Hex(o.body);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    host: o.host,
    'x-amz-date': xAmzDate,
    'x-amz-x509': o.leafDer.toString('base64'),
  };
  if (o.signContentSha256) headers['x-amz-content-sha256'] = payloadHash;
  if (chain.length) headers['x-amz-x509-chain'] = chain.map((c) => c.toString('base64')).join(',');

  const creq = canonicalRequest({ method: 'POST', path: CREATE_SESSION_PATH, query: o.query ?? '', headers, payloadHash });
  const signedHeaders = canonicalHeaders(headers).signed;
  const scope = credentialScope(xAmzDate, o.region, SERVICE);
  const sts = stringToSign(algorithm, xAmzDate, scope, creq);
  const signature = (await o.key.sign(Buffer.from(sts, 'utf8'), 'SHA-256')).toString('hex');
  const authorization = `${algorithm} Credential=${serialDecimal(o.leafDer)}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return {
    headers: { ...headers, authorization },
    authorization,
    amzDate: xAmzDate,
    algorithm,
    signedHeaders,
    canonicalRequest: creq,
    stringToSign: sts,
    signature,
  };
}
