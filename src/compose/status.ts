/**
 * Composition of `status`: the config (loaded here, so a broken one is reported rather than thrown) → read-only
 * ports for status/gather.ts: the store opened readOnly, state.json, the trust anchor files, the key factory and,
 * with --probe, one CreateSession attempt.
 */
import { route53CredentialsMode, type AgentConfig } from '../config/schema.js';
import { formatError } from '../core/errors.js';
import { readTextFile } from '../core/fs.js';
import { staticCredentialSources } from '../dns/index.js';
import { openKey } from '../keys/factory.js';
import { createSession } from '../signer/index.js';
import { configFacts, configFailure, gatherStatus } from '../status/gather.js';
import type { StatusInput } from '../status/index.js';
import { IdentityStore, StateFile } from '../store/index.js';
import type { Runtime } from './runtime.js';
import { keySettings, liveKey, sessionRequestNow } from './signing.js';

export interface StatusOptions {
  configFile: string;
  loadConfig: () => Promise<AgentConfig>;
  /** make a live CreateSession (`status --probe`) instead of reporting the recorded one */
  probe?: boolean;
  /** per-attempt timeout of the probe */
  probeTimeoutMs?: number;
}

export interface Gathered {
  input: StatusInput;
  /** present when the config loaded (the CLI takes status.prometheusFile from it) */
  config?: AgentConfig;
}

export async function statusInput(rt: Pick<Runtime, 'clock' | 'logger'> & Partial<Runtime>, o: StatusOptions): Promise<Gathered> {
  const { clock, logger, signal } = rt;
  let cfg: AgentConfig;
  try {
    cfg = await o.loadConfig();
  } catch (e) {
    return { input: configFailure(clock.now(), o.configFile, e) };
  }
  const timeoutMs = o.probeTimeoutMs ?? 10_000;
  const input = await gatherStatus({
    clock,
    config: configFacts(cfg, o.configFile),
    store: await IdentityStore.open(cfg.state.dir, { clock, logger }, { readOnly: true }),
    state: new StateFile(cfg.state.dir, { clock, logger }, { readOnly: true }),
    anchors: () => Promise.all(cfg.trust.anchors.map((f) => readTextFile(f, 'trust anchor'))),
    openKey: (ref, dir) => {
      return openKey(ref, { dir, logger, ...keySettings(cfg) });
    },
    route53: () => route53Facts(cfg, rt.env ?? process.env),
    ...(o.probe && cfg.rolesAnywhere
      ? {
          probe: async (live) =>
            createSession(
              { clock, logger },
              { ...(await sessionRequestNow(cfg, clock)), certPem: live.certPem, chainPem: live.chainPem, key: await liveKey(live, cfg) },
              // one attempt: status reports what happens now and must finish fast; the timer and vending code retry
              { attempts: 1, timeoutMs, ...(signal ? { signal } : {}) },
            ),
        }
      : {}),
  });
  return { input, config: cfg };
}

async function route53Facts(cfg: AgentConfig, env: NodeJS.ProcessEnv): Promise<NonNullable<StatusInput['route53']>> {
  const r53 = cfg.dns.route53;
  const base = { mode: route53CredentialsMode(cfg), ...(r53.roleArn ? { roleArn: r53.roleArn } : {}) };
  try {
    return { ...base, staticSources: await staticCredentialSources({ ...(r53.profile ? { profile: r53.profile } : {}), env }) };
  } catch (e) {
    return { ...base, staticSources: { error: formatError(e) } };
  }
}
