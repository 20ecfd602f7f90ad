import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fixedClock } from '../../../src/core/clock.js';
import { memoryLogger } from '../../../src/core/logger.js';
import type { AwsCredentials, Provider } from '../../../src/core/provider.js';
import { parseHotHead } from '../../../src/vend/imds/hot-lane.js';
import { startImdsServer, type ImdsServer } from '../../../src/vend/imds.js';
import { tempDir } from '../../helpers/paths.js';
import { fakeCreds } from '../fixtures.js';

const CREDS = '/latest/meta-data/iam/security-credentials/app';
/** a fixed clock: the body's LastUpdated is the same second for the lane and for node:http */
const T0 = new Date('2026-03-01T10:00:00.000Z');
const clock = fixedClock(T0);
/** the request wrk sends, and one as Node's http client (the JS SDK) sends it */
const WRK_HEAD = `GET ${CREDS} HTTP/1.1\r\nHost: 127.0.0.1:9911\r\nX-aws-ec2-metadata-token: tok\r\n\r\n`;
const SDK_HEAD = `GET ${CREDS} HTTP/1.1\r\nx-aws-ec2-metadata-token: tok\r\nUser-Agent: aws-sdk-js/3.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n`;

describe('hot lane: the strict request form', () => {
  it('reads the credentials GET as wrk and the SDKs send it', () => {
    assert.deepEqual(parseHotHead(WRK_HEAD), { path: CREDS, host: '127.0.0.1:9911', token: 'tok' });
    assert.deepEqual(parseHotHead(SDK_HEAD), { path: CREDS, host: 'localhost', token: 'tok' });
    assert.deepEqual(parseHotHead(WRK_HEAD.replace('Host: ', 'hOsT:\t').replace('tok\r\n', 'tok \t\r\n')), {
      path: CREDS,
      host: '127.0.0.1:9911',
      token: 'tok',
    });
  });

  it('leaves everything else to llhttp: other methods, versions, targets, framing, folding, duplicates, bytes', () => {
    const cases: Record<string, string> = {
      'two requests in one chunk': WRK_HEAD + WRK_HEAD,
      'a partial head': WRK_HEAD.slice(0, -2),
      HEAD: WRK_HEAD.replace('GET', 'HEAD'),
      'lower-case method': WRK_HEAD.replace('GET', 'get'),
      'HTTP/1.0': WRK_HEAD.replace('HTTP/1.1', 'HTTP/1.0'),
      'absolute form': WRK_HEAD.replace(`GET ${CREDS}`, `GET http://127.0.0.1${CREDS}`),
      'a query': WRK_HEAD.replace(CREDS, `${CREDS}?x=1`),
      'dot segments': WRK_HEAD.replace(CREDS, '/latest/meta-data/iam/security-credentials/../app'),
      'an escape': WRK_HEAD.replace(CREDS, `${CREDS}%2F`),
      'two spaces in the request line': WRK_HEAD.replace('GET ', 'GET  '),
      'obs-fold': WRK_HEAD.replace('\r\n\r\n', '\r\n continued\r\n\r\n'),
      'bare LF': WRK_HEAD.replace('\r\nX-aws', '\nX-aws'),
      'bare CR in a value': WRK_HEAD.replace('tok', 't\rok'),
      'space before the colon': WRK_HEAD.replace('Host:', 'Host :'),
      'duplicate Host': WRK_HEAD.replace('\r\n\r\n', '\r\nHost: evil.example\r\n\r\n'),
      'duplicate token': WRK_HEAD.replace('\r\n\r\n', '\r\nX-aws-ec2-metadata-token: other\r\n\r\n'),
      'empty token': WRK_HEAD.replace('token: tok', 'token: '),
      'no token': `GET ${CREDS} HTTP/1.1\r\nHost: localhost\r\n\r\n`,
      'no Host': `GET ${CREDS} HTTP/1.1\r\nX-aws-ec2-metadata-token: tok\r\n\r\n`,
      'Content-Length': WRK_HEAD.replace('\r\n\r\n', '\r\nContent-Length: 0\r\n\r\n'),
      'Transfer-Encoding': WRK_HEAD.replace('\r\n\r\n', '\r\nTransfer-Encoding: chunked\r\n\r\n'),
      'Connection: close': WRK_HEAD.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'),
      'Connection: upgrade': WRK_HEAD.replace('\r\n\r\n', '\r\nConnection: keep-alive, Upgrade\r\nUpgrade: h2c\r\n\r\n'),
      Expect: WRK_HEAD.replace('\r\n\r\n', '\r\nExpect: 100-continue\r\n\r\n'),
      'X-Forwarded-For': WRK_HEAD.replace('\r\n\r\n', '\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n'),
      'a non-ASCII byte': WRK_HEAD.replace('tok', 'tök'),
      'a NUL': WRK_HEAD.replace('tok', 't\0ok'),
      'over 4 KiB': WRK_HEAD.replace('\r\n\r\n', `\r\nX-Pad: ${'a'.repeat(4096)}\r\n\r\n`),
    };
    for (const [name, head] of Object.entries(cases)) assert.equal(parseHotHead(head), undefined, name);
  });
});

