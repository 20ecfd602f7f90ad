import type { Logger } from '../core/logger.js';
import type { DnsChallengeProvider } from '../dns/types.js';
import type { StateFile } from '../store/index.js';

/**
 * Wraps a DNS-01 provider so every TXT value is written to state.json *before* it is created and removed from it
 * only *after* it is deleted. A run killed in between (SIGKILL, power loss) leaves the value recorded, and the next
 * run's reconcile() deletes it: no orphan _acme-challenge record survives a crash.
 */
export function trackedDns(dns: DnsChallengeProvider, state: StateFile, now: () => Date): DnsChallengeProvider {
  return {
    async present(fqdn, value, signal) {
      await state.update((s) => {
        if (!s.pendingTxt.some((p) => p.fqdn === fqdn && p.value === value)) s.pendingTxt.push({ fqdn, value, createdAt: now().toISOString() });
      });
      await dns.present(fqdn, value, signal);
    },
    async cleanup(fqdn, value) {
      await dns.cleanup(fqdn, value);
      await state.update((s) => {
        s.pendingTxt = s.pendingTxt.filter((p) => !(p.fqdn === fqdn && p.value === value));
      });
    },
  };
}

/** Deletes TXT values a previous run recorded but did not clean up. Failures are reported and kept for next time. */
export async function reconcilePendingTxt(dns: DnsChallengeProvider, state: StateFile, logger: Logger): Promise<number> {
  const { pendingTxt } = await state.read();
  let removed = 0;
  for (const p of pendingTxt) {
    try {
      await dns.cleanup(p.fqdn, p.value);
      await state.update((s) => {
        s.pendingTxt = s.pendingTxt.filter((q) => !(q.fqdn === p.fqdn && q.value === p.value));
      });
      removed++;
      logger.info('leftover challenge record removed', { fqdn: p.fqdn, createdAt: p.createdAt });
    } catch (e) {
      logger.warn('could not remove a leftover challenge record; will retry next run', { fqdn: p.fqdn, error: e instanceof Error ? e.message : String(e) });
    }
  }
  return removed;
}
