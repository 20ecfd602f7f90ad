import { renewalDecision, type RenewalDecision } from '../renew/policy.js';
import type { VerifyFailure } from '../renew/verify.js';
import type { AgentState } from '../store/index.js';
import type { CredentialFacts, StatusInput } from './facts.js';
import { CHECK_NAMES, CHECKS, type CheckCode, type CheckContext, type CheckName, type CheckStatus, notChecked } from './verdicts.js';

/**
 * `iamra-agent status`: one verdict per link of the chain (config → identity → certificate → key → trust anchors →
 * renewal → CreateSession), each OK / WARNING / CRITICAL / UNKNOWN with a reason and a code. Everything here is a
 * pure function of facts gathered beforehand (gather.ts) and the instant `now`, so the verdicts are testable with
 * fixed clocks: this module derives the shared facts once, and verdicts.ts holds one small function per check.
 *
 * Exit codes and state names follow the Nagios plugin guidelines
 * (https://nagios-plugins.org/doc/guidelines.html#AEN78): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
 */

export type { AnchorFacts, ConfigFacts, ConfigFailure, CredentialFacts, IdentityFacts, KeyFacts, Route53CredentialFacts, StatusInput } from './facts.js';
export { ARI_STALE_MS, CHECK_NAMES, type CheckCode, type CheckName, type CheckStatus, human, NOT_CHECKED } from './verdicts.js';

export interface Check {
  name: CheckName;
  status: CheckStatus;
  /** for code: why the check has its status ('not-checked' when a check it depends on failed) */
  code: CheckCode;
  /** for people */
  reason: string;
  /** the check's main quantity: seconds for times (negative when past), a count for pending-txt */
  value?: number;
}

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
  // config: without it nothing else can be located, so every other check is UNKNOWN
  if ('error' in input.config) {
    const c = input.config;
    const reason = c.problems?.length ? `${c.file} is invalid: ${c.problems.join('; ')}` : c.error;
    const checks = CHECK_NAMES.map((name) =>
      name === 'config'
        ? { name, status: 'UNKNOWN' as const, code: 'config-invalid' as const, reason }
        : { name, ...notChecked('the configuration could not be loaded') },
    );
    return reportOf(input, checks, {});
  }
  const ctx = contextOf(input, input.config);
  const checks: Check[] = CHECK_NAMES.map((name) =>
    name === 'config' ? { name, status: 'OK', code: 'ok', reason: `${ctx.cfg.file} is valid` } : { name, ...CHECKS[name](ctx) },
  );
  return reportOf(input, checks, detailsOf(ctx));
}

/** Field order is the JSON output's order (`status --json`), kept stable for readers and diffs. */
function reportOf(input: StatusInput, checks: Check[], extra: Partial<StatusReport>): StatusReport {
  const overall = worst(checks.map((c) => c.status));
  const head = { generatedAt: input.now.toISOString(), overall, exitCode: EXIT_CODES[overall], configFile: input.config.file, checks };
  return { ...head, pendingTxt: [], counters: {}, ...extra };
}

/** The facts several checks share, each derived once. */
function contextOf(input: StatusInput, cfg: CheckContext['cfg']): CheckContext {
  const now = input.now;
  // state.json: the renewal history, ARI answer, CreateSession record and pending TXT values
  const state: AgentState | undefined = input.state && !isFailure(input.state) ? input.state : undefined;
  const id = input.identity;
  const live = id && !isFailure(id) ? id : undefined;
  // ARI: the stored answer applies only to the certificate it was fetched for
  const ari = state?.ari;
  const ariApplies = !!ari && !!live && (!ari.certId || !live.certId || ari.certId === live.certId);
  let decision: RenewalDecision | undefined;
  let decisionError: string | undefined;
  if (live) {
    // the renewal point: the same decision `renew --needed` makes (renew/policy.ts)
    try {
      decision = renewalDecision(live, { now, maxAgeMs: cfg.maxAgeMs, ...(ari && ariApplies && cfg.ari ? { ari: ariWindow(ari) } : {}) });
    } catch (e) {
      decisionError = e instanceof Error ? e.message : String(e);
    }
  }
  const v = input.verify;
  const failures: VerifyFailure[] = v && !isFailure(v) ? v.failures : [];
  const credentials = input.probe ?? credentialsFromState(state);
  return {
    now,
    cfg,
    ...(state ? { state } : {}),
    ...(isFailure(input.state) ? { stateErr: input.state.error } : {}),
    ...(id ? { identity: id } : {}),
    ...(live ? { live } : {}),
    ...(isFailure(id) ? { identityError: id.error } : {}),
    ...(ari ? { ari } : {}),
    ariApplies,
    ...(decision ? { decision } : {}),
    ...(decisionError !== undefined ? { decisionError } : {}),
    ...(input.key ? { key: input.key } : {}),
    ...(input.anchors ? { anchors: input.anchors } : {}),
    failures,
    ...(isFailure(v) ? { verifyErr: v.error } : v === undefined ? { verifyErr: 'not verified' } : {}),
    path: v && !isFailure(v) ? (v.identity?.path ?? []) : [],
    ...(credentials ? { credentials } : {}),
    ...(input.route53 ? { route53: input.route53 } : {}),
  };
}

/** The report's facts next to the verdicts (identity, renewal point, ARI answer, history, credentials). */
function detailsOf(c: CheckContext): Partial<StatusReport> {
  const { state, live, ari, decision } = c;
  const lr = state?.lastRenewal;
  const extra: Partial<StatusReport> = {
    pendingTxt: (state?.pendingTxt ?? []).map((p) => ({ fqdn: p.fqdn, createdAt: p.createdAt })),
    counters: { ...(state?.counters ?? {}) },
  };
  if (lr) extra.lastRenewal = { ...lr };
  if (live) {
    extra.identity = {
      version: live.version,
      serial: live.serial,
      notBefore: live.notBefore.toISOString(),
      notAfter: live.notAfter.toISOString(),
      names: [...live.names],
      subject: live.subject,
      issuer: live.issuer,
      ...(live.createdAt ? { createdAt: live.createdAt.toISOString() } : {}),
    };
  }
  if (ari) {
    extra.ari = {
      windowStart: ari.windowStart,
      windowEnd: ari.windowEnd,
      checkedAt: ari.checkedAt,
      ...(ari.retryAfter ? { retryAfter: ari.retryAfter } : {}),
      ...(ari.explanationUrl ? { explanationUrl: ari.explanationUrl } : {}),
      appliesToLive: c.ariApplies,
    };
  }
  if (decision) {
    const lastCheck = state?.lastCheck?.at;
    extra.renewal = {
      renewAt: decision.renewAt.toISOString(),
      reason: decision.reason,
      due: decision.due,
      ...(decision.nextCheck ? { nextCheck: decision.nextCheck.toISOString() } : {}),
      ...(decision.ariIgnored ? { ariIgnored: decision.ariIgnored } : {}),
      ...(lastCheck ? { lastCheck } : {}),
    };
  }
  const successes = [lr?.ok ? Date.parse(lr.at) : NaN, live?.createdAt?.getTime() ?? NaN].filter(Number.isFinite);
  if (successes.length) extra.lastRenewalSuccess = new Date(Math.max(...successes)).toISOString();
  const cs = c.credentials;
  if (cs) {
    extra.credentials = {
      source: cs.source,
      ok: cs.ok,
      at: cs.at.toISOString(),
      ...(cs.ok && cs.expiration ? { expiration: cs.expiration.toISOString() } : {}),
      ...(!cs.ok ? { error: cs.error } : {}),
    };
  }
  return extra;
}

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
