/**
 * CreateSession through an HTTP proxy (rolesAnywhere.withProxy, the helper's --with-proxy), against real sockets on
 * loopback: a test proxy (test/helpers/proxy.ts) in front of loopback targets reached under names only it knows, so
 * nothing here asks a DNS resolver. The decision rules (Go's ProxyFromEnvironment) are checked on their own, since
 * a direct connection to a non-loopback name would need DNS.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fixedClock } from '../../src/core/clock.js';
import { AgentError } from '../../src/core/errors.js';
import { memoryLogger } from '../../src/core/logger.js';
import { createSession, type CreateSessionInput } from '../../src/signer/client.js';
import { proxyFor } from '../../src/signer/proxy.js';
import { post } from '../../src/signer/transport.js';
import { tempDir } from '../helpers/paths.js';
import { makePki, type TestPki } from '../helpers/pki.js';
import { startTestProxy, tlsName, type TestProxy, type TestTlsName } from '../helpers/proxy.js';
import { PROFILE, ROLE, TA } from './fixtures.js';

const NAME = 'iamra.proxy.test';
const CREDS = { accessKeyId: 'ASIAEXAMPLEEXAMPLE01', secretAccessKey: 'secret/EXAMPLE', sessionToken: 'token+EXAMPLE==', expiration: '2030-01-16T00:02:43Z' };
const OK = JSON.stringify({ credentialSet: [{ credentials: CREDS }] });

interface Target {
  port: number;
  seen: { url: string; host: string | undefined }[];
  close(): Promise<void>;
}

async function listen(server: http.Server | https.Server): Promise<Target> {
  const seen: Target['seen'] = [];
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    seen.push({ url: req.url ?? '', host: req.headers.host });
    req.resume();
    req.on('end', () => res.writeHead(201, { 'content-type': 'application/json' }).end(OK));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

let pki: TestPki;
let tlsCert: TestTlsName;
let plain: Target;
let secure: Target;
let proxy: TestProxy;
let caFile: string;

before(async () => {
  pki = await makePki();
  tlsCert = await tlsName(NAME);
  caFile = path.join(tempDir('proxy-ca'), 'ca.pem');
  writeFileSync(caFile, tlsCert.caPem);
  plain = await listen(http.createServer());
  secure = await listen(https.createServer({ cert: tlsCert.certPem, key: tlsCert.keyPem }));
  proxy = await startTestProxy(
    new Map([
      [`${NAME}:80`, plain.port],
      [`${NAME}:443`, secure.port],
    ]),
  );
});

after(async () => Promise.all([plain?.close(), secure?.close(), proxy?.close()]));

beforeEach(() => {
  for (const a of [proxy.connects, proxy.forwards, proxy.authorizations, plain.seen, secure.seen]) a.length = 0;
  delete proxy.refuse;
});

const headers = (url: URL) => ({ host: url.host, 'content-type': 'application/json' });
const withCreds = (u: string, user: string, pass: string) => u.replace('http://', `http://${encodeURIComponent(user)}:${encodeURIComponent(pass)}@`);

/**
 * post() in a child process that trusts the test CA (NODE_EXTRA_CA_CERTS is read at start-up only): the https case,
 * TLS with the endpoint through the tunnel.
 */
function postInChild(url: string, env: NodeJS.ProcessEnv): Promise<{ status: number; text: string }> {
  const transport = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), '../../src/signer/transport.js')).href;
  const script = `import { post } from ${JSON.stringify(transport)};
const url = new URL(process.argv[1]);
const r = await post(url, { host: url.host, 'content-type': 'application/json' }, '{}', AbortSignal.timeout(10000), { proxy: true });
process.stdout.write(JSON.stringify({ status: r.status, text: r.text }));`;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script, url],
      { env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: caFile, ...env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`child post failed: ${stderr}`));
        else resolve(JSON.parse(stdout) as { status: number; text: string });
      },
    );
  });
}

describe('post through a loopback proxy', () => {
  it('https: a CONNECT tunnel to the endpoint, TLS end to end (the endpoint sees the request, the proxy only the CONNECT)', async () => {
    const r = await postInChild(`https://${NAME}/sessions`, { HTTPS_PROXY: withCreds(proxy.url, 'agent', 'pa:ss@word') });
    assert.equal(r.status, 201);
    assert.deepEqual(proxy.connects, [`${NAME}:443`]);
    assert.deepEqual(proxy.forwards, []);
    assert.deepEqual(secure.seen, [{ url: '/sessions', host: NAME }]);
    assert.deepEqual(proxy.authorizations, [`Basic ${Buffer.from('agent:pa:ss@word').toString('base64')}`]);
  });

  it('http: an absolute-form request to the proxy, with Proxy-Authorization from the proxy URL', async () => {
    const url = new URL(`http://${NAME}/sessions`);
    const r = await post(url, headers(url), '{}', AbortSignal.timeout(10_000), { proxy: true, env: { http_proxy: withCreds(proxy.url, 'u', 'secret') } });
    assert.equal(r.status, 201);
    assert.deepEqual(proxy.forwards, [`http://${NAME}/sessions`]);
    assert.deepEqual(proxy.connects, []);
    assert.deepEqual(proxy.authorizations, [`Basic ${Buffer.from('u:secret').toString('base64')}`]);
    assert.deepEqual(plain.seen, [{ url: '/sessions', host: NAME }]);
  });

  it('a loopback endpoint is never proxied, nor is any endpoint without the setting', async () => {
    const env = { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url };
    for (const host of ['127.0.0.1', 'localhost']) {
      const url = new URL(`http://${host}:${plain.port}/sessions`);
      assert.equal((await post(url, headers(url), '{}', AbortSignal.timeout(10_000), { proxy: true, env })).status, 201);
    }
    const url = new URL(`http://127.0.0.1:${plain.port}/sessions`);
    assert.equal((await post(url, headers(url), '{}', AbortSignal.timeout(10_000), { env })).status, 201);
    assert.equal(proxy.connects.length + proxy.forwards.length, 0);
    assert.equal(plain.seen.length, 3);
  });
});

