import { AgentError } from '../core/errors.js';

/** RFC 7807 problem document as ACME servers send it (RFC 8555 §6.7). */
export interface AcmeProblem {
  type: string;
  detail?: string;
  status?: number;
  subproblems?: { type: string; detail?: string; identifier?: { type: string; value: string } }[];
}

export interface CapturedResponse {
  url: string;
  method: string;
  status: number;
  /** raw Retry-After header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3) */
  retryAfter: string | undefined;
  problem?: AcmeProblem;
  body: unknown;
}

const ACME_NS = 'urn:ietf:params:acme:error:';

/** problem type (without the ACME namespace) → stable code and what to do about it */
const PROBLEMS: Record<string, { code: string; hint: string; retryable?: boolean }> = {
  rateLimited: {
    code: 'ACME_RATE_LIMITED',
    hint: "the CA rate-limited this request: wait until the Retry-After time (renewals that send ARI `replaces` inside the window are exempt at Let's Encrypt)",
    retryable: true,
  },
  unauthorized: {
    code: 'ACME_UNAUTHORIZED',
    hint: 'the CA refused this account or request: check the EAB kid/HMAC key (acme.eab) and that the account belongs to this directory',
  },
  invalidProfile: { code: 'ACME_INVALID_PROFILE', hint: 'pick a profile the directory advertises in meta.profiles (acme.profile)' },
  alreadyReplaced: {
    code: 'ACME_ALREADY_REPLACED',
    hint: 'the predecessor certificate already has a replacement order (RFC 9773 §5); order without `replaces`, or renew from the newest certificate',
  },
  externalAccountRequired: { code: 'ACME_EAB_REQUIRED', hint: 'this CA requires External Account Binding: set acme.eab.kid and acme.eab.hmacKeyFile' },
  accountDoesNotExist: { code: 'ACME_ACCOUNT_MISSING', hint: 'the CA no longer knows the stored account; it is registered again on the next run' },
  userActionRequired: {
    code: 'ACME_USER_ACTION_REQUIRED',
    hint: 'the CA needs an action on the account (usually new terms of service): review them and set acme.termsOfServiceAgreed: true',
  },
  badNonce: { code: 'ACME_BAD_NONCE', hint: 'the CA kept rejecting nonces; retry later', retryable: true },
  serverInternal: { code: 'ACME_SERVER_ERROR', hint: 'the CA had an internal error; the agent retries with backoff, or retry later', retryable: true },
  badCSR: { code: 'ACME_BAD_CSR', hint: 'the CA refused the CSR: check the key type (RSA 2048-4096, ECDSA P-256/P-384) and the names' },
  badPublicKey: { code: 'ACME_BAD_CSR', hint: 'the CA refused the key: use RSA 2048-4096 or ECDSA P-256/P-384, and never the account key' },
  rejectedIdentifier: { code: 'ACME_REJECTED_IDENTIFIER', hint: 'the CA will not issue for this name (policy or blocklist)' },
  caa: { code: 'ACME_CAA', hint: 'a CAA record forbids this CA: add the CA to the CAA record of the domain' },
  dns: { code: 'ACME_CHALLENGE_FAILED', hint: 'the CA could not resolve the _acme-challenge record: check the hosted zone and its delegation' },
  incorrectResponse: {
    code: 'ACME_CHALLENGE_FAILED',
    hint: 'the CA saw a different TXT value than expected: check that nothing else overwrites _acme-challenge records',
  },
  unauthorizedChallenge: { code: 'ACME_CHALLENGE_FAILED', hint: 'challenge validation failed' },
  connection: { code: 'ACME_CHALLENGE_FAILED', hint: 'the CA could not reach the validation target' },
  malformed: { code: 'ACME_MALFORMED', hint: 'the CA rejected the request as malformed; this is a client bug or an incompatible CA' },
  orderNotReady: { code: 'ACME_ORDER_NOT_READY', hint: 'the order was finalized before all authorizations were valid' },
};

