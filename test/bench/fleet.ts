/**
 * `npm run bench -- fleet [--hosts N] [--setup-concurrency C]`: N identities (default 50, at least 50 for the
 * issue's figure) renewing at once against one `sandbox up`, whose Route 53 stand-in enforces the account-wide
 * limit of 5 requests/s (a token bucket; a refused call gets Route 53's `Throttling` error, HTTP 400).
 *
 * Setup: each host host-NN.<zone> is enrolled with `bootstrap` (the static DNS key may write every host's challenge
 * record), C at a time. Then all N run `iamra-agent renew --force` as separate processes, started together: each
 * renewal goes through the fleet DNS role with its own live identity (CreateSession, then Route 53), as a fleet does.
 *
 * Prints N, failures, the Route 53 calls per renewal (answered, and throttled ones apart), the total wall time and
 * its ratio to the floor: accepted Route 53 calls / 5 per second, the time the account's limit alone needs for them.
 */
import path from 'node:path';
import { route53Policy } from '../../src/policy/index.js';
import { enrolSandbox } from '../helpers/enrol.js';
import { runCli, type CliResult, type E2eSandbox } from '../helpers/sandbox.js';

const RATE = 5;

function flag(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer`);
  return v;
}

interface Call {
  time: string;
  action: string;
  status: number;
  errorCode?: string;
}

/** runs fn over items, at most `limit` at a time, in order of start */
async function pool<T, R>(items: T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export default async function fleetBench(args: string[]): Promise<void> {
  const n = flag(args, 'hosts', 50);
  const setupConcurrency = flag(args, 'setup-concurrency', 4);
  let sb: E2eSandbox | undefined;
  try {
    sb = await enrolSandbox({ args: ['--rate', String(RATE)] });
    const s = sb;
    const hosts = Array.from({ length: n }, (_, i) => `host-${String(i + 1).padStart(2, '0')}.${s.info.zone}`);
    const as = (host: string) => [
      '--set',
      `identity.name=${host}`,
      '--set',
      `state.dir=${path.join(s.dir, 'fleet', host, 'state')}`,
      '--set',
      `state.runtimeDir=${path.join(s.dir, 'fleet', host, 'run')}`,
    ];
    await s.admin('principals/policies', { accessKeyId: s.info.dnsUser.accessKeyId, policies: [route53Policy({ zoneId: s.info.zoneId, names: hosts })] });
    process.stdout.write(`fleet bench: ${n} hosts against sandbox ${s.dir} (Route 53 limit ${RATE} req/s account-wide, INSYNC delay 500 ms)\n`);

    const t0 = performance.now();
    const boot = await pool(hosts, setupConcurrency, (h) => s.cli(['bootstrap', ...as(h)]));
    const bootFailed = boot.flatMap((r, i) => (r.code === 0 ? [] : [`${hosts[i]}: ${lastLine(r)}`]));
    if (bootFailed.length) throw new Error(`setup: ${bootFailed.length} bootstraps failed:\n${bootFailed.join('\n')}`);
    process.stdout.write(`  setup: ${n} hosts enrolled in ${((performance.now() - t0) / 1000).toFixed(1)} s (${setupConcurrency} at a time)\n`);

    await s.admin('reset-calls', {});
    const started = performance.now();
    const ends: number[] = [];
    const results = await Promise.all(
      hosts.map(async (h) => {
        const r = await runCli(['renew', '--force', ...as(h)], s.env, { timeoutMs: 900_000 });
        ends.push(performance.now() - started);
        return r;
      }),
    );
    const wallMs = performance.now() - started;
    const calls = await s.admin<Call[]>('calls?service=route53');
    const failed = results.flatMap((r, i) => (r.code === 0 && /^renewed:/m.test(r.stdout) ? [] : [`${hosts[i]}: exit ${r.code}: ${lastLine(r)}`]));
    const accepted = calls.filter((c) => c.status === 200).length;
    const throttled = calls.filter((c) => c.errorCode === 'Throttling').length;
    const other = calls.length - accepted - throttled;
    const byAction = new Map<string, number>();
    for (const c of calls.filter((x) => x.status === 200)) byAction.set(c.action, (byAction.get(c.action) ?? 0) + 1);
    const floorMs = (accepted / RATE) * 1000;
    // answered and throttled calls per 10 s window: how close the fleet kept the account to its 5 requests/s
    const t0Calls = Math.min(...calls.map((c) => Date.parse(c.time)));
    const spanMs = Math.max(...calls.map((c) => Date.parse(c.time))) - t0Calls;
    const windows: { ok: number; throttled: number }[] = [];
    for (const c of calls) {
      const w = Math.floor((Date.parse(c.time) - t0Calls) / 10_000);
      windows[w] ??= { ok: 0, throttled: 0 };
      if (c.status === 200) windows[w].ok++;
      else if (c.errorCode === 'Throttling') windows[w].throttled++;
    }
    ends.sort((a, b) => a - b);

    process.stdout.write(
      [
        `  renewals: ${n - failed.length} of ${n} renewed, ${failed.length} failures`,
        ...failed.map((f) => `    ${f}`),
        `  Route 53 calls: ${accepted} answered (${[...byAction].map(([a, k]) => `${a} ${k}`).join(', ')}), ${throttled} throttled, ${other} other errors`,
        `  Route 53 calls per renewal: ${(accepted / n).toFixed(2)} answered + ${(throttled / n).toFixed(2)} throttled`,
        `  Route 53 busy from the first call to the last: ${(spanMs / 1000).toFixed(1)} s (${(spanMs / floorMs).toFixed(2)} × the floor); the rest of the wall time is the renewals' other work (process start, CreateSession, ACME) on this machine's cores`,
        `  per 10 s (answered/throttled): ${Array.from(windows, (w) => `${w?.ok ?? 0}/${w?.throttled ?? 0}`).join(' ')}`,
        `  wall time: ${(wallMs / 1000).toFixed(1)} s (first done ${(ends[0]! / 1000).toFixed(1)} s, median ${(ends[ends.length >> 1]! / 1000).toFixed(1)} s); floor ${accepted} calls / ${RATE} req/s = ${(floorMs / 1000).toFixed(1)} s`,
        `N ${n}, failures ${failed.length}, ratio wall/floor ${(wallMs / floorMs).toFixed(2)}, Route 53 calls per renewal ${(accepted / n).toFixed(2)}`,
      ].join('\n') + '\n',
    );
    if (failed.length) process.exitCode = 1;
  } finally {
    await sb?.stop();
  }
}

function lastLine(r: CliResult): string {
  return (
    r.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('iamra-agent:'))
      .pop() ??
    r.stderr.trim().split('\n').pop() ??
    ''
  );
}
