/**
 * The IMDS request handler: the IMDSv2 token and security-credentials routes (the subset AWS SDKs and the AWS CLI
 * use) and the container-credentials route. Every request passes the DNS-rebinding Host check and EC2's
 * X-Forwarded-For refusal first.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { Clock } from '../../core/clock.js';
import { formatError, isAgentError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { AwsCredentials, Provider } from '../../core/provider.js';
import { assertUsable, isoSeconds } from '../process.js';
import { hostAllowed } from './host.js';
import type { HotAnswer } from './hot-lane.js';
import type { TokenIssuer } from './tokens.js';

/** Path of the container-credentials endpoint (as EKS Pod Identity's http://169.254.170.23/v1/credentials). */
export const CONTAINER_CREDENTIALS_PATH = '/v1/credentials';

const TOKEN_PATH = '/latest/api/token';
const CREDS_PATH = '/latest/meta-data/iam/security-credentials';
const TTL_HEADER = 'X-aws-ec2-metadata-token-ttl-seconds';
/** at most one warning about refused Host headers per this interval: a page retrying in a loop must not flood logs */
const HOST_WARN_INTERVAL_MS = 60_000;

export interface RouteOptions {
  roles: Map<string, Provider<AwsCredentials>>;
  tokens: TokenIssuer;
  /** upper bound for the token TTL header */
  maxTtl: number;
  clock: Clock;
  logger: Logger;
  /** the container route is on only with a token; requests must carry exactly this value in Authorization */
  containerToken?: string;
  /** role served at /v1/credentials without a role segment */
  containerRole?: string;
  /** a unix socket has no address a client could name in Host: only `localhost` is accepted there */
  unixSocket: boolean;
}

/**
 * One answer. `length` is the body's byte length when it is already known (cached credential bodies); `header` is
 * the one extra header a route may add (Allow, or the token TTL), so no per-request header object is merged.
 */
interface Reply {
  status: number;
  type: string;
  body: string;
  length?: number;
  header?: readonly [string, string];
}

const text = (status: number, body: string, header?: readonly [string, string]): Reply => ({ status, type: 'text/plain', body, ...(header ? { header } : {}) });
const json = (status: number, body: unknown, header?: readonly [string, string]): Reply => ({
  status,
  type: 'application/json',
  body: JSON.stringify(body),
  ...(header ? { header } : {}),
});

/**
 * The routes, twice: `handle` (Node's request listener, every route) and `hot` (the hot lane's, imds/hot-lane.ts):
 * the common request, a credentials GET with a known token while the provider holds fresh credentials, answered
 * synchronously from memory as the complete response, or undefined for `handle` to answer. Both answer it from the
 * same body, built once per credentials object and second, after the same checks: Host, method, token (the lane
 * never passes on a request with X-Forwarded-For). Everything else (a refresh due, errors, other routes) takes
 * `handle`'s asynchronous path.
 */
