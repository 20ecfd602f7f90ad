/**
 * `npm run bench -- renew [--runs N]`: one forced renewal (`renew --force`, the built CLI as a cold process) against
 * one `sandbox up`, with `dns.route53.credentials: sdk` (the static Route 53 key from the SDK chain) and with
 * `rolesAnywhere` (a CreateSession for the fleet DNS role with the live identity), runs alternating so drift on the
 * shared machine hits both alike. From the sandbox's call log (reset before each run) it counts the Route 53 calls
 * and the CreateSessions of each renewal (those for the fleet DNS role separately). Prints every run, then
 * median/min/max wall time and the calls per renewal of each mode.
 */
import type { CallRecord } from '../../src/sandbox/aws/types.js';
import { enrolSandbox } from '../helpers/enrol.js';
import type { E2eSandbox } from '../helpers/sandbox.js';

type Mode = 'sdk' | 'rolesAnywhere';

interface Run {
  ms: number;
  route53: number;
  createSessions: number;
  dnsRoleSessions: number;
  /** Route 53 calls by action */
  actions: Record<string, number>;
}

function flag(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer`);
  return v;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export default async function renewBench(args: string[]): Promise<void> {
  const runs = flag(args, 'runs', 8);
  let sb: E2eSandbox | undefined;
  try {
    sb = await enrolSandbox();
    const s = sb;
    const boot = await s.cli(['bootstrap']);
    if (boot.code !== 0) throw new Error(`bootstrap failed: ${boot.stderr}`);
    const renew = async (mode: Mode): Promise<Run> => {
      await s.admin('reset-calls', {});
      const t = performance.now();
      const r = await s.cli(['renew', '--force', '--set', `dns.route53.credentials=${mode}`]);
      const ms = performance.now() - t;
      if (r.code !== 0) throw new Error(`renew --force (${mode}) failed: ${r.stderr}`);
      const calls = await s.admin<CallRecord[]>('calls');
      const sessions = calls.filter((c) => c.action === 'CreateSession');
      const route53 = calls.filter((c) => c.service === 'route53');
      const actions: Record<string, number> = {};
      for (const c of route53) actions[c.action] = (actions[c.action] ?? 0) + 1;
      return {
        ms,
        actions,
        route53: route53.length,
        createSessions: sessions.length,
        dnsRoleSessions: sessions.filter((c) => c.resource === s.info.dnsRoleArn).length,
      };
    };
    process.stdout.write(`renew bench: ${runs} forced renewals per mode, alternating, against sandbox ${s.dir}\n`);
    // warm-up: the first run of each mode pays for cold caches (page cache, the account lookup)
    await renew('sdk');
    await renew('rolesAnywhere');
    const out: Record<Mode, Run[]> = { sdk: [], rolesAnywhere: [] };
    for (let i = 0; i < runs; i++) {
      for (const mode of (i % 2 ? ['rolesAnywhere', 'sdk'] : ['sdk', 'rolesAnywhere']) as Mode[]) {
        const r = await renew(mode);
        out[mode].push(r);
        process.stdout.write(
          `  run ${i + 1} ${mode.padEnd(13)} ${r.ms.toFixed(0).padStart(6)} ms, Route 53 calls ${r.route53}, CreateSession ${r.createSessions} (fleet DNS role ${r.dnsRoleSessions})\n`,
        );
      }
    }
    for (const mode of ['sdk', 'rolesAnywhere'] as Mode[]) {
      const rs = out[mode];
      const ms = rs.map((r) => r.ms);
      const per = (k: 'route53' | 'createSessions' | 'dnsRoleSessions') => {
        const v = rs.map((r) => r[k]);
        const lo = Math.min(...v);
        const hi = Math.max(...v);
        return lo === hi ? String(lo) : `${median(v)} (${lo}–${hi})`;
      };
      const byAction = new Map<string, number>();
      for (const r of rs) for (const [a, n] of Object.entries(r.actions)) byAction.set(a, (byAction.get(a) ?? 0) + n);
      const actions = [...byAction].map(([a, n]) => `${a.replace(/^route53:/, '')} ${(n / rs.length).toFixed(1)}`).join(', ');
      process.stdout.write(
        `${mode.padEnd(13)} wall median ${median(ms).toFixed(0)} ms, min ${Math.min(...ms).toFixed(0)} ms, max ${Math.max(...ms).toFixed(0)} ms; per renewal: Route 53 calls ${per('route53')}, CreateSession ${per('createSessions')} (fleet DNS role ${per('dnsRoleSessions')})\n` +
          `${''.padEnd(13)} Route 53 calls by action, per renewal: ${actions}\n`,
      );
    }
  } finally {
    await sb?.stop();
  }
}
