import type { X509Certificate } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { AgentError, messageOf } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { AwsCredentials } from '../core/provider.js';
import { retry } from '../core/retry.js';
import type { KeyHandle } from '../keys/types.js';
import { checkBeforeCreateSession, parseCertificates, parseLeaf, type CheckedArns } from './checks.js';
import { CREATE_SESSION_PATH, signCreateSession } from './sign.js';
import { post, type PostResult } from './transport.js';

const component = 'rolesanywhere';

export interface CreateSessionDeps {
  clock: Clock;
  logger: Logger;
  /** defaults to transport.ts `post` (node:http/https) */
  post?: typeof post;
  /** jitter source for the retry backoff (tests pin it) */
  random?: () => number;
}

export interface CreateSessionInput {
  /** the leaf certificate, PEM */
  certPem: string;
  /** intermediates, PEM, issuer of the leaf first; may be empty; a copy of the leaf in it is dropped */
  chainPem: string;
  key: KeyHandle;
  trustAnchorArn: string;
  profileArn: string;
  roleArn: string;
  /** 900-43200 */
  durationSeconds: number;
  roleSessionName?: string;
  /** service origin, e.g. resolveEndpoint(...).url */
  endpoint: URL;
  /** signing region; default the trust anchor's region */
  region?: string;
  /** rolesAnywhere.withProxy / --with-proxy: through the proxy the environment names (transport.ts PostOptions) */
  withProxy?: boolean;
}

export interface CreateSessionOptions {
  /** total attempts, the first included (default 3) */
  attempts?: number;
  signal?: AbortSignal;
  /** per attempt, response body included (default 10 s) */
  timeoutMs?: number;
  /** backoff base and cap (defaults 500 ms and 5 s) */
  baseMs?: number;
  maxMs?: number;
}

/** What CreateSession vends: the credentials plus what the service says about the session. */
export interface SessionCredentials extends AwsCredentials {
  subjectArn?: string;
  /** arn:aws:sts::<acct>:assumed-role/<role>/<session> */
  assumedRoleArn?: string;
  sourceIdentity?: string;
}

/**
 * IAM Roles Anywhere CreateSession (iamra-protocol.md §2): local checks first (no network call for a mistake we
 * can see), then POST /sessions with the ARNs in the JSON body, signed AWS4-X509. Each attempt is signed afresh
 * with the clock's current time, so a retry after a backoff never replays a stale X-Amz-Date (§1.8 pitfall 6).
 * Throttling, 5xx, timeouts and network failures are retried; everything else fails at once with a hint.
 */
