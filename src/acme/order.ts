import type { Clock } from '../core/clock.js';
import { AgentError, messageOf } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { pemCertificates } from '../core/pem.js';
import { clampRetryAfter, retry } from '../core/retry.js';
import type { DnsChallengeProvider } from '../dns/types.js';
import { openAccount } from './account.js';
import { chooseProfile, fetchDirectory } from './directory.js';
import { problemShortType, retryAfterMs, type AcmeProblem } from './problems.js';
import { createOrder, inContext, lastResponse, newContext, type Authorization, type Challenge, type Order } from './transport.js';

export interface AcmeSettings {
  directoryUrl: string;
  /** PEM trusted for the ACME server's TLS (acme.caBundle, e.g. Pebble's listener CA); default the system store */
  caBundlePem?: string | undefined;
  email?: string | undefined;
  termsOfServiceAgreed?: boolean | undefined;
  eab?: { kid: string; hmacKey: string } | undefined;
  profile?: string | undefined;
  /** <state.dir>/account/<directory-host>/ (accountDirFor) */
  accountDir: string;
  /** per HTTP request */
  timeoutMs: number;
  /** attempts per ACME step for transient failures (5xx, network, short Retry-After) */
  attempts: number;
  /** backoff base and cap between attempts; a Retry-After above the cap fails the step instead (ms) */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** first poll interval for pending/processing objects, doubled up to 5 s unless Retry-After says otherwise */
  pollIntervalMs?: number;
  /** give up waiting for validation/issuance after this long */
  pollTimeoutMs?: number;
}

export interface IssueRequest {
  csrPem: string;
  names: string[];
  /** RFC 9773 certID of the certificate this one replaces (ari.certId(oldPem)) */
  replaces?: string | undefined;
  signal?: AbortSignal | undefined;
}

export interface IssuedCertificate {
  /** the leaf only */
  certPem: string;
  /** the intermediates, leaf excluded */
  chainPem: string;
  fullchainPem: string;
  orderUrl: string;
  accountUrl: string;
  /** the profile the CA echoed in the order, if any */
  profile?: string;
  /** the certID sent as `replaces`, when it was sent */
  replaced?: string;
}

export interface IssueDeps {
  clock: Clock;
  logger: Logger;
  dns: DnsChallengeProvider;
}

const DEFAULT_RETRY_BASE_MS = 1000;
const DEFAULT_RETRY_MAX_MS = 30_000;
// First poll soon, then doubling to the cap: a CA that validates or issues within a few hundred ms (Pebble, and
// often Let's Encrypt) is seen at once, a slow one costs a few extra GETs at most; Retry-After overrides both.
const DEFAULT_POLL_INTERVAL_MS = 250;
const POLL_INTERVAL_CAP_MS = 5000;
const DEFAULT_POLL_TIMEOUT_MS = 5 * 60_000;

function aborted(signal: AbortSignal | undefined, where: string): AgentError {
  return new AgentError({
    code: 'ACME_ABORTED',
    component: 'acme',
    message: `certificate order aborted during ${where}`,
    cause: signal?.reason,
    details: { step: where, retryable: false },
  });
}

interface PendingChallenge {
  authz: Authorization;
  challenge: Challenge;
  fqdn: string;
  value: string;
}

/**
 * One ACME order over DNS-01 (RFC 8555 §7.4, §8.4), step by step rather than acme-client's auto(): auto() can send
 * neither `profile` nor `replaces`, runs apex and wildcard challenges concurrently against one TXT name, and polls
 * without honouring Retry-After. Every TXT value presented is cleaned up, on success, failure and abort alike.
 */
