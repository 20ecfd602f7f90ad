import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';

/**
 * lego 4.9.1 (Debian, /usr/bin/lego) as an interop peer and benchmark baseline. Its route53 provider uses
 * aws-sdk-go v1, which has no endpoint override that lego exposes (lego v5's AWS_ENDPOINT_URL_ROUTE_53 support
 * cannot be installed here: the Go module proxy refuses it). So lego reaches the sandbox through a loopback HTTPS
 * proxy (HTTPS_PROXY) that terminates TLS for route53.amazonaws.com with a throwaway certificate (AWS_CA_BUNDLE) and
 * forwards the decrypted requests, Host header and all, to the sandbox front, where SigV4 is verified as usual.
 */

const run = promisify(execFile);
export const LEGO = '/usr/bin/lego';

export interface InterceptingProxy {
  url: string;
  caPath: string;
  /** CONNECT targets lego asked for, in order */
  hosts: string[];
  close(): Promise<void>;
}

export async function interceptingProxy(dir: string, target: URL): Promise<InterceptingProxy> {
  const key = path.join(dir, 'r53.key');
  const cert = path.join(dir, 'r53.pem');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=route53.amazonaws.com',
    '-addext',
    'subjectAltName=DNS:route53.amazonaws.com',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  const hosts: string[] = [];
  const inner = http.createServer((req, res) => {
    const fwd = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    fwd.on('error', () => res.destroy());
    req.pipe(fwd);
  });
  const sockets = new Set<Socket>();
  const proxy = http.createServer((_req, res) => res.writeHead(405).end());
  const context = tls.createSecureContext({ key: readFileSync(key), cert: readFileSync(cert) });
  proxy.on('connect', (req, socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    hosts.push(req.url ?? '');
    if (req.url !== 'route53.amazonaws.com:443') {
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    inner.emit('connection', new tls.TLSSocket(socket, { isServer: true, secureContext: context }));
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    caPath: cert,
    hosts,
    close: async () => {
      for (const s of sockets) s.destroy();
      inner.closeAllConnections();
      await new Promise<void>((r) => proxy.close(() => r()));
    },
  };
}

export interface LegoRunOptions {
  /** lego's --path and HOME */
  dir: string;
  directoryUrl: string;
  /** PEM of the CA of the ACME server's TLS listener (LEGO_CA_CERTIFICATES) */
  acmeCaPath: string;
  proxy: InterceptingProxy;
  /** host:port lego resolves through (--dns.resolvers) */
  dnsServer: string;
  domain: string;
  /** AWS credentials for Route 53 */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** AWS_HOSTED_ZONE_ID: then lego needs no ListHostedZonesByName */
  hostedZoneId?: string;
  /** AWS_POLLING_INTERVAL seconds (GetChange polling); unset: lego's default (4 s in 4.9.1) */
  pollingIntervalSec?: number;
  timeoutMs?: number;
}

export interface LegoResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `lego … run` for one name with the route53 DNS-01 provider; resolves with the exit code (never rejects on failure). */
export function legoRun(o: LegoRunOptions): Promise<LegoResult> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: o.dir,
    HTTPS_PROXY: o.proxy.url,
    AWS_CA_BUNDLE: o.proxy.caPath,
    AWS_ACCESS_KEY_ID: o.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: o.credentials.secretAccessKey,
    AWS_REGION: 'us-east-1',
    // no shared config files: the keys above are the only credentials lego sees
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...(o.pollingIntervalSec === undefined ? {} : { AWS_POLLING_INTERVAL: String(o.pollingIntervalSec) }),
    AWS_PROPAGATION_TIMEOUT: '60',
    ...(o.hostedZoneId ? { AWS_HOSTED_ZONE_ID: o.hostedZoneId } : {}),
    LEGO_CA_CERTIFICATES: o.acmeCaPath,
  };
  const args = [
    '--server',
    o.directoryUrl,
    '--path',
    path.join(o.dir, 'lego'),
    '--accept-tos',
    '--email',
    'sandbox@example.com',
    '--key-type',
    'ec256',
    '--domains',
    o.domain,
  ];
  // --dns.disable-cp: lego's own propagation check follows the zone's NS names, which only the sandbox knows;
  // GetChange INSYNC (which the sandbox ties to its authoritative answers) is the readiness signal instead.
  args.push('--dns', 'route53', '--dns.resolvers', o.dnsServer, '--dns.disable-cp', 'run');
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(LEGO, args, { env, cwd: o.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}
