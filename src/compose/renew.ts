/**
 * Composition of `renew` and `renew --needed`: the decision's read-only deps (store, state.json, ARI), and the full
 * renewal (enrolment deps + ARI + the key rotation rule), followed by the after-renew hooks.
 */
import { getRenewalInfo } from '../acme/index.js';
import { acmeSettingsFromConfig } from './acme.js';
import type { AgentConfig } from '../config/schema.js';
import type { HookResult } from '../renew/hooks.js';
import { liveChecker } from '../renew/live-check.js';
import { readTrustAnchors } from '../renew/preflight.js';
import { decide, renew, type AriFetcher, type Decision, type DecideDeps, type RenewDeps, type RenewResult } from '../renew/renew.js';
import { IdentityStore, StateFile } from '../store/index.js';
import { identitySpec, lifecycleDeps } from './enrol.js';
import { afterRenewHooks } from './hooks.js';
import type { Runtime } from './runtime.js';

/** `renew --needed`: the decision alone. */
export async function renewalDecision(cfg: AgentConfig, rt: Runtime): Promise<Decision> {
  const { decision } = await decide(await decideDeps(cfg, rt), identitySpec(cfg).names, { signal: rt.signal });
  return decision;
}

/** `renew`: renew when due (or forced), then run hooks.afterRenew for the version that went live. */
export async function renewIdentity(cfg: AgentConfig, rt: Runtime, o: { force: boolean }): Promise<{ result: RenewResult; hooks: HookResult[] }> {
  const life = await lifecycleDeps(cfg, rt);
  const rdeps: RenewDeps = {
    ...life,
    ...ariDeps(cfg, rt),
    maxAgeMs: cfg.renewal.maxAge,
    rotateKey: cfg.key.rotateOnRenew,
    checkLive: liveChecker(await readTrustAnchors(cfg.trust.anchors, rt.clock.now())),
  };
  const result = await renew(rdeps, identitySpec(cfg), { force: o.force, signal: rt.signal });
  const hooks = result.action === 'renewed' ? await afterRenewHooks(cfg, rt, life, result.version) : [];
  return { result, hooks };
}

/** ARI (RFC 9773) when renewal.ari is on; the connection settings are the ACME client's. */
function ariDeps(cfg: AgentConfig, rt: Runtime): { ari?: AriFetcher } {
  if (!cfg.renewal.ari) return {};
  let conn: Promise<{ directoryUrl: string; caBundlePem?: string | undefined; timeoutMs: number }> | undefined;
  return {
    ari: async (certPem, signal) => {
      conn ??= acmeSettingsFromConfig(cfg, { logger: rt.logger });
      const s = await conn;
      return getRenewalInfo(
        { clock: rt.clock, logger: rt.logger },
        { directoryUrl: s.directoryUrl, caBundlePem: s.caBundlePem, timeoutMs: s.timeoutMs },
        certPem,
        signal,
      );
    },
  };
}

/** What a decision needs, and no more: a read-only store, state.json and ARI. No DNS, no ACME account. */
async function decideDeps(cfg: AgentConfig, rt: Runtime): Promise<DecideDeps> {
  return {
    clock: rt.clock,
    logger: rt.logger,
    store: await IdentityStore.open(cfg.state.dir, { clock: rt.clock, logger: rt.logger }, { readOnly: true }),
    state: new StateFile(cfg.state.dir, { clock: rt.clock, logger: rt.logger }),
    ...ariDeps(cfg, rt),
    maxAgeMs: cfg.renewal.maxAge,
    // anchors that do not read are left out here; renew itself refuses them (preflight)
    checkLive: liveChecker(await readTrustAnchors(cfg.trust.anchors, rt.clock.now())),
  };
}
