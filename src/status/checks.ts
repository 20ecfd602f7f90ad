import { renewalDecision, type RenewalDecision } from '../renew/policy.js';
import type { VerifyFailure, VerifyReport } from '../renew/verify.js';
import type { AgentState } from '../store/index.js';

/**
 * `iamra-agent status`: one verdict per link of the chain (config → identity → certificate → key → trust anchors →
 * renewal → CreateSession), each OK / WARNING / CRITICAL / UNKNOWN with a reason. Everything here is a pure function
 * of facts gathered beforehand (gather.ts) and the instant `now`, so the verdicts are testable with fixed clocks.
 *
 * Exit codes and state names follow the Nagios plugin guidelines
 * (https://nagios-plugins.org/doc/guidelines.html#AEN78): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
 */

export type CheckStatus = 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';

/** Every report lists every check, in this order, so dashboards and the Prometheus label set never change shape. */
export const CHECK_NAMES = [
  'config',
  'identity',
  'validity',
  'renewal',
  'ari',
  'key',
  'chain',
  'certificate',
  'last-renewal',
  'create-session',
  'pending-txt',
] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

export interface Check {
  name: CheckName;
  status: CheckStatus;
  reason: string;
  /** the check's main quantity: seconds for times (negative when past), a count for pending-txt */
  value?: number;
}

/** the reason prefix of a check skipped because one it depends on failed */
export const NOT_CHECKED = 'not checked:';

export const EXIT_CODES: Record<CheckStatus, 0 | 1 | 2 | 3> = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 };

/**
 * Severity for "overall = worst": a known CRITICAL outranks an UNKNOWN (the same order Icinga uses for the worst
 * state of a host's services), so a missing identity reports CRITICAL even though the checks that depend on it
 * could not run. UNKNOWN wins over WARNING: something could not be checked at all.
 */
const SEVERITY: Record<CheckStatus, number> = { OK: 0, WARNING: 1, UNKNOWN: 2, CRITICAL: 3 };

export function worst(statuses: CheckStatus[]): CheckStatus {
  return statuses.reduce<CheckStatus>((w, s) => (SEVERITY[s] > SEVERITY[w] ? s : w), 'OK');
}

/** What the config says, as far as status needs it. */
export interface ConfigFacts {
  file: string;
  names: string[];
  maxAgeMs: number;
  ari: boolean;
  rolesAnywhere: boolean;
  /** a TXT record younger than this may belong to a run in progress, so it is not a leftover yet */
  pendingGraceMs: number;
  /**
   * how long past the renewal point before "overdue" is a WARNING: the twice-daily timer with its randomized delay
   * renews within about 13 h of the point, so a fleet would otherwise warn on every routine renewal
   */
  overdueGraceMs: number;
}

export interface ConfigFailure {
  file: string;
  error: string;
  problems?: string[];
}

export interface IdentityFacts {
  version: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  names: string[];
  subject: string;
  issuer: string;
  /** when the version was staged (the end of the enrolment that made it) */
  createdAt?: Date;
  /** RFC 9773 §4.1 CertID of the certificate, to tell whether a stored ARI answer is about it */
  certId?: string;
}

export type KeyFacts = { present: true; describe: string } | { present: false; reason: string };

export type AnchorFacts = { source: 'configured'; count: number } | { source: 'chain-top' } | { source: 'error'; error: string };

export type CredentialFacts =
  | { source: 'state' | 'probe'; ok: true; at: Date; expiration?: Date }
  | { source: 'state' | 'probe'; ok: false; at: Date; error: string };

export interface StatusInput {
  now: Date;
  config: ConfigFacts | ConfigFailure;
  /** undefined: no live identity; { error }: the live identity could not be read */
  identity?: IdentityFacts | { error: string };
  key?: KeyFacts;
  verify?: VerifyReport | { error: string };
  anchors?: AnchorFacts;
  state?: AgentState | { error: string };
  /** the result of `--probe` (a live CreateSession); replaces the recorded one */
  probe?: CredentialFacts;
}

