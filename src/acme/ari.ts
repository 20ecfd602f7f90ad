import * as x509 from '@peculiar/x509';
import type { Clock } from '../core/clock.js';
import { AgentError } from '../core/errors.js';
import { ARI_RETRY_DEFAULT_S, clampAriRetryAfterSec } from '../core/retry.js';
import type { Logger } from '../core/logger.js';
import { fetchDirectory } from './directory.js';
import { retryAfterMs } from './problems.js';
import { getJson, newContext } from './transport.js';

/**
 * ACME Renewal Information, RFC 9773 (https://www.rfc-editor.org/rfc/rfc9773).
 */

/**
 * §4.1: base64url(AKI keyIdentifier) "." base64url(serial INTEGER content octets). The serial is taken as encoded in
 * the DER, so a leading 0x00 (present when the high bit is set) stays: the RFC example is serial 0x0087654321 →
 * "AIdlQyE". (A serial read back as a number or hex string loses that byte.)
 */
export function certIdFromParts(authorityKeyId: Uint8Array, serialContent: Uint8Array): string {
  return `${Buffer.from(authorityKeyId).toString('base64url')}.${Buffer.from(serialContent).toString('base64url')}`;
}

export function certId(certPem: string): string {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(certPem);
  } catch (e) {
    throw new AgentError({
      code: 'ACME_ARI_CERT_INVALID',
      component: 'acme.ari',
      message: 'cannot parse the certificate for its ARI CertID',
      hint: 'pass the leaf certificate PEM',
      cause: e,
    });
  }
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  if (!aki?.keyId) {
    throw new AgentError({
      code: 'ACME_ARI_NO_AKI',
      component: 'acme.ari',
      message: `certificate ${cert.subject} has no Authority Key Identifier keyIdentifier`,
      hint: 'ARI needs the AKI extension (RFC 9773 §4.1); CA-issued ACME certificates carry it',
    });
  }
  return certIdFromParts(Buffer.from(aki.keyId, 'hex'), serialContentOctets(new Uint8Array(cert.rawData)));
}

/** Reads one DER TLV at `at`; returns the tag, where the content starts and its length. */
function tlv(der: Uint8Array, at: number): { tag: number; start: number; len: number } {
  const tag = der[at]!;
  let len = der[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i]!;
    start += n;
  }
  return { tag, start, len };
}

/** Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber INTEGER, … } … } */
export function serialContentOctets(certDer: Uint8Array): Uint8Array {
  const cert = tlv(certDer, 0);
  const tbs = tlv(certDer, cert.start);
  let at = tbs.start;
  let f = tlv(certDer, at);
  if (f.tag === 0xa0) {
    at = f.start + f.len;
    f = tlv(certDer, at);
  }
  if (cert.tag !== 0x30 || tbs.tag !== 0x30 || f.tag !== 0x02) {
    throw new AgentError({ code: 'ACME_ARI_CERT_INVALID', component: 'acme.ari', message: 'certificate DER has no serialNumber where RFC 5280 §4.1 puts it' });
  }
  return certDer.slice(f.start, f.start + f.len);
}

export interface RenewalInfo {
  suggestedWindow: { start: Date; end: Date };
  explanationURL?: string;
  /** seconds until the client should ask again, clamped to 1 min … 1 day (RFC 9773 §4.3) */
  retryAfterSec: number;
  certId: string;
}

// The RFC 9773 bounds and clamp of retryAfterSec are core/retry.ts's clampAriRetryAfterSec, the one rule the
// renewal scheduler applies too.

export interface AriConnection {
  directoryUrl: string;
  caBundlePem?: string | undefined;
  timeoutMs: number;
}

/**
 * GET {renewalInfo}/{certID} (unauthenticated, §4.2). undefined when the directory advertises no renewalInfo
 * (Debian Pebble 2.4, CAs without ARI): the caller falls back to the lifetime rule.
 */
export async function getRenewalInfo(
  deps: { clock: Clock; logger: Logger },
  conn: AriConnection,
  certPem: string,
  signal?: AbortSignal,
): Promise<RenewalInfo | undefined> {
  const id = certId(certPem);
  const ctx = newContext({ caBundlePem: conn.caBundlePem, timeoutMs: conn.timeoutMs, signal });
  const dir = await fetchDirectory(ctx, conn.directoryUrl);
  if (!dir.renewalInfo) {
    deps.logger.debug('acme directory has no renewalInfo (no ARI)', { directoryUrl: conn.directoryUrl });
    return undefined;
  }
  const url = `${dir.renewalInfo.replace(/\/+$/, '')}/${id}`;
  const r = await getJson(ctx, url, 'renewalInfo');
  const wait = retryAfterMs(r.retryAfter, deps.clock.now());
  if (r.status !== 200) {
    throw new AgentError({
      code: r.status >= 500 ? 'ACME_SERVER_ERROR' : r.status === 404 ? 'ACME_ARI_NOT_FOUND' : 'ACME_ARI_FAILED',
      component: 'acme.ari',
      message: `GET ${url} returned ${r.status}`,
      hint:
        r.status === 404
          ? 'the CA does not know this certificate (another CA, or a test CA that restarted)'
          : 'renewal falls back to the lifetime rule; ARI is asked again later',
      details: {
        status: r.status,
        certId: id,
        retryAfterSec: clampAriRetryAfterSec(wait === undefined ? undefined : wait / 1000),
        retryable: r.status >= 500,
      },
    });
  }
  const body = r.body as { suggestedWindow?: { start?: unknown; end?: unknown }; explanationURL?: unknown } | undefined;
  const start = typeof body?.suggestedWindow?.start === 'string' ? new Date(body.suggestedWindow.start) : undefined;
  const end = typeof body?.suggestedWindow?.end === 'string' ? new Date(body.suggestedWindow.end) : undefined;
  // §4.2: a window whose end is not after its start is invalid; treat it as no answer
  if (!start || !end || Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end.getTime() <= start.getTime()) {
    throw new AgentError({
      code: 'ACME_ARI_INVALID',
      component: 'acme.ari',
      message: `renewalInfo for ${id} has no valid suggestedWindow`,
      hint: 'the CA sent a malformed ARI answer; renewal falls back to the lifetime rule',
      details: { certId: id, retryAfterSec: ARI_RETRY_DEFAULT_S, retryable: false },
    });
  }
  const info: RenewalInfo = {
    suggestedWindow: { start, end },
    retryAfterSec: clampAriRetryAfterSec(wait === undefined ? undefined : wait / 1000),
    certId: id,
  };
  if (typeof body?.explanationURL === 'string') info.explanationURL = body.explanationURL;
  return info;
}
