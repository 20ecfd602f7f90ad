import * as x509 from '@peculiar/x509';
import { spawn, type ChildProcess } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { createWriteStream, existsSync, promises as fsp } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import net from 'node:net';
import dgram from 'node:dgram';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { systemClock } from '../core/clock.js';
import { AgentError, messageOf } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { toPem } from '../core/pem.js';

/**
 * Local ACME CA for tests and `sandbox` commands: the pinned Pebble (>= 2.10: ACME profiles, ARI with
 * set-renewal-info, alreadyReplaced) plus pebble-challtestsrv as the DNS the CA validates against. Everything
 * binds 127.0.0.1 on ephemeral ports, so parallel runs never collide, and every process is stopped by stop().
 */

const COMPONENT = 'sandbox.pebble';
const PEERS_DIR = '/opt/iamra-agent-peers/bin';
const DEBIAN_PEBBLE = '/usr/bin/pebble';
const DEBIAN_CHALLTESTSRV = '/usr/bin/pebble-challtestsrv';
/** ready in ~0.2 s on an idle machine; generous because CI machines run many tests on 2 cores */
const READY_TIMEOUT_MS = 30_000;

export interface PebbleProfile {
  description: string;
  /** certificate lifetime in seconds */
  validityPeriodSec: number;
  promoteCommonName?: boolean;
}

/** Today's Let's Encrypt profile lifetimes (reference/letsencrypt.md §0.4), so tests see realistic certificates. */
export const LE_LIKE_PROFILES: Record<string, PebbleProfile> = {
  classic: { description: 'classic: 90 days, CN promoted', validityPeriodSec: 90 * 86400, promoteCommonName: true },
  tlsserver: { description: 'tlsserver: 45 days', validityPeriodSec: 45 * 86400 },
  shortlived: { description: 'shortlived: 160 hours', validityPeriodSec: 160 * 3600 },
};

export interface PebbleOptions {
  /** working directory for config, TLS material, PEMs and the log (created if missing) */
  dir: string;
  /** host:port of the DNS server Pebble validates DNS-01 against (pebble-challtestsrv, sandbox DNS) */
  dnsServer: string;
  /** extra environment, e.g. { PEBBLE_WFE_NONCEREJECT: '30' }; defaults: VA_NOSLEEP=1, AUTHZREUSE=0, NONCEREJECT=0 */
  env?: Record<string, string>;
  /** when given, newAccount requires External Account Binding with one of these kid → base64url HMAC keys */
  eabKeys?: Record<string, string>;
  /** profiles advertised in directory.meta.profiles; default LE_LIKE_PROFILES */
  profiles?: Record<string, PebbleProfile>;
  /** Retry-After seconds Pebble puts on pending authz / processing order responses */
  retryAfter?: { authz: number; order: number };
  /** the pebble binary; default $IAMRA_PEERS_BIN/pebble or /opt/iamra-agent-peers/bin/pebble, else Debian's */
  binary?: string;
  logger?: Logger;
  readyTimeoutMs?: number;
}

export interface PebbleInstance {
  directoryUrl: string;
  managementUrl: string;
  /** PEM file of the CA that signed Pebble's listener certificate: the ACME client's acme.caBundle */
  tlsCaPemPath: string;
  /** Pebble's issuing root(s) for this run (GET /roots/0 …), regenerated at every start */
  rootsPem: string;
  rootsPemPath: string;
  intermediatesPem: string;
  intermediatesPemPath: string;
  logFile: string;
  binary: string;
  pid: number;
  /** POST /set-renewal-info/: override the ARI answer for a certificate (any string, or an object sent as JSON) */
  setRenewalInfo(certPem: string, ariResponse: string | { suggestedWindow: { start: string; end: string }; explanationURL?: string }): Promise<void>;
  stop(): Promise<void>;
}

export interface ChallTestSrvOptions {
  dir: string;
  binary?: string;
  logger?: Logger;
  readyTimeoutMs?: number;
}

export interface ChallTestSrvInstance {
  /** host:port for Pebble's -dnsserver */
  dnsServer: string;
  managementUrl: string;
  pid: number;
  logFile: string;
  /** adds a TXT value (challtestsrv appends; the name needs no trailing dot here) */
  setTxt(fqdn: string, value: string): Promise<void>;
  /** removes all TXT values of the name */
  clearTxt(fqdn: string): Promise<void>;
  stop(): Promise<void>;
}

