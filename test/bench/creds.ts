/**
 * `npm run bench -- creds [--runs N] [--seconds S] [--concurrency C]`: the vending paths against one sandbox.
 *
 * - credential-process as the AWS CLI runs it: a cold process per call, cache miss (--no-cache: a CreateSession
 *   every time) and cache hit; Node's own start-up alone for reference.
 * - the peer for the cold-process comparison: the AWS Labs Python client (iam-rolesanywhere-session, the oracle of
 *   test/sandbox/iamra.test.ts) wrapped as a credential_process script. The AWS credential helper
 *   (rolesanywhere-credential-helper) would be the natural peer, but the Go module proxy refuses it here, so it cannot
 *   be installed; the Python client needs HTTPS, so it reaches the sandbox through a loopback TLS proxy.
 * - serve: requests/s and latency percentiles of the credentials GET (the path every SDK refresh takes), from a
 *   bounded keep-alive load loop in this process over loopback; RSS of the serve process idle and after the load.
 *   serve has no installable peer (the credential helper's `serve` is the same Go binary).
 *
 * Numbers on a shared 2-core machine are noisy: the load loop competes with the server for CPU.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { cliPath, peerPython, tempDir } from '../helpers/paths.js';
import { startSandbox, type E2eSandbox } from '../helpers/sandbox.js';
import { startServe } from '../e2e/credentials-support.js';

interface Options {
  runs: number;
  seconds: number;
  concurrency: number;
}

function parseArgs(args: string[]): Options {
  const o: Options = { runs: 10, seconds: 5, concurrency: 16 };
  for (let i = 0; i < args.length; i += 2) {
    const k = args[i]?.replace(/^--/, '') as keyof Options;
    const v = Number(args[i + 1]);
    if (!(k in o) || !Number.isFinite(v) || v <= 0) throw new Error(`bench creds: bad option ${args[i]} ${args[i + 1]}`);
    o[k] = v;
  }
  return o;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface Stats {
  n: number;
  min: number;
  p50: number;
  p90: number;
  max: number;
}

function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, min: s[0]!, p50: percentile(s, 50), p90: percentile(s, 90), max: s[s.length - 1]! };
}

/** Wall time of one process run to exit, in ms; fails on a non-zero exit or output that is not Version 1 JSON. */
function timeProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv, expectJson = true): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`));
      if (expectJson && (JSON.parse(out) as { Version?: number }).Version !== 1) return reject(new Error(`not credential_process output: ${out}`));
      resolve(ms);
    });
  });
}

async function series(runs: number, f: () => Promise<number>): Promise<Stats> {
  await f(); // warm the page cache and the sandbox
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) samples.push(await f());
  return stats(samples);
}

const PEER_SCRIPT = `
import json, sys
from iam_rolesanywhere_session import IAMRolesAnywhereSession
a = json.load(open(sys.argv[1]))
read = lambda f: open(f, "rb").read()
s = IAMRolesAnywhereSession(profile_arn=a["profileArn"], role_arn=a["roleArn"], trust_anchor_arn=a["trustAnchorArn"],
    certificate=read(a["cert"]), private_key=read(a["key"]), certificate_chain=read(a["chain"]),
    region=a["region"], endpoint=a["endpoint"], verify=a["verify"], session_duration=3600)
r = s.get_refreshable_credentials()
c = r.get_frozen_credentials()
print(json.dumps({"Version": 1, "AccessKeyId": c.access_key, "SecretAccessKey": c.secret_key, "SessionToken": c.token,
    "Expiration": r._expiry_time.strftime("%Y-%m-%dT%H:%M:%SZ")}))
