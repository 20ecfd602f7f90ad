/**
 * The serve and update parts of `npm run bench -- creds`, also runnable alone:
 * `npm run bench -- creds-serve [--seconds S] [--pairs P] [--round-seconds R] [--rounds N] [--concurrency C]`.
 *
 * - serve: requests/s, p99 and errors of the IMDSv2 credentials GET with a token (the request every SDK refresh
 *   makes) from wrk (one thread, keep-alive, its own process) at concurrency 1, 16 and 64, the agent and the AWS
 *   credential helper v1.4.0 alternating (P pairs of S seconds) at each level; the agent's targets: req/s >= the helper's, p99 <= the helper's,
 *   0 errors.
 * - memory: RSS (/proc/PID/status VmRSS) of each server idle (started, first credentials served, before any load)
 *   10 s after its last request, when V8's memory reducer has returned the start-up garbage (it runs a few seconds
 *   after activity stops; the reading at 2 s, before it, is printed too), then the agent's after each of `rounds`
 *   loads of `round-seconds` (default 3 × 60 s at concurrency 16); targets: idle <= 55 MiB and flat (no round's RSS more than 1 MiB above the first round's: a leak grows every round, a
 *   warmed heap does not).
 * - update: `iamra-agent update` (the daemon) with refreshBefore = the session length less 1 s, so it refreshes at
 *   its 30 s floor, runs beside the memory rounds; refreshes ('credentials refreshed' lines) against the sandbox's
 *   CreateSession call log over the same window (serve's credentials are fresh for the whole run, so it adds none);
 *   target: exactly one CreateSession per refresh.
 * The agent's serve runs with the Environment= of units/iamra-agent-serve.service (its Node flags), as shipped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { helperFlags } from '../helpers/aws-helper.js';
import { awsHelperBin, cliPath, repoRoot, tempDir } from '../helpers/paths.js';
import { startSandbox, type E2eSandbox } from '../helpers/sandbox.js';
import { startServe } from '../e2e/credentials-support.js';
import { freePort } from '../../src/sandbox/pebble.js';

const WRK = '/usr/bin/wrk';
const MIB = 1024;

export interface ServeBenchOptions {
  /** seconds per wrk run */
  seconds: number;
  /** alternating agent/helper runs per concurrency level */
  pairs: number;
  /** seconds per memory round */
  roundSeconds: number;
  rounds: number;
  /** 0: the three levels, 1, 16 and 64 */
  concurrency: number;
}

export const serveBenchDefaults: ServeBenchOptions = { seconds: 4, pairs: 7, roundSeconds: 60, rounds: 3, concurrency: 0 };

interface WrkResult {
  rps: number;
  p99Ms: number;
  /** non-2xx responses plus socket errors (connect, read, write, timeout) */
  errors: number;
}

/** Starts the helper's `serve` and resolves once its IMDSv2 token endpoint answers (bounded poll). */
async function startHelperServe(flags: string[], env: NodeJS.ProcessEnv): Promise<{ url: string; child: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(awsHelperBin, ['serve', ...flags, '--port', String(port)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const url = `http://127.0.0.1:${port}/`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`helper serve exited ${child.exitCode}: ${err}`);
    const ok = await fetch(new URL('/latest/api/token', url), { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return { url, child, stop };
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error(`helper serve did not answer on ${url} within 15 s: ${err}`);
}

/** A token and the role's credentials URL, as an SDK finds them; the first GET is checked (and warms the server). */
async function credentialsTarget(base: string): Promise<{ url: string; token: string }> {
  const token = await (await fetch(new URL('/latest/api/token', base), { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '21600' } })).text();
  const list = new URL('/latest/meta-data/iam/security-credentials/', base);
  const role = (await (await fetch(list, { headers: { 'X-aws-ec2-metadata-token': token } })).text()).trim().split('\n')[0]!;
  const url = new URL(role, list).href;
  const r = await fetch(url, { headers: { 'X-aws-ec2-metadata-token': token } });
  const body = (await r.json()) as { AccessKeyId?: string };
  if (r.status !== 200 || !body.AccessKeyId) throw new Error(`${url}: ${r.status} ${JSON.stringify(body)}`);
  return { url, token };
}

function wrk(target: { url: string; token: string }, seconds: number, connections: number): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-H', `X-aws-ec2-metadata-token: ${target.token}`, target.url];
    const child = spawn(WRK, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', () => {
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
      const p99 = /^\s*99%\s+([\d.]+)(us|ms|s)\s*$/m.exec(out);
      if (!rps || !p99) return reject(new Error(`wrk output not understood: ${out}`));
      const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
      const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      const socketErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
      const scale = { us: 1e-3, ms: 1, s: 1e3 }[p99[2] as 'us' | 'ms' | 's'];
      resolve({ rps: Number(rps[1]), p99Ms: Number(p99[1]) * scale, errors: non2xx + socketErrors });
    });
  });
}

