import { spawn } from 'node:child_process';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { Clock } from '../core/clock.js';
import { AgentError, formatError, isAgentError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { AwsCredentials, Provider } from '../core/provider.js';
import { assertUsable, isoSeconds } from './process.js';

/** EC2 caps IMDSv2 session tokens at 6 hours. */
export const MAX_TOKEN_TTL_SECONDS = 21600;
/** The AWS credential helper keeps at most this many live tokens; so do we (bounded memory). */
const MAX_TOKENS = 256;
/** Path of the container-credentials endpoint (as EKS Pod Identity's http://169.254.170.23/v1/credentials). */
export const CONTAINER_CREDENTIALS_PATH = '/v1/credentials';

const TOKEN_PATH = '/latest/api/token';
const CREDS_PATH = '/latest/meta-data/iam/security-credentials';

export type ImdsListen =
  | {
      host: string;
      /** 0 = ephemeral (tests) */
      port: number;
      /**
       * IP TTL (IPv4) / unicast hop limit (IPv6) of every accepted connection. 1 gives EC2 IMDSv2 parity: a reply
       * cannot cross a router, e.g. out of a container bridge. Omitted: the kernel default (64) is left alone.
       */
      hopLimit?: number;
    }
  | {
      socket: string;
      /** default 0o660: owner and group may connect (connect(2) on a unix socket needs write permission) */
      mode?: number;
      /** group name (looked up in /etc/group) or numeric gid that may connect */
      group?: string;
    };

export interface ImdsOptions {
  /** role name (the last segment of the role ARN) → its credentials; one server vends several roles */
  roles: Map<string, Provider<AwsCredentials>>;
  listen: ImdsListen;
  clock: Clock;
  logger: Logger;
  /**
   * Enables the container-credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI +
   * AWS_CONTAINER_AUTHORIZATION_TOKEN): requests must carry exactly this value in Authorization.
   */
  containerToken?: string;
  /** role served at /v1/credentials (without a role segment); default: the only role */
  containerRole?: string;
  /** upper bound for X-aws-ec2-metadata-token-ttl-seconds; default and maximum 21600 */
  maxTokenTtl?: number;
}

export interface ImdsServer {
  /** http://host:port/ (TCP, with the trailing slash AWS_EC2_METADATA_SERVICE_ENDPOINT needs) */
  url?: string;
  /** unix socket path */
  socket?: string;
  /** the hop limit read back from the listening socket after setting it (TCP with hopLimit only) */
  hopLimit?: number;
  /** the underlying server, e.g. to observe connections */
  server: http.Server;
  close(): Promise<void>;
}

/**
 * An IMDSv2-compatible credentials endpoint (the subset AWS SDKs and the AWS CLI use), following
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html and the AWS
 * credential helper's `serve` (reference/iamra-protocol.md §4.4), plus the container-credentials protocol.
 * Differences from the helper, deliberate: a missing TTL header is a 400 (as on EC2), unknown paths below
 * security-credentials/ are 404, and a provider failure is a 503 with an error body, never a 200 with empty fields
 * (an SDK would cache those).
 *
 * Several roles: the listing names them one per line, but the AWS CLI and SDKs take the whole listing as one role
 * name (an EC2 instance profile has exactly one role) and the JS SDK drops any base path of
 * AWS_EC2_METADATA_SERVICE_ENDPOINT. So standard IMDS clients need a server with one role; for several roles on one
 * server, point each client at its role's container URI, http://host:port/v1/credentials/<roleName>.
 */
export async function startImdsServer(o: ImdsOptions): Promise<ImdsServer> {
  validateRoles(o);
  const maxTtl = Math.min(o.maxTokenTtl ?? MAX_TOKEN_TTL_SECONDS, MAX_TOKEN_TTL_SECONDS);
  const tokens = new Map<string, number>(); // token → expiry (ms since epoch, by o.clock)
  const containerRole = o.containerToken !== undefined ? (o.containerRole ?? [...o.roles.keys()][0]) : undefined;

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      o.logger.error('imds request failed', { path: req.url, error: formatError(e) });
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error');
      else res.destroy();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://imds');
    const p = url.pathname;
    const done = (status: number, type: string, body: string, headers: Record<string, string> = {}) => {
      o.logger.debug('imds request', { method: req.method, path: p, status });
      send(res, status, type, body, headers);
    };
    // EC2 refuses proxied requests: a forwarding proxy on the host must not turn the endpoint into a remote one.
    if (req.headers['x-forwarded-for'] !== undefined) return done(400, 'text/plain', 'unable to process requests with X-Forwarded-For header');

    if (p === TOKEN_PATH || p === TOKEN_PATH + '/') {
      if (req.method !== 'PUT') return done(405, 'text/plain', 'method not allowed', { Allow: 'PUT' });
      const raw = req.headers['x-aws-ec2-metadata-token-ttl-seconds'];
      const ttl = typeof raw === 'string' && /^\d{1,6}$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
      if (!(ttl >= 1 && ttl <= maxTtl)) return done(400, 'text/plain', `invalid token TTL: X-aws-ec2-metadata-token-ttl-seconds must be 1..${maxTtl}`);
      const token = issueToken(ttl);
      return done(200, 'text/plain', token, { 'X-aws-ec2-metadata-token-ttl-seconds': String(ttl) });
    }

    if (p === CREDS_PATH || p.startsWith(CREDS_PATH + '/')) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return done(405, 'text/plain', 'method not allowed', { Allow: 'GET' });
      const t = req.headers['x-aws-ec2-metadata-token'];
      if (typeof t !== 'string' || t === '') return done(401, 'text/plain', 'no token provided');
      const remaining = tokenRemainingSeconds(t);
      if (remaining === undefined) return done(401, 'text/plain', 'invalid token provided');
      const ttlHeader = { 'X-aws-ec2-metadata-token-ttl-seconds': String(remaining) };
      const rest = p.slice(CREDS_PATH.length).replace(/^\//, '').replace(/\/$/, '');
      if (rest === '') return done(200, 'text/plain', [...o.roles.keys()].join('\n'), ttlHeader);
      const provider = rest.includes('/') ? undefined : o.roles.get(rest);
      if (!provider) return done(404, 'text/plain', 'not found');
      const got = await credentialsOf(rest, provider);
      if ('error' in got) return done(503, 'application/json', JSON.stringify({ Code: got.code, Message: got.error }), ttlHeader);
      const c = got.creds;
      const body = {
        Code: 'Success',
        LastUpdated: isoSeconds(o.clock.now()),
        Type: 'AWS-HMAC',
        AccessKeyId: c.accessKeyId,
        SecretAccessKey: c.secretAccessKey,
        Token: c.sessionToken,
        Expiration: isoSeconds(c.expiration),
      };
      return done(200, 'application/json', JSON.stringify(body), ttlHeader);
    }

    if (containerRole !== undefined && (p === CONTAINER_CREDENTIALS_PATH || p.startsWith(CONTAINER_CREDENTIALS_PATH + '/'))) {
      if (req.method !== 'GET') return done(405, 'text/plain', 'method not allowed', { Allow: 'GET' });
      const auth = req.headers.authorization;
      if (auth === undefined || auth === '')
        return done(401, 'application/json', JSON.stringify({ Code: 'AccessDenied', Message: 'no authorization token provided' }));
      if (!sameSecret(auth, o.containerToken as string))
        return done(403, 'application/json', JSON.stringify({ Code: 'AccessDenied', Message: 'invalid authorization token' }));
      // role names are [\w+=,.@-], which URLs carry unescaped: no decoding needed, and a malformed escape is a 404
      const role = p === CONTAINER_CREDENTIALS_PATH ? containerRole : p.slice(CONTAINER_CREDENTIALS_PATH.length + 1);
      const provider = o.roles.get(role);
      if (!provider) return done(404, 'application/json', JSON.stringify({ Code: 'NotFound', Message: 'no such role' }));
      const got = await credentialsOf(role, provider);
      if ('error' in got) return done(503, 'application/json', JSON.stringify({ Code: got.code, Message: got.error }));
      const c = got.creds;
      return done(
        200,
        'application/json',
        JSON.stringify({ AccessKeyId: c.accessKeyId, SecretAccessKey: c.secretAccessKey, Token: c.sessionToken, Expiration: isoSeconds(c.expiration) }),
      );
    }

    return done(404, 'text/plain', 'not found');
  }

  function issueToken(ttlSeconds: number): string {
    const now = o.clock.now().getTime();
    purge(now);
    if (tokens.size >= MAX_TOKENS) {
      // evict the token that would expire first
      let first: string | undefined;
      let firstExp = Infinity;
      for (const [k, exp] of tokens) if (exp < firstExp) [first, firstExp] = [k, exp];
      if (first !== undefined) tokens.delete(first);
    }
    const token = randomBytes(42).toString('base64url'); // 336 bits, 56 characters, as long as EC2's
    tokens.set(token, now + ttlSeconds * 1000);
    return token;
  }

  function purge(now: number): void {
    for (const [k, exp] of tokens) if (exp <= now) tokens.delete(k);
  }

  function tokenRemainingSeconds(t: string): number | undefined {
    const exp = tokens.get(t);
    const now = o.clock.now().getTime();
    if (exp === undefined) return undefined;
    if (exp <= now) {
      tokens.delete(t);
      return undefined;
    }
    return Math.ceil((exp - now) / 1000);
  }

  async function credentialsOf(role: string, provider: Provider<AwsCredentials>): Promise<{ creds: AwsCredentials } | { error: string; code: string }> {
    try {
      const creds = await provider.get();
      assertUsable(creds, o.clock);
      return { creds };
    } catch (e) {
      o.logger.warn('credentials unavailable', { role, error: formatError(e) });
      return { error: formatError(e), code: isAgentError(e) ? e.code : 'CredentialsUnavailable' };
    }
  }

  const closeServer = async (): Promise<void> => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections(); // SDKs keep connections alive; close() alone would wait for them
    });
  };

  if ('socket' in o.listen) {
    const { socket, mode = 0o660, group } = o.listen;
    const gid = group === undefined ? undefined : await lookupGroup(group);
    await removeStaleSocket(socket);
    await listen(server, { path: socket }, socket);
    try {
      // Right after bind the file has the umask's mode; it lives in the 0700 runtime directory until now.
      await fsp.chmod(socket, mode);
      if (gid !== undefined) await fsp.chown(socket, -1, gid);
    } catch (e) {
      await closeServer();
      throw new AgentError({
        code: 'VEND_SOCKET_MODE',
        component: 'vend',
        message: `cannot set mode/group of ${socket}: ${(e as NodeJS.ErrnoException).code ?? formatError(e)}`,
        hint: 'the agent must own the socket and belong to the group it hands it to',
        cause: e,
      });
    }
    o.logger.info('imds listening', { socket, mode: mode.toString(8), group });
    return {
      socket,
      server,
      close: async () => {
        await closeServer();
        await fsp.rm(socket, { force: true });
      },
    };
  }

  const { host, port, hopLimit } = o.listen;
  await listen(server, { host, port }, `${host}:${port}`);
  if (!isLoopback(host))
    o.logger.warn('imds listening beyond loopback', { host, hint: 'any host that reaches this address gets credentials; prefer 127.0.0.1 or a unix socket' });
  const addr = server.address() as net.AddressInfo;
  let applied: number | undefined;
  if (hopLimit !== undefined) {
    try {
      applied = await setListenerHopLimit(server, addr.family === 'IPv6' ? 6 : 4, hopLimit);
    } catch (e) {
      await closeServer();
      throw e;
    }
  }
  const hostPart = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${hostPart}:${addr.port}/`;
  o.logger.info('imds listening', { url, hopLimit: applied });
  return { url, server, ...(applied !== undefined ? { hopLimit: applied } : {}), close: closeServer };
}

function validateRoles(o: ImdsOptions): void {
  if (o.roles.size === 0)
    throw new AgentError({ code: 'VEND_NO_ROLES', component: 'vend', message: 'serve needs at least one role', hint: 'configure rolesAnywhere.roleArn' });
  for (const name of o.roles.keys()) {
    if (!/^[\w+=,.@-]{1,64}$/.test(name)) {
      throw new AgentError({
        code: 'VEND_BAD_ROLE_NAME',
        component: 'vend',
        message: `role name ${JSON.stringify(name)} is not an IAM role name`,
        hint: 'use the last segment of the role ARN (letters, digits, +=,.@_-)',
      });
    }
  }
  if (o.containerToken !== undefined) {
    if (o.containerToken === '' || /[\r\n]/.test(o.containerToken)) {
      throw new AgentError({
        code: 'VEND_BAD_CONTAINER_TOKEN',
        component: 'vend',
        message: 'the container authorization token is empty or contains a line break',
        hint: 'write a single-line token to vend.serve.containerTokenFile',
      });
    }
    const role = o.containerRole ?? (o.roles.size === 1 ? [...o.roles.keys()][0] : undefined);
    if (role === undefined || !o.roles.has(role)) {
      throw new AgentError({
        code: 'VEND_CONTAINER_ROLE',
        component: 'vend',
        message: `container credentials role ${role ?? '(unset)'} is not one of ${[...o.roles.keys()].join(', ')}`,
        hint: 'set containerRole to one of the served roles',
      });
    }
  }
}

/** Compares a presented secret with the expected one in constant time (hashing equalises the lengths). */
function sameSecret(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function send(res: http.ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function listen(server: http.Server, opts: net.ListenOptions, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      reject(
        new AgentError({
          code: 'VEND_LISTEN',
          component: 'vend',
          message: `cannot listen on ${what}: ${e.code ?? e.message}`,
          hint:
            e.code === 'EADDRINUSE'
              ? 'another process (another iamra-agent serve?) uses it; pick another port/socket'
              : 'check vend.serve.listen / vend.serve.socket',
          cause: e,
        }),
      );
    };
    server.once('error', onError);
    server.listen(opts, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * A socket file left by a crashed run blocks bind(2) with EADDRINUSE. Remove it only if nobody answers on it
 * (ECONNREFUSED); a live server keeps its socket and we fail instead. Non-socket files are never removed.
 */
async function removeStaleSocket(file: string): Promise<void> {
  const st = await fsp.lstat(file).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket()) {
    throw new AgentError({
      code: 'VEND_SOCKET_PATH',
      component: 'vend',
      message: `${file} exists and is not a socket`,
      hint: 'point vend.serve.socket at a path in the runtime directory',
    });
  }
  const alive = await new Promise<boolean>((resolve) => {
    const c = net.connect({ path: file });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive)
    throw new AgentError({
      code: 'VEND_SOCKET_IN_USE',
      component: 'vend',
      message: `another server is listening on ${file}`,
      hint: 'stop the other iamra-agent serve, or use another socket path',
    });
  await fsp.rm(file, { force: true });
}

/** Group name → gid through /etc/group (the Node runtime has no getgrnam); a numeric string is taken as a gid. */
export async function lookupGroup(group: string, groupFile = '/etc/group'): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group);
  const text = await fsp.readFile(groupFile, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new AgentError({
    code: 'VEND_UNKNOWN_GROUP',
    component: 'vend',
    message: `group ${group} not found in ${groupFile}`,
    hint: 'create the group (groupadd) or set vend.serve.socketGroup to an existing one',
  });
}

/**
 * Node's net module has no setsockopt: `socket.setTTL` exists only on dgram sockets, and no public API sets IP_TTL
 * or IPV6_UNICAST_HOPS on a TCP socket. So the option is set on the *listening* socket by a short perl process that
 * inherits its file descriptor (perl-base is Essential on Debian; `setsockopt` is a perl builtin and the constants
 * come from its core Socket module, so the numbers are the platform's). A descriptor shares the kernel socket, so
 * the option lands on our listener. Linux copies the listener's IP_TTL/hop limit into every socket accept(2)
 * returns (the child socket is cloned from it), which gives each accepted connection the hop limit; the test reads
 * it back from an accepted connection's descriptor. The value is read back here too, so a silent failure is
 * impossible: startup fails instead. Alternative without perl: systemd socket activation with IPTTL=.
 *
 * The listener's descriptor comes from the handle's `fd` property (libuv stream handles expose it on Unix; it is not
 * a documented Node API, so its absence is reported, not ignored).
 */
async function setListenerHopLimit(server: net.Server, family: 4 | 6, hopLimit: number): Promise<number> {
  if (!Number.isInteger(hopLimit) || hopLimit < 1 || hopLimit > 255) {
    throw new AgentError({
      code: 'VEND_HOP_LIMIT',
      component: 'vend',
      message: `hop limit ${hopLimit} is outside 1..255`,
      hint: 'set vend.serve.hopLimit to 1 (EC2 parity) .. 255',
    });
  }
  const fd = (server as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new AgentError({
      code: 'VEND_HOP_LIMIT',
      component: 'vend',
      message: 'cannot reach the listening socket descriptor to set its hop limit',
      hint: 'this Node runtime hides it; use a unix socket (vend.serve.socket) instead',
    });
  }
  const [level, option] = family === 6 ? ['IPPROTO_IPV6', 'IPV6_UNICAST_HOPS'] : ['IPPROTO_IP', 'IP_TTL'];
  const script = `use strict; use Socket qw(${level} ${option});
