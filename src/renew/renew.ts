import { sameNames } from '../core/names.js';
import { certId as ariCertId, type RenewalInfo } from '../acme/index.js';
import { AgentError, messageOf } from '../core/errors.js';
import { reuseKey } from '../keys/factory.js';
import { storedKeyRef, type KeyRef } from '../keys/ref.js';
import type { AgentState, Identity, IdentityStore, StateFile } from '../store/index.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { enrolRecorded, type IdentitySpec, type LifecycleDeps } from './bootstrap.js';
import { clampAriRetryAfterSec } from '../core/retry.js';
import { renewalDecision, type AriWindow, type RenewalReason } from './policy.js';
import { reconcilePendingTxt } from './tracked-dns.js';
import type { EnrolResult } from './enrol.js';
import type { LiveChecker } from './live-check.js';

/**
 * `renew` and `renew --needed`: decide with the pure policy (policy.ts), then enrol through the same path as
 * bootstrap. The decision inputs are the live certificate, the wall clock, renewal.maxAge and — when the CA offers
 * it — ACME Renewal Information (RFC 9773), fetched at most once per Retry-After.
 */

/** Why a renewal is (not) due: the policy's reasons plus the ones only a live store can give. */
export type RenewReason = RenewalReason | 'no-identity' | 'unreadable' | 'names-changed' | 'no-key' | 'invalid';

export interface Decision {
  due: boolean;
  reason: RenewReason;
  /** when the live certificate should be renewed; absent when there is no usable live identity */
  renewAt?: string;
  /** when to look again if not due (renewAt, or the ARI Retry-After when earlier) */
  nextCheck?: string;
  /** the live identity the decision is about */
  live?: { version: string; serial: string; notBefore: string; notAfter: string };
  /** the ARI window used, if any, and whether it came from state.json (Retry-After not yet reached) */
  ari?: { windowStart: string; windowEnd: string; retryAfter?: string; cached: boolean; explanationUrl?: string };
  /** an ARI answer that was asked for but not usable (error, invalid window); the lifetime rule decided instead */
  ariProblem?: string;
  /** reason invalid: what is wrong with the live identity */
  problems?: string[];
}

/** Fetches the ARI answer for a certificate; undefined when the CA's directory has no renewalInfo. */
export type AriFetcher = (certPem: string, signal?: AbortSignal) => Promise<RenewalInfo | undefined>;

export interface DecideDeps {
  clock: Clock;
  logger: Logger;
  /** a store opened read-only is enough for a decision */
  store: Pick<IdentityStore, 'live'>;
  state: StateFile;
  /** undefined when renewal.ari is off */
  ari?: AriFetcher;
  maxAgeMs: number;
  /** checks the live identity (live-check.ts); one that fails is due now (reason invalid) */
  checkLive?: LiveChecker;
}

export type RenewDeps = LifecycleDeps & { ari?: AriFetcher; maxAgeMs: number; rotateKey: boolean; checkLive?: LiveChecker };

export type RenewResult =
  | ({ action: 'renewed'; forced: boolean; replaces?: string; previous?: { version: string; serial: string } } & EnrolResult & { decision: Decision })
  | { action: 'not-due'; decision: Decision };

/**
 * The decision alone (renew --needed, status). Reads the live identity, may fetch ARI and records both the ARI answer
 * (state.ari) and the decision (state.lastCheck). Does not take the run lock: it writes state.json only through its
 * own short lock, so the timer's ExecCondition never waits for a running renewal.
 */
