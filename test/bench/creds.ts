/**
 * `npm run bench -- creds [--runs N] [--seconds S] [--pairs P] [--concurrency C] [--round-seconds R] [--rounds N]
 * [--only credential-process]`:
 * the vending paths against one sandbox, the
 * agent against the AWS credential helper v1.4.0 (`rolesanywhere-credential-helper`, installed by
 * test/setup/install.sh) and against Node's own start-up (`node -e ""`, the floor of any Node CLI).
 *
 * - credential-process as the AWS CLI runs it: a cold process per call; the agent with a cache hit, with a cache
 *   miss (--no-cache: one CreateSession, the recorded route's config), on a first call (no route yet: the full CLI
 *   loads and validates the config, one CreateSession), and the helper (a CreateSession on every call, it has no
 *   cache).
 * - `aws sts get-caller-identity` through credential_process with the sandbox's IAMRA delay fault at 150 ms per
 *   CreateSession (what a regional TLS endpoint costs): the agent's cache against the helper's CreateSession per call.
 * - serve (wrk at concurrency 1, 16 and 64 against the helper's serve, RSS idle and over three 60 s rounds) and
 *   update (CreateSessions per refresh): creds-serve.ts, also runnable alone as `npm run bench -- creds-serve`.
 *
 * `--only credential-process` runs the first part alone (a minute instead of six).
 *
 * Commands are run in alternation (A B A B ...) so a drifting machine affects both sides; each ratio is the median
 * of the per-pair ratios. Numbers on a shared 2-core machine are noisy: the load generator competes with the server
 * for CPU.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { helperFlags } from '../helpers/aws-helper.js';
import { awsHelperBin, cliPath, tempDir } from '../helpers/paths.js';
import { startSandbox, type E2eSandbox } from '../helpers/sandbox.js';
import { benchServe, serveBenchDefaults } from './creds-serve.js';

interface Options {
  runs: number;
  /** serve: seconds per wrk run, and alternating pairs per concurrency level */
  seconds: number;
  pairs: number;
  /** 0: the three levels, 1, 16 and 64 */
  concurrency: number;
  /** serve memory: seconds per round, and rounds */
  roundSeconds: number;
  rounds: number;
  /** the credential-process part alone */
  onlyCredentialProcess: boolean;
}