export function defaultPeerBinary(name: 'pebble' | 'pebble-challtestsrv', logger?: Logger): string {
  const pinned = path.join(process.env.IAMRA_PEERS_BIN ?? PEERS_DIR, name);
  if (existsSync(pinned)) return pinned;
  const debian = name === 'pebble' ? DEBIAN_PEBBLE : DEBIAN_CHALLTESTSRV;
  if (existsSync(debian)) {
    const msg = `pinned ${name} not found at ${pinned}; using Debian's ${debian} (2.4.0): ARI, profiles and serverAuth-only leaves are lost`;
    if (logger) logger.warn(msg, { pinned, binary: debian });
    else process.emitWarning(msg);
    return debian;
  }
  throw new AgentError({
    code: 'SANDBOX_PEBBLE_MISSING',
    component: COMPONENT,
    message: `${name} not found at ${pinned} or ${debian}`,
    hint: 'run test/setup/install.sh (installs the pinned Pebble into /opt/iamra-agent-peers/bin) or set IAMRA_PEERS_BIN',
  });
}

/** An unused loopback port (TCP, and UDP too when asked: a DNS server binds both). */
export async function freePort(udpToo = false): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    if (!udpToo) return port;
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = dgram.createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new AgentError({ code: 'SANDBOX_NO_PORT', component: COMPONENT, message: 'no free loopback port found' });
}

