import * as acme from 'acme-client';
import { AsyncLocalStorage } from 'node:async_hooks';
import https from 'node:https';
import { AgentError } from '../core/errors.js';
import { problemError, networkError, type CapturedResponse } from './problems.js';

/**
 * The only module that imports acme-client. It owns acme-client's shared axios instance and changes two things:
 *
 * 1. acme-client's transport retry is removed. It retries 429/5xx up to 5 times and sleeps for whatever Retry-After
 *    says, unbounded: a Let's Encrypt rateLimited answer would stall a run for hours. Retries are scheduled by the
 *    agent instead (capped, jittered; core/retry.ts). badNonce retries live in acme-client's signedRequest layer and
 *    stay (RFC 8555 §6.5).
 * 2. Every HTTP response is captured into the per-call context, because acme-client throws bare `Error(detail)`:
 *    the problem type, HTTP status and Retry-After needed for decisions would otherwise be lost.
 *
 * Per-call settings (TLS trust for the ACME server, timeout, abort signal) travel in an AsyncLocalStorage context
 * rather than process-global state such as NODE_EXTRA_CA_CERTS.
 */

export type { Authorization, Order } from 'acme-client';
export type AcmeClient = acme.Client;
export type Challenge = acme.Authorization['challenges'][number];

export interface TransportContext {
  agent: https.Agent | undefined;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  /** the most recent response of this context when it was an error (status >= 400); cleared by a success */
  lastError?: CapturedResponse;
  /** the most recent response of this context */
  last?: CapturedResponse;
  /** shared by every scope of one operation: request count and badNonce answers (retried by acme-client) */
  stats: { requests: number; badNonces: number };
}

const als = new AsyncLocalStorage<TransportContext>();

/** A request that got no HTTP response (refused, reset, TLS, timeout, abort); mapped once the step is known. */
class NetworkFailure extends Error {
  constructor(
    readonly original: unknown,
    readonly url: string,
    readonly method: string,
  ) {
    super(original instanceof Error ? original.message : String(original));
  }
}

interface AxiosLikeConfig {
  url?: string;
  method?: string;
  httpsAgent?: unknown;
  timeout?: number;
  signal?: AbortSignal;
  retryValidateStatus?: ((status: number) => boolean) | null;
}
interface AxiosLikeResponse {
  status: number;
  headers: Record<string, unknown>;
  data: unknown;
  config: AxiosLikeConfig;
}

function capture(resp: AxiosLikeResponse): CapturedResponse {
  const h = (name: string) => {
    const v = resp.headers[name];
    return typeof v === 'string' ? v : Array.isArray(v) ? String(v[0]) : undefined;
  };
  const data = resp.data;
  const problem =
    data && typeof data === 'object' && typeof (data as { type?: unknown }).type === 'string' && resp.status >= 400
      ? (data as CapturedResponse['problem'])
      : undefined;
  return {
    url: resp.config.url ?? '',
    method: (resp.config.method ?? 'get').toUpperCase(),
    status: resp.status,
    retryAfter: h('retry-after'),
    ...(problem ? { problem } : {}),
    body: data,
  };
}

let installed = false;
function install(): void {
  if (installed) return;
  installed = true;
  const ax = acme.axios;
  (ax.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } }).acmeSettings.retryMaxAttempts = 0;
  // acme-client's request interceptor stays: it routes every response through the rejection path and keeps the
  // caller's validateStatus as config.retryValidateStatus. Its response interceptor (the retry loop) is replaced.
  ax.interceptors.response.clear();
  ax.interceptors.request.use((config) => {
    const ctx = als.getStore();
    if (ctx) {
      if (ctx.agent) config.httpsAgent = ctx.agent;
      config.timeout = ctx.timeoutMs;
      if (ctx.signal) config.signal = ctx.signal;
      ctx.stats.requests++;
    }
    return config;
  });
  ax.interceptors.response.use(
    (resp) => {
      record(resp as unknown as AxiosLikeResponse);
      return resp;
    },
    (error: unknown) => {
      const e = error as { response?: AxiosLikeResponse; config?: AxiosLikeConfig; isAxiosError?: boolean };
      // Every caller here (acme-client's HttpClient, getJson) passes validateStatus: null and judges the
      // status itself, so any response is a resolved response.
      if (e.response) {
        record(e.response);
        return e.response;
      }
      throw new NetworkFailure(error, e.config?.url ?? '', (e.config?.method ?? 'get').toUpperCase());
    },
  );
}

