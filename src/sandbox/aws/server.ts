import { appendFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { AgentError, messageOf } from '../../core/errors.js';
import { isLoopbackHost } from '../../core/net.js';
import type { Logger } from '../../core/logger.js';
import { authorize } from './iam.js';
import { MemoryPrincipalRegistry } from './principals.js';
import { checkScope, verifySigV4 } from './sigv4.js';
import {
  AwsApiError,
  type AwsHttpRequest,
  type AwsHttpResponse,
  type AwsService,
  type CallRecord,
  type PolicyDocument,
  type Principal,
  type SandboxContext,
} from './types.js';

/**
 * The sandbox's one HTTP front for every AWS stand-in (Route 53, IAM Roles Anywhere, STS): it reads the request,
 * verifies SigV4 once, routes to the first service whose matches() accepts it, and records every answered call.
 * Admin endpoints live under /_sandbox/ (loopback peers only, unauthenticated, JSON).
 */

export interface ThrottleOptions {
  /** sustained requests per second, account-wide per service (Route 53's limit is 5) */
  ratePerSec?: number;
  /** bucket size; defaults to ratePerSec */
  burst?: number;
  /** the services the limit applies to (AwsService.name); default every service. AWS sets each quota per service. */
  services?: string[];
}

export interface AwsSandboxOptions {
  clock: Clock;
  logger?: Logger;
  /** region every regional service expects in the credential scope unless it says otherwise (default us-east-1) */
  region?: string;
  /** token-bucket rate limit; `false` disables it */
  throttle?: ThrottleOptions | false;
  /** append every CallRecord to this file as one JSON line */
  callLog?: string;
  /** allowed |X-Amz-Date - clock| (default 5 min, as AWS) */
  maxSkewMs?: number;
  principals?: MemoryPrincipalRegistry;
}

export interface AwsSandbox {
  addService(s: AwsService): void;
  /** starts the HTTP front; resolves to its base URL (http://127.0.0.1:PORT) */
  listen(port?: number, host?: string): Promise<string>;
  close(): Promise<void>;
  readonly principals: MemoryPrincipalRegistry;
  /** every answered API call, oldest first (the same records GET /_sandbox/calls returns) */
  readonly calls: CallRecord[];
  readonly url: string | undefined;
  resetCalls(): void;
  /** the same as POST /_sandbox/faults: returns the keys some part of the sandbox took */
  setFaults(f: Record<string, unknown>): string[];
  /** one request through the whole front without a socket */
  dispatch(req: AwsHttpRequest): Promise<AwsHttpResponse>;
}

const MAX_BODY = 1 << 20;

class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }
  take(now: number): boolean {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
      this.last = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

function json(status: number, body: unknown): AwsHttpResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body, null, 2) + '\n' };
}

function principalFromJson(b: Record<string, unknown>): Principal {
  return {
    ...(b as unknown as Principal),
    expiration: typeof b['expiration'] === 'string' ? new Date(b['expiration']) : undefined,
    policies: (b['policies'] as PolicyDocument[] | undefined) ?? [],
  };
}