export interface StatusReport {
  generatedAt: string;
  overall: CheckStatus;
  exitCode: 0 | 1 | 2 | 3;
  configFile: string;
  checks: Check[];
  identity?: { version: string; serial: string; notBefore: string; notAfter: string; names: string[]; subject: string; issuer: string; createdAt?: string };
  renewal?: { renewAt: string; reason: RenewalDecision['reason']; due: boolean; nextCheck?: string; ariIgnored?: string; lastCheck?: string };
  ari?: { windowStart: string; windowEnd: string; checkedAt: string; retryAfter?: string; explanationUrl?: string; appliesToLive: boolean };
  lastRenewal?: { at: string; ok: boolean; error?: string; serial?: string };
  /** when the live identity's enrolment last succeeded (a recorded successful renewal, or the version's creation) */
  lastRenewalSuccess?: string;
  credentials?: { source: 'state' | 'probe'; ok: boolean; at: string; expiration?: string; error?: string };
  pendingTxt: { fqdn: string; createdAt: string }[];
  counters: Record<string, number>;
}

const isFailure = <T extends object>(v: T | { error: string } | undefined): v is { error: string } =>
  !!v && 'error' in v && typeof (v as { error: unknown }).error === 'string';

export function evaluate(input: StatusInput): StatusReport {
  const now = input.now;
  const checks = new Map<CheckName, Check>();
  const set = (name: CheckName, status: CheckStatus, reason: string, value?: number) => {
    checks.set(name, { name, status, reason, ...(value === undefined || !Number.isFinite(value) ? {} : { value }) });
  };
  const report = (extra: Partial<StatusReport>): StatusReport => {
    const list = CHECK_NAMES.map((n) => checks.get(n) ?? { name: n, status: 'UNKNOWN' as const, reason: `${NOT_CHECKED} no data` });
    const overall = worst(list.map((c) => c.status));
    return {
      generatedAt: now.toISOString(),
      overall,
      exitCode: EXIT_CODES[overall],
      configFile: input.config.file,
      checks: list,
      pendingTxt: [],
      counters: {},
      ...extra,
    };
  };

  // config: without it nothing else can be located, so every other check is UNKNOWN
  if ('error' in input.config) {
    const c = input.config;
    set('config', 'UNKNOWN', c.problems?.length ? `${c.file} is invalid: ${c.problems.join('; ')}` : c.error);
    for (const n of CHECK_NAMES) if (n !== 'config') set(n, 'UNKNOWN', `${NOT_CHECKED} the configuration could not be loaded`);
    return report({});
  }
  const cfg = input.config;
  set('config', 'OK', `${cfg.file} is valid`);

  // state.json: the renewal history, ARI answer, CreateSession record and pending TXT values
  const stateErr = isFailure(input.state) ? input.state.error : undefined;
  const state: AgentState | undefined = input.state && !isFailure(input.state) ? input.state : undefined;
  const extra: Partial<StatusReport> = {
    pendingTxt: (state?.pendingTxt ?? []).map((p) => ({ fqdn: p.fqdn, createdAt: p.createdAt })),
    counters: { ...(state?.counters ?? {}) },
  };
  if (state?.lastRenewal) extra.lastRenewal = { ...state.lastRenewal };

  // identity
  const id = input.identity;
  let live: IdentityFacts | undefined;
  if (id === undefined) {
    set('identity', 'CRITICAL', 'no live identity: run iamra-agent bootstrap');
  } else if (isFailure(id)) {
    set('identity', 'CRITICAL', `the live identity cannot be read: ${id.error}`);
  } else {
    live = id;
    const want = normNames(cfg.names);
    const have = normNames(id.names);
    if (want !== have) set('identity', 'WARNING', `version ${id.version} is for ${have} but the config names ${want}: iamra-agent renew --force re-enrols`);
    else set('identity', 'OK', `version ${id.version}, serial ${id.serial}, ${id.names.join(', ')}`);
    extra.identity = {
      version: id.version,
      serial: id.serial,
      notBefore: id.notBefore.toISOString(),
      notAfter: id.notAfter.toISOString(),
      names: [...id.names],
      subject: id.subject,
      issuer: id.issuer,
      ...(id.createdAt ? { createdAt: id.createdAt.toISOString() } : {}),
    };
  }

  // ARI: the stored answer applies only to the certificate it was fetched for
  const ari = state?.ari;
  const ariApplies = !!ari && !!live && (!ari.certId || !live.certId || ari.certId === live.certId);
  if (ari) {
    extra.ari = {
      windowStart: ari.windowStart,
      windowEnd: ari.windowEnd,
      checkedAt: ari.checkedAt,
      ...(ari.retryAfter ? { retryAfter: ari.retryAfter } : {}),
      ...(ari.explanationUrl ? { explanationUrl: ari.explanationUrl } : {}),
      appliesToLive: ariApplies,
    };
  }

  if (!live) {
    const why = id === undefined ? `${NOT_CHECKED} no live identity` : `${NOT_CHECKED} the live identity cannot be read`;
    for (const n of ['validity', 'renewal', 'ari', 'key', 'chain', 'certificate'] as const) set(n, 'UNKNOWN', why);
  } else {
    // renewal point: the same decision `renew --needed` makes (renew/policy.ts)
    let decision: RenewalDecision | undefined;
    let decisionError: string | undefined;
    try {
      decision = renewalDecision(live, {
        now,
        maxAgeMs: cfg.maxAgeMs,
        ...(ari && ariApplies && cfg.ari ? { ari: ariWindow(ari) } : {}),
      });
    } catch (e) {
      decisionError = e instanceof Error ? e.message : String(e);
    }

    // For a passed ARI window the policy says "renew now" (renewAt = now); lateness counts from the window's end.
    const overdue = (renewAt: Date) => {
      const dueSince = decision?.reason === 'ari-window-passed' && ari ? new Date(ari.windowEnd) : renewAt;
      return now.getTime() - dueSince.getTime() >= cfg.overdueGraceMs;
    };
    // validity
    const left = live.notAfter.getTime() - now.getTime();
    if (now < live.notBefore)
      set('validity', 'CRITICAL', `not valid before ${iso(live.notBefore)} (in ${human(live.notBefore.getTime() - now.getTime())})`, secs(left));
    else if (left <= 0) set('validity', 'CRITICAL', `expired at ${iso(live.notAfter)} (${human(-left)} ago)`, secs(left));
    else if (decision?.due && overdue(decision.renewAt))
      set(
        'validity',
        'WARNING',
        `renewal overdue: valid until ${iso(live.notAfter)} (${human(left)} left) but the renewal point ${iso(decision.renewAt)} passed ${human(now.getTime() - decision.renewAt.getTime())} ago`,
        secs(left),
      );
    else set('validity', 'OK', `valid until ${iso(live.notAfter)} (${human(left)} left)`, secs(left));

    // renewal
    if (decision) {
      const until = decision.renewAt.getTime() - now.getTime();
      const rule = RULES[decision.reason];
      const lastCheck = state?.lastCheck?.at;
      const checked = lastCheck ? `; last checked ${iso(new Date(lastCheck))}` : '';
      if (decision.reason === 'expired')
        set('renewal', 'CRITICAL', `the certificate expired at ${iso(live.notAfter)} and was not renewed${checked}`, secs(until));
      else if (decision.due && overdue(decision.renewAt))
        set('renewal', 'WARNING', `renewal overdue since ${iso(decision.renewAt)} (${human(-until)} ago; ${rule})${checked}`, secs(until));
      else if (decision.due)
        set(
          'renewal',
          'OK',
          `renewal due since ${iso(decision.renewAt)} (${human(-until)} ago; ${rule}); the renewal timer will act within the ${human(cfg.overdueGraceMs)} grace${checked}`,
          secs(until),
        );
      else set('renewal', 'OK', `renews at ${iso(decision.renewAt)} (in ${human(until)}; ${rule})${checked}`, secs(until));
      extra.renewal = {
        renewAt: decision.renewAt.toISOString(),
        reason: decision.reason,
        due: decision.due,
        ...(decision.nextCheck ? { nextCheck: decision.nextCheck.toISOString() } : {}),
        ...(decision.ariIgnored ? { ariIgnored: decision.ariIgnored } : {}),
        ...(lastCheck ? { lastCheck } : {}),
      };
    } else {
      set('renewal', 'UNKNOWN', `no renewal decision: ${decisionError ?? 'unknown error'}`);
    }

    // ARI window and next check
    if (!cfg.ari) set('ari', 'OK', 'ACME Renewal Information is off (renewal.ari: false)');
    else if (stateErr) set('ari', 'UNKNOWN', `state.json unreadable: ${stateErr}`);
    else if (!ari) set('ari', 'OK', 'no ARI answer recorded yet: the lifetime and maxAge rules apply until the next renewal check');
    else if (!ariApplies)
      set(
        'ari',
        'OK',
        `the recorded ARI answer (checked ${ari.checkedAt}) is for another certificate; the next renewal check fetches one for serial ${live.serial}`,
      );
    else {
      const next = ari.retryAfter ? ` next ARI check at ${ari.retryAfter}` : '';
      const ignored = decision?.ariIgnored ? ` (ignored: ${decision.ariIgnored})` : '';
      // RFC 9773 §4.3: clients check at least daily; an answer not refreshed for 2 days means the timer is not running.
      const age = now.getTime() - Date.parse(ari.checkedAt);
      const stale = age > ARI_STALE_MS;
      set(
        'ari',
        stale ? 'WARNING' : 'OK',
        `suggested window ${ari.windowStart} – ${ari.windowEnd}${ignored}; checked ${ari.checkedAt}${stale ? ` (${human(age)} ago: is the renewal timer running?)` : ''};${next || ' no Retry-After recorded'}`,
        Number.isFinite(age) ? secs(age) : undefined,
      );
    }

    // key present and matching; chain; IAM RA certificate rules
    const v = input.verify;
    const failures: VerifyFailure[] = v && !isFailure(v) ? v.failures : [];
    const verifyErr = isFailure(v) ? v.error : v === undefined ? 'not verified' : undefined;
    const k = input.key;
    if (!k) set('key', 'UNKNOWN', 'the key was not checked');
    else if (!k.present) set('key', 'CRITICAL', k.reason);
    else {
      const keyFails = failures.filter((f) => f.check === 'key');
      if (keyFails.length) set('key', 'CRITICAL', keyFails.map((f) => f.message).join('; '));
      else if (verifyErr) set('key', 'UNKNOWN', `not verified: ${verifyErr}`);
      else set('key', 'OK', `${k.describe} matches the certificate`);
    }

    const chainFails = failures.filter((f) => f.check === 'chain' || (f.check === 'validity' && /^(trust anchor|chain certificate) /.test(f.message)));
    const anchors = input.anchors;
    if (anchors?.source === 'error') set('chain', 'UNKNOWN', anchors.error);
    else if (chainFails.length) set('chain', 'CRITICAL', chainFails.map((f) => f.message).join('; '));
    else if (verifyErr) set('chain', 'UNKNOWN', `not verified: ${verifyErr}`);
    else {
      const path = v && !isFailure(v) ? (v.identity?.path ?? []) : [];
      const shown = path.length ? `: ${path.join(' → ')}` : '';
      if (anchors?.source === 'configured') set('chain', 'OK', `chains to a configured trust anchor${shown}`);
      else set('chain', 'WARNING', `trust.anchors is not set: checked only to the top of the identity's own chain${shown}`);
    }

    const certFails = failures.filter((f) => ['parse', 'names', 'key-usage', 'basic-constraints', 'signature-algorithm'].includes(f.check));
    if (certFails.length) set('certificate', 'CRITICAL', certFails.map((f) => `${f.check}: ${f.message}`).join('; '));
    else if (cfg.rolesAnywhere && !live.subject)
      set('certificate', 'CRITICAL', 'the certificate has an empty subject, which IAM Roles Anywhere rejects: renew with acme.profile classic');
    else if (verifyErr) set('certificate', 'UNKNOWN', `not verified: ${verifyErr}`);
    else set('certificate', 'OK', 'names, keyUsage digitalSignature, CA:false and SHA-256+ signature as IAM Roles Anywhere requires');
  }

  // last renewal result and its age
  const lr = state?.lastRenewal;
  const successes = [lr?.ok ? Date.parse(lr.at) : NaN, live?.createdAt?.getTime() ?? NaN].filter(Number.isFinite);
  if (successes.length) extra.lastRenewalSuccess = new Date(Math.max(...successes)).toISOString();
  if (stateErr) set('last-renewal', 'UNKNOWN', `state.json unreadable: ${stateErr}`);
  else if (!lr) set('last-renewal', 'OK', 'no renewal recorded yet');
  else {
    const age = now.getTime() - Date.parse(lr.at);
    if (lr.ok) set('last-renewal', 'OK', `succeeded at ${lr.at} (${human(age)} ago)${lr.serial ? `, serial ${lr.serial}` : ''}`, secs(age));
    else set('last-renewal', 'WARNING', `failed at ${lr.at} (${human(age)} ago): ${lr.error ?? 'no error recorded'}`, secs(age));
  }

  // last CreateSession result and credential expiry
  const cs: CredentialFacts | undefined = input.probe ?? credentialsFromState(state);
  if (cs) {
    extra.credentials = {
      source: cs.source,
      ok: cs.ok,
      at: cs.at.toISOString(),
      ...(cs.ok && cs.expiration ? { expiration: cs.expiration.toISOString() } : {}),
      ...(!cs.ok ? { error: cs.error } : {}),
    };
  }
  const what = cs?.source === 'probe' ? 'live CreateSession (--probe)' : 'last CreateSession';
  if (!cfg.rolesAnywhere) set('create-session', 'OK', 'rolesAnywhere is not configured: no credentials are vended');
  else if (!cs && stateErr) set('create-session', 'UNKNOWN', `state.json unreadable: ${stateErr}`);
  else if (!cs) set('create-session', 'OK', 'no CreateSession recorded yet (iamra-agent status --probe makes one)');
  else if (!cs.ok) set('create-session', cs.source === 'probe' ? 'CRITICAL' : 'WARNING', `${what} at ${iso(cs.at)} failed: ${cs.error}`);
  else if (cs.expiration) {
    const left = cs.expiration.getTime() - now.getTime();
    const exp =
      left > 0
        ? `credentials expire at ${iso(cs.expiration)} (in ${human(left)})`
        : `its credentials expired at ${iso(cs.expiration)} (they are fetched again on demand)`;
    set('create-session', 'OK', `${what} at ${iso(cs.at)} succeeded; ${exp}`, secs(left));
  } else set('create-session', 'OK', `${what} at ${iso(cs.at)} succeeded`);

  // TXT records a crashed run left behind (the next run removes them)
  if (stateErr) set('pending-txt', 'UNKNOWN', `state.json unreadable: ${stateErr}`);
  else {
    const pending = state?.pendingTxt ?? [];
    const old = pending.filter((p) => !(now.getTime() - Date.parse(p.createdAt) < cfg.pendingGraceMs));
    if (old.length) {
      set(
        'pending-txt',
        'WARNING',
        `${old.length} TXT record(s) left by an interrupted run: ${old.map((p) => `${p.fqdn} (created ${p.createdAt})`).join(', ')}; the next renew run removes them`,
        pending.length,
      );
    } else if (pending.length) set('pending-txt', 'OK', `${pending.length} TXT record(s) of a run in progress`, pending.length);
    else set('pending-txt', 'OK', 'no TXT records of ours pending', 0);
  }

  return report(extra);
}