describe('createSession through a proxy: the proxy decision and its failures', () => {
  const saved = { ...process.env };
  const setEnv = (vars: Record<string, string>) => {
    for (const k of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy']) delete process.env[k];
    Object.assign(process.env, vars);
  };
  after(() => setEnv(Object.fromEntries(Object.entries(saved).filter(([k]) => /_proxy$/i.test(k)) as [string, string][])));

  function input(over: Partial<CreateSessionInput> = {}): CreateSessionInput {
    return {
      certPem: pki.leafPem,
      chainPem: pki.intPem,
      key: pki.leafKey,
      trustAnchorArn: TA,
      profileArn: PROFILE,
      roleArn: ROLE,
      durationSeconds: 3600,
      endpoint: new URL(`https://${NAME}`),
      withProxy: true,
      ...over,
    };
  }
  const deps = () => ({ clock: fixedClock(new Date(new Date(pki.leaf.validFrom).getTime() + 3_600_000)), logger: memoryLogger(), random: () => 0.99 });

  it('withProxy is what the transport is told; without it nothing asks for a proxy', async () => {
    const calls: unknown[] = [];
    const fake: typeof post = async (_u, _h, _b, _s, opts) => {
      calls.push(opts);
      return { status: 201, header: () => undefined, text: OK };
    };
    await createSession({ ...deps(), post: fake }, input());
    await createSession({ ...deps(), post: fake }, input({ withProxy: false }));
    const { withProxy: _, ...without } = input();
    await createSession({ ...deps(), post: fake }, without);
    assert.deepEqual(calls, [{ proxy: true }, {}, {}]);
  });

  it('a refused CONNECT (403) is a clear error naming the proxy and what to check, without its credentials anywhere', async () => {
    proxy.refuse = 403;
    setEnv({ HTTPS_PROXY: withCreds(proxy.url, 'agent', 'hunter2-secret') });
    const d = deps();
    const e = await createSession(d, input(), { attempts: 1 }).then(
      () => assert.fail('resolved'),
      (x: unknown) => x as AgentError,
    );
    assert.ok(e instanceof AgentError);
    assert.equal(e.code, 'PROXY_REFUSED');
    assert.equal(e.message, `proxy ${proxy.url} (from HTTPS_PROXY) refused the tunnel to ${NAME}: HTTP 403 Forbidden`);
    assert.match(e.hint ?? '', new RegExp(`allows CONNECT to ${NAME.replace(/\./g, '\\.')}:443.*NO_PROXY`));
    assert.deepEqual(proxy.connects, [`${NAME}:443`]);
    assert.deepEqual(proxy.authorizations, [`Basic ${Buffer.from('agent:hunter2-secret').toString('base64')}`]);
    const everything = JSON.stringify({ message: e.message, hint: e.hint, details: e.details, logs: d.logger.entries });
    assert.doesNotMatch(everything, /hunter2|agent:|YWdlbnQ6/);
  });

  it('407: the hint says where the proxy credentials go', async () => {
    proxy.refuse = 407;
    setEnv({ https_proxy: proxy.url });
    const e = (await createSession(deps(), input(), { attempts: 1 }).catch((x: unknown) => x)) as AgentError;
    assert.equal(e.code, 'PROXY_AUTH_REQUIRED');
    assert.match(e.hint ?? '', /https_proxy \(http:\/\/USER:PASSWORD@HOST:PORT\)/);
  });

  it('an unreachable proxy names it (without credentials) and what to check; it is retried like a network failure', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    setEnv({ HTTPS_PROXY: `http://user:topsecret@127.0.0.1:${port}` });
    const d = deps();
    const e = (await createSession(d, input(), { attempts: 2, baseMs: 1, maxMs: 1 }).catch((x: unknown) => x)) as AgentError;
    assert.equal(e.code, 'PROXY_UNREACHABLE');
    assert.equal(e.message, `cannot reach proxy http://127.0.0.1:${port} (from HTTPS_PROXY) for https://${NAME}: ECONNREFUSED`);
    assert.match(e.hint ?? '', /check HTTPS_PROXY \(host and port\)/);
    assert.equal(d.logger.entries.filter((l) => l.msg === 'CreateSession failed; retrying').length, 1);
    assert.doesNotMatch(JSON.stringify({ m: e.message, h: e.hint, d: e.details, l: d.logger.entries }), /topsecret/);
  });

  it('an https endpoint under NO_PROXY goes direct (here: a loopback relay name is not needed; the decision is checked)', () => {
    assert.equal(proxyFor(new URL(`https://${NAME}`), { HTTPS_PROXY: proxy.url, NO_PROXY: 'proxy.test' }), undefined);
    assert.equal(proxyFor(new URL(`https://${NAME}`), { HTTPS_PROXY: proxy.url, no_proxy: 'other.test' })?.proxy.href, `${proxy.url}/`);
  });
});