/** A provider holding fresh credentials, as the signer's provider does between refreshes. */
function readyProvider(creds: AwsCredentials): Provider<AwsCredentials> & { ready: boolean } {
  const p = { ready: true, get: async () => creds, peek: () => (p.ready ? creds : undefined) };
  return p;
}

/** A raw keep-alive connection: write bytes, read back whole responses (Content-Length framed). */
class Conn {
  private buf = '';
  private waiters: (() => void)[] = [];
  closed: Promise<void>;
  constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
  }
  static open(to: number | { path: string }): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = connect(typeof to === 'number' ? { host: '127.0.0.1', port: to } : to, () => resolve(new Conn(s)));
      s.on('error', reject);
    });
  }
  /** the next complete response, or undefined when the server closed first */
  async response(): Promise<{ status: number; head: string; body: string } | undefined> {
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        const head = this.buf.slice(0, end);
        const len = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (this.buf.length >= end + 4 + len) {
          const body = this.buf.slice(end + 4, end + 4 + len);
          this.buf = this.buf.slice(end + 4 + len);
          return { status: Number(head.slice(9, 12)), head, body };
        }
      }
      if (this.socket.destroyed || this.socket.readableEnded) return undefined;
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), this.closed]);
    }
  }
}

describe('hot lane in front of the IMDS server', () => {
  const servers: ImdsServer[] = [];
  const dirs: string[] = [];
  after(async () => {
    for (const s of servers) await s.close();
    for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
  });
  const serve = async (provider: Provider<AwsCredentials>) => {
    const s = await startImdsServer({
      roles: new Map([['app', provider]]),
      listen: { host: '127.0.0.1', port: 0 },
      clock,
      logger: memoryLogger(),
    });
    servers.push(s);
    const requests = { count: 0 };
    s.server.on('request', () => requests.count++);
    const port = Number(new URL(s.url!).port);
    const c = await Conn.open(port);
    c.socket.write(`PUT /latest/api/token HTTP/1.1\r\nHost: 127.0.0.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 600\r\n\r\n`);
    const token = (await c.response())!.body;
    c.socket.destroy();
    requests.count = 0;
    const head = (host = '127.0.0.1') => `GET ${CREDS} HTTP/1.1\r\nHost: ${host}\r\nX-aws-ec2-metadata-token: ${token}\r\n\r\n`;
    return { s, port, token, head, requests };
  };
  const withoutDate = (head: string) => head.replace(/\r\nDate: [^\r]*/, '');

  it('answers the credentials GET itself, with the bytes node:http sends for it', async () => {
    const creds = fakeCreds(new Date(T0.getTime() + 3600_000));
    const { port, head, requests } = await serve(readyProvider(creds));
    const c = await Conn.open(port);
    c.socket.write(head());
    const hot = (await c.response())!;
    assert.equal(hot.status, 200);
    assert.equal(JSON.parse(hot.body).AccessKeyId, creds.accessKeyId);
    assert.equal(requests.count, 0, 'the lane answered: Node saw no request');
    // two requests in one write are not the lane's: Node answers both, in order, on the same connection
    const d = await Conn.open(port);
    d.socket.write(head() + head());
    const viaNode = [(await d.response())!, (await d.response())!];
    assert.equal(requests.count, 2);
    for (const r of viaNode) {
      assert.equal(withoutDate(r.head), withoutDate(hot.head));
      assert.equal(r.body, hot.body);
    }
    assert.match(hot.head, /\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT/);
    c.socket.destroy();
    d.socket.destroy();
  });

  it('hands a connection to Node at the first request that is not the hot one, and Node keeps it', async () => {
    const { port, head, token, requests } = await serve(readyProvider(fakeCreds(new Date(T0.getTime() + 3600_000))));
    const c = await Conn.open(port);
    c.socket.write(head());
    assert.equal((await c.response())!.status, 200);
    c.socket.write(`PUT /latest/api/token HTTP/1.1\r\nHost: 127.0.0.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n`);
    const put = (await c.response())!;
    assert.equal(put.status, 200);
    assert.equal(put.body.length, token.length);
    c.socket.write(head());
    assert.equal((await c.response())!.status, 200);
    assert.equal(requests.count, 2, 'the PUT and the GET after it went to Node');
    // a head split over two writes reaches Node whole
    const d = await Conn.open(port);
    const h = head();
    d.socket.write(h.slice(0, 20));
    await new Promise((r) => setTimeout(r, 50));
    d.socket.write(h.slice(20));
    assert.equal((await d.response())!.status, 200);
    assert.equal(requests.count, 3);
    c.socket.destroy();
    d.socket.destroy();
  });

  it('refusals are the full handler’s: Host, X-Forwarded-For, token; a provider without fresh credentials is asked', async () => {
    const p = readyProvider(fakeCreds(new Date(T0.getTime() + 3600_000)));
    const { port, head, requests } = await serve(p);
    const one = async (bytes: string) => {
      const c = await Conn.open(port);
      c.socket.write(bytes);
      const r = (await c.response())!;
      c.socket.destroy();
      return r;
    };
    assert.equal((await one(head('rebind.example'))).status, 403);
    assert.equal((await one(head().replace('\r\n\r\n', '\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n'))).status, 400);
    assert.equal((await one(head().replace(/token: \S+/, 'token: forged'))).status, 401);
    p.ready = false;
    assert.equal((await one(head())).status, 200);
    assert.equal(requests.count, 4);
  });

  it('a half-closed client still gets its answer; an idle keep-alive connection is closed at the keep-alive timeout', async () => {
    const { s, port, head } = await serve(readyProvider(fakeCreds(new Date(T0.getTime() + 3600_000))));
    const c = await Conn.open(port);
    c.socket.end(head());
    assert.equal((await c.response())!.status, 200);
    const t1 = Date.now();
    await c.closed;
    assert.ok(Date.now() - t1 < 2000, 'the server ended its side after the answer, not at the keep-alive timeout');
    s.server.keepAliveTimeout = 300;
    const d = await Conn.open(port);
    d.socket.write(head());
    const r = (await d.response())!;
    // what node:http says for a keep-alive timeout under a second
    assert.match(r.head, /\r\nKeep-Alive: timeout=0$/);
    const t0 = Date.now();
    await d.closed;
    assert.ok(Date.now() - t0 < 5000, 'closed by the 300 ms keep-alive timeout, not the default 5 s');
  });

  it('on a unix socket only Host: localhost is the hot request (there is no address a client could name)', async () => {
    const dir = tempDir('hot-lane');
    dirs.push(dir);
    const socket = path.join(dir, 'imds.sock');
    const s = await startImdsServer({
      roles: new Map([['app', readyProvider(fakeCreds(new Date(T0.getTime() + 3600_000)))]]),
      listen: { socket },
      clock,
      logger: memoryLogger(),
    });
    servers.push(s);
    let requests = 0;
    s.server.on('request', () => requests++);
    const one = async (bytes: string) => {
      const c = await Conn.open({ path: socket });
      c.socket.write(bytes);
      const r = (await c.response())!;
      c.socket.destroy();
      return r;
    };
    const token = (await one('PUT /latest/api/token HTTP/1.1\r\nHost: localhost\r\nX-aws-ec2-metadata-token-ttl-seconds: 600\r\n\r\n')).body;
    const get = (host: string) => `GET ${CREDS} HTTP/1.1\r\nHost: ${host}\r\nX-aws-ec2-metadata-token: ${token}\r\n\r\n`;
    requests = 0;
    assert.equal((await one(get('localhost'))).status, 200);
    assert.equal(requests, 0);
    assert.equal((await one(get('127.0.0.1'))).status, 403);
    assert.equal(requests, 1);
  });

  it('after an answer the loop polls for a moment, then sleeps: an idle server burns no CPU', async () => {
    const { port, head } = await serve(readyProvider(fakeCreds(new Date(T0.getTime() + 3600_000))));
    const c = await Conn.open(port);
    for (let i = 0; i < 20; i++) {
      c.socket.write(head());
      assert.equal((await c.response())!.status, 200);
    }
    // the poll window is 50 µs; were it never to end, this process would spend the whole 500 ms on the CPU
    await new Promise((r) => setTimeout(r, 20));
    const before = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 500));
    const used = process.cpuUsage(before);
    assert.ok((used.user + used.system) / 1000 < 100, `idle CPU ${(used.user + used.system) / 1000} ms in 500 ms`);
    c.socket.destroy();
  });

  it('close() ends the connections the lane holds', async () => {
    const creds = fakeCreds(new Date(T0.getTime() + 3600_000));
    const s = await startImdsServer({
      roles: new Map([['app', readyProvider(creds)]]),
      listen: { host: '127.0.0.1', port: 0 },
      clock,
      logger: memoryLogger(),
    });
    const port = Number(new URL(s.url!).port);
    const c = await Conn.open(port);
    c.socket.write(`PUT /latest/api/token HTTP/1.1\r\nHost: 127.0.0.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 600\r\n\r\n`);
    const token = (await c.response())!.body;
    const d = await Conn.open(port);
    d.socket.write(`GET ${CREDS} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-aws-ec2-metadata-token: ${token}\r\n\r\n`);
    assert.equal((await d.response())!.status, 200);
    const t0 = Date.now();
    await s.close();
    await Promise.all([c.closed, d.closed]);
    assert.ok(Date.now() - t0 < 2000, 'close() did not wait for the keep-alive timeout');
  });
});
