import { AgentError, isAgentError, messageOf } from '../../core/errors.js';

/**
 * What a failed Route 53 call means, decided from the SDK's structured error fields only (the exception's `name`,
 * which the SDK sets to the AWS error code, an unmodelled error's `Code`, `$metadata.httpStatusCode`, `$retryable`,
 * a network error's `code`), never from message text: AWS rewords messages, it does not rename codes.
 */

export const COMPONENT = 'route53';
const POLICY_HINT = 'grant the policy printed by `iamra-agent policy route53` to the credentials used for Route 53';

/** One API call, for messages and log fields: what a failure stopped us doing. */
export interface CallSite {
  action: string;
  zoneId?: string;
  record?: string;
  doing: string;
}

/** Runs one API call with the provider's backoff and turns its failure into an AgentError. */
export type Caller = <T>(site: CallSite, send: (options: { abortSignal?: AbortSignal }) => Promise<T>, signal?: AbortSignal) => Promise<T>;

export const DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'NotAuthorizedException']);
/** the account's request rate (Route 53: 5/s, shared by every client in the account) or a change still in progress */
const THROTTLED = new Set(['Throttling', 'ThrottlingException', 'PriorRequestNotComplete', 'RequestLimitExceeded', 'TooManyRequestsException']);
const TRANSIENT = new Set([...THROTTLED, 'ServiceUnavailable', 'InternalFailure', 'InternalError', 'RequestTimeout', 'TimeoutError']);
const TRANSIENT_NET = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'EAI_AGAIN']);
/** names of @smithy/property-provider's errors: the credential chain found nothing usable */
const NO_CREDENTIALS = new Set(['CredentialsProviderError', 'ProviderError']);

interface SdkErrorFields {
  name?: unknown;
  Code?: unknown;
  code?: unknown;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
  cause?: { code?: unknown };
}

function fields(e: unknown): SdkErrorFields {
  return e && typeof e === 'object' ? (e as SdkErrorFields) : {};
}

/** The AWS error code of an SDK exception, or a Node network error's code; '' when there is none. */
export function errorName(e: unknown): string {
  const o = fields(e);
  if (typeof o.Code === 'string') return o.Code;
  if (typeof o.name === 'string' && o.name !== 'Error') return o.name;
  return typeof o.code === 'string' ? o.code : '';
}

/** An answer from the service (it carries response metadata), as opposed to a local or network failure. */
function isServiceError(e: unknown): boolean {
  return fields(e).$metadata !== undefined;
}

function isAbort(e: unknown): boolean {
  return e instanceof Error && e.name === 'AbortError';
}

/**
 * Refused for the account's request rate: waiting helps for as long as the other clients keep the account busy, so
 * these are retried for a time budget, not a number of attempts (a fleet renewing at once queues up on 5 requests/s).
 */
export function isThrottled(e: unknown): boolean {
  if (isAgentError(e) || isAbort(e)) return false;
  return THROTTLED.has(errorName(e)) || fields(e).$metadata?.httpStatusCode === 429;
}

/** Throttled, busy, 5xx or a dropped connection: worth another attempt. */
export function isTransient(e: unknown): boolean {
  if (isAgentError(e) || isAbort(e)) return false;
  if (TRANSIENT.has(errorName(e))) return true;
  const o = fields(e);
  if (o.$retryable) return true;
  const status = o.$metadata?.httpStatusCode;
  if (status !== undefined && (status === 429 || status >= 500)) return true;
  return TRANSIENT_NET.has(String(o.code ?? '')) || TRANSIENT_NET.has(String(o.cause?.code ?? ''));
}

/** The AgentError for a call that failed for good (after `attempts` tries over `elapsedMs` when it was transient). */
export function translate(e: unknown, site: CallSite, attempts: number, elapsedMs?: number): unknown {
  if (isAgentError(e) || isAbort(e)) return e;
  const code = errorName(e);
  const aws = messageOf(e);
  const base = { component: COMPONENT, cause: e, details: { action: site.action, zoneId: site.zoneId, record: site.record, awsCode: code } };
  if (DENIED.has(code)) {
    return new AgentError({ ...base, code: 'ROUTE53_ACCESS_DENIED', message: `${code}: not allowed to ${site.doing}: ${aws}`, hint: POLICY_HINT });
  }
  if (code === 'NoSuchHostedZone') {
    return new AgentError({
      ...base,
      code: 'ROUTE53_NO_SUCH_ZONE',
      message: `hosted zone ${site.zoneId ?? '?'} does not exist (${site.doing}): ${aws}`,
      hint: 'check dns.route53.hostedZoneId, or remove it to look the zone up by name',
    });
  }
  if (code === 'InvalidChangeBatch') {
    return new AgentError({
      ...base,
      code: 'ROUTE53_INVALID_CHANGE',
      message: `Route 53 rejected the change to TXT ${site.record ?? '?'} in zone ${site.zoneId ?? '?'}: ${aws}`,
    });
  }
  if (TRANSIENT.has(code)) {
    return new AgentError({
      ...base,
      code: 'ROUTE53_THROTTLED',
      message: `still throttled or busy after ${attempts} attempts${elapsedMs === undefined ? '' : ` over ${(elapsedMs / 1000).toFixed(1)} s`} to ${site.doing}: ${aws}`,
      hint: 'another client is using the Route 53 API rate (5 requests/s per account); retry later',
    });
  }
  if (!isServiceError(e) && NO_CREDENTIALS.has(code)) {
    return new AgentError({
      ...base,
      code: 'ROUTE53_NO_CREDENTIALS',
      message: `no AWS credentials to ${site.doing}: ${aws}`,
      hint: 'provide Route 53 credentials (AWS_* environment, dns.route53.profile, credential_process or web identity)',
    });
  }
  return new AgentError({ ...base, code: 'ROUTE53_API_ERROR', message: `failed to ${site.doing}: ${code ? `${code}: ` : ''}${aws}` });
}