/** Listener TLS for Pebble: a throwaway CA and a localhost/127.0.0.1 certificate, made with WebCrypto (no openssl). */
async function makeListenerTls(dir: string): Promise<{ caPath: string; certPath: string; keyPath: string; caPem: string }> {
  const crypto = webcrypto as unknown as Crypto;
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const caKeys = (await crypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = systemClock.now().getTime();
  const notBefore = new Date(now - 3600_000);
  const notAfter = new Date(now + 30 * 86400_000);
  const ca = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '01' + Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString('hex'),
      name: 'CN=iamra-agent sandbox Pebble listener CA',
      notBefore,
      notAfter,
      keys: caKeys,
      signingAlgorithm: alg,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const leafKeys = (await crypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const leaf = await x509.X509CertificateGenerator.create(
    {
      serialNumber: '02' + Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString('hex'),
      subject: 'CN=localhost',
      issuer: ca.subject,
      notBefore,
      notAfter,
      publicKey: leafKeys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: alg,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([
          { type: 'dns', value: 'localhost' },
          { type: 'ip', value: '127.0.0.1' },
        ]),
        await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const keyPem = toPem('PRIVATE KEY', new Uint8Array(await crypto.subtle.exportKey('pkcs8', leafKeys.privateKey)));
  const caPem = ca.toString('pem') + '\n';
  const caPath = path.join(dir, 'tls-ca.pem');
  const certPath = path.join(dir, 'tls-cert.pem');
  const keyPath = path.join(dir, 'tls-key.pem');
  await fsp.writeFile(caPath, caPem, { mode: 0o644 });
  await fsp.writeFile(certPath, leaf.toString('pem') + '\n', { mode: 0o644 });
  await fsp.writeFile(keyPath, keyPem, { mode: 0o600 });
  return { caPath, certPath, keyPath, caPem };
}

interface SimpleResponse {
  status: number;
  body: string;
}

function request(url: string, o: { method?: string; body?: string; ca?: string; timeoutMs?: number } = {}): Promise<SimpleResponse> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      {
        method: o.method ?? 'GET',
        ...(o.ca ? { ca: o.ca } : {}),
        timeout: o.timeoutMs ?? 5000,
        // Pebble rejects requests without a User-Agent (RFC 8555 §6.1)
        headers: {
          'user-agent': 'iamra-agent-sandbox',
          ...(o.body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(o.body) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout requesting ${url}`)));
    req.on('error', reject);
    req.end(o.body);
  });
}

interface Spawned {
  child: ChildProcess;
  exited: Promise<number | null>;
  /** resolves once everything the process printed is in the log file */
  logged: Promise<void>;
  logFile: string;
}

/** Each launch starts its own log, so a retried launch's log is not mixed with the failed one's. */
function spawnLogged(binary: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): Spawned {
  const out = createWriteStream(logFile, { flags: 'w' });
  const logged = new Promise<void>((resolve) => {
    out.once('finish', resolve);
    out.once('error', () => resolve());
  });
  const child = spawn(binary, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(out, { end: false });
  child.stderr!.pipe(out, { end: false });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      // the pipes may still hold output when exit fires; close the log once they drain
      let open = 2;
      const done = () => {
        if (--open === 0) out.end();
      };
      child.stdout!.once('close', done);
      child.stderr!.once('close', done);
      resolve(code);
    });
    child.once('error', () => resolve(null));
  });
  return { child, exited, logged, logFile };
}

async function logTail(file: string): Promise<string> {
  const text = await fsp.readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(-15).join('\n');
}

async function stopProcess(s: Spawned): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  s.child.kill('SIGTERM');
  const timer = delay(3000).then(() => 'timeout' as const);
  if ((await Promise.race([s.exited, timer])) === 'timeout') {
    s.child.kill('SIGKILL');
    await s.exited;
  }
}

/** Polls `probe` until it returns true, failing early (with the log tail) when the process dies. */
async function waitReady(what: string, s: Spawned, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let died = false;
  void s.exited.then(() => {
    died = true;
  });
  let last: unknown;
  while (performance.now() < deadline) {
    if (died) break;
    try {
      if (await probe()) return;
    } catch (e) {
      last = e;
    }
    await delay(50);
  }
  const exited = died;
  await stopProcess(s);
  if (exited) await Promise.race([s.logged, delay(1000)]);
  const tail = await logTail(s.logFile);
  // The ports were free when picked but a child process binds them later (it cannot report a port 0 back), so
  // another process may take one in between: say so with its own code, and the launchers pick new ports.
  if (exited && /address already in use/i.test(tail)) {
    throw new AgentError({
      code: 'SANDBOX_PORT_TAKEN',
      component: COMPONENT,
      message: `${what} could not bind a port (taken after it was picked)`,
      hint: `see ${s.logFile}`,
    });
  }
  throw new AgentError({
    code: 'SANDBOX_START_FAILED',
    component: COMPONENT,
    message: `${what} did not become ready${exited ? ' (it exited)' : ` within ${timeoutMs} ms`}${last ? `: ${messageOf(last)}` : ''}`,
    hint: `see ${s.logFile}:\n${tail}`,
  });
}

/** Runs a launcher again with new ports while its child lost a port race (SANDBOX_PORT_TAKEN), a bounded number of times. */
async function retryPortRace<T>(launch: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch();
    } catch (e) {
      if (!(e instanceof AgentError && e.code === 'SANDBOX_PORT_TAKEN') || attempt >= 5) throw e;
    }
  }
}

export function startPebble(o: PebbleOptions): Promise<PebbleInstance> {
  return retryPortRace(() => launchPebble(o));
}

async function launchPebble(o: PebbleOptions): Promise<PebbleInstance> {
  await fsp.mkdir(o.dir, { recursive: true, mode: 0o700 });
  const binary = o.binary ?? defaultPeerBinary('pebble', o.logger);
  const tls = await makeListenerTls(o.dir);
  const [acmePort, mgmtPort, httpPort, tlsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const profiles = o.profiles ?? LE_LIKE_PROFILES;
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${mgmtPort}`,
      certificate: tls.certPath,
      privateKey: tls.keyPath,
      // validation targets for http-01/tls-alpn-01 (unused: the agent does DNS-01); ports nobody listens on
      httpPort,
      tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: o.eabKeys !== undefined,
      ...(o.eabKeys ? { externalAccountMACKeys: o.eabKeys } : {}),
      keyAlgorithm: 'ecdsa',
      ...(o.retryAfter ? { retryAfter: o.retryAfter } : {}),
      profiles: Object.fromEntries(
        Object.entries(profiles).map(([name, p]) => [
          name,
          { description: p.description, validityPeriod: p.validityPeriodSec, promoteCommonName: p.promoteCommonName ?? false },
        ]),
      ),
    },
  };
  const configPath = path.join(o.dir, 'pebble-config.json');
  await fsp.writeFile(configPath, JSON.stringify(config, null, 2), { mode: 0o600 });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    PEBBLE_VA_NOSLEEP: '1',
    PEBBLE_AUTHZREUSE: '0',
    PEBBLE_WFE_NONCEREJECT: '0',
    ...o.env,
  };
  const logFile = path.join(o.dir, 'pebble.log');
  const s = spawnLogged(binary, ['-config', configPath, '-dnsserver', o.dnsServer, '-strict=false'], env, logFile);
  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
  const managementUrl = `https://127.0.0.1:${mgmtPort}`;
  await waitReady(
    `pebble (${binary})`,
    s,
    async () =>
      (await request(directoryUrl, { ca: tls.caPem, timeoutMs: 1000 })).status === 200 &&
      (await request(`${managementUrl}/roots/0`, { ca: tls.caPem, timeoutMs: 1000 })).status === 200,
    o.readyTimeoutMs ?? READY_TIMEOUT_MS,
  );
  const fetchPem = async (kind: 'roots' | 'intermediates'): Promise<string> => {
    const r = await request(`${managementUrl}/${kind}/0`, { ca: tls.caPem });
    if (r.status !== 200)
      throw new AgentError({ code: 'SANDBOX_START_FAILED', component: COMPONENT, message: `GET ${managementUrl}/${kind}/0 returned ${r.status}` });
    return r.body.endsWith('\n') ? r.body : r.body + '\n';
  };
  let rootsPem: string;
  let intermediatesPem: string;
  try {
    rootsPem = await fetchPem('roots');
    intermediatesPem = await fetchPem('intermediates');
  } catch (e) {
    await stopProcess(s);
    throw e;
  }
  const rootsPemPath = path.join(o.dir, 'roots.pem');
  const intermediatesPemPath = path.join(o.dir, 'intermediates.pem');
  await fsp.writeFile(rootsPemPath, rootsPem);
  await fsp.writeFile(intermediatesPemPath, intermediatesPem);
  o.logger?.debug('pebble started', { directoryUrl, pid: s.child.pid, binary });
  return {
    directoryUrl,
    managementUrl,
    tlsCaPemPath: tls.caPath,
    rootsPem,
    rootsPemPath,
    intermediatesPem,
    intermediatesPemPath,
    logFile,
    binary,
    pid: s.child.pid!,
    async setRenewalInfo(certPem, ariResponse) {
      const body = JSON.stringify({ Certificate: certPem, ARIResponse: typeof ariResponse === 'string' ? ariResponse : JSON.stringify(ariResponse) });
      const r = await request(`${managementUrl}/set-renewal-info/`, { method: 'POST', body, ca: tls.caPem });
      if (r.status !== 200) {
        throw new AgentError({
          code: 'SANDBOX_PEBBLE_MANAGEMENT',
          component: COMPONENT,
          message: `set-renewal-info returned ${r.status}: ${r.body.trim()}`,
          hint: 'the certificate must have been issued by this Pebble run, and Pebble must be >= 2.8',
        });
      }
    },
    stop: () => stopProcess(s),
  };
}

/** pebble-challtestsrv serving DNS only (every other listener disabled), on loopback ephemeral ports. */
export function startChallTestSrv(o: ChallTestSrvOptions): Promise<ChallTestSrvInstance> {
  return retryPortRace(() => launchChallTestSrv(o));
}

async function launchChallTestSrv(o: ChallTestSrvOptions): Promise<ChallTestSrvInstance> {
  await fsp.mkdir(o.dir, { recursive: true, mode: 0o700 });
  const binary = o.binary ?? defaultPeerBinary('pebble-challtestsrv', o.logger);
  const dnsPort = await freePort(true);
  const mgmtPort = await freePort();
  const dnsServer = `127.0.0.1:${dnsPort}`;
  const managementUrl = `http://127.0.0.1:${mgmtPort}`;
  // Pebble >= 2.5 renamed -dns01 to -dnsserver and added DoH; Debian's 2.4.0 knows only -dns01.
  const help = await new Promise<string>((resolve) => {
    const c = spawn(binary, ['-h'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let t = '';
    c.stdout.on('data', (d: Buffer) => (t += d.toString()));
    c.stderr.on('data', (d: Buffer) => (t += d.toString()));
    c.on('close', () => resolve(t));
    c.on('error', () => resolve(''));
  });
  const modern = help.includes('-dnsserver');
  const args = [
    ...(modern ? ['-dnsserver', dnsServer, '-doh', ''] : ['-dns01', dnsServer]),
    '-management',
    `127.0.0.1:${mgmtPort}`,
    '-http01',
    '',
    '-https01',
    '',
    '-tlsalpn01',
    '',
    '-defaultIPv4',
    '127.0.0.1',
    '-defaultIPv6',
    '',
  ];
  const logFile = path.join(o.dir, 'challtestsrv.log');
  const s = spawnLogged(binary, args, { PATH: process.env.PATH }, logFile);
  const post = async (endpoint: string, body: unknown): Promise<void> => {
    const r = await request(`${managementUrl}${endpoint}`, { method: 'POST', body: JSON.stringify(body) });
    if (r.status !== 200)
      throw new AgentError({ code: 'SANDBOX_CHALLTESTSRV', component: 'sandbox.challtestsrv', message: `${endpoint} returned ${r.status}: ${r.body.trim()}` });
  };
  await waitReady(
    'pebble-challtestsrv',
    s,
    async () => (await request(`${managementUrl}/clear-txt`, { method: 'POST', body: '{"host":"ready.invalid."}', timeoutMs: 1000 })).status === 200,
    o.readyTimeoutMs ?? READY_TIMEOUT_MS,
  );
  const dotted = (n: string) => (n.endsWith('.') ? n : n + '.');
  return {
    dnsServer,
    managementUrl,
    pid: s.child.pid!,
    logFile,
    setTxt: (fqdn, value) => post('/set-txt', { host: dotted(fqdn), value }),
    clearTxt: (fqdn) => post('/clear-txt', { host: dotted(fqdn) }),
    stop: () => stopProcess(s),
  };
}