function parseArgs(args: string[]): Options {
  const o: Options = { runs: 10, ...serveBenchDefaults, onlyCredentialProcess: false };
  const names: Record<string, Exclude<keyof Options, 'onlyCredentialProcess'>> = {
    runs: 'runs',
    seconds: 'seconds',
    concurrency: 'concurrency',
    'round-seconds': 'roundSeconds',
    rounds: 'rounds',
  };
  for (let i = 0; i < args.length; i += 2) {
    if (args[i] === '--only' && args[i + 1] === 'credential-process') {
      o.onlyCredentialProcess = true;
      continue;
    }
    const k = names[args[i]?.replace(/^--/, '') ?? ''] as Exclude<keyof Options, 'onlyCredentialProcess'> | undefined;
    const v = Number(args[i + 1]);
    if (!k || !Number.isInteger(v) || v < (k === 'concurrency' ? 0 : 1)) throw new Error(`bench creds: bad option ${args[i]} ${args[i + 1]}`);
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

/** A and B in turn after one warm-up each; their stats and the median of the per-pair ratios A/B. */
async function alternate(runs: number, fa: () => Promise<number>, fb: () => Promise<number>): Promise<{ a: Stats; b: Stats; ratio: number }> {
  await fa();
  await fb();
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < runs; i++) {
    as.push(await fa());
    bs.push(await fb());
  }
  const ratios = as.map((x, i) => x / bs[i]!).sort((x, y) => x - y);
  return { a: stats(as), b: stats(bs), ratio: percentile(ratios, 50) };
}

/** `aws ...` with its output checked; wall time in ms */
function timeAws(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return timeProcess('/usr/bin/aws', args, env, false);
}

const ms = (v: number) => `${v.toFixed(1)} ms`;
const row = (name: string, s: Stats) =>
  `  ${name.padEnd(48)} p50 ${ms(s.p50).padStart(10)}  p90 ${ms(s.p90).padStart(10)}  min ${ms(s.min).padStart(10)}  (n=${s.n})`;
const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');

export default async function creds(args: string[]): Promise<void> {
  const o = parseArgs(args);
  const work = tempDir('bench-creds');
  let sb: E2eSandbox | undefined;
  try {
    sb = await startSandbox({ bootstrap: true });
    const env = { ...sb.env, XDG_RUNTIME_DIR: path.join(work, 'xdg') };
    mkdirSync(env.XDG_RUNTIME_DIR, { mode: 0o700 });
    const peerFlags = helperFlags(sb);
    const agent =
      (...a: string[]) =>
      () =>
        timeProcess(process.execPath, [cliPath, 'credential-process', '--log-level', 'warn', ...a], env);
    const helper = () => timeProcess(awsHelperBin, ['credential-process', ...peerFlags], env);
    const node = () => timeProcess(process.execPath, ['-e', ''], env, false);

    // a fresh routes directory per call: what the first call after an upgrade or a config edit costs
    const firstCall = () =>
      timeProcess(process.execPath, [cliPath, 'credential-process', '--log-level', 'warn', '--no-cache'], {
        ...env,
        XDG_RUNTIME_DIR: mkdtempSync(path.join(work, 'first-')),
      });

    const hit = await alternate(o.runs, agent(), node);
    const miss = await alternate(o.runs, agent('--no-cache'), node);
    const first = await alternate(o.runs, firstCall, node);
    const peer = await alternate(o.runs, helper, node);
    const missVsHelper = await alternate(o.runs, agent('--no-cache'), helper);
    const floor = hit.b.p50;
    const coldBudget = 1.5 * miss.b.p50 + peer.a.p50;

    const processLines = [
      `credential-process, a cold process per call (${o.runs} alternating pairs after one warm-up each):`,
      row('node -e "" (Node start-up alone, the floor)', hit.b),
      row('iamra-agent, cache hit', hit.a),
      row('iamra-agent, cache miss (--no-cache: one CreateSession)', miss.a),
      row('iamra-agent, first call (no route: full CLI, one CreateSession)', first.a),
      row('AWS credential helper v1.4.0 (one CreateSession)', peer.a),
      `  cache hit / node -e "": ${hit.ratio.toFixed(2)} (target <= 1.3: ${verdict(hit.ratio <= 1.3)})`,
      `  cache miss / (1.5 x node -e "" + helper) = ${miss.a.p50.toFixed(0)} / ${coldBudget.toFixed(0)} ms: ${(miss.a.p50 / coldBudget).toFixed(2)} (target <= 1.0: ${verdict(miss.a.p50 <= coldBudget)})`,
      `  cache miss / helper: ${missVsHelper.ratio.toFixed(2)}; cache miss / node -e "": ${miss.ratio.toFixed(2)}; first call / node -e "": ${first.ratio.toFixed(2)}; helper / node -e "": ${peer.ratio.toFixed(2)}; floor ${ms(floor)}`,
    ];
    if (o.onlyCredentialProcess) {
      process.stdout.write(processLines.join('\n') + '\n');
      return;
    }

    // the AWS CLI with each as its credential_process, the CreateSession delayed as a regional endpoint would be
    const awsConfig = path.join(work, 'aws-config');
    const q = (a: string[]) => a.map((x) => (/^[\w/.:=@,-]+$/.test(x) ? x : JSON.stringify(x))).join(' ');
    writeFileSync(
      awsConfig,
      [
        '[profile agent]',
        `credential_process = ${q([process.execPath, cliPath, 'credential-process', '--log-level', 'warn'])}`,
        'region = us-east-1',
        '[profile helper]',
        `credential_process = ${q([awsHelperBin, 'credential-process', ...peerFlags])}`,
        'region = us-east-1',
        '',
      ].join('\n'),
    );
    const awsEnv: NodeJS.ProcessEnv = { ...env, AWS_CONFIG_FILE: awsConfig, AWS_SHARED_CREDENTIALS_FILE: path.join(work, 'no-credentials') };
    const sts = (profile: string) => () =>
      timeAws(['sts', 'get-caller-identity', '--profile', profile, '--endpoint-url', sb!.info.awsUrl, '--output', 'json'], awsEnv);
    await sb.admin('faults', { iamraDelayMs: 150 });
    let awsCli: Awaited<ReturnType<typeof alternate>>;
    try {
      awsCli = await alternate(o.runs, sts('agent'), sts('helper'));
    } finally {
      await sb.admin('faults', { iamraDelayMs: 0 });
    }

    const serveLines = await benchServe(sb, env, o, work);

    const out = [
      ...processLines,
      '',
      'aws sts get-caller-identity via credential_process, CreateSession delayed 150 ms (sandbox IAMRA delay fault):',
      row('agent (its cache: CreateSession once)', awsCli.a),
      row('AWS credential helper (CreateSession per call)', awsCli.b),
      `  agent / helper: ${awsCli.ratio.toFixed(2)} (target < 1.0: ${verdict(awsCli.ratio < 1)})`,
      '',
      '',
      ...serveLines,
    ];
    process.stdout.write(out.join('\n') + '\n');
  } finally {
    await sb?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