export function imdsRoutes(o: RouteOptions): { handle: http.RequestListener; hot: HotAnswer } {
  const roleList = [...o.roles.keys()].join('\n');
  const container = o.containerToken !== undefined ? { token: o.containerToken, role: o.containerRole ?? [...o.roles.keys()][0] } : undefined;
  const bodies = credentialBodies();
  /** `<CREDS_PATH>/<role>` and with a trailing slash → the role: the paths SDKs ask for, matched without parsing */
  const rolePaths = new Map<string, string>();
  for (const role of o.roles.keys()) {
    rolePaths.set(`${CREDS_PATH}/${role}`, role);
    rolePaths.set(`${CREDS_PATH}/${role}/`, role);
  }
  let hostWarnedAt = Number.NEGATIVE_INFINITY;
  let hostRefused = 0;
  // The last Host/local-address pair hostAllowed accepted: clients send the same Host on every request, so the
  // parse runs once per distinct pair, not per request. Only an accepted pair is remembered.
  let okHost: string | undefined;
  let okLocal: string | undefined;

  const hostOk = (req: http.IncomingMessage): boolean => {
    const host = req.headers.host;
    const local = o.unixSocket ? undefined : req.socket.localAddress;
    if (host !== undefined && host === okHost && local === okLocal) return true;
    if (!hostAllowed(host, local)) return false;
    okHost = host;
    okLocal = local;
    return true;
  };

  const refuseHost = (req: http.IncomingMessage, p: string, now: number): Reply => {
    hostRefused++;
    if (now - hostWarnedAt >= HOST_WARN_INTERVAL_MS) {
      hostWarnedAt = now;
      o.logger.warn('imds request refused: Host is not this endpoint (DNS rebinding?)', {
        host: (req.headers.host ?? '(none)').slice(0, 100),
        path: p.slice(0, 100),
        refusedSinceLastWarning: hostRefused,
      });
      hostRefused = 0;
    }
    const message = 'Host must be localhost or the address this endpoint listens on';
    return p.startsWith(CONTAINER_CREDENTIALS_PATH) ? json(403, { Code: 'AccessDenied', Message: message }) : text(403, message);
  };

  const route = (req: http.IncomingMessage, p: string, now: number): Reply | Promise<Reply> => {
    if (!hostOk(req)) return refuseHost(req, p, now);
    // EC2 refuses proxied requests: a forwarding proxy on the host must not turn the endpoint into a remote one.
    if (req.headers['x-forwarded-for'] !== undefined) return text(400, 'unable to process requests with X-Forwarded-For header');
    if (p === TOKEN_PATH || p === `${TOKEN_PATH}/`) return tokenRoute(req);
    if (p === CREDS_PATH || p.startsWith(`${CREDS_PATH}/`)) return credentialsRoute(req, p, now);
    if (container && (p === CONTAINER_CREDENTIALS_PATH || p.startsWith(`${CONTAINER_CREDENTIALS_PATH}/`))) return containerRoute(req, p, container);
    return text(404, 'not found');
  };

  const tokenRoute = (req: http.IncomingMessage): Reply => {
    if (req.method !== 'PUT') return text(405, 'method not allowed', ['Allow', 'PUT']);
    const raw = req.headers['x-aws-ec2-metadata-token-ttl-seconds'];
    const ttl = typeof raw === 'string' && /^\d{1,6}$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
    if (!(ttl >= 1 && ttl <= o.maxTtl)) return text(400, `invalid token TTL: ${TTL_HEADER} must be 1..${o.maxTtl}`);
    return text(200, o.tokens.issue(ttl), [TTL_HEADER, String(ttl)]);
  };

  const credentialsRoute = (req: http.IncomingMessage, p: string, now: number): Reply | Promise<Reply> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'method not allowed', ['Allow', 'GET']);
    const t = req.headers['x-aws-ec2-metadata-token'];
    if (typeof t !== 'string' || t === '') return text(401, 'no token provided');
    const remaining = o.tokens.remainingSeconds(t, now);
    if (remaining === undefined) return text(401, 'invalid token provided');
    const ttlHeader = [TTL_HEADER, String(remaining)] as const;
    const role = rolePaths.get(p) ?? p.slice(CREDS_PATH.length).replace(/^\//, '').replace(/\/$/, '');
    if (role === '') return text(200, roleList, ttlHeader);
    const provider = role.includes('/') ? undefined : o.roles.get(role);
    if (!provider) return text(404, 'not found');
    const ready = provider.peek?.();
    const cached = ready === undefined ? undefined : bodies.imds(ready, now);
    if (cached) return { status: 200, type: 'application/json', body: cached.body, length: cached.length, header: ttlHeader };
    return credentialsOf(role, provider).then((got): Reply => {
      if ('error' in got) return json(503, { Code: got.code, Message: got.error }, ttlHeader);
      const b = bodies.imds(got.creds, o.clock.now().getTime());
      return b
        ? { status: 200, type: 'application/json', body: b.body, length: b.length, header: ttlHeader }
        : json(503, { Code: 'CredentialsUnavailable' }, ttlHeader);
    });
  };

  const containerRoute = async (req: http.IncomingMessage, p: string, c: { token: string; role: string }): Promise<Reply> => {
    if (req.method !== 'GET') return text(405, 'method not allowed', ['Allow', 'GET']);
    const auth = req.headers.authorization;
    if (auth === undefined || auth === '') return json(401, { Code: 'AccessDenied', Message: 'no authorization token provided' });
    if (!sameSecret(auth, c.token)) return json(403, { Code: 'AccessDenied', Message: 'invalid authorization token' });
    // role names are [\w+=,.@-], which URLs carry unescaped: no decoding needed, and a malformed escape is a 404
    const role = p === CONTAINER_CREDENTIALS_PATH ? c.role : p.slice(CONTAINER_CREDENTIALS_PATH.length + 1);
    const provider = o.roles.get(role);
    if (!provider) return json(404, { Code: 'NotFound', Message: 'no such role' });
    const got = await credentialsOf(role, provider);
    if ('error' in got) return json(503, { Code: got.code, Message: got.error });
    return { status: 200, type: 'application/json', body: bodies.container(got.creds) };
  };

  const credentialsOf = async (role: string, provider: Provider<AwsCredentials>): Promise<{ creds: AwsCredentials } | { error: string; code: string }> => {
    try {
      const creds = await provider.get();
      assertUsable(creds, o.clock);
      return { creds };
    } catch (e) {
      o.logger.warn('credentials unavailable', { role, error: formatError(e) });
      return { error: formatError(e), code: isAgentError(e) ? e.code : 'CredentialsUnavailable' };
    }
  };

  const failed = (req: http.IncomingMessage, res: http.ServerResponse, e: unknown) => {
    o.logger.error('imds request failed', { path: req.url, error: formatError(e) });
    if (!res.headersSent) send(res, text(500, 'internal error'));
    else res.destroy();
  };

  // one debug line per request (a no-op call at the default level: the logger drops disabled levels first)
  const answer = (req: http.IncomingMessage, res: http.ServerResponse, p: string, r: Reply) => {
    o.logger.debug('imds request', { method: req.method, path: p, status: r.status });
    send(res, r);
  };

  // Node's Date header, formatted once a second as Node does
  let dateSecond = Number.NaN;
  let date = '';
  const hot: HotAnswer = (r, local, keepAliveSeconds) => {
    const role = rolePaths.get(r.path);
    if (role === undefined) return undefined;
    if (!(r.host === okHost && local === okLocal) && !hostAllowed(r.host, local)) return undefined;
    const now = o.clock.now().getTime();
    const remaining = o.tokens.remainingSeconds(r.token, now);
    if (remaining === undefined) return undefined;
    const ready = o.roles.get(role)!.peek?.();
    const b = ready === undefined ? undefined : bodies.imds(ready, now);
    if (!b) return undefined;
    okHost = r.host;
    okLocal = local;
    const second = Math.floor(now / 1000);
    if (second !== dateSecond) {
      dateSecond = second;
      date = new Date(second * 1000).toUTCString();
    }
    o.logger.debug('imds request', { method: 'GET', path: r.path, status: 200 });
    // the bytes node:http writes for send() below, header for header
    return `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\nCache-Control: no-store\r\n${TTL_HEADER}: ${remaining}\r\nDate: ${date}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=${keepAliveSeconds}\r\n\r\n${b.body}`;
  };

  const handle: http.RequestListener = (req, res) => {
    const p = pathOf(req.url);
    let r: Reply | Promise<Reply>;
    try {
      r = route(req, p, o.clock.now().getTime());
    } catch (e) {
      failed(req, res, e);
      return;
    }
    if (r instanceof Promise)
      r.then(
        (x) => answer(req, res, p, x),
        (e: unknown) => failed(req, res, e),
      );
    else answer(req, res, p, r);
  };
  return { handle, hot };
}

