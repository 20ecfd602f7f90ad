import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { startPebble, type PebbleInstance } from '../../src/sandbox/pebble.js';
import { startRoute53Sandbox, type Route53Sandbox } from '../../src/sandbox/route53/index.js';
import type { Principal } from '../../src/sandbox/aws/types.js';
import { tempDir } from '../helpers/paths.js';

/**
 * lego 4.9.1 (Debian) obtains a certificate from Pebble with its built-in `route53` DNS-01 provider, i.e. aws-sdk-go
 * v1 signing and parsing the Route 53 XML, against the sandbox; Pebble validates the TXT record at the sandbox's
 * authoritative DNS server. aws-sdk-go v1 has no endpoint override for lego, so the test runs a loopback HTTPS
 * proxy (HTTPS_PROXY) that terminates TLS for route53.amazonaws.com with a throwaway certificate (AWS_CA_BUNDLE)
 * and forwards the decrypted requests, Host header and all, to the sandbox front.
 */

const run = promisify(execFile);
const LEGO = '/usr/bin/lego';
const ZONE = 'Z0SANDBOXLEGO0001';

async function interceptingProxy(dir: string, target: URL): Promise<{ url: string; caPath: string; hosts: string[]; close(): Promise<void> }> {
  const key = path.join(dir, 'r53.key');
  const cert = path.join(dir, 'r53.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=route53.amazonaws.com', '-addext', 'subjectAltName=DNS:route53.amazonaws.com', '-keyout', key, '-out', cert]);
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

describe('lego (aws-sdk-go v1) route53 provider against the sandbox', () => {
  let dir: string;
  let sb: Route53Sandbox;
  let pebble: PebbleInstance | undefined;
  let proxy: Awaited<ReturnType<typeof interceptingProxy>> | undefined;
  let agent: Principal;

  before(async () => {
    dir = tempDir('r53-lego');
    sb = await startRoute53Sandbox({ zones: [{ name: 'example.com', id: ZONE }], insyncDelayMs: 1500 });
    agent = sb.aws.principals.createUser({
      accountId: '111122223333',
      name: 'lego',
      policies: [
        {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: 'route53:ChangeResourceRecordSets',
              Resource: `arn:aws:route53:::hostedzone/${ZONE}`,
              Condition: { 'ForAllValues:StringEquals': { 'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['_acme-challenge.lego.example.com'], 'route53:ChangeResourceRecordSetsRecordTypes': ['TXT'] } },
            },
            { Effect: 'Allow', Action: ['route53:ListResourceRecordSets', 'route53:GetChange', 'route53:ListHostedZonesByName'], Resource: '*' },
          ],
        },
      ],
    });
    pebble = await startPebble({ dir: path.join(dir, 'pebble'), dnsServer: `127.0.0.1:${sb.dnsPort}` });
    proxy = await interceptingProxy(dir, new URL(sb.url));
    writeFileSync(path.join(dir, 'aws-config'), '');
  });
  after(async () => {
    await proxy?.close();
    await pebble?.stop();
    await sb?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('issues a certificate through ListHostedZonesByName, ChangeResourceRecordSets and GetChange', async () => {
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      HTTPS_PROXY: proxy!.url,
      AWS_CA_BUNDLE: proxy!.caPath,
      AWS_ACCESS_KEY_ID: agent.accessKeyId,
      AWS_SECRET_ACCESS_KEY: agent.secretAccessKey,
      AWS_REGION: 'us-east-1',
      AWS_CONFIG_FILE: path.join(dir, 'aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'aws-config'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_POLLING_INTERVAL: '1',
      AWS_PROPAGATION_TIMEOUT: '30',
      LEGO_CA_CERTIFICATES: pebble!.tlsCaPemPath,
    };
    const args = ['--server', pebble!.directoryUrl, '--path', path.join(dir, 'lego'), '--accept-tos', '--email', 'sandbox@example.com', '--key-type', 'ec256', '--domains', 'lego.example.com'];
    args.push('--dns', 'route53', '--dns.resolvers', `127.0.0.1:${sb.dnsPort}`, '--dns.disable-cp', 'run');
    let out: { stdout: string; stderr: string };
    try {
      out = await run(LEGO, args, { env, cwd: dir, timeout: 60_000 });
    } catch (e) {
      const x = e as { stderr?: string };
      assert.fail(`lego failed: ${x.stderr ?? String(e)}\ncalls: ${JSON.stringify(sb.aws.calls.map((c) => [c.action, c.status, c.errorCode]))}`);
    }
    assert.match(readFileSync(path.join(dir, 'lego', 'certificates', 'lego.example.com.crt'), 'utf8'), /BEGIN CERTIFICATE/);
    assert.ok(proxy!.hosts.every((h) => h === 'route53.amazonaws.com:443'), proxy!.hosts.join(','));
    const calls = sb.aws.calls.map((c) => `${c.action} ${c.status}${c.errorCode ? ` ${c.errorCode}` : ''}`);
    assert.ok(calls.includes('ListHostedZonesByName 200'), calls.join('\n'));
    assert.equal(calls.filter((c) => c === 'ChangeResourceRecordSets 200').length, 2, 'present and cleanup');
    assert.ok(calls.some((c) => c === 'GetChange 200'), calls.join('\n'));
    assert.ok(calls.every((c) => / 200$/.test(c)), calls.join('\n'));
    assert.match(out.stderr, /Server responded with a certificate/);
    // the cleanup was applied: nothing left but SOA and NS
    assert.deepEqual(sb.store.listRecords(ZONE).map((r) => r.type), ['NS', 'SOA']);
  });
});
