import { formatError, isAgentError } from '../core/errors.js';

/**
 * `iamra-agent doctor`: proves the chain end to end on a real host, each check OK / WARN / FAIL with its evidence and
 * the fix. Unlike `status` (read-only, from recorded facts) every check here does the real thing: fetches, a
 * Route 53 UPSERT + DELETE of a probe value in this host's own challenge record (the only write the policy allows),
 * a real CreateSession. It never changes the live identity. This module runs the checks and judges; the composition
 * root (compose/doctor.ts) builds each check from the config.
 */

/** SKIP: the check does not apply to this host (its evidence says why); it counts as OK */
export type DoctorStatus = 'OK' | 'WARN' | 'FAIL' | 'SKIP';

export interface DoctorCheck {
  name: string;
  status: DoctorStatus;
  /** what was seen */
  evidence: string;
  /** what to do; for OK checks empty */
  fix: string;
}

export type DoctorOutcome = Omit<DoctorCheck, 'name'>;

export interface DoctorStep {
  name: string;
  /** earlier steps that must not FAIL for this one to run; otherwise it is WARN "not run" (its evidence says why) */
  needs?: string[];
  run(): Promise<DoctorOutcome>;
}

export interface DoctorReport {
  overall: DoctorStatus;
  /** as `status`: 0 OK, 1 WARNING, 2 CRITICAL */
  exitCode: 0 | 1 | 2;
  checks: DoctorCheck[];
}

export const ok = (evidence: string): DoctorOutcome => ({ status: 'OK', evidence, fix: '' });
export const warn = (evidence: string, fix: string): DoctorOutcome => ({ status: 'WARN', evidence, fix });
export const fail = (evidence: string, fix: string): DoctorOutcome => ({ status: 'FAIL', evidence, fix });
export const skip = (reason: string): DoctorOutcome => ({ status: 'SKIP', evidence: reason, fix: '' });

/** An expected failure of a probe becomes FAIL with the error's own hint as the fix. */
export function failFrom(e: unknown, fallbackFix: string): DoctorOutcome {
  return fail(isAgentError(e) ? `${e.component}: ${e.message}` : formatError(e), (isAgentError(e) && e.hint) || fallbackFix);
}

/** Steps run one after another (each may depend on an earlier one); a throwing step is a FAIL, never a crash. */
export async function runDoctor(steps: DoctorStep[]): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  for (const s of steps) {
    const blocked = (s.needs ?? []).filter((n) => checks.find((c) => c.name === n)?.status === 'FAIL');
    if (blocked.length) {
      // not judged: WARN (as status's UNKNOWN), so the FAILs are exactly the checks that found a fault
      checks.push({ name: s.name, status: 'WARN', evidence: `not run: ${blocked.join(', ')} failed`, fix: `fix ${blocked.join(', ')} first` });
      continue;
    }
    try {
      checks.push({ name: s.name, ...(await s.run()) });
    } catch (e) {
      checks.push({ name: s.name, ...failFrom(e, 'see the evidence') });
    }
  }
  const overall: DoctorStatus = checks.some((c) => c.status === 'FAIL') ? 'FAIL' : checks.some((c) => c.status === 'WARN') ? 'WARN' : 'OK';
  return { overall, exitCode: overall === 'FAIL' ? 2 : overall === 'WARN' ? 1 : 0, checks };
}

export function renderDoctorText(r: DoctorReport): string {
  const width = Math.max(...r.checks.map((c) => c.name.length), 5);
  const lines = [`IAMRA-AGENT DOCTOR ${r.overall}`];
  for (const c of r.checks) {
    lines.push(`${c.name.padEnd(width)}  ${c.status.padEnd(4)}  ${c.evidence}`);
    if (c.fix) lines.push(`${''.padEnd(width)}        fix: ${c.fix}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The clock check's limits (README, `doctor`). NTP keeps a clock within milliseconds, so 10 s off means it is not
 * synchronized (WARN); from 60 s (FAIL) it is two TOTP session-name steps off (the audit tolerates one) and well on
 * the way to the 5 min after which SigV4, IAM Roles Anywhere and Route 53 refuse every request. The Date header has
 * one-second resolution, so the limits are far above the measuring error.
 */
export const CLOCK_LIMITS = { warnMs: 10_000, failMs: 60_000 } as const;

/** local - remote of a `Date` header (second resolution) against the local clock when the answer arrived. */
export function clockSkew(what: string, dateHeader: string | undefined, now: Date, limits: { warnMs: number; failMs: number } = CLOCK_LIMITS): DoctorOutcome {
  if (!dateHeader) return warn(`${what} sent no Date header`, 'nothing to compare the clock with; check NTP (timedatectl status, chronyc tracking)');
  const remote = Date.parse(dateHeader);
  if (!Number.isFinite(remote))
    return warn(`${what} sent an unparsable Date header ${JSON.stringify(dateHeader)}`, 'check NTP (timedatectl status, chronyc tracking)');
  const skew = now.getTime() - remote;
  const shown = `${Math.round(skew / 1000)} s (local ${now.toISOString()}, ${what} ${new Date(remote).toISOString()}; ${limits.failMs / 1000} s is the limit)`;
  const fix =
    'synchronize the clock: timedatectl set-ntp true (systemd-timesyncd), or chronyc makestep with chrony; timedatectl status / chronyc tracking show the offset. SigV4 and IAM Roles Anywhere refuse requests more than 5 min off';
  if (Math.abs(skew) >= limits.failMs) return fail(`clock off by ${shown}`, fix);
  if (Math.abs(skew) >= limits.warnMs) return warn(`clock off by ${shown}`, fix);
  return ok(`clock within ${Math.max(1, Math.round(Math.abs(skew) / 1000))} s of ${what}`);
}