/** Two days: twice the longest interval RFC 9773 lets a client wait between ARI checks (one day). */
export const ARI_STALE_MS = 2 * 86_400_000;

const RULES: Record<RenewalDecision['reason'], string> = {
  'ari-window': "inside the CA's ARI window",
  'ari-window-passed': "the CA's ARI window has passed",
  lifetime: 'lifetime rule',
  'max-age': 'renewal.maxAge',
  expired: 'expired',
};

function credentialsFromState(state: AgentState | undefined): CredentialFacts | undefined {
  const r = state?.lastCreateSession;
  if (!r) return undefined;
  const at = new Date(r.at);
  if (!r.ok) return { source: 'state', ok: false, at, error: r.error ?? 'no error recorded' };
  return { source: 'state', ok: true, at, ...(r.expiration ? { expiration: new Date(r.expiration) } : {}) };
}

function ariWindow(a: NonNullable<AgentState['ari']>) {
  return {
    windowStart: new Date(a.windowStart),
    windowEnd: new Date(a.windowEnd),
    ...(a.retryAfter ? { retryAfter: new Date(a.retryAfter) } : {}),
  };
}

function normNames(n: string[]): string {
  return [...new Set(n.map((x) => x.toLowerCase()))].sort().join(', ');
}

function iso(d: Date): string {
  return d.toISOString();
}

function secs(ms: number): number {
  return Math.round(ms / 1000);
}

/** 3d 4h, 5h 12m, 7m 3s, 42s */
export function human(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${r}s`;
  return `${r}s`;
}
