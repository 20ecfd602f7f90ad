import { nameSet } from '../core/names.js';
import type { RenewalDecision } from '../renew/policy.js';
import type { VerifyFailure } from '../renew/verify.js';
import type { AgentState } from '../store/index.js';
import type { AnchorFacts, ConfigFacts, CredentialFacts, IdentityFacts, KeyFacts, Route53CredentialFacts } from './facts.js';

/**
 * One small pure function per check: facts (already derived once, in checks.ts) and `now` in, one verdict out.
 * A verdict carries a machine-readable `code` next to the sentence for people, so the report (and any other reader)
 * decides by code, never by matching the sentence.
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
  'route53-credentials',
  'pending-txt',
] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

/** Why a check has its status; 'ok' for a healthy check, 'not-checked' for one skipped because another failed. */
export type CheckCode =
  | 'ok'
  | 'not-checked'
  | 'config-invalid'
  | 'state-unreadable'
  | 'not-verified'
  | 'no-identity'
  | 'identity-unreadable'
  | 'names-differ'
  | 'not-yet-valid'
  | 'expired'
  | 'renewal-overdue'
  | 'renewal-due'
  | 'no-decision'
  | 'ari-off'
  | 'no-ari-answer'
  | 'ari-other-certificate'
  | 'ari-stale'
  | 'key-unchecked'
  | 'key-unusable'
  | 'key-mismatch'
  | 'anchors-unreadable'
  | 'chain-invalid'
  | 'anchors-not-configured'
  | 'certificate-invalid'
  | 'empty-subject'
  | 'no-renewal-yet'
  | 'renewal-failed'
  | 'not-configured'
  | 'no-session-yet'
  | 'session-failed'
  | 'static-credentials'
  | 'sdk-fallback'
  | 'no-route53-credentials'
  | 'leftover-txt'
  | 'txt-in-progress';

export interface Verdict {
  status: CheckStatus;
  code: CheckCode;
  reason: string;
  /** the check's main quantity: seconds for times (negative when past), a count for pending-txt */
  value?: number;
}

/** the reason prefix of a check skipped because one it depends on failed */
export const NOT_CHECKED = 'not checked:';

/** Two days: twice the longest interval RFC 9773 lets a client wait between ARI checks (one day). */
export const ARI_STALE_MS = 2 * 86_400_000;

/** The facts every check may read, each derived once from the gathered input. */
export interface CheckContext {
  now: Date;
  cfg: ConfigFacts;
  state?: AgentState;
  stateErr?: string;
  /** the gathered identity: undefined when there is none, { error } when unreadable */
  identity?: IdentityFacts | { error: string };
  live?: IdentityFacts;
  identityError?: string;
  ari?: NonNullable<AgentState['ari']>;
  /** the stored ARI answer is about the live certificate */
  ariApplies: boolean;
  decision?: RenewalDecision;
  decisionError?: string;
  key?: KeyFacts;
  anchors?: AnchorFacts;
  failures: VerifyFailure[];
  verifyErr?: string;
  /** the identity's path from the verifier, leaf first */
  path: string[];
  credentials?: CredentialFacts;
  route53?: Route53CredentialFacts;
}

/** The context of the checks that need a live identity (validity … certificate). */
export type LiveContext = CheckContext & { live: IdentityFacts };

const v = (status: CheckStatus, code: CheckCode, reason: string, value?: number): Verdict => ({
  status,
  code,
  reason,
  ...(value === undefined || !Number.isFinite(value) ? {} : { value }),
});

export const notChecked = (why: string): Verdict => v('UNKNOWN', 'not-checked', `${NOT_CHECKED} ${why}`);

function identity(c: CheckContext): Verdict {
  if (c.identity === undefined) return v('CRITICAL', 'no-identity', 'no live identity: run iamra-agent bootstrap');
  if (!c.live) return v('CRITICAL', 'identity-unreadable', `the live identity cannot be read: ${c.identityError}`);
  const want = normNames(c.cfg.names);
  const have = normNames(c.live.names);
  if (want !== have)
    return v('WARNING', 'names-differ', `version ${c.live.version} is for ${have} but the config names ${want}: iamra-agent renew --force re-enrols`);
  return v('OK', 'ok', `version ${c.live.version}, serial ${c.live.serial}, ${c.live.names.join(', ')}`);
}

/** Past the renewal point by more than the grace; for a passed ARI window lateness counts from the window's end. */
function overdue(c: CheckContext, renewAt: Date): boolean {
  const dueSince = c.decision?.reason === 'ari-window-passed' && c.ari ? new Date(c.ari.windowEnd) : renewAt;
  return c.now.getTime() - dueSince.getTime() >= c.cfg.overdueGraceMs;
}

