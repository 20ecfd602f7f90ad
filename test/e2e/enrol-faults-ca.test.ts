import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { E2eSandbox } from '../helpers/sandbox.js';
import { assertCleanFailure, assertNoTxt, enrolSandbox, exists } from '../helpers/enrol.js';

/**
 * Issue 2, "What must be shown" 5 (CA side): Pebble rejecting half of all nonces (PEBBLE_WFE_NONCEREJECT=50), and
 * 5xx answers from a TLS-terminating proxy in front of Pebble. The proxy serves Pebble's own listener certificate
 * and forwards the Host header, so Pebble writes the proxy's address into every URL it returns and the agent sends
 * every request — directory, nonce, JWS POSTs — through it. Recovered, or failed with one clear line; never an
 * orphan TXT record.
 */

interface FaultyProxy {
  directoryUrl: string;
  /** decides per request (1-based count, method, path) whether to answer 503 instead of forwarding */
  fail: (n: number, method: string, path: string) => boolean;
  log: { method: string; path: string; status: number }[];
  close(): Promise<void>;
}

async function faultyProxy(sb: E2eSandbox): Promise<FaultyProxy> {
  const pebbleDir = path.join(sb.dir, 'pebble');
  const target = new URL(sb.info.directoryUrl);
  const ca = readFileSync(path.join(pebbleDir, 'tls-ca.pem'));
  let n = 0;
  const p: FaultyProxy = { directoryUrl: '', fail: () => false, log: [], close: async () => {} };
  const server = https.createServer(
    { key: readFileSync(path.join(pebbleDir, 'tls-key.pem')), cert: readFileSync(path.join(pebbleDir, 'tls-cert.pem')) },
    (req, res) => {
      const method = req.method ?? 'GET';
      const url = req.url ?? '/';
      if (p.fail(++n, method, url)) {
        // what a load balancer in front of a CA says: HTML, no problem document, no nonce
        p.log.push({ method, path: url, status: 503 });
        req.resume();
        res.writeHead(503, { 'content-type': 'text/html' }).end('<html><body><h1>503 Service Unavailable</h1></body></html>\n');
        return;
      }
      const fwd = https.request({ host: target.hostname, port: target.port, method, path: url, headers: req.headers, ca }, (up) => {
        p.log.push({ method, path: url, status: up.statusCode ?? 0 });
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      fwd.on('error', () => res.destroy());
      req.pipe(fwd);
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  p.directoryUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}${target.pathname}`;
  p.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return p;
}

describe('CA faults during bootstrap', () => {
  let sb: E2eSandbox;
  let proxy: FaultyProxy;
  before(async () => {
    sb = await enrolSandbox();
    proxy = await faultyProxy(sb);
  });
  after(async () => {
    await proxy?.close();
    await sb?.stop();
  });

  const viaProxy = (state: string, ...more: string[]) => [
    'bootstrap',
    '--set',
    `acme.directory=${proxy.directoryUrl}`,
    '--set',
    `state.dir=${path.join(sb.dir, state)}`,
    ...more,
  ];

  it('recovers when the first request to every CA endpoint gets a 503', async () => {
    proxy.log.length = 0;
    // one 503 per endpoint kind (directory, nonce, account, order, authz, challenge, finalize, order poll, certificate)
    const seen = new Set<string>();
    proxy.fail = (_n, method, p) => {
      const kind = `${method} ${p.split('/')[1]}`;
      if (seen.has(kind)) return false;
      seen.add(kind);
      return true;
    };
    const r = await sb.cli(viaProxy('state-503-some', '--json'));
    assert.equal(r.code, 0, r.stderr);
    assert.ok(exists(path.join(sb.dir, 'state-503-some', 'live', 'cert.pem')));
    const failed = proxy.log.filter((l) => l.status === 503).map((l) => `${l.method} ${l.path.split('/')[1]}`);
    for (const kind of ['GET dir', 'POST sign-me-up', 'POST order-plz', 'POST authZ', 'POST chalZ', 'POST finalize-order', 'POST certZ']) {
      assert.ok(failed.includes(kind), `${kind} was refused once: ${failed.join(', ')}`);
    }
    assert.ok(
      proxy.log.some((l) => l.path.startsWith('/certZ/') && l.status === 200),
      'the certificate came through the proxy',
    );
    assert.doesNotMatch(r.stderr, /"level":"error"/);
    await assertNoTxt(sb);
  });

  it('a CA that answers only 503 fails with one clear line', async () => {
    proxy.log.length = 0;
    proxy.fail = () => true;
    const r = await sb.cli(viaProxy('state-503-all', '--set', 'acme.attempts=2'));
    assertCleanFailure(r, /^iamra-agent: acme: /, /GET https:\/\/127\.0\.0\.1:\d+\/dir returned 503/, /the CA is failing or overloaded/, /retry later/);
    assert.equal(exists(path.join(sb.dir, 'state-503-all', 'live')), false);
    await assertNoTxt(sb);
  });

  it('a CA that fails finalize after the challenge was validated: clear failure, the TXT record is removed', async () => {
    proxy.log.length = 0;
    proxy.fail = (_n, method, p) => method === 'POST' && p.startsWith('/finalize-order/');
    const r = await sb.cli(viaProxy('state-503-finalize', '--set', 'acme.attempts=2'));
    assertCleanFailure(r, /^iamra-agent: acme: /, /503/);
    assert.ok(
      proxy.log.some((l) => l.path.startsWith('/chalZ/') && l.status === 200),
      'the challenge was answered first',
    );
    assert.equal(exists(path.join(sb.dir, 'state-503-finalize', 'live')), false);
    const calls = await sb.admin<{ action: string; status: number }[]>('calls?service=route53');
    assert.ok(
      calls.some((c) => c.action === 'ChangeResourceRecordSets'),
      'a TXT record was published',
    );
    await assertNoTxt(sb);
  });
});

describe('Pebble rejecting half of all nonces (PEBBLE_WFE_NONCEREJECT=50)', () => {
  let sb: E2eSandbox;
  before(async () => {
    sb = await enrolSandbox({ args: ['--pebble-env', 'PEBBLE_WFE_NONCEREJECT=50'] });
  });
  after(async () => {
    await sb?.stop();
  });

  it('retries badNonce answers and enrols', async () => {
    const log = readFileSync(path.join(sb.dir, 'pebble', 'pebble.log'), 'utf8');
    assert.match(log, /Configured to reject 50% of good nonces/, 'Pebble took the setting');
    // Pebble rejects each nonce with probability 1/2, so a run of ~9 signed requests sees none about once in 500.
    // Enrol again (bounded) until a run met a rejection; every run must enrol, the one that met rejections included.
    const runs: number[] = [];
    for (let attempt = 0; attempt < 8 && !runs.some((n) => n > 0); attempt++) {
      const r = await sb.cli(['bootstrap', '--json', ...(attempt > 0 ? ['--force'] : [])]);
      assert.equal(r.code, 0, r.stderr);
      const issued = r.stderr
        .split('\n')
        .filter((l) => l.includes('"certificate issued"'))
        .map((l) => JSON.parse(l) as { badNonces: number });
      assert.equal(issued.length, 1);
      runs.push(issued[0]!.badNonces);
      assert.ok(exists(path.join(sb.dir, 'state', 'live', 'cert.pem')));
      await assertNoTxt(sb);
    }
    assert.ok(
      runs.some((n) => n > 0),
      `Pebble rejected no nonce in ${runs.length} enrolments (badNonces per run: ${runs.join(', ')})`,
    );
  });
});