export function createAwsSandbox(o: AwsSandboxOptions): AwsSandbox {
  const clock = o.clock;
  const region = o.region ?? 'us-east-1';
  const principals = o.principals ?? new MemoryPrincipalRegistry();
  const services: AwsService[] = [];
  const calls: CallRecord[] = [];
  const buckets = new Map<string, TokenBucket>();
  const rate = o.throttle === false ? undefined : (o.throttle?.ratePerSec ?? 5);
  const burst = o.throttle === false ? undefined : (o.throttle?.burst ?? rate);
  const limited = o.throttle === false ? undefined : o.throttle?.services;
  let throttleStorm = 0;
  let throttleStormService: string | undefined;
  // fault dateOffsetSeconds: the Date header runs this far from the sandbox's clock, as a host's clock would be off
  // against AWS's; only the header moves (SigV4 is still checked against the sandbox's clock), so a doctor run shows
  // exactly the clock check failing
  let dateOffsetMs = 0;
  let server: http.Server | undefined;
  let url: string | undefined;

  const record = (c: CallRecord) => {
    calls.push(c);
    if (o.callLog) appendFileSync(o.callLog, JSON.stringify(c) + '\n', { mode: 0o600 });
    o.logger?.debug('sandbox call', { service: c.service, action: c.action, status: c.status, errorCode: c.errorCode, principalArn: c.principalArn });
  };

  const admit = (service: string, p: Principal | undefined) => {
    if (throttleStorm > 0 && (throttleStormService === undefined || throttleStormService === service)) {
      throttleStorm--;
      throw new AwsApiError(400, 'Throttling', 'Rate exceeded');
    }
    if (rate === undefined || rate <= 0 || (limited && !limited.includes(service))) return;
    const key = `${service}:${p?.accountId ?? 'anonymous'}`;
    const now = clock.now().getTime();
    let b = buckets.get(key);
    if (!b) {
      b = new TokenBucket(rate, burst ?? rate, now);
      buckets.set(key, b);
    }
    if (!b.take(now)) throw new AwsApiError(400, 'Throttling', 'Rate exceeded');
  };

  const setFaults = (f: Record<string, unknown>): string[] => {
    const taken: string[] = [];
    if ('throttleStorm' in f) {
      throttleStorm = Number(f['throttleStorm']) || 0;
      throttleStormService = typeof f['throttleStormService'] === 'string' ? f['throttleStormService'] : undefined;
      taken.push('throttleStorm');
      if ('throttleStormService' in f) taken.push('throttleStormService');
    }
    if ('dateOffsetSeconds' in f) {
      const v = Number(f['dateOffsetSeconds']);
      if (!Number.isFinite(v)) {
        throw new AgentError({
          code: 'SANDBOX_FAULT_INVALID',
          component: 'sandbox',
          message: `dateOffsetSeconds ${JSON.stringify(f['dateOffsetSeconds'])} is not a number`,
          hint: 'seconds, positive (Date ahead of the host) or negative',
        });
      }
      dateOffsetMs = v * 1000;
      taken.push('dateOffsetSeconds');
    }
    for (const s of services) taken.push(...(s.applyFaults?.(f) ?? []));
    const unknown = Object.keys(f).filter((k) => !taken.includes(k));
    if (unknown.length) {
      throw new AgentError({
        code: 'SANDBOX_FAULT_UNKNOWN',
        component: 'sandbox',
        message: `unknown fault setting ${unknown.join(', ')}`,
        hint: 'see GET /_sandbox/faults for the settings',
      });
    }
    return taken;
  };

  async function admin(req: AwsHttpRequest): Promise<AwsHttpResponse> {
    if (!isLoopbackHost(req.remoteAddress)) return json(403, { error: 'Forbidden', message: 'the sandbox admin API answers loopback peers only' });
    const route = req.path.slice('/_sandbox/'.length).replace(/\/$/, '');
    let body: unknown;
    if (req.body.length) {
      try {
        body = JSON.parse(req.body.toString('utf8'));
      } catch (e) {
        return json(400, { error: 'InvalidJson', message: messageOf(e) });
      }
    }
    const b = (body ?? {}) as Record<string, unknown>;
    try {
      const key = `${req.method} ${route}`;
      switch (key) {
        case 'GET health':
          return json(200, { ok: true, services: services.map((s) => s.name) });
        case 'GET calls': {
          const svc = req.query.get('service');
          return json(200, svc ? calls.filter((c) => c.service === svc) : calls);
        }
        case 'POST reset-calls': {
          const n = calls.length;
          calls.length = 0;
          return json(200, { cleared: n });
        }
        case 'GET principals':
          return json(
            200,
            principals.list().map(({ secretAccessKey: _s, sessionToken: _t, ...rest }) => rest),
          );
        case 'POST principals': {
          // {name, accountId, policies} creates a user with fresh keys; a full Principal is stored as given
          if (typeof b['name'] === 'string' && !b['arn']) {
            const p = principals.createUser({
              accountId: String(b['accountId'] ?? '123456789012'),
              name: b['name'],
              policies: (b['policies'] as PolicyDocument[]) ?? [],
            });
            return json(200, p);
          }
          const p = principalFromJson(b);
          principals.add(p);
          return json(200, { arn: p.arn, accessKeyId: p.accessKeyId });
        }
        case 'POST principals/delete': {
          // DeleteAccessKey/DeleteUser: the key stops authenticating at once (tests remove the bootstrap key)
          const id = String(b['accessKeyId']);
          if (!principals.remove(id)) return json(404, { error: 'NoSuchEntity', message: `no principal with access key ${id}` });
          return json(200, { deleted: id });
        }
        case 'POST principals/policies':
          principals.setPolicies(String(b['accessKeyId']), (b['policies'] as PolicyDocument[]) ?? []);
          return json(200, { accessKeyId: b['accessKeyId'] });
        case 'GET faults':
          return json(
            200,
            Object.assign(
              { throttleStorm, throttleStormService: throttleStormService ?? null, dateOffsetSeconds: dateOffsetMs / 1000 },
              ...services.map((s) => s.faults?.() ?? {}),
            ),
          );
        case 'POST faults':
          return json(200, { applied: setFaults(b) });
      }
      const slash = route.indexOf('/');
      const svc = services.find((s) => s.name === route.slice(0, slash));
      if (slash > 0 && svc?.admin) return json(200, (await svc.admin(route.slice(slash + 1), req.method, body)) ?? {});
      return json(404, { error: 'NotFound', message: `no sandbox admin endpoint ${key}` });
    } catch (e) {
      if (e instanceof AgentError) return json(400, { error: e.code, message: e.message, hint: e.hint });
      throw e;
    }
  }

  async function dispatch(req: AwsHttpRequest): Promise<AwsHttpResponse> {
    const requestId = randomUUID();
    const started = clock.now();
    const withMeta = (r: AwsHttpResponse): AwsHttpResponse => ({
      ...r,
      // the SDKs correct their clock skew from Date, so it must come from the sandbox's clock
      headers: { 'x-amzn-requestid': requestId, date: new Date(clock.now().getTime() + dateOffsetMs).toUTCString(), ...r.headers },
    });
    if (req.path.startsWith('/_sandbox/')) return withMeta(await admin(req));
    const service = services.find((s) => s.matches(req));
    if (!service) {
      record({
        time: started.toISOString(),
        service: 'unknown',
        action: 'Unknown',
        status: 404,
        errorCode: 'UnknownOperation',
        detail: { method: req.method, path: req.path },
      });
      const msg = `The sandbox has no AWS service at ${req.method} ${req.path}`;
      return withMeta({
        status: 404,
        headers: { 'content-type': 'text/xml' },
        body: `<?xml version="1.0"?>\n<ErrorResponse><Error><Type>Sender</Type><Code>UnknownOperation</Code><Message>${msg.replace(/[<>&]/g, '')}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
      });
    }
    const outcome = await verifySigV4(req, { principals, now: started, ...(o.maxSkewMs === undefined ? {} : { maxSkewMs: o.maxSkewMs }) });
    let recorded = false;
    const ctx: SandboxContext = {
      clock,
      principals,
      requestId,
      record: (c) => {
        recorded = true;
        record(c);
      },
      authenticate: (_req, name, opts) => checkScope(outcome, name, opts?.region ?? region),
      authorize: (p, action, resource, context) => authorize(p, action, resource, context, { now: clock.now() }),
      admit,
    };
    let res: AwsHttpResponse;
    try {
      res = await service.handle(req, ctx);
    } catch (e) {
      o.logger?.error('sandbox service failed', { service: service.name, error: messageOf(e) });
      res = { status: 500, headers: { 'content-type': 'text/plain' }, body: `sandbox service ${service.name} failed: ${messageOf(e)}\n` };
    }
    if (!recorded) record({ time: started.toISOString(), service: service.name, action: 'Unknown', principalArn: outcome.principal?.arn, status: res.status });
    return withMeta(res);
  }

  async function onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > MAX_BODY) {
        res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end('request body too large\n');
        return;
      }
      chunks.push(c);
    }
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
    const out = await dispatch({
      method: req.method ?? 'GET',
      path: q < 0 ? rawUrl : rawUrl.slice(0, q),
      rawQuery: q < 0 ? '' : rawUrl.slice(q + 1),
      query: new URLSearchParams(q < 0 ? '' : rawUrl.slice(q + 1)),
      headers,
      body: Buffer.concat(chunks),
      remoteAddress: req.socket.remoteAddress ?? '',
    });
    const body = typeof out.body === 'string' ? Buffer.from(out.body, 'utf8') : out.body;
    res.writeHead(out.status, { ...out.headers, 'content-length': String(body.length) }).end(body);
  }

  return {
    addService: (s) => {
      services.push(s);
    },
    async listen(port = 0, host = '127.0.0.1') {
      server = http.createServer((req, res) => {
        onRequest(req, res).catch((e: unknown) => {
          o.logger?.error('sandbox request failed', { error: messageOf(e) });
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
          res.end();
        });
      });
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(port, host, () => resolve());
      });
      const a = server.address() as AddressInfo;
      url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
      o.logger?.info('sandbox AWS front listening', { url, services: services.map((s) => s.name) });
      return url;
    },
    async close() {
      const s = server;
      server = undefined;
      if (!s) return;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    principals,
    calls,
    get url() {
      return url;
    },
    resetCalls: () => {
      calls.length = 0;
    },
    setFaults,
    dispatch,
  };
}