function validity(c: LiveContext): Verdict {
  const { now, live, decision } = c;
  const left = live.notAfter.getTime() - now.getTime();
  if (now < live.notBefore)
    return v('CRITICAL', 'not-yet-valid', `not valid before ${iso(live.notBefore)} (in ${human(live.notBefore.getTime() - now.getTime())})`, secs(left));
  if (left <= 0) return v('CRITICAL', 'expired', `expired at ${iso(live.notAfter)} (${human(-left)} ago)`, secs(left));
  if (decision?.due && overdue(c, decision.renewAt)) {
    const late = human(now.getTime() - decision.renewAt.getTime());
    const reason = `renewal overdue: valid until ${iso(live.notAfter)} (${human(left)} left) but the renewal point ${iso(decision.renewAt)} passed ${late} ago`;
    return v('WARNING', 'renewal-overdue', reason, secs(left));
  }
  return v('OK', 'ok', `valid until ${iso(live.notAfter)} (${human(left)} left)`, secs(left));
}

const RULES: Record<RenewalDecision['reason'], string> = {
  'ari-window': "inside the CA's ARI window",
  'ari-window-passed': "the CA's ARI window has passed",
  lifetime: 'lifetime rule',
  'max-age': 'renewal.maxAge',
  expired: 'expired',
};

/** The same decision `renew --needed` makes (renew/policy.ts). */
function renewal(c: LiveContext): Verdict {
  const d = c.decision;
  if (!d) return v('UNKNOWN', 'no-decision', `no renewal decision: ${c.decisionError ?? 'unknown error'}`);
  const until = d.renewAt.getTime() - c.now.getTime();
  const rule = RULES[d.reason];
  const lastCheck = c.state?.lastCheck?.at;
  const checked = lastCheck ? `; last checked ${iso(new Date(lastCheck))}` : '';
  if (d.reason === 'expired') return v('CRITICAL', 'expired', `the certificate expired at ${iso(c.live.notAfter)} and was not renewed${checked}`, secs(until));
  if (d.due && overdue(c, d.renewAt))
    return v('WARNING', 'renewal-overdue', `renewal overdue since ${iso(d.renewAt)} (${human(-until)} ago; ${rule})${checked}`, secs(until));
  if (d.due) {
    const reason = `renewal due since ${iso(d.renewAt)} (${human(-until)} ago; ${rule}); the renewal timer will act within the ${human(c.cfg.overdueGraceMs)} grace${checked}`;
    return v('OK', 'renewal-due', reason, secs(until));
  }
  return v('OK', 'ok', `renews at ${iso(d.renewAt)} (in ${human(until)}; ${rule})${checked}`, secs(until));
}

/** The stored ARI window and the next check. */
function ari(c: LiveContext): Verdict {
  const a = c.ari;
  if (!c.cfg.ari) return v('OK', 'ari-off', 'ACME Renewal Information is off (renewal.ari: false)');
  if (c.stateErr) return v('UNKNOWN', 'state-unreadable', `state.json unreadable: ${c.stateErr}`);
  if (!a) return v('OK', 'no-ari-answer', 'no ARI answer recorded yet: the lifetime and maxAge rules apply until the next renewal check');
  if (!c.ariApplies) {
    const reason = `the recorded ARI answer (checked ${a.checkedAt}) is for another certificate; the next renewal check fetches one for serial ${c.live.serial}`;
    return v('OK', 'ari-other-certificate', reason);
  }
  const next = a.retryAfter ? ` next ARI check at ${a.retryAfter}` : '';
  const ignored = c.decision?.ariIgnored ? ` (ignored: ${c.decision.ariIgnored})` : '';
  // RFC 9773 §4.3: clients check at least daily; an answer not refreshed for 2 days means the timer is not running.
  const age = c.now.getTime() - Date.parse(a.checkedAt);
  const stale = age > ARI_STALE_MS;
  const reason = `suggested window ${a.windowStart} – ${a.windowEnd}${ignored}; checked ${a.checkedAt}${stale ? ` (${human(age)} ago: is the renewal timer running?)` : ''};${next || ' no Retry-After recorded'}`;
  return v(stale ? 'WARNING' : 'OK', stale ? 'ari-stale' : 'ok', reason, Number.isFinite(age) ? secs(age) : undefined);
}

