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

type Reply = { status: number; type: string; body: string; headers?: Record<string, string> };

const text = (status: number, body: string, headers?: Record<string, string>): Reply => ({ status, type: 'text/plain', body, ...(headers ? { headers } : {}) });
const json = (status: number, body: unknown, headers?: Record<string, string>): Reply => ({
  status,
  type: 'application/json',
  body: JSON.stringify(body),
  ...(headers ? { headers } : {}),
});

export function imdsHandler(o: RouteOptions): http.RequestListener {
  const roleList = [...o.roles.keys()].join('\n');
  const container = o.containerToken !== undefined ? { token: o.containerToken, role: o.containerRole ?? [...o.roles.keys()][0] } : undefined;
  const bodies = credentialBodies(o.clock);
  let hostWarnedAt = Number.NEGATIVE_INFINITY;
  let hostRefused = 0;

  const route = async (req: http.IncomingMessage, p: string): Promise<Reply> => {
    if (!hostAllowed(req.headers.host, o.unixSocket ? undefined : req.socket.localAddress)) {
      hostRefused++;
      const now = o.clock.now().getTime();
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
    }
    // EC2 refuses proxied requests: a forwarding proxy on the host must not turn the endpoint into a remote one.
    if (req.headers['x-forwarded-for'] !== undefined) return text(400, 'unable to process requests with X-Forwarded-For header');
    if (p === TOKEN_PATH || p === `${TOKEN_PATH}/`) return tokenRoute(req);
    if (p === CREDS_PATH || p.startsWith(`${CREDS_PATH}/`)) return credentialsRoute(req, p);
    if (container && (p === CONTAINER_CREDENTIALS_PATH || p.startsWith(`${CONTAINER_CREDENTIALS_PATH}/`))) return containerRoute(req, p, container);
    return text(404, 'not found');
  };

  const tokenRoute = (req: http.IncomingMessage): Reply => {
    if (req.method !== 'PUT') return text(405, 'method not allowed', { Allow: 'PUT' });
    const raw = req.headers['x-aws-ec2-metadata-token-ttl-seconds'];
    const ttl = typeof raw === 'string' && /^\d{1,6}$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
    if (!(ttl >= 1 && ttl <= o.maxTtl)) return text(400, `invalid token TTL: ${TTL_HEADER} must be 1..${o.maxTtl}`);
    return text(200, o.tokens.issue(ttl), { [TTL_HEADER]: String(ttl) });
  };

  const credentialsRoute = async (req: http.IncomingMessage, p: string): Promise<Reply> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'method not allowed', { Allow: 'GET' });
    const t = req.headers['x-aws-ec2-metadata-token'];
    if (typeof t !== 'string' || t === '') return text(401, 'no token provided');
    const remaining = o.tokens.remainingSeconds(t);
    if (remaining === undefined) return text(401, 'invalid token provided');
    const ttlHeader = { [TTL_HEADER]: String(remaining) };
    const rest = p.slice(CREDS_PATH.length).replace(/^\//, '').replace(/\/$/, '');
    if (rest === '') return text(200, roleList, ttlHeader);
    const provider = rest.includes('/') ? undefined : o.roles.get(rest);
    if (!provider) return text(404, 'not found');
    const got = await credentialsOf(rest, provider);
    if ('error' in got) return json(503, { Code: got.code, Message: got.error }, ttlHeader);
    return { status: 200, type: 'application/json', body: bodies.imds(got.creds), headers: ttlHeader };
  };

  const containerRoute = async (req: http.IncomingMessage, p: string, c: { token: string; role: string }): Promise<Reply> => {
    if (req.method !== 'GET') return text(405, 'method not allowed', { Allow: 'GET' });
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

  return (req, res) => {
    const p = pathOf(req.url);
    route(req, p).then(
      (r) => {
        o.logger.debug('imds request', { method: req.method, path: p, status: r.status });
        send(res, r);
      },
      (e: unknown) => {
        o.logger.error('imds request failed', { path: req.url, error: formatError(e) });
        if (!res.headersSent) send(res, text(500, 'internal error'));
        else res.destroy();
      },
    );
  };
}

/**
 * The JSON bodies of a credentials object, built once per object (and, for IMDS, once per second of LastUpdated)
 * instead of per request: a provider hands out the same object until it refreshes, so a busy endpoint would
 * otherwise format the same timestamps and stringify the same document thousands of times a second. Keyed weakly,
 * so replaced credentials are dropped with their bodies.
 */
function credentialBodies(clock: Clock): { imds(c: AwsCredentials): string; container(c: AwsCredentials): string } {
  const cache = new WeakMap<AwsCredentials, { second?: number; imds?: string; container?: string }>();
  const entry = (c: AwsCredentials) => {
    const e = cache.get(c) ?? {};
    cache.set(c, e);
    return e;
  };
  return {
    imds(c) {
      const e = entry(c);
      const now = clock.now();
      const second = Math.floor(now.getTime() / 1000);
      if (e.imds === undefined || e.second !== second) {
        e.second = second;
        e.imds = JSON.stringify({
          Code: 'Success',
          LastUpdated: isoSeconds(now),
          Type: 'AWS-HMAC',
          AccessKeyId: c.accessKeyId,
          SecretAccessKey: c.secretAccessKey,
          Token: c.sessionToken,
          Expiration: isoSeconds(c.expiration),
        });
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
  res.writeHead(r.status, { 'Content-Type': r.type, 'Content-Length': Buffer.byteLength(r.body), 'Cache-Control': 'no-store', ...r.headers });
  res.end(res.req.method === 'HEAD' ? undefined : r.body);
}
