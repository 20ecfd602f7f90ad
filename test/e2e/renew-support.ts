import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { AgentState } from '../../src/store/index.js';
import type { E2eSandbox } from '../helpers/sandbox.js';
import { cliPath } from '../helpers/paths.js';
import { reapChild } from '../helpers/reaper.js';

/** Helpers for the renew/rollback/crash e2e tests (test/e2e/renew-*.test.ts, crash-*.test.ts). */

/**
 * Pebble's management API, POST /set-renewal-info/ (Pebble >= 2.8): from now on Pebble answers ARI requests for this
 * certificate with the given window. Over HTTPS, trusting the CA of Pebble's listener (D/pebble/tls-ca.pem).
 */
export function setPebbleRenewalInfo(sb: E2eSandbox, certPem: string, window: { start: Date; end: Date }): Promise<void> {
  const body = JSON.stringify({
    Certificate: certPem,
    ARIResponse: JSON.stringify({ suggestedWindow: { start: window.start.toISOString(), end: window.end.toISOString() } }),
  });
  const ca = readFileSync(path.join(sb.dir, 'pebble', 'tls-ca.pem'));
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${sb.info.managementUrl}/set-renewal-info/`,
      { method: 'POST', ca, headers: { 'content-type': 'application/json', 'user-agent': 'iamra-agent-tests' } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`set-renewal-info: ${res.statusCode} ${text}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export function stateDir(sb: E2eSandbox): string {
  return path.join(sb.dir, 'state');
}

export function readState(dir: string): AgentState {
  return JSON.parse(readFileSync(path.join(dir, 'state.json'), 'utf8')) as AgentState;
}

export interface LiveView {
  /** the version directory `live` resolved to (once, so all files come from one version) */
  dir: string;
  version: string;
  certPem: string;
  serial: string;
  meta: Record<string, unknown>;
}

export function readLive(stateDirPath: string): LiveView {
  const dir = realpathSync(path.join(stateDirPath, 'live'));
  const certPem = readFileSync(path.join(dir, 'cert.pem'), 'utf8');
  return {
    dir,
    version: path.basename(dir),
    certPem,
    serial: new X509Certificate(certPem).serialNumber.toUpperCase(),
    meta: JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8')) as Record<string, unknown>,
  };
}

/**
 * `live` is a complete identity whose key matches its certificate, checked with openssl: the public key in the
 * certificate (`openssl x509 -pubkey`) equals the one derived from the private key (`openssl pkey -pubout`). Returns
 * a problem, or undefined when all is well.
 */
export function liveProblem(stateDirPath: string): string | undefined {
  let dir: string;
  try {
    dir = realpathSync(path.join(stateDirPath, 'live'));
  } catch (e) {
    return `live does not resolve: ${String(e)}`;
  }
  for (const f of ['cert.pem', 'chain.pem', 'fullchain.pem', 'key.pem', 'meta.json']) {
    if (!existsSync(path.join(dir, f))) return `${path.basename(dir)}/${f} is missing`;
  }
  let certKey: string;
  let privKey: string;
  try {
    certKey = execFileSync('openssl', ['x509', '-in', path.join(dir, 'cert.pem'), '-noout', '-pubkey'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    privKey = execFileSync('openssl', ['pkey', '-in', path.join(dir, 'key.pem'), '-pubout'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    return `openssl cannot read ${path.basename(dir)}: ${String(e)}`;
  }
  if (certKey.trim() !== privKey.trim()) return `${path.basename(dir)}: key.pem does not match cert.pem`;
  const cert = readFileSync(path.join(dir, 'cert.pem'), 'utf8');
  const chain = readFileSync(path.join(dir, 'chain.pem'), 'utf8');
  if (readFileSync(path.join(dir, 'fullchain.pem'), 'utf8') !== cert + chain) return `${path.basename(dir)}: fullchain.pem is not cert + chain`;
  const meta = JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8')) as { serial?: string };
  if (meta.serial !== new X509Certificate(cert).serialNumber.toUpperCase()) return `${path.basename(dir)}: meta.json serial does not match`;
  return undefined;
}

/** SubjectPublicKeyInfo of a certificate, base64 (to compare keys across versions) */
export function spkiOf(certPem: string): string {
  return new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
}

interface ZoneRecord {
  name: string;
  type: string;
  values: string[];
}

/**
 * TXT records of the sandbox zone, from the admin API: `records` is what Route 53's API holds
 * (ListResourceRecordSets reflects a change at once), `live` what its name servers serve (a change only once INSYNC).
 */
export async function zoneTxtViews(sb: E2eSandbox): Promise<{ records: ZoneRecord[]; live: ZoneRecord[] }> {
  const zones = await sb.admin<{ records: ZoneRecord[]; live: ZoneRecord[] }[]>('route53/zones');
  const txt = (rs: ZoneRecord[]) => rs.filter((r) => r.type === 'TXT');
  return { records: zones.flatMap((z) => txt(z.records)), live: zones.flatMap((z) => txt(z.live)) };
}

/**
 * Waits (bounded) until the name servers serve no TXT record: a DELETE the agent submitted is PENDING for the
 * sandbox's INSYNC delay before the served zone drops it, as with Route 53. Returns what is still served at the end.
 */
export async function servedTxtAfterInsync(sb: E2eSandbox, o: { timeoutMs: number; pollMs?: number }): Promise<{ live: ZoneRecord[]; waitedMs: number }> {
  const t0 = Date.now();
  for (;;) {
    const { live } = await zoneTxtViews(sb);
    const waitedMs = Date.now() - t0;
    if (live.length === 0 || waitedMs >= o.timeoutMs) return { live, waitedMs };
    await new Promise((r) => setTimeout(r, o.pollMs ?? 50));
  }
}

/** A CLI run that the test controls (kill, concurrent runs): spawned with the sandbox env, output collected. */
export interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startCli(sb: E2eSandbox, args: string[]): Running {
  const child = reapChild(spawn(process.execPath, [cliPath, ...args], { env: sb.env, stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  return { child, stdout: () => out, stderr: () => err, done };
}

/** JSON log lines (--log-format json) of a run */
export function logLines(stderr: string): { message: string; timestamp: string; [k: string]: unknown }[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { message: string; timestamp: string });
}