/** The key is present and is the certified one. */
function key(c: LiveContext): Verdict {
  const k = c.key;
  if (!k) return v('UNKNOWN', 'key-unchecked', 'the key was not checked');
  if (!k.present) return v('CRITICAL', 'key-unusable', k.reason);
  const fails = c.failures.filter((f) => f.check === 'key');
  if (fails.length) return v('CRITICAL', 'key-mismatch', fails.map((f) => f.message).join('; '));
  if (c.verifyErr) return v('UNKNOWN', 'not-verified', `not verified: ${c.verifyErr}`);
  return v('OK', 'ok', `${k.describe} matches the certificate`);
}

/** A validity failure of a chain certificate or trust anchor (not of the leaf): the failure says which it is about. */
function isChainValidity(f: VerifyFailure): boolean {
  return f.check === 'validity' && f.role !== 'leaf';
}

function chain(c: LiveContext): Verdict {
  const fails = c.failures.filter((f) => f.check === 'chain' || isChainValidity(f));
  if (c.anchors?.source === 'error') return v('UNKNOWN', 'anchors-unreadable', c.anchors.error);
  if (fails.length) return v('CRITICAL', 'chain-invalid', fails.map((f) => f.message).join('; '));
  if (c.verifyErr) return v('UNKNOWN', 'not-verified', `not verified: ${c.verifyErr}`);
  const shown = c.path.length ? `: ${c.path.join(' → ')}` : '';
  if (c.anchors?.source === 'configured') return v('OK', 'ok', `chains to a configured trust anchor${shown}`);
  return v('WARNING', 'anchors-not-configured', `trust.anchors is not set: checked only to the top of the identity's own chain${shown}`);
}

const CERTIFICATE_CHECKS: ReadonlySet<VerifyFailure['check']> = new Set(['parse', 'names', 'key-usage', 'basic-constraints', 'signature-algorithm']);

/** IAM Roles Anywhere's end-entity rules. */
function certificate(c: LiveContext): Verdict {
  const fails = c.failures.filter((f) => CERTIFICATE_CHECKS.has(f.check));
  if (fails.length) return v('CRITICAL', 'certificate-invalid', fails.map((f) => `${f.check}: ${f.message}`).join('; '));
  if (c.cfg.rolesAnywhere && !c.live.subject)
    return v('CRITICAL', 'empty-subject', 'the certificate has an empty subject, which IAM Roles Anywhere rejects: renew with acme.profile classic');
  if (c.verifyErr) return v('UNKNOWN', 'not-verified', `not verified: ${c.verifyErr}`);
  return v('OK', 'ok', 'names, keyUsage digitalSignature, CA:false and SHA-256+ signature as IAM Roles Anywhere requires');
}

/** The last renewal result and its age. */
function lastRenewal(c: CheckContext): Verdict {
  const lr = c.state?.lastRenewal;
  if (c.stateErr) return v('UNKNOWN', 'state-unreadable', `state.json unreadable: ${c.stateErr}`);
  if (!lr) return v('OK', 'no-renewal-yet', 'no renewal recorded yet');
  const age = c.now.getTime() - Date.parse(lr.at);
  if (lr.ok) return v('OK', 'ok', `succeeded at ${lr.at} (${human(age)} ago)${lr.serial ? `, serial ${lr.serial}` : ''}`, secs(age));
  return v('WARNING', 'renewal-failed', `failed at ${lr.at} (${human(age)} ago): ${lr.error ?? 'no error recorded'}`, secs(age));
}

/** The last (or, with --probe, a live) CreateSession and the credentials' expiry. */
function createSession(c: CheckContext): Verdict {
  const cs = c.credentials;
  const what = cs?.source === 'probe' ? 'live CreateSession (--probe)' : 'last CreateSession';
  if (!c.cfg.rolesAnywhere) return v('OK', 'not-configured', 'rolesAnywhere is not configured: no credentials are vended');
  if (!cs && c.stateErr) return v('UNKNOWN', 'state-unreadable', `state.json unreadable: ${c.stateErr}`);
  if (!cs) return v('OK', 'no-session-yet', 'no CreateSession recorded yet (iamra-agent status --probe makes one)');
  if (!cs.ok) return v(cs.source === 'probe' ? 'CRITICAL' : 'WARNING', 'session-failed', `${what} at ${iso(cs.at)} failed: ${cs.error}`);
  if (!cs.expiration) return v('OK', 'ok', `${what} at ${iso(cs.at)} succeeded`);
  const left = cs.expiration.getTime() - c.now.getTime();
  const exp =
    left > 0
      ? `credentials expire at ${iso(cs.expiration)} (in ${human(left)})`
      : `its credentials expired at ${iso(cs.expiration)} (they are fetched again on demand)`;
  return v('OK', 'ok', `${what} at ${iso(cs.at)} succeeded; ${exp}`, secs(left));
}