/** A body and its byte length. */
interface Body {
  body: string;
  length: number;
}

/**
 * The JSON bodies of a credentials object, built once per object (and, for IMDS, once per second of LastUpdated)
 * instead of per request: a provider hands out the same object until it refreshes, so a busy endpoint would
 * otherwise format the same timestamps and stringify the same document thousands of times a second. Keyed weakly,
 * so replaced credentials are dropped with their bodies. `imds` answers undefined for credentials that must not be
 * served (empty fields, expired by `now`): the caller then takes the path that reports why.
 */
function credentialBodies(): { imds(c: AwsCredentials, now: number): Body | undefined; container(c: AwsCredentials): string } {
  const cache = new WeakMap<AwsCredentials, { usable: boolean; second?: number; imds?: Body; container?: string }>();
  let last: AwsCredentials | undefined;
  let lastEntry: { usable: boolean; second?: number; imds?: Body; container?: string } | undefined;
  const entry = (c: AwsCredentials) => {
    if (c === last && lastEntry) return lastEntry;
    let e = cache.get(c);
    if (!e) {
      const fields = [c.accessKeyId, c.secretAccessKey, c.sessionToken];
      const exp = c.expiration;
      e = { usable: fields.every((f) => typeof f === 'string' && f !== '') && exp instanceof Date && !Number.isNaN(exp.getTime()) };
      cache.set(c, e);
    }
    last = c;
    lastEntry = e;
    return e;
  };
  return {
    imds(c, now) {
      const e = entry(c);
      if (!e.usable || c.expiration.getTime() <= now) return undefined;
      const second = Math.floor(now / 1000);
      if (e.imds === undefined || e.second !== second) {
        e.second = second;
        const body = JSON.stringify({
          Code: 'Success',
          LastUpdated: isoSeconds(new Date(now)),
          Type: 'AWS-HMAC',
          AccessKeyId: c.accessKeyId,
          SecretAccessKey: c.secretAccessKey,
          Token: c.sessionToken,
          Expiration: isoSeconds(c.expiration),
        });
        e.imds = { body, length: Buffer.byteLength(body) };
      }
      return e.imds;
    },
    container(c) {
      const e = entry(c);
      e.container ??= JSON.stringify({
        AccessKeyId: c.accessKeyId,
        SecretAccessKey: c.secretAccessKey,
        Token: c.sessionToken,
        Expiration: isoSeconds(c.expiration),
      });
      return e.container;
    },
  };
}

/**
 * The request target's path. The paths clients use (letters, digits, `-`, `_`, `/`, no query) cannot be changed by
 * URL parsing, so they are taken as they are; anything else (dots, escapes, a query, `//`) goes through the WHATWG
 * URL parser as before.
 */
function pathOf(target: string | undefined): string {
  if (target !== undefined && PLAIN_PATH.test(target)) return target;
  return new URL(target ?? '/', 'http://imds').pathname;
}
const PLAIN_PATH = /^\/(?!\/)[\w\-/]*$/;

/** Compares a presented secret with the expected one in constant time (hashing equalises the lengths). */
function sameSecret(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function send(res: http.ServerResponse, r: Reply): void {
  const length = r.length ?? Buffer.byteLength(r.body);
  if (r.header) res.writeHead(r.status, { 'Content-Type': r.type, 'Content-Length': length, 'Cache-Control': 'no-store', [r.header[0]]: r.header[1] });
  else res.writeHead(r.status, { 'Content-Type': r.type, 'Content-Length': length, 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : r.body);
}