export async function decide(
  deps: DecideDeps,
  names: string[],
  o: { signal?: AbortSignal } = {},
): Promise<{ decision: Decision; live?: Identity; ariOffered?: boolean }> {
  const now = deps.clock.now();
  let live: Identity | undefined;
  try {
    live = await deps.store.live();
  } catch (e) {
    // A damaged live identity is due: enrolling a new one is the repair.
    deps.logger.warn('the live identity is unreadable; a renewal is due', { error: messageOf(e) });
    const decision: Decision = { due: true, reason: 'unreadable' };
    await recordCheck(deps, decision, now);
    return { decision };
  }
  if (!live) {
    const decision: Decision = { due: true, reason: 'no-identity' };
    await recordCheck(deps, decision, now);
    return { decision };
  }
  const liveFacts = { version: live.version, serial: live.serial, notBefore: live.notBefore.toISOString(), notAfter: live.notAfter.toISOString() };
  const structural = structuralReason(live, names);
  if (structural) {
    const decision: Decision = { due: true, reason: structural, live: liveFacts };
    await recordCheck(deps, decision, now);
    return { decision, live };
  }

  const problems = await liveProblems(deps, live, now);
  if (problems.length) {
    deps.logger.warn('the live identity fails verification; a renewal is due now', { version: live.version, serial: live.serial, problems });
    const decision: Decision = { due: true, reason: 'invalid', live: liveFacts, problems };
    await recordCheck(deps, decision, now);
    return { decision, live };
  }

  const ari = deps.ari ? await ariWindow(deps, deps.ari, live, now, o.signal) : undefined;
  const d = renewalDecision(live, { now, maxAgeMs: deps.maxAgeMs, ...(ari?.window ? { ari: ari.window } : {}) });
  const decision: Decision = { due: d.due, reason: d.reason, renewAt: d.renewAt.toISOString(), live: liveFacts };
  if (d.nextCheck) decision.nextCheck = d.nextCheck.toISOString();
  if (ari?.window && !d.ariIgnored) {
    decision.ari = {
      windowStart: ari.window.windowStart.toISOString(),
      windowEnd: ari.window.windowEnd.toISOString(),
      ...(ari.window.retryAfter ? { retryAfter: ari.window.retryAfter.toISOString() } : {}),
      cached: ari.cached,
      ...(ari.explanationUrl ? { explanationUrl: ari.explanationUrl } : {}),
    };
  }
  const problem = d.ariIgnored ?? ari?.problem;
  if (problem) decision.ariProblem = problem;
  await recordCheck(deps, decision, now);
  return { decision, live, ...(ari ? { ariOffered: ari.offered } : {}) };
}

/**
 * renew: under the run lock, reconcile leftovers, decide, and enrol when due (or forced). The old identity stays
 * live on any failure (enrol's invariant); the failure is recorded in state.lastRenewal by enrolRecorded.
 */
export async function renew(deps: RenewDeps, spec: IdentitySpec, o: { force: boolean; signal?: AbortSignal }): Promise<RenewResult> {
  const lock = await deps.store.lock({ waitMs: deps.lockWaitMs });
  try {
    await reconcilePendingTxt(deps.dns, deps.state, deps.logger);
    const { decision, live, ariOffered } = await decide(deps, spec.names, o.signal ? { signal: o.signal } : {});
    if (!decision.due && !o.force) {
      deps.logger.info('renewal not due', { renewAt: decision.renewAt, reason: decision.reason, serial: live?.serial });
      return { action: 'not-due', decision };
    }
    deps.logger.info('renewing', { reason: o.force && !decision.due ? 'forced' : decision.reason, serial: live?.serial, version: live?.version });

    // RFC 9773 §5: a renewal names the certificate it replaces, so the CA can exempt it from rate limits and
    // tie the two together. Only when ARI is on and the CA did not say it has none (issueCertificate checks the
    // directory again before sending it).
    // Not for an invalid live certificate: it may be another CA's, whose certID this CA would refuse.
    const replaces = deps.ari && live && ariOffered !== false && decision.reason !== 'invalid' ? safeCertId(live, deps.logger) : undefined;
    const key = await keyFor(deps, spec, live);
    const base = o.signal ? { signal: o.signal } : {};
    let r: EnrolResult;
    let sent = replaces;
    try {
      r = await enrolRecorded(deps, { ...spec, key }, { ...base, ...(replaces ? { replaces } : {}) });
    } catch (e) {
      const why = replaces ? refusedReplaces(e) : undefined;
      if (!why) throw e;
      // `replaces` is advisory (RFC 9773 §5): a renewal refused because of it is ordered again without it; the
      // renewal matters more than the rate-limit exemption.
      deps.logger.warn(why, { replaces, error: messageOf(e) });
      sent = undefined;
      r = await enrolRecorded(deps, { ...spec, key }, base);
    }
    // The ARI answer was about the certificate just replaced.
    await deps.state.update((s) => {
      delete s.ari;
    });
    return {
      action: 'renewed',
      forced: o.force && !decision.due,
      ...(sent ? { replaces: sent } : {}),
      ...(live ? { previous: { version: live.version, serial: live.serial } } : {}),
      ...r,
      decision,
    };
  } finally {
    await lock.release();
  }
}