describe("proxyFor: Go's ProxyFromEnvironment rules (golang.org/x/net/http/httpproxy)", () => {
  const P = 'http://proxy.corp:3128';
  const pick = (url: string, env: NodeJS.ProcessEnv) => proxyFor(new URL(url), env)?.proxy.href;
  it('the scheme picks the variable, upper case first; no ALL_PROXY; a value without scheme is http://', () => {
    assert.equal(pick('https://a.example', { HTTPS_PROXY: P, https_proxy: 'http://lower:1' }), `${P}/`);
    assert.equal(pick('https://a.example', { https_proxy: 'http://lower:1' }), 'http://lower:1/');
    assert.equal(pick('https://a.example', { HTTP_PROXY: P }), undefined);
    assert.equal(pick('http://a.example', { HTTP_PROXY: P }), `${P}/`);
    assert.equal(pick('https://a.example', { ALL_PROXY: P, all_proxy: P }), undefined);
    assert.equal(pick('https://a.example', { HTTPS_PROXY: 'proxy.corp:3128' }), `${P}/`);
    assert.equal(pick('https://a.example', { HTTPS_PROXY: 'https://tls.proxy:8443' }), 'https://tls.proxy:8443/');
  });
  it('never for localhost or a loopback IP', () => {
    for (const u of ['https://localhost', 'https://127.0.0.1', 'https://127.9.9.9:8443', 'https://[::1]', 'https://[::ffff:127.0.0.1]']) {
      assert.equal(pick(u, { HTTPS_PROXY: P }), undefined, u);
    }
    assert.equal(pick('https://localhost.example', { HTTPS_PROXY: P }), `${P}/`);
  });
  it('NO_PROXY: names with their subdomains, .name and *.name subdomains only, IPs, CIDRs, ports, *', () => {
    const cases: [string, string, boolean][] = [
      ['https://foo.com', 'foo.com', false],
      ['https://bar.foo.com', 'foo.com', false],
      ['https://barfoo.com', 'foo.com', true],
      ['https://foo.com', '.foo.com', true],
      ['https://x.foo.com', '.foo.com', false],
      ['https://x.foo.com', '*.foo.com', false],
      ['https://foo.com', '*.foo.com', true],
      ['https://FOO.com', ' other.org , Foo.Com ', false],
      ['https://foo.com', 'foo.com:443', false],
      ['https://foo.com:8443', 'foo.com:443', true],
      ['https://10.1.2.3', '10.0.0.0/8', false],
      ['https://11.1.2.3', '10.0.0.0/8', true],
      ['https://10.1.2.3', '10.1.2.3', false],
      ['https://10.1.2.3:8443', '10.1.2.3:443', true],
      ['https://[2001:db8::1]', '2001:db8::/32', false],
      ['https://[2001:db8::1]', '[2001:db8::1]:443', false],
      ['https://anything.example', '*', false],
      ['https://10.1.2.3', 'foo.com', true],
    ];
    for (const [url, noProxy, proxied] of cases) {
      assert.equal(pick(url, { HTTPS_PROXY: P, NO_PROXY: noProxy }) !== undefined, proxied, `${url} with NO_PROXY=${noProxy}`);
    }
    assert.equal(pick('https://foo.com', { HTTPS_PROXY: P, NO_PROXY: '', no_proxy: 'foo.com' }), undefined);
  });
  it('refuses a socks proxy and HTTP_PROXY in a CGI environment, clearly', () => {
    assert.throws(() => proxyFor(new URL('https://a.example'), { HTTPS_PROXY: 'socks5://s:1080' }), /names a socks5 proxy/);
    assert.throws(() => proxyFor(new URL('http://a.example'), { HTTP_PROXY: P, REQUEST_METHOD: 'GET' }), /CGI environment/);
  });
  it('user:password leave the URL and become the Proxy-Authorization value', () => {
    const c = proxyFor(new URL('https://a.example'), { HTTPS_PROXY: 'http://us%3Aer:p%40ss@proxy.corp:3128' })!;
    assert.equal(c.proxy.href, `${P}/`);
    assert.equal(c.authorization, `Basic ${Buffer.from('us:er:p@ss').toString('base64')}`);
  });
});