export async function createSession(deps: CreateSessionDeps, req: CreateSessionInput, opts: CreateSessionOptions = {}): Promise<SessionCredentials> {
  const doPost = deps.post ?? post;
  const leaf = parseLeaf(req.certPem, 'certificate');
  const leafDer = Buffer.from(leaf.raw);
  const chain = parseCertificates(req.chainPem, 'certificate chain').filter((c) => !Buffer.from(c.raw).equals(leafDer));
  const arns = await checkBeforeCreateSession({ ...req, leaf, chain, now: deps.clock.now() });
  const region = req.region ?? arns.region;
  const url = new URL(CREATE_SESSION_PATH, req.endpoint);
  // Serialised once: the signed payload hash is over exactly these bytes (§1.8 pitfall 1). Integers only (§2.2).
  const body = JSON.stringify({
    durationSeconds: req.durationSeconds,
    profileArn: req.profileArn,
    roleArn: req.roleArn,
    ...(req.roleSessionName === undefined ? {} : { roleSessionName: req.roleSessionName }),
    trustAnchorArn: req.trustAnchorArn,
  });
  const log = deps.logger.child({ component, endpoint: url.origin });
  const ctx: FailureContext = { url, arns, req, leaf, chain };

  const attempt = async (n: number): Promise<SessionCredentials> => {
    const signed = await signCreateSession({
      date: deps.clock.now(),
      region,
      host: url.host,
      body,
      leafDer,
      chainDer: chain.map((c) => Buffer.from(c.raw)),
      key: req.key,
    });
    const timeout = AbortSignal.timeout(opts.timeoutMs ?? 10_000);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    let res: PostResult;
    try {
      // the signed headers as signed, Host included (url.host: the port is part of it when not the default)
      res = await doPost(url, signed.headers, body, signal, req.withProxy ? { proxy: true } : {});
    } catch (e) {
      throw transportError(e, ctx, opts.signal, timeout, opts.timeoutMs ?? 10_000);
    }
    if (res.status >= 200 && res.status < 300) return parseSuccess(res.text, res.status, url);
    throw serviceError(res, { ...ctx, amzDate: signed.amzDate, attempt: n });
  };

  const creds = await retry(attempt, {
    attempts: opts.attempts ?? 3,
    baseMs: opts.baseMs ?? 500,
    maxMs: opts.maxMs ?? 5_000,
    clock: deps.clock,
    ...(deps.random ? { random: deps.random } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    retryable: (e) => {
      if (!(e instanceof AgentError) || e.details?.retryable !== true) return false;
      const after = e.details.retryAfterMs;
      return typeof after === 'number' ? { afterMs: after } : true;
    },
    onRetry: (e, n, delayMs) => log.warn('CreateSession failed; retrying', { attempt: n, delayMs, code: (e as AgentError).code, error: messageOf(e) }),
  });
  log.info('CreateSession succeeded', { roleArn: req.roleArn, subjectArn: creds.subjectArn, expiration: creds.expiration.toISOString() });
  return creds;
}

interface FailureContext {
  url: URL;
  arns: CheckedArns;
  req: CreateSessionInput;
  leaf: X509Certificate;
  chain: X509Certificate[];
}

function transportError(e: unknown, ctx: FailureContext, user: AbortSignal | undefined, timeout: AbortSignal, timeoutMs: number): AgentError {
  if (user?.aborted) {
    return new AgentError({ code: 'ABORTED', component, message: `CreateSession to ${ctx.url.host} was cancelled`, cause: e });
  }
  if (timeout.aborted) {
    return new AgentError({
      code: 'CREATE_SESSION_TIMEOUT',
      component,
      message: `CreateSession to ${ctx.url.host} did not answer within ${timeoutMs} ms`,
      hint: 'check network access to the endpoint (firewall, proxy, DNS)',
      cause: e,
      details: { retryable: true },
    });
  }
  // the proxy's own failures already name it and what to check (signer/proxy.ts)
  if (e instanceof AgentError) return e;
  // a socket error names its code in the message (connect ECONNREFUSED …); a TLS error does not (UNABLE_TO_VERIFY_LEAF_SIGNATURE)
  const code = (e as NodeJS.ErrnoException).code;
  const text = code && !messageOf(e).includes(code) ? `${code}: ${messageOf(e)}` : messageOf(e);
  return new AgentError({
    code: 'CREATE_SESSION_UNREACHABLE',
    component,
    message: `cannot reach ${ctx.url.origin}: ${text}`,
    hint: 'check the endpoint URL, DNS and that outbound HTTPS to it is allowed',
    cause: e,
    details: { retryable: true },
  });
}

/** §2.3: HTTP 201 with credentialSet[0].credentials; anything less is a failure, never empty credentials. */
function parseSuccess(text: string, status: number, url: URL): SessionCredentials {
  const bad = (why: string) =>
    new AgentError({
      code: 'CREATE_SESSION_BAD_RESPONSE',
      component,
      message: `CreateSession at ${url.host} answered ${status} but ${why}`,
      hint: 'the endpoint does not behave like IAM Roles Anywhere; check rolesAnywhere.endpoint',
    });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw bad('the body is not JSON');
  }
  const set = (doc as { credentialSet?: unknown })?.credentialSet;
  const first = Array.isArray(set) ? (set[0] as Record<string, unknown> | undefined) : undefined;
  const c = first?.credentials as Record<string, unknown> | undefined;
  if (!c) throw bad('credentialSet[0].credentials is missing');
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const accessKeyId = str(c.accessKeyId);
  const secretAccessKey = str(c.secretAccessKey);
  const sessionToken = str(c.sessionToken);
  const expiration = new Date(str(c.expiration) ?? 'invalid');
  if (!accessKeyId || !secretAccessKey || !sessionToken) throw bad('the credentials are incomplete');
  if (Number.isNaN(expiration.getTime())) throw bad(`expiration ${JSON.stringify(c.expiration)} is not a timestamp`);
  const subjectArn = str((doc as { subjectArn?: unknown }).subjectArn);
  const assumedRoleArn = str((first?.assumedRoleUser as { arn?: unknown } | undefined)?.arn);
  const sourceIdentity = str(first?.sourceIdentity);
  return {
    accessKeyId,
    secretAccessKey,
    sessionToken,
    expiration,
    ...(subjectArn ? { subjectArn } : {}),
    ...(assumedRoleArn ? { assumedRoleArn } : {}),
    ...(sourceIdentity ? { sourceIdentity } : {}),
  };
}

/**
 * restJson1 error: type from X-Amzn-ErrorType, else `__type`/`code` in the body, each stripped of a `…#` prefix
 * and `:…` suffix; message from `message`/`Message` (iamra-protocol.md §2.4, as the Go SDK resolves it).
 */
