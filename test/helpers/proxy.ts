/**
 * A tiny HTTP proxy for the proxy tests (CONNECT tunnels and absolute-form forwarding), and a TLS relay that stands
 * in for an https endpoint under a name only these tests know. Everything listens on and connects to loopback only:
 * a target is reached through `routes` (name:port → a loopback port), never through DNS, and a CONNECT to a target
 * it has no route for is answered 502 without connecting anywhere.
 */
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { KU, makeCa, makeLeaf } from './pki.js';

export interface TestProxy {
  /** http://127.0.0.1:PORT */
  url: string;
  /** CONNECT targets, in order (host:port as the request line named them) */
  connects: string[];
  /** absolute-form request URLs, in order */
  forwards: string[];
  /** the Proxy-Authorization header of each request (CONNECT or forward), undefined when absent */
  authorizations: (string | undefined)[];
  /** answer every CONNECT with this status instead of tunnelling (e.g. 403) */
  refuse?: number;
  close(): Promise<void>;
}

/** `routes`: "name:port" → loopback port the proxy connects that target to. */
export async function startTestProxy(routes: Map<string, number>): Promise<TestProxy> {
  const sockets = new Set<net.Socket>();
  const p: TestProxy = { url: '', connects: [], forwards: [], authorizations: [], close: async () => {} };
  const route = (host: string, port: string) => routes.get(`${host.toLowerCase()}:${port}`);
  const server = http.createServer((req, res) => {
    p.authorizations.push(req.headers['proxy-authorization']);
    p.forwards.push(req.url ?? '');
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('absolute-form request expected');
      return;
    }
    const to = route(target.hostname, target.port || '80');
    if (to === undefined) {
      res.writeHead(502).end(`no route to ${target.host}`);
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const up = http.request({ host: '127.0.0.1', port: to, method: req.method, path: target.pathname + target.search, headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end('upstream failed'));
    req.pipe(up);
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    p.connects.push(req.url ?? '');
    p.authorizations.push(req.headers['proxy-authorization']);
    if (p.refuse !== undefined) {
      client.end(`HTTP/1.1 ${p.refuse} ${http.STATUS_CODES[p.refuse] ?? 'Refused'}\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    const m = /^(.*):(\d+)$/.exec(req.url ?? '');
    const to = m ? route(m[1]!.replace(/^\[|\]$/g, ''), m[2]!) : undefined;
    if (to === undefined) {
      client.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const up = net.connect(to, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    sockets.add(up);
    up.on('close', () => sockets.delete(up));
    up.on('error', () => client.destroy());
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  p.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  p.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  return p;
}

export interface TestTlsName {
  /** PEM of the CA that issued the name's certificate (NODE_EXTRA_CA_CERTS, SSL_CERT_FILE) */
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** A test CA and a server certificate for `name` (P-256). */
export async function tlsName(name: string): Promise<TestTlsName> {
  const now = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
  const later = new Date(now.getTime() + 86_400_000);
  const ca = await makeCa({ name: 'Proxy Test CA', notBefore: now, notAfter: later });
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const certPem = await makeLeaf({
    issuer: ca,
    names: [name],
    publicKey,
    notBefore: now,
    notAfter: later,
    keyUsage: KU.digitalSignature,
  });
  return { caPem: `${ca.pem}\n`, certPem: `${certPem}\n`, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** A TLS server on loopback with the name's certificate, piping each connection to 127.0.0.1:`to` in the clear. */
export async function startTlsRelay(name: TestTlsName, to: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({ cert: name.certPem, key: name.keyPem }, (client) => {
    const up = net.connect(to, '127.0.0.1');
    for (const s of [client, up]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
    client.pipe(up).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
