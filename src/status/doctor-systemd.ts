import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { type DoctorOutcome, fail, ok, skip } from './doctor.js';

/**
 * doctor's systemd check: the units `install-units` writes are installed and enabled, and the renewal timer is
 * active. Only where systemd manages the host (sd_booted(3): /run/systemd/system exists); elsewhere (a container,
 * another init) the check says so and is skipped.
 */

export const BOOTSTRAP_UNIT = 'iamra-agent-bootstrap.service';
export const TIMER_UNIT = 'iamra-agent-renew.timer';
export const SERVE_UNIT = 'iamra-agent-serve.service';

export interface UnitState {
  unit: string;
  /** `systemctl is-enabled`: enabled, enabled-runtime, static, disabled, masked, not-found … */
  enabled: string;
  /** `systemctl is-active`, for the units that must run */
  active?: string;
}

/** The units this host needs: bootstrap and the timer always, serve when the config says the host runs it. */
export function expectedUnits(serve: boolean): { unit: string; mustRun: boolean }[] {
  return [{ unit: BOOTSTRAP_UNIT, mustRun: false }, { unit: TIMER_UNIT, mustRun: true }, ...(serve ? [{ unit: SERVE_UNIT, mustRun: true }] : [])];
}

export function judgeUnits(states: UnitState[]): DoctorOutcome {
  const problems = states.flatMap((s) => [
    ...(s.enabled === 'enabled' || s.enabled === 'enabled-runtime' ? [] : [`${s.unit} ${s.enabled}`]),
    ...(s.active === undefined || s.active === 'active' ? [] : [`${s.unit} ${s.active}`]),
  ]);
  if (problems.length) {
    const units = states.map((s) => s.unit).join(' ');
    return fail(problems.join('; '), `iamra-agent install-units && systemctl daemon-reload && systemctl enable --now ${units}`);
  }
  return ok(states.map((s) => `${s.unit} ${s.enabled}${s.active ? `, ${s.active}` : ''}`).join('; '));
}

/** stdout of systemctl; its exit code is 1 whenever a unit is not enabled/active, which is an answer here. */
function systemctl(args: string[], timeoutMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile('systemctl', args, { timeout: timeoutMs, encoding: 'utf8' }, (e, stdout) => {
      if (e && typeof e.code !== 'number') reject(e);
      else resolve(stdout.split('\n').map((l) => l.trim()));
    });
  });
}

export async function checkSystemd(o: { serve: boolean; timeoutMs: number }): Promise<DoctorOutcome> {
  const booted = await fsp.stat('/run/systemd/system').then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!booted) {
    const pid1 = (await fsp.readFile('/proc/1/comm', 'utf8').catch(() => 'unknown')).trim();
    return skip(`systemd is not PID 1 (PID 1 is ${pid1}): the units and the timer are not checked`);
  }
  const units = expectedUnits(o.serve);
  const enabled = await systemctl(['is-enabled', ...units.map((u) => u.unit)], o.timeoutMs);
  const running = units.filter((u) => u.mustRun);
  const active = await systemctl(['is-active', ...running.map((u) => u.unit)], o.timeoutMs);
  return judgeUnits(
    units.map((u, i) => ({
      unit: u.unit,
      // a unit file that does not exist prints nothing on stdout with older systemd
      enabled: enabled[i] || 'not-found',
      ...(u.mustRun ? { active: active[running.indexOf(u)] || 'unknown' } : {}),
    })),
  );
}