export function parseServiceError(header: (name: string) => string | undefined, text: string): { type: string | undefined; message: string } {
  let doc: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object') doc = parsed as Record<string, unknown>;
  } catch {
    // not JSON: the raw text is the message
  }
  const clean = (t: unknown) => (typeof t === 'string' && t !== '' ? t.split(':')[0]!.replace(/^.*#/, '') : undefined);
  const type = clean(header('x-amzn-errortype')) ?? clean(doc.__type) ?? clean(doc.code) ?? clean(doc.Code);
  const m = doc.message ?? doc.Message;
  const message = typeof m === 'string' ? m : text.trim().slice(0, 300);
  return { type, message };
}

function serviceError(res: PostResult, ctx: FailureContext & { amzDate: string; attempt: number }): AgentError {
  const { status } = res;
  const { type, message } = parseServiceError(res.header, res.text);
  const profileId = ctx.arns.profile.resource.split('/')[1];
  const base = `CreateSession at ${ctx.url.host} failed: HTTP ${status}${type ? ` ${type}` : ''}: ${message || '(no message)'}`;
  const details: Record<string, unknown> = {
    status,
    type,
    serviceMessage: message,
    requestId: res.header('x-amzn-requestid'),
    amzDate: ctx.amzDate,
    attempt: ctx.attempt,
  };
  const make = (code: string, hint: string, extra: Record<string, unknown> = {}) =>
    new AgentError({ code, component, message: base, hint, details: { ...details, ...extra } });
  const haystack = `${type ?? ''} ${message}`;

  if (/untrusted signing certificate/i.test(haystack)) {
    const sent = ctx.chain.length ? ctx.chain.map((c) => c.subject.replace(/\n/g, ', ')).join(' | ') : 'none';
    return make(
      'UNTRUSTED_CERTIFICATE',
      `check that trust anchor ${ctx.req.trustAnchorArn} holds the CA that issued the certificate (issuer ${ctx.leaf.issuer.replace(/\n/g, ', ')}) or its root, and that the chain sent links the leaf to it (sent: ${sent})`,
    );
  }
  if (/not authorized to set rolesessionname/i.test(haystack)) {
    return make(
      'ROLE_SESSION_NAME_NOT_ALLOWED',
      `enable acceptRoleSessionName on the profile (aws rolesanywhere update-profile --profile-id ${profileId} --accept-role-session-name) or remove rolesAnywhere.roleSessionName`,
    );
  }
  if (/failed to be mapped into session tags/i.test(haystack)) {
    return make(
      'SESSION_TAGS_FAILED',
      `remove the issuer attribute mapping from the profile (aws rolesanywhere delete-attribute-mapping --profile-id ${profileId} --certificate-field x509Issuer): the Let's Encrypt staging issuer name contains ', ( and ), which session tags do not allow`,
    );
  }
  if (/signature (has )?expired|not yet current|clock skew|too skewed|request (has )?expired/i.test(haystack)) {
    return make(
      'CLOCK_SKEW',
      `the request was signed at ${ctx.amzDate} (X-Amz-Date) and the service refused that time: check the system clock and NTP (timedatectl status, chronyc tracking)`,
    );
  }
  if (/invalid ?signature/i.test(haystack)) {
    return make(
      'INVALID_SIGNATURE',
      "the service computed a different signature: check that no proxy rewrites headers or body, and that the key is the certificate's key",
    );
  }
  if (status === 429 || /throttl|too ?many ?requests|rate exceeded/i.test(haystack)) {
    const after = Number(res.header('retry-after'));
    return make(
      'CREATE_SESSION_THROTTLED',
      'CreateSession is rate-limited per account and region, certificate and source IP; cache credentials rather than asking per request',
      {
        retryable: true,
        ...(Number.isFinite(after) && after > 0 ? { retryAfterMs: after * 1000 } : {}),
      },
    );
  }
  if (status >= 500)
    return make('CREATE_SESSION_SERVER_ERROR', 'a failure on the service side; it is retried, and later runs will try again', { retryable: true });
  if (type === 'ResourceNotFoundException' || status === 404) {
    return make('CREATE_SESSION_NOT_FOUND', `check the trust anchor and profile ARNs and that the endpoint serves their region (${ctx.arns.region})`);
  }
  if (type === 'ValidationException' || status === 400) {
    return make('CREATE_SESSION_INVALID', "check durationSeconds (at most the role's MaxSessionDuration) and the ARNs");
  }
  if (type === 'AccessDeniedException' || status === 403) {
    return make(
      'CREATE_SESSION_DENIED',
      `check that profile ${ctx.req.profileArn} lists role ${ctx.req.roleArn}, that the role's trust policy lets rolesanywhere.amazonaws.com call sts:AssumeRole, sts:TagSession and sts:SetSourceIdentity, and that trust anchor and profile are enabled`,
    );
  }
  return make('CREATE_SESSION_FAILED', 'see the service message');
}