open(my $s, "+<&=", 3) or die "fd 3: $!\\n";
setsockopt($s, ${level}, ${option}, pack("i", $ARGV[0])) or die "setsockopt ${option}: $!\\n";
my $v = getsockopt($s, ${level}, ${option}) or die "getsockopt ${option}: $!\\n";
print unpack("i", $v);`;
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('perl', ['-e', script, String(hopLimit)], { stdio: ['ignore', 'pipe', 'pipe', fd] });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => resolve({ code: null, stdout: '', stderr: e.message }));
    child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
  });
  const got = Number(stdout.trim());
  if (code !== 0 || got !== hopLimit) {
    throw new AgentError({
      code: 'VEND_HOP_LIMIT',
      component: 'vend',
      message: `cannot set ${option}=${hopLimit} on the listening socket: ${stderr.trim() || `read back ${stdout.trim() || 'nothing'}`}`,
      hint: 'Node cannot set IP TTL itself and needs perl for it; install perl-base, omit vend.serve.hopLimit, or use a unix socket',
    });
  }
  return got;
}

/** Reads the container authorization token file: one line, surrounding whitespace (a trailing newline) dropped. */
export async function readContainerToken(file: string): Promise<string> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw new AgentError({
      code: 'VEND_CONTAINER_TOKEN_FILE',
      component: 'vend',
      message: `cannot read container token file ${file}: ${(e as NodeJS.ErrnoException).code ?? formatError(e)}`,
      hint: 'create it with a random single-line token, mode 0600',
      cause: e,
    });
  }
  const token = text.trim();
  if (token === '' || /[\r\n]/.test(token)) {
    throw new AgentError({
      code: 'VEND_BAD_CONTAINER_TOKEN',
      component: 'vend',
      message: `container token file ${file} is empty or has several lines`,
      hint: 'write a single-line token, e.g. openssl rand -hex 32',
    });
  }
  return token;
}