/** Rotate (a new key every time, the default for file keys) or keep the live key (key.rotateOnRenew: false). */
async function keyFor(deps: RenewDeps, spec: IdentitySpec, live: Identity | undefined): Promise<IdentitySpec['key']> {
  if (spec.key.source === 'csr') return spec.key;
  // a token key rotates into a new object; the configured label stays the bootstrap key's
  // (a TPM key file rotates into a new key; a persistent TPM handle keeps its key)
  if (deps.rotateKey) return spec.key.source === 'pkcs11' || spec.key.source === 'tpm' ? { ...spec.key, fresh: true } : spec.key;
  let ref: KeyRef | undefined;
  try {
    ref = live ? storedKeyRef(live) : undefined;
  } catch (e) {
    // renewal is the repair of a damaged version: a new key rather than no renewal
    deps.logger.warn('the live key reference is unreadable; making a new key', { version: live?.version, error: messageOf(e) });
    return spec.key;
  }
  if (live && ref?.kind === 'pkcs11' && spec.key.source === 'pkcs11') {
    const { uri: _uri, ...pkcs11 } = spec.key.pkcs11 ?? { pin: {} };
    return { ...spec.key, reuse: await reuseKey(ref, { dir: live.dir, logger: deps.logger, pkcs11 }) };
  }
  if (live && ref?.kind === 'tpm' && spec.key.source === 'tpm') {
    const { tcti, authFile } = spec.key.tpm ?? {};
    return {
      ...spec.key,
      reuse: await reuseKey(ref, { dir: live.dir, logger: deps.logger, tpm: { ...(tcti ? { tcti } : {}), ...(authFile ? { authFile } : {}) } }),
    };
  }
  if (!live?.files.key || ref?.kind !== 'file') {
    deps.logger.warn('key.rotateOnRenew is off but the live identity has no key file; making a new key', { version: live?.version });
    return spec.key;
  }
  return { ...spec.key, reuse: await reuseKey(ref, { dir: live.dir, logger: deps.logger }) };
}

/**
 * Why an enrolment that sent `replaces` should be tried once more without it, or undefined when it should not:
 * - alreadyReplaced (§5): the predecessor already has a replacement order (an earlier run was interrupted after
 *   newOrder, or another host holds the same certificate);
 * - the CA failing newOrder itself (5xx after the retries, or malformed): a CA that cannot look the certificate up
 *   refuses an order it would accept without `replaces` (seen with Pebble 2.10.1, which stores serials in one form
 *   and looks `replaces` up in another, failing about one certificate in 256).
 */
function refusedReplaces(e: unknown): string | undefined {
  if (!(e instanceof AgentError)) return undefined;
  if (e.code === 'ACME_ALREADY_REPLACED') return 'the live certificate already has a replacement order; ordering without replaces';
  const atNewOrder = (e.details as { step?: unknown } | undefined)?.step === 'newOrder';
  if (atNewOrder && (e.code === 'ACME_SERVER_ERROR' || e.code === 'ACME_MALFORMED'))
    return 'the CA refused the order naming the certificate it replaces; ordering without replaces';
  return undefined;
}
function safeCertId(live: Identity, logger: Logger): string | undefined {
  try {
    return ariCertId(live.certPem);
  } catch (e) {
    logger.warn('no ARI certificate ID for the live certificate; ordering without replaces', { error: messageOf(e) });
    return undefined;
  }
}

/**
 * What is wrong with the live identity: a validity period the policy cannot reason about (notAfter not after
 * notBefore), and whatever the checker finds. A checker that itself fails is reported as a problem too.
 */
async function liveProblems(deps: DecideDeps, live: Identity, now: Date): Promise<string[]> {
  if (!(live.notAfter.getTime() > live.notBefore.getTime())) {
    return [`validity: notAfter ${live.notAfter.toISOString()} is not after notBefore ${live.notBefore.toISOString()}`];
  }
  if (!deps.checkLive) return [];
  try {
    return await deps.checkLive(live, now);
  } catch (e) {
    return [`check: ${messageOf(e)}`];
  }
}

function structuralReason(live: Identity, names: string[]): RenewReason | undefined {
  if (!sameNames(names, live.meta.names)) return 'names-changed';
  if (!live.files.key && !live.keyRef) return 'no-key';
  return undefined;
}

interface AriOutcome {
  /** false when the directory has no renewalInfo; true when it answered (now or before) or an error left it open */
  offered: boolean;
  window?: AriWindow;
  cached: boolean;
  explanationUrl?: string;
  problem?: string;
}