`;

/** A TLS front for the sandbox's plain-HTTP listener (the Python client speaks HTTPS only). */
async function tlsProxy(dir: string, target: URL): Promise<{ port: number; caFile: string; close(): Promise<void> }> {
  const key = path.join(dir, 'proxy.key');
  const cert = path.join(dir, 'proxy.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  const server = tls.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (socket) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, caFile: cert, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function get(agent: http.Agent, url: URL, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

async function load(base: string, o: Options): Promise<{ rps: number; latency: Stats & { p99: number }; errors: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  const tokenRes = await fetch(new URL('/latest/api/token', base), { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '600' } });
  const token = await tokenRes.text();
  const url = new URL('/latest/meta-data/iam/security-credentials/iamra-agent-sandbox', base);
  const headers = { 'X-aws-ec2-metadata-token': token };
  const latencies: number[] = [];
  let errors = 0;
  const end = Date.now() + o.seconds * 1000;
  const worker = async () => {
    while (Date.now() < end) {
      const t0 = process.hrtime.bigint();
      const status = await get(agent, url, headers);
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (status !== 200) errors++;
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  const elapsed = (Date.now() - t0) / 1000;
  agent.destroy();
  const sorted = [...latencies].sort((a, b) => a - b);
  return { rps: latencies.length / elapsed, latency: { ...stats(latencies), p99: percentile(sorted, 99) }, errors };
}

function rssKb(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

const ms = (v: number) => `${v.toFixed(1)} ms`;
const row = (name: string, s: Stats) =>
  `  ${name.padEnd(44)} p50 ${ms(s.p50).padStart(10)}  p90 ${ms(s.p90).padStart(10)}  min ${ms(s.min).padStart(10)}  (n=${s.n})`;

export default async function creds(args: string[]): Promise<void> {
  const o = parseArgs(args);
  const work = tempDir('bench-creds');
  let sb: E2eSandbox | undefined;
  let proxy: Awaited<ReturnType<typeof tlsProxy>> | undefined;
  try {
    sb = await startSandbox();
    const boot = await sb.cli(['bootstrap']);
    if (boot.code !== 0) throw new Error(`bootstrap failed: ${boot.stderr}`);
    const env = sb.env;
    const agent =
      (...a: string[]) =>
      () =>
        timeProcess(process.execPath, [cliPath, 'credential-process', '--log-level', 'warn', ...a], env);

    const nodeBaseline = await series(o.runs, () => timeProcess(process.execPath, ['-e', ''], env, false));
    const miss = await series(o.runs, agent('--no-cache'));
    const hit = await series(o.runs, agent());

    proxy = await tlsProxy(work, new URL(sb.info.awsUrl));
    const live = path.join(sb.dir, 'state', 'live');
    const peerConfig = path.join(work, 'peer.json');
    writeFileSync(
      peerConfig,
      JSON.stringify({
        profileArn: sb.info.profileArn,
        roleArn: sb.info.roleArn,
        trustAnchorArn: sb.info.trustAnchorArn,
        cert: path.join(live, 'cert.pem'),
        key: path.join(live, 'key.pem'),
        chain: path.join(live, 'chain.pem'),
        region: 'us-east-1',
        endpoint: `127.0.0.1:${proxy.port}`,
        verify: proxy.caFile,
      }),
    );
    const peerScript = path.join(work, 'peer-credential-process.py');
    writeFileSync(peerScript, PEER_SCRIPT);
    const peer = await series(o.runs, () => timeProcess(peerPython, [peerScript, peerConfig], env));

    const serve = await startServe(['--listen', '127.0.0.1:0'], env);
    let serveResult: Awaited<ReturnType<typeof load>>;
    let idle: { rss: number; hwm: number };
    let loaded: { rss: number; hwm: number };
    try {
      await load(serve.url, { ...o, seconds: 1 }); // warm-up: first CreateSession, JIT
      idle = rssKb(serve.child.pid!);
      serveResult = await load(serve.url, o);
      loaded = rssKb(serve.child.pid!);
    } finally {
      await serve.stop();
    }

    const out = [
      `credential-process, cold process per call (${o.runs} runs after one warm-up):`,
      row('node -e "" (Node start-up alone)', nodeBaseline),
      row('iamra-agent, cache miss (--no-cache)', miss),
      row('iamra-agent, cache hit', hit),
      row('peer: python iam-rolesanywhere-session', peer),
      '  AWS credential helper: not measured (cannot be installed: the Go module proxy refuses it)',
      `  ratios (p50): miss/peer ${(miss.p50 / peer.p50).toFixed(2)}, hit/peer ${(hit.p50 / peer.p50).toFixed(2)}, hit/miss ${(hit.p50 / miss.p50).toFixed(2)}`,
      '',
      `serve, GET credentials over loopback keep-alive, concurrency ${o.concurrency}, ${o.seconds} s:`,
      `  ${serveResult.rps.toFixed(0)} req/s, p50 ${ms(serveResult.latency.p50)}, p90 ${ms(serveResult.latency.p90)}, p99 ${ms(serveResult.latency.p99)}, max ${ms(serveResult.latency.max)}, non-200 ${serveResult.errors}`,
      `  RSS idle ${(idle.rss / 1024).toFixed(1)} MiB, after load ${(loaded.rss / 1024).toFixed(1)} MiB, peak ${(loaded.hwm / 1024).toFixed(1)} MiB`,
      "  peer: none installable (the AWS credential helper's serve is in the same uninstallable Go module); no ratio",
    ];
    process.stdout.write(out.join('\n') + '\n');
  } finally {
    await proxy?.close();
    await sb?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