const R53_RECOVERY =
  'put a one-time Route 53 credential where the SDK finds it (/etc/iamra-agent/route53-credentials or AWS_* env), run iamra-agent bootstrap --force, then remove it';

/**
 * Which credentials the next renewal's Route 53 calls use (issue 9): with a fleet DNS role and a valid identity, a
 * static key still reachable is a WARNING, so an operator can prove a fleet holds none after bootstrap.
 */
function route53Credentials(c: CheckContext): Verdict {
  const r = c.route53;
  if (!r || r.mode === 'sdk') return v('OK', 'ok', 'Route 53 signs with the AWS SDK chain (dns.route53.credentials: sdk)');
  if (r.mode === 'auto' && !c.cfg.rolesAnywhere) return v('OK', 'ok', 'Route 53 signs with the AWS SDK chain (auto, and rolesAnywhere is not configured)');
  if (!Array.isArray(r.staticSources)) return v('UNKNOWN', 'not-checked', `${NOT_CHECKED} static Route 53 credentials: ${r.staticSources.error}`);
  const found = r.staticSources;
  const live = c.live;
  const valid = !!live && c.now >= live.notBefore && c.now < live.notAfter;
  if (valid) {
    if (found.length)
      return v(
        'WARNING',
        'static-credentials',
        `renewals sign with the fleet DNS role ${r.roleArn} but static Route 53 credentials are still reachable: ${found.join(', ')}; remove them, the role needs none after bootstrap`,
        found.length,
      );
    return v('OK', 'ok', `renewals sign with the fleet DNS role ${r.roleArn} through the live identity; no static Route 53 credentials reachable`, 0);
  }
  const why = live ? `the identity is not valid now (${iso(live.notBefore)} – ${iso(live.notAfter)})` : 'no identity is live';
  if (r.mode === 'auto' && found.length)
    return v('OK', 'sdk-fallback', `${why}: the next enrolment signs Route 53 calls with the SDK chain (${found.join(', ')})`, found.length);
  const which = r.mode === 'auto' ? 'and no static Route 53 credentials are reachable for the SDK fallback' : 'and dns.route53.credentials is rolesAnywhere';
  return v('CRITICAL', 'no-route53-credentials', `${why} ${which}: the fleet DNS role cannot be assumed; ${R53_RECOVERY}`, found.length);
}

/** TXT records a crashed run left behind (the next run removes them). */
function pendingTxt(c: CheckContext): Verdict {
  if (c.stateErr) return v('UNKNOWN', 'state-unreadable', `state.json unreadable: ${c.stateErr}`);
  const pending = c.state?.pendingTxt ?? [];
  const old = pending.filter((p) => !(c.now.getTime() - Date.parse(p.createdAt) < c.cfg.pendingGraceMs));
  if (old.length) {
    const list = old.map((p) => `${p.fqdn} (created ${p.createdAt})`).join(', ');
    return v('WARNING', 'leftover-txt', `${old.length} TXT record(s) left by an interrupted run: ${list}; the next renew run removes them`, pending.length);
  }
  if (pending.length) return v('OK', 'txt-in-progress', `${pending.length} TXT record(s) of a run in progress`, pending.length);
  return v('OK', 'ok', 'no TXT records of ours pending', 0);
}

/** Wraps a check that judges the live identity: without one it is not checked, saying why. */
function needsLive(check: (c: LiveContext) => Verdict): (c: CheckContext) => Verdict {
  return (c) => {
    if (c.live) return check({ ...c, live: c.live });
    return notChecked(c.identity === undefined ? 'no live identity' : 'the live identity cannot be read');
  };
}

/** The table: one function per check after config (which gates them all and is judged in checks.ts). */
export const CHECKS: Record<Exclude<CheckName, 'config'>, (c: CheckContext) => Verdict> = {
  identity,
  validity: needsLive(validity),
  renewal: needsLive(renewal),
  ari: needsLive(ari),
  key: needsLive(key),
  chain: needsLive(chain),
  certificate: needsLive(certificate),
  'last-renewal': lastRenewal,
  'create-session': createSession,
  'route53-credentials': route53Credentials,
  'pending-txt': pendingTxt,
};

function normNames(n: string[]): string {
  return nameSet(n).join(', ');
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