/**
 * The ARI window for the live certificate. RFC 9773 §4.3: the client must not ask again before Retry-After, so a
 * stored answer for this certificate whose Retry-After is still ahead is used as is. A fresh answer is stored with
 * its Retry-After clamped to 1 min … 1 day. A failed fetch falls back to a stored window (if any) or the lifetime
 * rule, and sets the next attempt per the error's Retry-After (6 h for long-term errors).
 */
async function ariWindow(deps: DecideDeps, fetch: AriFetcher, live: Identity, now: Date, signal?: AbortSignal): Promise<AriOutcome> {
  let id: string;
  try {
    id = ariCertId(live.certPem);
  } catch (e) {
    return { offered: true, cached: false, problem: messageOf(e) };
  }
  const st = await deps.state.read();
  const stored = st.ari && st.ari.certId === id ? st.ari : undefined;
  const storedWindow = stored ? windowOf(stored) : undefined;
  if (stored?.retryAfter && Date.parse(stored.retryAfter) > now.getTime()) {
    deps.logger.debug('ARI answer reused until its Retry-After', { retryAfter: stored.retryAfter });
    return storedWindow
      ? { offered: true, window: storedWindow, cached: true, ...(stored.explanationUrl ? { explanationUrl: stored.explanationUrl } : {}) }
      : { offered: true, cached: true, problem: 'the stored ARI answer is unusable' };
  }
  let info: RenewalInfo | undefined;
  try {
    info = await fetch(live.certPem, signal);
  } catch (e) {
    const retrySec = e instanceof AgentError && typeof e.details?.['retryAfterSec'] === 'number' ? (e.details['retryAfterSec'] as number) : undefined;
    const retryAfter = new Date(now.getTime() + clampAriRetryAfterSec(retrySec) * 1000).toISOString();
    deps.logger.warn('ARI request failed; deciding without a fresh window', { error: messageOf(e), retryAfter });
    if (stored) {
      await deps.state.update((s) => {
        if (s.ari?.certId === id) s.ari.retryAfter = retryAfter;
      });
    }
    return storedWindow
      ? { offered: true, window: storedWindow, cached: true, problem: messageOf(e) }
      : { offered: true, cached: false, problem: messageOf(e) };
  }
  if (!info) {
    // the directory offers no renewalInfo: nothing to store, the lifetime rule decides
    if (st.ari) await deps.state.update((s) => void delete s.ari);
    return { offered: false, cached: false };
  }
  const retryAfter = new Date(now.getTime() + clampAriRetryAfterSec(info.retryAfterSec) * 1000);
  const rec: NonNullable<AgentState['ari']> = {
    windowStart: info.suggestedWindow.start.toISOString(),
    windowEnd: info.suggestedWindow.end.toISOString(),
    retryAfter: retryAfter.toISOString(),
    checkedAt: now.toISOString(),
    certId: id,
    ...(info.explanationURL ? { explanationUrl: info.explanationURL } : {}),
  };
  await deps.state.update((s) => {
    s.ari = rec;
  });
  deps.logger.info('ARI window', {
    windowStart: rec.windowStart,
    windowEnd: rec.windowEnd,
    retryAfter: rec.retryAfter,
    ...(rec.explanationUrl ? { explanationUrl: rec.explanationUrl } : {}),
  });
  return {
    offered: true,
    window: { windowStart: info.suggestedWindow.start, windowEnd: info.suggestedWindow.end, retryAfter },
    cached: false,
    ...(info.explanationURL ? { explanationUrl: info.explanationURL } : {}),
  };
}

function windowOf(a: NonNullable<AgentState['ari']>): AriWindow | undefined {
  const s = new Date(a.windowStart);
  const e = new Date(a.windowEnd);
  if (Number.isNaN(s.getTime()) || Number.isNaN(e.getTime())) return undefined;
  const w: AriWindow = { windowStart: s, windowEnd: e };
  if (a.retryAfter && !Number.isNaN(Date.parse(a.retryAfter))) w.retryAfter = new Date(a.retryAfter);
  return w;
}

async function recordCheck(deps: { state: StateFile; logger: Logger }, d: Decision, now: Date): Promise<void> {
  await deps.state
    .update((s) => {
      s.lastCheck = { at: now.toISOString(), due: d.due, reason: d.reason, ...(d.renewAt ? { renewAt: d.renewAt } : {}) };
    })
    .catch((e) => deps.logger.warn('could not record the renewal decision in state.json', { error: messageOf(e) }));
}