/** The Environment=NAME=VALUE lines of a systemd unit. */
function unitEnvironment(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of readFileSync(file, 'utf8').matchAll(/^Environment=([A-Za-z_][A-Za-z0-9_]*)=(.*)$/gm)) env[m[1]!] = m[2]!;
  return env;
}

function rssKb(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const SETTLE_MS = 2000;
/** idle: this long after the last request (V8's memory reducer runs a few seconds after activity stops) */
const IDLE_MS = 10_000;
const settle = () => new Promise((r) => setTimeout(r, SETTLE_MS));
const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
const mib = (kb: number) => `${(kb / MIB).toFixed(1)} MiB`;

/** `iamra-agent update` refreshing at its 30 s floor; stop() gives the refreshes and file writes it logged. */
function startUpdate(env: NodeJS.ProcessEnv, file: string): { stop(): Promise<{ refreshes: number; writes: number }> } {
  const child = spawn(
    process.execPath,
    [cliPath, 'update', '--log-format', 'json', '--file', file, '--profile', 'bench', '--set', 'vend.refreshBefore=3599s'],
    { env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return {
    stop: async () => {
      child.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`update exited ${code}: ${err}`);
      const count = (msg: string) => err.split('\n').filter((l) => l.includes(`"message":"${msg}"`)).length;
      return { refreshes: count('credentials refreshed'), writes: count('credentials file updated') };
    },
  };
}

/** Runs the serve and update measurements against a running sandbox; resolves with the report's lines. */
export async function benchServe(sb: E2eSandbox, env: NodeJS.ProcessEnv, o: ServeBenchOptions, work: string): Promise<string[]> {
  const levels = o.concurrency > 0 ? [o.concurrency] : [1, 16, 64];
  const createSessions = async () => (await sb.admin<unknown[]>('calls?service=rolesanywhere')).length;
  // serve as its unit runs it: with the unit's Environment= (its Node flags)
  const agent = await startServe(['--listen', '127.0.0.1:0'], { ...env, ...unitEnvironment(path.join(repoRoot, 'units', 'iamra-agent-serve.service')) });
  const helper = await startHelperServe(helperFlags(sb), env);
  const out: string[] = [];
  try {
    const agentTarget = await credentialsTarget(agent.url);
    const helperTarget = await credentialsTarget(helper.url);
    await settle();
    const startup = { agent: rssKb(agent.child.pid!), helper: rssKb(helper.child.pid!) };
    await new Promise((r) => setTimeout(r, IDLE_MS - SETTLE_MS));
    const idle = { agent: rssKb(agent.child.pid!), helper: rssKb(helper.child.pid!) };

    // warm-up, both servers alike: the agent's JIT compiles the request path (the helper is compiled ahead of time)
    await wrk(agentTarget, 3, 16);
    await wrk(helperTarget, 3, 16);
    out.push(
      `serve, IMDSv2 credentials GET with a token, wrk -t1 keep-alive, per level ${o.pairs} alternating pairs of ${o.seconds} s (medians; ratios: median of the pairs):`,
    );
    for (const c of levels) {
      // A B A B ...: a busy neighbour on the shared machine hits both sides; each figure is the median of the pairs
      const a: WrkResult[] = [];
      const h: WrkResult[] = [];
      for (let i = 0; i < o.pairs; i++) {
        a.push(await wrk(agentTarget, o.seconds, c));
        h.push(await wrk(helperTarget, o.seconds, c));
      }
      const rps = { a: median(a.map((x) => x.rps)), h: median(h.map((x) => x.rps)) };
      const p99 = { a: median(a.map((x) => x.p99Ms)), h: median(h.map((x) => x.p99Ms)) };
      const ratio = median(a.map((x, i) => x.rps / h[i]!.rps));
      const p99Ratio = median(a.map((x, i) => x.p99Ms / h[i]!.p99Ms));
      const errors = a.reduce((n, x) => n + x.errors, 0);
      const list = (xs: WrkResult[]) => xs.map((x) => x.rps.toFixed(0)).join(' ');
      out.push(
        `  c=${String(c).padEnd(3)} agent  ${rps.a.toFixed(0).padStart(7)} req/s (${list(a)})  p99 ${p99.a.toFixed(2).padStart(7)} ms  errors ${errors}`,
        `        helper ${rps.h.toFixed(0).padStart(7)} req/s (${list(h)})  p99 ${p99.h.toFixed(2).padStart(7)} ms  errors ${h.reduce((n, x) => n + x.errors, 0)}`,
        `        agent/helper req/s ${ratio.toFixed(2)} (target >= 1.0: ${verdict(ratio >= 1)}); p99 ${p99Ratio.toFixed(2)}x (target <= 1.0: ${verdict(p99Ratio <= 1)}); errors (target 0: ${verdict(errors === 0)})`,
      );
    }
    const afterLevels = { agent: rssKb(agent.child.pid!), helper: rssKb(helper.child.pid!) };

    // memory rounds at c=16, with update's refreshes counted over the same window
    const callsBefore = await createSessions();
    const update = startUpdate(env, path.join(work, 'update-credentials'));
    const rounds: number[] = [];
    let roundErrors = 0;
    for (let i = 0; i < o.rounds; i++) {
      roundErrors += (await wrk(agentTarget, o.roundSeconds, 16)).errors;
      await settle();
      rounds.push(rssKb(agent.child.pid!));
    }
    const up = await update.stop();
    const calls = (await createSessions()) - callsBefore;

    const growth = Math.max(...rounds) - rounds[0]!;
    out.push(
      `  RSS agent idle ${mib(idle.agent)} (${IDLE_MS / 1000} s after its first request; target <= 55 MiB: ${verdict(idle.agent <= 55 * MIB)}; ${mib(startup.agent)} at ${SETTLE_MS / 1000} s); after the levels ${mib(afterLevels.agent)}`,
      `  RSS agent after ${o.rounds} rounds of ${o.roundSeconds} s at c=16: ${rounds.map(mib).join(', ')}; growth above the first round ${(growth / MIB).toFixed(1)} MiB (target flat, <= 1 MiB: ${verdict(growth <= MIB)}); errors ${roundErrors}`,
      `  RSS helper idle ${mib(idle.helper)} (${mib(startup.helper)} at ${SETTLE_MS / 1000} s), after the levels ${mib(afterLevels.helper)}`,
      '',
      `update (daemon, refreshing every 30 s) over the ${o.rounds * o.roundSeconds} s of the memory rounds:`,
      `  refreshes ${up.refreshes}, file writes ${up.writes}, CreateSession calls in the sandbox's log ${calls}: ${up.refreshes ? (calls / up.refreshes).toFixed(2) : 'n/a'} per refresh (target exactly 1: ${verdict(up.refreshes > 0 && calls === up.refreshes)})`,
    );
  } finally {
    await agent.stop();
    await helper.stop();
  }
  return out;
}

function parseArgs(args: string[]): ServeBenchOptions {
  const o = { ...serveBenchDefaults };
  const names: Record<string, keyof ServeBenchOptions> = {
    seconds: 'seconds',
    pairs: 'pairs',
    'round-seconds': 'roundSeconds',
    rounds: 'rounds',
    concurrency: 'concurrency',
  };
  for (let i = 0; i < args.length; i += 2) {
    const k = names[args[i]?.replace(/^--/, '') ?? ''];
    const v = Number(args[i + 1]);
    if (!k || !Number.isInteger(v) || v < (k === 'concurrency' ? 0 : 1)) throw new Error(`bench creds-serve: bad option ${args[i]} ${args[i + 1]}`);
    o[k] = v;
  }
  return o;
}

export default async function creds(args: string[]): Promise<void> {
  const o = parseArgs(args);
  const work = tempDir('bench-creds-serve');
  let sb: E2eSandbox | undefined;
  try {
    sb = await startSandbox({ bootstrap: true });
    process.stdout.write((await benchServe(sb, sb.env, o, work)).join('\n') + '\n');
  } finally {
    await sb?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