export async function issueCertificate(deps: IssueDeps, s: AcmeSettings, req: IssueRequest): Promise<IssuedCertificate> {
  const { clock, dns } = deps;
  const logger = deps.logger.child({ component: 'acme' });
  const signal = req.signal;
  const ctx = newContext({ caBundlePem: s.caBundlePem, timeoutMs: s.timeoutMs, signal });
  const maxMs = s.retryMaxMs ?? DEFAULT_RETRY_MAX_MS;
  const started = clock.now().getTime();

  const step = <T>(name: string, fn: () => Promise<T>): Promise<T> =>
    retry(
      async () => {
        if (signal?.aborted) throw aborted(signal, name);
        return inContext(ctx, name, fn);
      },
      {
        attempts: s.attempts,
        baseMs: s.retryBaseMs ?? DEFAULT_RETRY_BASE_MS,
        maxMs,
        clock,
        ...(signal ? { signal } : {}),
        retryable: (e) => retryVerdict(e, clock.now(), maxMs),
        onRetry: (e, attempt, delayMs) => logger.warn('acme request failed; retrying', { step: name, attempt, delayMs, error: messageOf(e) }),
      },
    ).catch((e: unknown) => {
      throw signal?.aborted && !(e instanceof AgentError) ? aborted(signal, name) : e;
    });

  const dir = await step('directory', () => fetchDirectory(ctx, s.directoryUrl));
  const profile = chooseProfile(dir, s.profile, s.directoryUrl);
  let replaces = req.replaces;
  if (replaces !== undefined && !dir.renewalInfo) {
    // RFC 9773 §5: send `replaces` only to a server that advertises renewalInfo
    logger.info('acme directory has no ARI; ordering without replaces', { replaces });
    replaces = undefined;
  }

  const account = await step('account', () =>
    openAccount(
      { logger, clock },
      { directoryUrl: s.directoryUrl, accountDir: s.accountDir, email: s.email, termsOfServiceAgreed: s.termsOfServiceAgreed, eab: s.eab },
      ctx,
    ),
  );
  const identifiers = req.names.map((value) => ({ type: 'dns' as const, value }));
  const payload = { identifiers, ...(profile ? { profile } : {}), ...(replaces ? { replaces } : {}) };
  let order: Order & { profile?: string };
  try {
    order = await step('newOrder', () => createOrder(account.client, payload));
  } catch (e) {
    if (!(e instanceof AgentError) || e.code !== 'ACME_ACCOUNT_MISSING' || account.created) throw e;
    logger.warn('acme account unknown to the CA; registering the stored key again', { accountUrl: account.accountUrl });
    await step('account', () => account.reRegister());
    order = await step('newOrder', () => createOrder(account.client, payload));
  }
  const client = account.client;
  logger.info('acme order created', { orderUrl: order.url, names: req.names, profile: order.profile ?? profile, replaces });

  const presented: { fqdn: string; value: string }[] = [];
  try {
    const authzs = await step('authorizations', () => client.getAuthorizations(order));
    const pending: PendingChallenge[] = [];
    for (const authz of authzs) {
      if (authz.status === 'valid') continue; // reused authorization (RFC 8555 §7.1.4)
      const name = `${authz.wildcard ? '*.' : ''}${authz.identifier.value}`;
      if (authz.status !== 'pending') {
        throw new AgentError({
          code: 'ACME_AUTHZ_INVALID',
          component: 'acme',
          message: `authorization for ${name} is ${authz.status}`,
          hint: 'order again; the CA gave up on this authorization',
          details: { authzUrl: authz.url },
        });
      }
      const challenge = authz.challenges.find((c) => c.type === 'dns-01');
      if (!challenge) {
        throw new AgentError({
          code: 'ACME_NO_DNS01',
          component: 'acme',
          message: `the CA offers no dns-01 challenge for ${name}`,
          hint: 'the agent validates over DNS-01 only; use a CA that offers it for this name',
        });
      }
      // RFC 8555 §8.4: the TXT value is base64url(SHA-256(keyAuthorization)); acme-client computes it for dns-01
      const value = await client.getChallengeKeyAuthorization(challenge);
      pending.push({ authz, challenge, fqdn: `_acme-challenge.${authz.identifier.value}`, value });
    }

    // Different names in parallel; values sharing one name (apex + wildcard) one after another, each added to the
    // record set by the provider, so a read-modify-write provider never races itself.
    const byName = new Map<string, PendingChallenge[]>();
    for (const p of pending) byName.set(p.fqdn, [...(byName.get(p.fqdn) ?? []), p]);
    const results = await Promise.allSettled(
      [...byName.values()].map(async (items) => {
        for (const it of items) {
          if (signal?.aborted) throw aborted(signal, 'dns-01 present');
          presented.push({ fqdn: it.fqdn, value: it.value });
          await dns.present(it.fqdn, it.value, signal);
        }
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw signal?.aborted && !(failed.reason instanceof AgentError) ? aborted(signal, 'dns-01 present') : failed.reason;
    if (pending.length) logger.info('dns-01 records published', { records: pending.length });

    for (const p of pending) await step('challenge', () => client.completeChallenge(p.challenge));

    order = await poll(order, ['pending'], 'validation');
    if (order.status === 'invalid') throw await challengeFailure(order);
    if (order.status === 'ready') {
      try {
        order = await step('finalize', () => client.finalizeOrder(order, req.csrPem));
      } catch (e) {
        // a retried finalize may find the first one went through (RFC 8555 §7.4: orderNotReady once processing)
        if (!(e instanceof AgentError) || e.code !== 'ACME_ORDER_NOT_READY') throw e;
        order = await step('order', () => client.getOrder(order));
        if (order.status !== 'processing' && order.status !== 'valid') throw e;
      }
    }
    order = await poll(order, ['processing', 'ready'], 'issuance');
    if (order.status !== 'valid') {
      const problem = order.error as AcmeProblem | undefined;
      throw new AgentError({
        code: 'ACME_ORDER_FAILED',
        component: 'acme',
        message: `order ${order.url} ended ${order.status}${problem?.detail ? `: ${problem.detail}` : ''}`,
        hint: 'the CA refused to issue; check the CSR (names, key type) and order again',
        details: { orderUrl: order.url, ...(problem?.type ? { problemType: problem.type } : {}) },
      });
    }
    const pem = await step('certificate', () => client.getCertificate(order));
    const blocks = pemCertificates(pem);
    if (blocks.length === 0) {
      throw new AgentError({
        code: 'ACME_CERT_INVALID',
        component: 'acme',
        message: `certificate download from ${order.certificate ?? order.url} held no PEM certificate`,
      });
    }
    const out: IssuedCertificate = {
      certPem: blocks[0]!,
      chainPem: blocks.slice(1).join(''),
      fullchainPem: blocks.join(''),
      orderUrl: order.url,
      accountUrl: account.accountUrl,
      ...(order.profile ? { profile: order.profile } : {}),
      ...(replaces ? { replaced: replaces } : {}),
    };
    logger.info('certificate issued', {
      orderUrl: order.url,
      names: req.names,
      profile: order.profile,
      durationMs: clock.now().getTime() - started,
      requests: ctx.stats.requests,
      badNonces: ctx.stats.badNonces,
    });
    return out;
  } finally {
    for (const p of presented) {
      try {
        await dns.cleanup(p.fqdn, p.value);
      } catch (e) {
        // never hide the order's own outcome behind a cleanup failure; a stale TXT value is harmless but untidy
        logger.warn('dns-01 cleanup failed', { fqdn: p.fqdn, error: messageOf(e) });
      }
    }
  }

  /** Polls the order while its status is in `waiting`, honouring Retry-After (capped) between polls. */
  async function poll(current: Order, waiting: string[], what: string): Promise<Order> {
    const deadline = clock.now().getTime() + (s.pollTimeoutMs ?? DEFAULT_POLL_TIMEOUT_MS);
    let interval = s.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    let o = current;
    let hinted = lastResponse(ctx)?.retryAfter;
    while (waiting.includes(o.status)) {
      const serverWait = retryAfterMs(hinted, clock.now());
      const wait = clampRetryAfter(serverWait ?? interval, 0, maxMs);
      if (clock.now().getTime() + wait > deadline) {
        throw new AgentError({
          code: 'ACME_TIMEOUT',
          component: 'acme',
          message: `order ${o.url} still ${o.status} after ${Math.round((s.pollTimeoutMs ?? DEFAULT_POLL_TIMEOUT_MS) / 1000)} s of ${what}`,
          hint: 'the CA is slow to validate or issue; run again later (the order is resumed from scratch)',
          details: { orderUrl: o.url, retryable: true },
        });
      }
      try {
        await clock.sleep(wait, signal);
      } catch {
        throw aborted(signal, what);
      }
      interval = Math.min(interval * 2, POLL_INTERVAL_CAP_MS);
      const prev = o;
      o = await step('order', () => client.getOrder(prev));
      hinted = lastResponse(ctx)?.retryAfter;
    }
    return o;
  }

  async function challengeFailure(o: Order): Promise<AgentError> {
    const authzs = await step('authorizations', () => client.getAuthorizations(o));
    const failures = authzs
      .filter((a) => a.status === 'invalid')
      .map((a) => {
        const ch = a.challenges.find((c) => c.type === 'dns-01') as (Challenge & { error?: AcmeProblem }) | undefined;
        return { name: `${a.wildcard ? '*.' : ''}${a.identifier.value}`, problem: ch?.error };
      });
    const text = failures.map((f) => `${f.name}: ${f.problem?.detail ?? problemShortType(f.problem?.type) ?? 'invalid'}`).join('; ');
    const dnsHint = failures.some((f) => problemShortType(f.problem?.type) === 'dns');
    return new AgentError({
      code: 'ACME_CHALLENGE_FAILED',
      component: 'acme',
      message: `dns-01 validation failed: ${text || `order ${o.url} is invalid`}`,
      hint: dnsHint
        ? 'the CA could not resolve the _acme-challenge record: check the hosted zone and its NS delegation'
        : 'the CA did not find the expected TXT value at _acme-challenge: check that nothing else rewrites the record and that the zone is the one the public DNS serves',
      details: { orderUrl: o.url, failures: failures.map((f) => ({ name: f.name, type: f.problem?.type, detail: f.problem?.detail })) },
    });
  }
}

function retryVerdict(e: unknown, now: Date, maxMs: number): boolean | { afterMs: number } {
  if (!(e instanceof AgentError) || e.details?.['retryable'] !== true) return false;
  const wait = retryAfterMs(e.details['retryAfter'] as string | undefined, now);
  if (wait === undefined) return true;
  // a Retry-After longer than our cap (rate limits: hours) fails now and is reported; the scheduler honours it
  return wait > maxMs ? false : { afterMs: wait };
}
