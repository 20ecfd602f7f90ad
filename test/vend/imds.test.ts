import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import http from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { fixedClock, systemClock } from '../../src/core/clock.js';
import { AgentError } from '../../src/core/errors.js';
import { memoryLogger } from '../../src/core/logger.js';
import type { AwsCredentials, Provider } from '../../src/core/provider.js';
import { groupId } from '../../src/core/groups.js';
import { readContainerToken, startImdsServer, type ImdsServer } from '../../src/vend/imds.js';
import { tempDir } from '../helpers/paths.js';
import { awsCli, awsEnv, failingProvider, fakeCreds, scriptedProvider, withEnv } from './fixtures.js';

const T0 = new Date('2026-03-01T10:00:00.000Z');
const dirs: string[] = [];
const servers: ImdsServer[] = [];
const scratch = (p: string) => {
  const d = tempDir(p);
  dirs.push(d);
  return d;
};
after(async () => {
  for (const s of servers) await s.close().catch(() => undefined);
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

async function start(o: Parameters<typeof startImdsServer>[0]): Promise<ImdsServer> {
  const s = await startImdsServer(o);
  servers.push(s);
  return s;
}

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request on a fresh connection (TCP URL or unix socket). */
function request(
  target: { url: string } | { socket: string },
  method: string,
  p: string,
  headers: Record<string, string> = {},
  o: { setHost?: boolean } = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const base = 'url' in target ? new URL(target.url) : undefined;
    const req = http.request(
      {
        method,
        path: p,
        headers,
        agent: false,
        ...(o.setHost === false ? { setHost: false } : {}),
        ...(base ? { host: base.hostname.replace(/^\[|\]$/g, ''), port: base.port } : { socketPath: (target as { socket: string }).socket }),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A request written byte for byte (e.g. HTTP/1.0 without Host, which Node's client cannot send); the raw reply. */
function rawRequest(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let reply = '';
    const c = netConnect({ host: '127.0.0.1', port }, () => c.end(bytes));
    c.setEncoding('utf8');
    c.on('data', (d: string) => (reply += d));
    c.on('end', () => resolve(reply));
    c.on('error', reject);
  });
}

async function token(target: { url: string } | { socket: string }, ttl = '21600'): Promise<string> {
  const r = await request(target, 'PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': ttl });
  assert.equal(r.status, 200, r.body);
  return r.body;
}

const CREDS = '/latest/meta-data/iam/security-credentials/';

describe('IMDSv2 server', () => {
  it('token flow: PUT token, list roles, fetch each role (several roles, one server)', async () => {
    const clock = fixedClock(T0);
    const app = fakeCreds(new Date(T0.getTime() + 3600_000), 'APP');
    const ops = fakeCreds(new Date(T0.getTime() + 1800_000), 'OPS');
    const roles = new Map<string, Provider<AwsCredentials>>([
      ['app', scriptedProvider(() => app)],
      ['ops', scriptedProvider(() => ops)],
    ]);
    const s = await start({ roles, listen: { host: '127.0.0.1', port: 0 }, clock, logger: memoryLogger() });
    const t = { url: s.url as string };
    assert.match(t.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const put = await request(t, 'PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '300' });
    assert.equal(put.status, 200);
    assert.equal(put.headers['x-aws-ec2-metadata-token-ttl-seconds'], '300');
    assert.match(put.body, /^[A-Za-z0-9_-]{56}$/);
    const h = { 'X-aws-ec2-metadata-token': put.body };
    const list = await request(t, 'GET', CREDS, h);
    assert.equal(list.status, 200);
    assert.equal(list.body, 'app\nops');
    assert.equal((await request(t, 'GET', CREDS.slice(0, -1), h)).body, 'app\nops');
    for (const [name, c] of [
      ['app', app],
      ['ops', ops],
    ] as const) {
      for (const suffix of ['', '/']) {
        const r = await request(t, 'GET', CREDS + name + suffix, h);
        assert.equal(r.status, 200);
        assert.equal(r.headers['content-type'], 'application/json');
        assert.deepEqual(JSON.parse(r.body), {
          Code: 'Success',
          LastUpdated: '2026-03-01T10:00:00Z',
          Type: 'AWS-HMAC',
          AccessKeyId: c.accessKeyId,
          SecretAccessKey: c.secretAccessKey,
          Token: c.sessionToken,
          Expiration: c.expiration.toISOString().replace('.000Z', 'Z'),
        });
        assert.deepEqual(Object.keys(JSON.parse(r.body) as object), ['Code', 'LastUpdated', 'Type', 'AccessKeyId', 'SecretAccessKey', 'Token', 'Expiration']);
      }
    }
    assert.equal((await request(t, 'GET', CREDS + 'nope', h)).status, 404);
    assert.equal((await request(t, 'GET', CREDS + 'app/extra', h)).status, 404);
    assert.equal((await request(t, 'GET', '/latest/meta-data/iam/security-credentials-extended/', h)).status, 404);
    assert.equal((await request(t, 'GET', '/latest/meta-data/placement/region', h)).status, 404);
  });

  it('401 without, with an unknown, or with an expired token; tokens expire per TTL on the clock', async () => {
    const clock = fixedClock(T0);
    const roles = new Map([['app', scriptedProvider(() => fakeCreds(new Date(T0.getTime() + 7200_000)))]]);
    const s = await start({ roles, listen: { host: '127.0.0.1', port: 0 }, clock, logger: memoryLogger() });
    const t = { url: s.url as string };
    assert.equal((await request(t, 'GET', CREDS)).status, 401);
    assert.equal((await request(t, 'GET', CREDS + 'app')).status, 401);
    assert.equal((await request(t, 'GET', CREDS + 'app', { 'X-aws-ec2-metadata-token': 'forged' })).status, 401);
    const tok = await token(t, '60');
    const h = { 'X-aws-ec2-metadata-token': tok };
    clock.set(new Date(T0.getTime() + 59_000));
    const ok = await request(t, 'GET', CREDS + 'app', h);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['x-aws-ec2-metadata-token-ttl-seconds'], '1');
    clock.set(new Date(T0.getTime() + 60_000));
    assert.equal((await request(t, 'GET', CREDS + 'app', h)).status, 401);
  });

  it('TTL bounds: 1 and 21600 accepted; missing, 0, 21601 and non-numeric refused with 400; PUT only', async () => {
    const roles = new Map([['app', scriptedProvider(() => fakeCreds(new Date(T0.getTime() + 3600_000)))]]);
    const s = await start({ roles, listen: { host: '127.0.0.1', port: 0 }, clock: fixedClock(T0), logger: memoryLogger() });
    const t = { url: s.url as string };
    for (const ok of ['1', '21600'])
      assert.equal((await request(t, 'PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': ok })).status, 200, ok);
    assert.equal((await request(t, 'PUT', '/latest/api/token')).status, 400);
    for (const bad of ['0', '21601', '-5', 'abc', '1.5', '']) {
      assert.equal((await request(t, 'PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': bad })).status, 400, JSON.stringify(bad));
    }
    assert.equal((await request(t, 'GET', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '60' })).status, 405);
    const capped = await start({ roles, listen: { host: '127.0.0.1', port: 0 }, clock: fixedClock(T0), logger: memoryLogger(), maxTokenTtl: 600 });
    assert.equal((await request({ url: capped.url as string }, 'PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '601' })).status, 400);
  });

  it('400 for any request with X-Forwarded-For', async () => {
    const roles = new Map([['app', scriptedProvider(() => fakeCreds(new Date(T0.getTime() + 3600_000)))]]);
    const s = await start({ roles, listen: { host: '127.0.0.1', port: 0 }, clock: fixedClock(T0), logger: memoryLogger(), containerToken: 'c0ntainer-t0ken' });
    const t = { url: s.url as string };
    const xff = { 'X-Forwarded-For': '203.0.113.7' };
    assert.equal((await request(t, 'PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '60', ...xff })).status, 400);
    const tok = await token(t);
    assert.equal((await request(t, 'GET', CREDS + 'app', { 'X-aws-ec2-metadata-token': tok, ...xff })).status, 400);
    assert.equal((await request(t, 'GET', '/v1/credentials', { Authorization: 'c0ntainer-t0ken', ...xff })).status, 400);
  });

  it('a throwing provider gives 503 with an error body, never a 200 with empty fields; so do expired credentials', async () => {
    const clock = fixedClock(T0);
    const logger = memoryLogger();
    const roles = new Map<string, Provider<AwsCredentials>>([
      ['broken', failingProvider()],
      ['stale', scriptedProvider(() => fakeCreds(new Date(T0.getTime() - 1)))],
      ['empty', scriptedProvider(() => ({ ...fakeCreds(new Date(T0.getTime() + 3600_000)), accessKeyId: '' }))],
    ]);
    const s = await start({ roles, listen: { host: '127.0.0.1', port: 0 }, clock, logger, containerToken: 'tok', containerRole: 'broken' });
    const t = { url: s.url as string };
    const h = { 'X-aws-ec2-metadata-token': await token(t) };
    for (const [role, code] of [
      ['broken', 'CredentialsUnavailable'],
      ['stale', 'VEND_EXPIRED_CREDENTIALS'],
      ['empty', 'VEND_EMPTY_CREDENTIALS'],
    ]) {
      const r = await request(t, 'GET', CREDS + role, h);
      assert.equal(r.status, 503, role);
      const body = JSON.parse(r.body) as { Code: string; Message: string };
      assert.equal(body.Code, code);
      assert.ok(body.Message.length > 0);
      assert.ok(!('AccessKeyId' in body));
    }
    const c = await request(t, 'GET', '/v1/credentials', { Authorization: 'tok' });
    assert.equal(c.status, 503);
    assert.match(c.body, /AccessDeniedException/);
    assert.ok(logger.entries.some((e) => e.level === 'warn' && e.msg === 'credentials unavailable'));
  });

  it('container credentials: right token → credentials; missing → 401; wrong → 403; per-role path', async () => {
    const clock = fixedClock(T0);
    const app = fakeCreds(new Date(T0.getTime() + 3600_000), 'APP');
    const ops = fakeCreds(new Date(T0.getTime() + 3600_000), 'OPS');
    const roles = new Map([
      ['app', scriptedProvider(() => app)],
      ['ops', scriptedProvider(() => ops)],
    ]);
    await assert.rejects(
      startImdsServer({ roles, listen: { host: '127.0.0.1', port: 0 }, clock, logger: memoryLogger(), containerToken: 'x' }),
      (e: unknown) => e instanceof AgentError && e.code === 'VEND_CONTAINER_ROLE',
    );
    const s = await start({
      roles,
      listen: { host: '127.0.0.1', port: 0 },
      clock,
      logger: memoryLogger(),
      containerToken: 'secret-token-1',
      containerRole: 'app',
    });
    const t = { url: s.url as string };
    assert.equal((await request(t, 'GET', '/v1/credentials')).status, 401);
    assert.equal((await request(t, 'GET', '/v1/credentials', { Authorization: 'secret-token-2' })).status, 403);
    assert.equal((await request(t, 'GET', '/v1/credentials', { Authorization: 'secret-token-1x' })).status, 403);
    const r = await request(t, 'GET', '/v1/credentials', { Authorization: 'secret-token-1' });
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), {
      AccessKeyId: app.accessKeyId,
      SecretAccessKey: app.secretAccessKey,
      Token: app.sessionToken,
      Expiration: '2026-03-01T11:00:00Z',
    });
    assert.equal(JSON.parse((await request(t, 'GET', '/v1/credentials/ops', { Authorization: 'secret-token-1' })).body).AccessKeyId, ops.accessKeyId);
    assert.equal((await request(t, 'GET', '/v1/credentials/nope', { Authorization: 'secret-token-1' })).status, 404);
    const plain = await start({ roles, listen: { host: '127.0.0.1', port: 0 }, clock, logger: memoryLogger() });
    assert.equal(
      (await request({ url: plain.url as string }, 'GET', '/v1/credentials', { Authorization: 'secret-token-1' })).status,
      404,
      'off without a token',
    );
  });

  it('readContainerToken trims the trailing newline and refuses empty files', async () => {
    const dir = scratch('vend-token');
    await fsp.writeFile(path.join(dir, 't'), 'abc123\n');
    assert.equal(await readContainerToken(path.join(dir, 't')), 'abc123');
    await fsp.writeFile(path.join(dir, 'e'), '\n');
    await assert.rejects(readContainerToken(path.join(dir, 'e')), (e: unknown) => e instanceof AgentError && e.code === 'VEND_BAD_CONTAINER_TOKEN');
  });

  it('unix socket: mode 0660, group set by name, serves the protocol, removed on close; a stale socket is replaced', async () => {
    const dir = scratch('vend-sock');
    const socket = path.join(dir, 'imds.sock');
    const roles = new Map([['app', scriptedProvider(() => fakeCreds(new Date(T0.getTime() + 3600_000)))]]);
    const gid = await groupId('daemon');
    assert.equal(typeof gid, 'number');
    const first = await startImdsServer({ roles, listen: { socket, group: 'daemon' }, clock: fixedClock(T0), logger: memoryLogger() });
    servers.push(first);
    const st = await fsp.stat(socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.gid, gid);
    const h = { 'X-aws-ec2-metadata-token': await token({ socket }) };
    assert.equal((await request({ socket }, 'GET', CREDS + 'app', h)).status, 200);
    await assert.rejects(
      startImdsServer({ roles, listen: { socket }, clock: fixedClock(T0), logger: memoryLogger() }),
      (e: unknown) => e instanceof AgentError && e.code === 'VEND_SOCKET_IN_USE',
    );
    await first.close();
    await assert.rejects(fsp.stat(socket), /ENOENT/);
    // a socket file nobody listens on (left by a crash): bound by a process that then exits
    const bound = spawnSync('perl', [
      '-MSocket',
      '-e',
      'socket(my $s, PF_UNIX, SOCK_STREAM, 0) or die; bind($s, pack_sockaddr_un($ARGV[0])) or die "$!"',
      socket,
    ]);
    assert.equal(bound.status, 0, bound.stderr.toString());
    assert.ok((await fsp.lstat(socket)).isSocket());
    const second = await start({ roles, listen: { socket }, clock: fixedClock(T0), logger: memoryLogger() });
    assert.equal((await request({ socket }, 'PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '60' })).status, 200);
    await second.close();
    await fsp.writeFile(socket, 'not a socket');
    await assert.rejects(
      startImdsServer({ roles, listen: { socket }, clock: fixedClock(T0), logger: memoryLogger() }),
      (e: unknown) => e instanceof AgentError && e.code === 'VEND_SOCKET_PATH',
    );
    await assert.rejects(
      startImdsServer({ roles, listen: { socket, group: 'no-such-group-xyz' }, clock: fixedClock(T0), logger: memoryLogger() }),
      (e: unknown) => e instanceof AgentError && e.code === 'VEND_UNKNOWN_GROUP',
    );
  });

  it('hop limit: IP_TTL set on the listener is what an accepted connection carries (read back with getsockopt)', async () => {
    const roles = new Map([['app', scriptedProvider(() => fakeCreds(new Date(T0.getTime() + 3600_000)))]]);
    const s = await start({ roles, listen: { host: '127.0.0.1', port: 0, hopLimit: 1 }, clock: fixedClock(T0), logger: memoryLogger() });
    assert.equal(s.hopLimit, 1);
    const accepted = new Promise<number>((resolve, reject) => {
      s.server.once('connection', (sock: Socket) => {
        const fd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
        const child = spawn(
          'perl',
          ['-e', 'use Socket qw(IPPROTO_IP IP_TTL); open(my $s, "+<&=", 3) or die; print unpack("i", getsockopt($s, IPPROTO_IP, IP_TTL))'],
          { stdio: ['ignore', 'pipe', 'inherit', fd] },
        );
        let out = '';
        child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
        child.on('error', reject);
        child.on('close', () => resolve(Number(out)));
      });
    });
    const put = await request({ url: s.url as string }, 'PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '60' });
    assert.equal(put.status, 200);
    assert.equal(await accepted, 1);
    await assert.rejects(
      startImdsServer({ roles, listen: { host: '127.0.0.1', port: 0, hopLimit: 0 }, clock: fixedClock(T0), logger: memoryLogger() }),
      (e: unknown) => e instanceof AgentError && e.code === 'VEND_HOP_LIMIT',
    );
  });
});

describe('IMDS server against hostile local clients (issue 12)', () => {
  const roles = () => new Map([['app', scriptedProvider(() => fakeCreds(new Date(T0.getTime() + 3600_000)))]]);
  const TTL = { 'X-aws-ec2-metadata-token-ttl-seconds': '60' };

  it('DNS rebinding: a Host that is not localhost or the listening address gets 403 on every route, and no secret', async () => {
    const logger = memoryLogger();
    const s = await start({ roles: roles(), listen: { host: '127.0.0.1', port: 0 }, clock: fixedClock(T0), logger, containerToken: 'rebind-token' });
    const t = { url: s.url as string };
    const port = new URL(t.url).port;
    const tok = await token(t);
    const routes: [string, string, Record<string, string>][] = [
      ['PUT', '/latest/api/token', TTL],
      ['GET', CREDS, { 'X-aws-ec2-metadata-token': tok }],
      ['GET', CREDS + 'app', { 'X-aws-ec2-metadata-token': tok }],
      ['GET', '/v1/credentials', { Authorization: 'rebind-token' }],
      ['GET', '/v1/credentials/app', { Authorization: 'rebind-token' }],
    ];
    const refused = [
      'evil.example.com',
      `evil.example.com:${port}`,
      'localhost.evil.example.com',
      'localhost.',
      '127.0.0.2',
      `127.0.0.2:${port}`,
      '[::1]',
      '127.0.0.1.nip.io',
      `127.0.0.1:${port}@evil.example.com`,
      'local host',
    ];
    for (const host of refused) {
      for (const [method, p, h] of routes) {
        const r = await request(t, method, p, { ...h, Host: host });
        assert.equal(r.status, 403, `${method} ${p} Host ${host}`);
        assert.doesNotMatch(r.body, /ASIA|AccessKeyId|^[A-Za-z0-9_-]{56}$/, 'nothing useful in the body');
      }
    }
    // without Host: Node refuses HTTP/1.1 itself (400); HTTP/1.0, where Host is optional, reaches the check (403)
    for (const [method, p, h] of routes) {
      assert.equal((await request(t, method, p, h, { setHost: false })).status, 400, `${method} ${p} HTTP/1.1 without Host`);
      const head = Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`);
      const raw = await rawRequest(Number(port), `${method} ${p} HTTP/1.0\r\n${head.join('')}\r\n`);
      assert.match(raw, /^HTTP\/1\.1 403 /, `${method} ${p} HTTP/1.0 without Host`);
    }
    for (const host of ['127.0.0.1', `127.0.0.1:${port}`, 'localhost', `localhost:${port}`, 'LocalHost:1', '127.0.0.1:8080']) {
      for (const [method, p, h] of routes) assert.equal((await request(t, method, p, { ...h, Host: host })).status, 200, `${method} ${p} Host ${host}`);
    }
    const warnings = logger.entries.filter((e) => e.level === 'warn' && String(e.msg).startsWith('imds request refused'));
    assert.equal(warnings.length, 1, 'one warning per minute, however many refusals');
    assert.equal(warnings[0]?.fields.host, 'evil.example.com');
  });

  it('DNS rebinding over IPv6 and a unix socket: [::1] (any spelling) on ::1, only localhost on the socket', async () => {
    const v6 = await start({ roles: roles(), listen: { host: '::1', port: 0 }, clock: fixedClock(T0), logger: memoryLogger() });
    const t = { url: v6.url as string };
    assert.match(t.url, /^http:\/\/\[::1\]:\d+\/$/);
    for (const host of ['[::1]', `[::1]:${new URL(t.url).port}`, '[0:0:0:0:0:0:0:1]:1', 'localhost'])
      assert.equal((await request(t, 'PUT', '/latest/api/token', { ...TTL, Host: host })).status, 200, host);
    for (const host of ['127.0.0.1', '[::2]', 'evil.example.com', '[::ffff:127.0.0.1]'])
      assert.equal((await request(t, 'PUT', '/latest/api/token', { ...TTL, Host: host })).status, 403, host);

    const socket = path.join(scratch('vend-rebind'), 'imds.sock');
    await start({ roles: roles(), listen: { socket }, clock: fixedClock(T0), logger: memoryLogger() });
    const u = { socket };
    const tok = await token(u);
    assert.equal((await request(u, 'GET', CREDS + 'app', { 'X-aws-ec2-metadata-token': tok, Host: 'localhost' })).status, 200);
    for (const host of ['127.0.0.1', 'evil.example.com', `${socket}`])
      assert.equal((await request(u, 'GET', CREDS + 'app', { 'X-aws-ec2-metadata-token': tok, Host: host })).status, 403, JSON.stringify(host));
  });

  it('tokens: 2000 PUTs from one client never log out another client; forged, altered and foreign tokens are 401', async () => {
    const clock = fixedClock(T0);
    const s = await start({ roles: roles(), listen: { host: '127.0.0.1', port: 0 }, clock, logger: memoryLogger() });
    const other = await start({ roles: roles(), listen: { host: '127.0.0.1', port: 0 }, clock, logger: memoryLogger() });
    const t = { url: s.url as string };
    const victim = await token(t, '21600');
    const before = process.memoryUsage().heapUsed;
    // one noisy client on one kept-alive connection (as a loop in one process would)
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const base = new URL(t.url);
    const put = () =>
      new Promise<number>((resolve, reject) => {
        const req = http.request({ method: 'PUT', host: base.hostname, port: base.port, path: '/latest/api/token', headers: TTL, agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
    for (let i = 0; i < 2000; i += 50) {
      const statuses = await Promise.all(Array.from({ length: 50 }, put));
      assert.ok(statuses.every((c) => c === 200));
    }
    agent.destroy();
    const h = { 'X-aws-ec2-metadata-token': victim };
    const r = await request(t, 'GET', CREDS + 'app', h);
    assert.equal(r.status, 200, 'the first token still works after 2000 others');
    assert.equal(r.headers['x-aws-ec2-metadata-token-ttl-seconds'], '21600');
    assert.ok(process.memoryUsage().heapUsed - before < 50 * 1024 * 1024, 'no per-token state to speak of');
    // one character changed anywhere (expiry, nonce or MAC) and the token is refused; so is a token of another server
    for (const i of [0, 7, 30, 55]) {
      const c = victim[i] === 'A' ? 'B' : 'A';
      const altered = victim.slice(0, i) + c + victim.slice(i + 1);
      assert.equal((await request(t, 'GET', CREDS + 'app', { 'X-aws-ec2-metadata-token': altered })).status, 401, `changed at ${i}`);
    }
    assert.equal((await request({ url: other.url as string }, 'GET', CREDS + 'app', h)).status, 401, 'a token is valid only where it was issued');
    clock.set(new Date(T0.getTime() + 21600_000));
    assert.equal((await request(t, 'GET', CREDS + 'app', h)).status, 401, 'and only for its TTL');
  });
});

describe('IMDS per-request shortcuts keep the answers exact', () => {
  it('a reused credentials object: LastUpdated follows the clock each second; a refreshed object is served at once', async () => {
    const clock = fixedClock(T0);
    let current = fakeCreds(new Date(T0.getTime() + 3600_000), 'ONE');
    const s = await start({
      roles: new Map([['app', scriptedProvider(() => current)]]),
      listen: { host: '127.0.0.1', port: 0 },
      clock,
      logger: memoryLogger(),
      containerToken: 'ct',
    });
    const t = { url: s.url as string };
    const h = { 'X-aws-ec2-metadata-token': await token(t) };
    const get = async () => JSON.parse((await request(t, 'GET', CREDS + 'app', h)).body) as Record<string, string>;
    assert.equal((await get()).LastUpdated, '2026-03-01T10:00:00Z');
    clock.set(new Date(T0.getTime() + 999));
    assert.equal((await get()).LastUpdated, '2026-03-01T10:00:00Z');
    clock.set(new Date(T0.getTime() + 1000));
    assert.equal((await get()).LastUpdated, '2026-03-01T10:00:01Z');
    current = fakeCreds(new Date(T0.getTime() + 7200_000), 'TWO');
    const next = await get();
    assert.equal(next.AccessKeyId, current.accessKeyId);
    assert.equal(next.Expiration, '2026-03-01T12:00:00Z');
    assert.equal(JSON.parse((await request(t, 'GET', '/v1/credentials', { Authorization: 'ct' })).body).AccessKeyId, current.accessKeyId);
    // paths outside the plain shape still go through the URL parser: a query or an escaped slash changes nothing
    assert.equal((await request(t, 'GET', `${CREDS}app?x=1`, h)).status, 200);
    assert.equal((await request(t, 'GET', `${CREDS}./app`, h)).status, 200);
    assert.equal((await request(t, 'GET', `${CREDS}app%2Fx`, h)).status, 404);
  });
});

describe('IMDS answers from memory (a provider that can peek)', () => {
  it('fresh credentials are answered without get(); the Host, method and token checks still apply; no peek → get()', async () => {
    const clock = fixedClock(T0);
    let fresh: AwsCredentials | undefined = fakeCreds(new Date(T0.getTime() + 3600_000), 'MEM');
    const later = fakeCreds(new Date(T0.getTime() + 7200_000), 'GET');
    const provider = Object.assign(
      scriptedProvider(() => later),
      { peek: () => fresh },
    );
    const s = await start({ roles: new Map([['app', provider]]), listen: { host: '127.0.0.1', port: 0 }, clock, logger: memoryLogger() });
    const t = { url: s.url as string };
    const h = { 'X-aws-ec2-metadata-token': await token(t, '60') };
    const r = await request(t, 'GET', CREDS + 'app', h);
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).AccessKeyId, fresh.accessKeyId);
    assert.equal(r.headers['x-aws-ec2-metadata-token-ttl-seconds'], '60');
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body));
    assert.equal(provider.calls, 0, 'answered from peek()');
    assert.equal((await request(t, 'HEAD', CREDS + 'app', h)).body, '');
    assert.equal((await request(t, 'GET', CREDS + 'app', { ...h, Host: 'evil.example.com' })).status, 403);
    assert.equal((await request(t, 'GET', CREDS + 'app', { 'X-aws-ec2-metadata-token': 'A'.repeat(56) })).status, 401);
    assert.equal((await request(t, 'GET', CREDS + 'app', { ...h, 'X-Forwarded-For': '10.0.0.1' })).status, 400);
    assert.equal((await request(t, 'POST', CREDS + 'app', h)).status, 405);
    assert.equal(provider.calls, 0);
    // peek() has nothing (a refresh due): the request waits for get()
    fresh = undefined;
    assert.equal(JSON.parse((await request(t, 'GET', CREDS + 'app', h)).body).AccessKeyId, later.accessKeyId);
    assert.equal(provider.calls, 1);
    // peek() handing out unusable credentials is never answered from memory: get() decides (here: 503)
    fresh = { ...later, sessionToken: '' };
    const bad = Object.assign(
      scriptedProvider(() => ({ ...later, sessionToken: '' })),
      { peek: () => fresh },
    );
    const s2 = await start({ roles: new Map([['app', bad]]), listen: { host: '127.0.0.1', port: 0 }, clock, logger: memoryLogger() });
    const t2 = { url: s2.url as string };
    assert.equal((await request(t2, 'GET', CREDS + 'app', { 'X-aws-ec2-metadata-token': await token(t2) })).status, 503);
    assert.equal(bad.calls, 1);
  });
});

describe('real clients against the IMDS server', () => {
  const emptyAwsFiles = async (dir: string) => {
    const config = path.join(dir, 'config');
    const credentials = path.join(dir, 'credentials');
    await fsp.writeFile(config, '');
    await fsp.writeFile(credentials, '');
    return { AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: credentials };
  };

  it('AWS CLI v2 resolves credentials through AWS_EC2_METADATA_SERVICE_ENDPOINT (IMDSv2)', async () => {
    const dir = scratch('vend-cli-imds');
    const creds = fakeCreds(new Date(systemClock.now().getTime() + 3600_000), 'IMDS');
    const logger = memoryLogger();
    const s = await start({
      roles: new Map([['app', scriptedProvider(() => creds)]]),
      listen: { host: '127.0.0.1', port: 0, hopLimit: 1 },
      clock: systemClock,
      logger,
    });
    const env = awsEnv(dir, { ...(await emptyAwsFiles(dir)), AWS_EC2_METADATA_SERVICE_ENDPOINT: s.url as string });
    const got = JSON.parse(await awsCli(['configure', 'export-credentials', '--format', 'process'], env)) as Record<string, string>;
    assert.equal(got.AccessKeyId, creds.accessKeyId);
    assert.equal(got.SecretAccessKey, creds.secretAccessKey);
    assert.equal(got.SessionToken, creds.sessionToken);
    assert.equal(new Date(got.Expiration as string).getTime(), Math.floor(creds.expiration.getTime() / 1000) * 1000);
    const paths = logger.entries.filter((e) => e.msg === 'imds request').map((e) => `${e.fields.method} ${e.fields.path} ${e.fields.status}`);
    assert.ok(paths.includes('PUT /latest/api/token 200'), paths.join(', '));
    assert.ok(paths.includes('GET /latest/meta-data/iam/security-credentials/app 200'), paths.join(', '));
  });

  it('DNS rebinding with real clients: AWS CLI v2 via http://localhost:PORT/ works; curl resolving evil.example.com to 127.0.0.1 gets 403', async () => {
    const dir = scratch('vend-cli-rebind');
    const creds = fakeCreds(new Date(systemClock.now().getTime() + 3600_000), 'LOCAL');
    const s = await start({
      roles: new Map([['app', scriptedProvider(() => creds)]]),
      listen: { host: '127.0.0.1', port: 0 },
      clock: systemClock,
      logger: memoryLogger(),
    });
    const port = new URL(s.url as string).port;
    const env = awsEnv(dir, { ...(await emptyAwsFiles(dir)), AWS_EC2_METADATA_SERVICE_ENDPOINT: `http://localhost:${port}/` });
    const got = JSON.parse(await awsCli(['configure', 'export-credentials', '--format', 'process'], env)) as Record<string, string>;
    assert.equal(got.AccessKeyId, creds.accessKeyId);
    // what a browser does after the attacker's DNS answer changed to 127.0.0.1: connect there, send its own name
    const curl = (args: string[]) =>
      new Promise<string>((resolve, reject) =>
        execFile('/usr/bin/curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--resolve', `evil.example.com:${port}:127.0.0.1`, ...args], (err, stdout) =>
          err ? reject(err) : resolve(stdout),
        ),
      );
    assert.equal(await curl(['-X', 'PUT', '-H', 'X-aws-ec2-metadata-token-ttl-seconds: 60', `http://evil.example.com:${port}/latest/api/token`]), '403');
    const tok = await token({ url: s.url as string });
    assert.equal(await curl(['-H', `X-aws-ec2-metadata-token: ${tok}`, `http://evil.example.com:${port}${CREDS}app`]), '403');
    assert.equal(await curl(['-H', `X-aws-ec2-metadata-token: ${tok}`, `http://127.0.0.1:${port}${CREDS}app`]), '200', 'the same request by address works');
  });

  it('AWS CLI v2 resolves container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI + token)', async () => {
    const dir = scratch('vend-cli-container');
    const creds = fakeCreds(new Date(systemClock.now().getTime() + 3600_000), 'CONT');
    const s = await start({
      roles: new Map([['app', scriptedProvider(() => creds)]]),
      listen: { host: '127.0.0.1', port: 0 },
      clock: systemClock,
      logger: memoryLogger(),
      containerToken: 'cli-container-token',
    });
    const env = awsEnv(dir, {
      ...(await emptyAwsFiles(dir)),
      AWS_CONTAINER_CREDENTIALS_FULL_URI: `${s.url}v1/credentials`,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: 'cli-container-token',
    });
    const got = JSON.parse(await awsCli(['configure', 'export-credentials', '--format', 'process'], env)) as Record<string, string>;
    assert.equal(got.AccessKeyId, creds.accessKeyId);
    assert.equal(got.SessionToken, creds.sessionToken);
  });

  it('AWS SDK for JS v3 default chain: IMDS; container credentials for a second role by path; a wrong container token fails', async () => {
    const dir = scratch('vend-sdk');
    const imdsCreds = fakeCreds(new Date(systemClock.now().getTime() + 3600_000), 'SDKI');
    const contCreds = fakeCreds(new Date(systemClock.now().getTime() + 1800_000), 'SDKC');
    // IMDS clients take the whole role listing as one role name (EC2 has one role per instance), so IMDS gets a
    // one-role server; the container protocol carries the role in its URI, so one server vends several roles.
    const imds = await start({
      roles: new Map([['app', scriptedProvider(() => imdsCreds)]]),
      listen: { host: '127.0.0.1', port: 0, hopLimit: 1 },
      clock: systemClock,
      logger: memoryLogger(),
    });
    const multiLog = memoryLogger();
    const multi = await start({
      roles: new Map([
        ['app', scriptedProvider(() => imdsCreds)],
        ['ctr', scriptedProvider(() => contCreds)],
      ]),
      listen: { host: '127.0.0.1', port: 0 },
      clock: systemClock,
      containerToken: 'sdk-container-token',
      containerRole: 'app',
      logger: multiLog,
    });
    const files = await emptyAwsFiles(dir);
    const viaImds = await withEnv({ ...files, HOME: dir, AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url as string }, () =>
      defaultProvider({ ignoreCache: true })(),
    );
    assert.equal(viaImds.accessKeyId, imdsCreds.accessKeyId);
    assert.equal(viaImds.secretAccessKey, imdsCreds.secretAccessKey);
    assert.equal(viaImds.sessionToken, imdsCreds.sessionToken);
    assert.equal(viaImds.expiration?.getTime(), Math.floor(imdsCreds.expiration.getTime() / 1000) * 1000);

    const container = { ...files, HOME: dir, AWS_CONTAINER_CREDENTIALS_FULL_URI: `${multi.url}v1/credentials/ctr` };
    const viaContainer = await withEnv({ ...container, AWS_CONTAINER_AUTHORIZATION_TOKEN: 'sdk-container-token' }, () =>
      defaultProvider({ ignoreCache: true })(),
    );
    assert.equal(viaContainer.accessKeyId, contCreds.accessKeyId);
    assert.equal(viaContainer.secretAccessKey, contCreds.secretAccessKey);
    assert.equal(viaContainer.sessionToken, contCreds.sessionToken);
    assert.equal(viaContainer.expiration?.getTime(), Math.floor(contCreds.expiration.getTime() / 1000) * 1000);

    await assert.rejects(
      withEnv({ ...container, AWS_CONTAINER_AUTHORIZATION_TOKEN: 'wrong' }, () => defaultProvider({ ignoreCache: true, maxRetries: 0 })()),
      /Could not load credentials/,
    );
    assert.ok(multiLog.entries.some((e) => e.msg === 'imds request' && e.fields.path === '/v1/credentials/ctr' && e.fields.status === 403));
  });
});