export function problemShortType(type: string | undefined): string | undefined {
  return type?.startsWith(ACME_NS) ? type.slice(ACME_NS.length) : type;
}

export function problemError(r: CapturedResponse, step: string, cause?: unknown): AgentError {
  const short = problemShortType(r.problem?.type);
  const known = short ? PROBLEMS[short] : undefined;
  const code = known?.code ?? (r.status >= 500 ? 'ACME_SERVER_ERROR' : r.status === 429 ? 'ACME_RATE_LIMITED' : 'ACME_PROBLEM');
  const detail = r.problem?.detail ?? plainBody(r.body) ?? `HTTP ${r.status}`;
  const sub = r.problem?.subproblems?.map((s) => `${s.identifier?.value ?? '?'}: ${s.detail ?? s.type}`).join('; ');
  const hint =
    known?.hint ??
    (r.status >= 500
      ? 'the CA is failing or overloaded; the agent retries with backoff, or retry later'
      : 'see the problem detail; run with --log-level debug for the request');
  return new AgentError({
    code,
    component: 'acme',
    message: `${step}: ${detail}${sub ? ` (${sub})` : ''} [${r.method} ${r.url} → ${r.status}${short ? ` ${short}` : ''}]`,
    hint: r.retryAfter ? `${hint} (Retry-After: ${r.retryAfter})` : hint,
    ...(cause === undefined ? {} : { cause }),
    details: {
      step,
      status: r.status,
      ...(r.problem?.type ? { problemType: r.problem.type } : {}),
      ...(r.retryAfter ? { retryAfter: r.retryAfter } : {}),
      url: r.url,
      retryable: known?.retryable ?? r.status >= 500,
    },
  });
}

/**
 * A body that is not a problem document (RFC 7807) — typically a proxy's or load balancer's HTML error page — as one
 * short line of text for the message, or undefined when it says nothing useful.
 */
function plainBody(body: unknown): string | undefined {
  if (typeof body !== 'string') return undefined;
  const text = body
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return text && text.length < 200 ? text : undefined;
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
]);

/** A request that got no HTTP response at all. */
export function networkError(e: unknown, step: string, method: string, url: string): AgentError {
  const code = (e as { code?: string }).code ?? '';
  const msg = e instanceof Error ? e.message : String(e);
  const at = `[${method} ${url}]`;
  if (code === 'ERR_CANCELED') {
    return new AgentError({ code: 'ACME_ABORTED', component: 'acme', message: `${step}: aborted ${at}`, cause: e, details: { step, retryable: false } });
  }
  if (TLS_CODES.has(code)) {
    return new AgentError({
      code: 'ACME_TLS',
      component: 'acme',
      message: `${step}: TLS verification of the ACME server failed: ${code} ${at}`,
      hint: 'the ACME server certificate is not trusted: for a private or test CA (Pebble) set acme.caBundle to its PEM; when acme.caBundle is set, that file does not hold the CA that signed this server certificate',
      cause: e,
      details: { step, errorCode: code, retryable: false },
    });
  }
  const timeout = code === 'ECONNABORTED' || code === 'ETIMEDOUT';
  return new AgentError({
    code: timeout ? 'ACME_TIMEOUT' : 'ACME_CONNECT',
    component: 'acme',
    message: `${step}: ${timeout ? 'timed out' : `cannot reach the ACME server (${code || msg})`} ${at}`,
    hint: timeout
      ? 'the ACME server did not answer within acme.timeout; retry later or raise it'
      : 'check the network path to the ACME directory (proxy, firewall, DNS) and acme.directory',
    cause: e,
    details: { step, errorCode: code, retryable: true },
  });
}

/** Retry-After (delay-seconds or HTTP-date) as milliseconds from now; undefined when absent or unparsable. */
export function retryAfterMs(raw: string | undefined, now: Date): number | undefined {
  if (raw === undefined) return undefined;
  const v = raw.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now.getTime());
}
