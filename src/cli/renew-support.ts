import { acmeSettingsFromConfig, getRenewalInfo } from '../acme/index.js';
import { durationMs, type AgentConfig } from '../config/schema.js';
import { identitySpec, lifecycleDeps, type Runtime } from '../compose.js';
import type { Logger } from '../core/logger.js';
import { hookWarnings, runHooksForVersion, type HookConfig, type HookResult } from '../renew/hooks.js';
import { liveChecker } from '../renew/live-check.js';
import { readTrustAnchors } from '../renew/preflight.js';
import { decide, renew, type AriFetcher, type Decision, type RenewDeps } from '../renew/renew.js';
import { IdentityStore, StateFile } from '../store/index.js';
import type { CliDeps } from './context.js';
import { writeJson } from './run.js';

/** The work behind `renew` and `renew --needed`, loaded only when those run (src/cli/renew.ts). */

export async function runNeeded(deps: CliDeps, args: { json: boolean } & Parameters<CliDeps['loadConfig']>[0], logger: Logger): Promise<number> {
  const cfg = await deps.loadConfig(args);
  const { decision } = await decide(await decideDeps(cfg, { clock: deps.clock, logger, signal: deps.signal }), identitySpec(cfg).names, {
    signal: deps.signal,
  });
  if (args.json) writeJson(deps.io.stdout, decision);
  else deps.io.stdout.write(decisionLine(decision) + '\n');
  return decision.due ? 0 : 1;
}

export async function runRenew(deps: CliDeps, args: { json: boolean; force: boolean } & Parameters<CliDeps['loadConfig']>[0], logger: Logger): Promise<number> {
  const cfg = await deps.loadConfig(args);
  const rt = { clock: deps.clock, logger, signal: deps.signal };
  const life = await lifecycleDeps(cfg, rt);
  const rdeps: RenewDeps = {
    ...life,
    ...ariDeps(cfg, rt),
    maxAgeMs: durationMs(cfg.renewal.maxAge),
    rotateKey: cfg.key.rotateOnRenew,
    checkLive: liveChecker(await readTrustAnchors(cfg.trust.anchors, deps.clock.now())),
  };
  const r = await renew(rdeps, identitySpec(cfg), { force: args.force, signal: deps.signal });
  let hooks: HookResult[] = [];
  if (r.action === 'renewed') hooks = await afterRenewHooks(cfg, deps, logger, life, r.version);
  if (args.json) writeJson(deps.io.stdout, { ...r, hooks });
  else if (r.action === 'renewed') {
    const why = r.forced ? 'forced' : r.decision.reason;
    deps.io.stdout.write(
      `renewed: version ${r.version}, serial ${r.serial}, expires ${r.notAfter} (${why}${r.replaces ? `, replaces ${r.replaces}` : ''}; ${r.durationMs} ms)\n`,
    );
  } else deps.io.stdout.write(decisionLine(r.decision) + '\n');
  for (const w of hookWarnings(hooks)) (args.json ? deps.io.stderr : deps.io.stdout).write(w + '\n');
  return 0;
}

function decisionLine(d: Decision): string {
  if (d.due) return `due: ${d.reason}${d.renewAt ? ` (renewal point ${d.renewAt})` : ''}`;
  const ari = d.ari ? `; ARI window ${d.ari.windowStart} – ${d.ari.windowEnd}` : '';
  return `not due: renew at ${d.renewAt} (${d.reason}${ari}); next check ${d.nextCheck ?? d.renewAt}`;
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
async function decideDeps(cfg: AgentConfig, rt: Runtime) {
  return {
    clock: rt.clock,
    logger: rt.logger,
    store: await IdentityStore.open(cfg.state.dir, { clock: rt.clock, logger: rt.logger }, { readOnly: true }),
    state: new StateFile(cfg.state.dir, { clock: rt.clock, logger: rt.logger }),
    ...ariDeps(cfg, rt),
    maxAgeMs: durationMs(cfg.renewal.maxAge),
    // anchors that do not read are left out here; renew itself refuses them (preflight)
    checkLive: liveChecker(await readTrustAnchors(cfg.trust.anchors, rt.clock.now())),
  };
}

export function hookConfig(cfg: AgentConfig): HookConfig {
  return { commands: cfg.hooks.afterRenew, timeoutMs: durationMs(cfg.hooks.timeout), env: cfg.hooks.env };
}

/** hooks.afterRenew for a version that just went live (renew and bootstrap). */
export function afterRenewHooks(
  cfg: AgentConfig,
  deps: CliDeps,
  logger: Logger,
  life: { store: IdentityStore; state: StateFile },
  version: string,
): Promise<HookResult[]> {
  return runHooksForVersion({ clock: deps.clock, logger, state: life.state, env: deps.io.env, store: life.store }, hookConfig(cfg), version);
}
