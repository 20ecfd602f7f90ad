import { nameSet, sameNames } from '../core/names.js';
import type { Clock } from '../core/clock.js';
import { messageOf } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { DnsChallengeProvider } from '../dns/types.js';
import type { Identity, IdentityStore, StateFile } from '../store/index.js';
import { bump } from '../store/index.js';
import { pruneVersions, type PruneKeyDeps } from '../keys/prune.js';
import { enrol, type EnrolDeps, type EnrolResult, type KeySpec } from './enrol.js';
import { reconcilePendingTxt } from './tracked-dns.js';

export interface LifecycleDeps {
  clock: Clock;
  logger: Logger;
  store: IdentityStore;
  state: StateFile;
  /** the raw provider, for reconciling leftovers of a crashed run */
  dns: DnsChallengeProvider;
  issue: EnrolDeps['issue'];
  verify: EnrolDeps['verify'];
  keepVersions: number;
  /** key.pkcs11 / key.tpm: what pruning needs to delete the hardware keys of removed versions */
  keys?: Omit<PruneKeyDeps, 'logger'>;
  lockWaitMs: number;
}

export interface IdentitySpec {
  names: string[];
  key: KeySpec;
}

export type BootstrapResult = { action: 'exists'; version: string; serial: string; notAfter: string } | ({ action: 'enrolled' } & EnrolResult);

/**
 * First enrolment. Idempotent: a live identity that is complete, currently valid and for the configured names is
 * kept (exit 0, and it says so); --force enrols anew. Under the store lock, so it never interleaves with renew.
 */
export async function bootstrap(deps: LifecycleDeps, spec: IdentitySpec, o: { force: boolean; signal?: AbortSignal }): Promise<BootstrapResult> {
  const lock = await deps.store.lock({ waitMs: deps.lockWaitMs });
  try {
    await reconcilePendingTxt(deps.dns, deps.state, deps.logger);
    if (!o.force) {
      const live = await readLive(deps);
      const reason = live ? unusable(live, spec.names, deps.clock.now()) : 'no identity is live';
      if (live && !reason) {
        deps.logger.info('a valid identity is already live', { version: live.version, serial: live.serial, notAfter: live.notAfter.toISOString() });
        return { action: 'exists', version: live.version, serial: live.serial, notAfter: live.notAfter.toISOString() };
      }
      deps.logger.info('enrolling', { reason });
    }
    return { action: 'enrolled', ...(await enrolRecorded(deps, spec, o.signal ? { signal: o.signal } : {})) };
  } finally {
    await lock.release();
  }
}

/** enrol + state bookkeeping (result, counters) + pruning; the caller holds the lock. */
export async function enrolRecorded(deps: LifecycleDeps, spec: IdentitySpec, o: { replaces?: string; signal?: AbortSignal }): Promise<EnrolResult> {
  const at = deps.clock.now().toISOString();
  try {
    const r = await enrol({ clock: deps.clock, logger: deps.logger, store: deps.store, issue: deps.issue, verify: deps.verify }, spec.names, spec.key, o);
    await deps.state.update((s) => {
      s.lastRenewal = { at, ok: true, serial: r.serial };
      bump(s, 'renewals');
    });
    await pruneVersions(deps.store, deps.keepVersions, { logger: deps.logger, ...deps.keys });
    return r;
  } catch (e) {
    await deps.state
      .update((s) => {
        s.lastRenewal = { at, ok: false, error: messageOf(e) };
        bump(s, 'renewal_failures');
      })
      .catch((w) => deps.logger.warn('could not record the failure in state.json', { error: messageOf(w) }));
    throw e;
  }
}

async function readLive(deps: LifecycleDeps): Promise<Identity | undefined> {
  try {
    return await deps.store.live();
  } catch (e) {
    // A damaged live identity is not fatal for bootstrap: enrolling a new one is exactly the repair.
    deps.logger.warn('the live identity is unreadable; enrolling a new one', { error: messageOf(e) });
    return undefined;
  }
}

function unusable(live: Identity, names: string[], now: Date): string | undefined {
  if (now < live.notBefore) return `the live certificate is not valid before ${live.notBefore.toISOString()}`;
  if (now >= live.notAfter) return `the live certificate expired at ${live.notAfter.toISOString()}`;
  if (!sameNames(names, live.meta.names)) return `the live certificate is for ${nameSet(live.meta.names)}, the config names ${nameSet(names)}`;
  if (!live.files.key && !live.keyRef) return 'the live identity has no key';
  return undefined;
}