function record(resp: AxiosLikeResponse): AxiosLikeResponse {
  const ctx = als.getStore();
  if (ctx) {
    const c = capture(resp);
    ctx.last = c;
    if (c.problem?.type === 'urn:ietf:params:acme:error:badNonce') ctx.stats.badNonces++;
    if (c.status >= 400) ctx.lastError = c;
    else delete ctx.lastError;
  }
  return resp;
}

export interface TransportOptions {
  caBundlePem?: string | undefined;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

export function newContext(o: TransportOptions): TransportContext {
  install();
  return {
    agent: o.caBundlePem ? new https.Agent({ ca: o.caBundlePem }) : undefined,
    timeoutMs: o.timeoutMs,
    signal: o.signal,
    stats: { requests: 0, badNonces: 0 },
  };
}

/**
 * Runs fn inside a fresh capture scope of ctx and turns whatever acme-client throws into an AgentError carrying the
 * ACME problem, status and Retry-After of the response that caused it.
 */
export async function inContext<T>(ctx: TransportContext, step: string, fn: () => Promise<T>): Promise<T> {
  const scoped: TransportContext = { ...ctx };
  delete scoped.lastError;
  delete scoped.last;
  try {
    const out = await als.run(scoped, fn);
    if (scoped.last) ctx.last = scoped.last;
    return out;
  } catch (e) {
    if (e instanceof AgentError) throw e;
    if (e instanceof NetworkFailure) throw networkError(e.original, step, e.method, e.url);
    if (scoped.lastError) throw problemError(scoped.lastError, step, e);
    throw new AgentError({
      code: 'ACME_CLIENT',
      component: 'acme',
      message: `${step}: ${e instanceof Error ? e.message : String(e)}`,
      hint: 'an unexpected answer from the ACME server; run with --log-level debug and check the directory URL',
      cause: e,
      details: { step },
    });
  }
}

/** The last response of the most recent successful inContext() call on ctx (Retry-After of a poll). */
export function lastResponse(ctx: TransportContext): CapturedResponse | undefined {
  return ctx.last;
}

/** Unauthenticated GET (directory, ARI renewalInfo) through the same transport and trust settings. */
export async function getJson(ctx: TransportContext, url: string, step: string): Promise<{ status: number; body: unknown; retryAfter: string | undefined }> {
  let out: { status: number; body: unknown; retryAfter: string | undefined } | undefined;
  await inContext(ctx, step, async () => {
    const resp = (await acme.axios.request({
      url,
      method: 'get',
      validateStatus: null,
      headers: { Accept: 'application/json' },
    })) as unknown as AxiosLikeResponse;
    const c = capture(resp);
    out = { status: c.status, body: c.body, retryAfter: c.retryAfter };
  });
  return out!;
}

export function createClient(o: {
  directoryUrl: string;
  accountKeyPem: string;
  accountUrl?: string | undefined;
  eab?: { kid: string; hmacKey: string } | undefined;
}): acme.Client {
  install();
  return new acme.Client({
    directoryUrl: o.directoryUrl,
    accountKey: o.accountKeyPem,
    ...(o.accountUrl ? { accountUrl: o.accountUrl } : {}),
    ...(o.eab ? { externalAccountBinding: o.eab } : {}),
  });
}

/**
 * newOrder with the fields acme-client 5.4 does not type: `profile` (draft-ietf-acme-profiles) and `replaces`
 * (RFC 9773 §5). acme-client passes the payload through unchanged.
 */
export function createOrder(client: acme.Client, payload: { identifiers: { type: 'dns'; value: string }[]; profile?: string; replaces?: string }) {
  return client.createOrder(payload as Parameters<acme.Client['createOrder']>[0]) as Promise<acme.Order & { profile?: string; replaces?: string }>;
}

export const LETSENCRYPT_STAGING = acme.directory.letsencrypt.staging;
export const LETSENCRYPT_PRODUCTION = acme.directory.letsencrypt.production;
