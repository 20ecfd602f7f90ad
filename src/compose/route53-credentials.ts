/**
 * Part of the composition root: which credentials the Route 53 client signs with (dns.route53.credentials).
 * `rolesAnywhere` is a CreateSession with the live identity for the fleet DNS role (dns.route53.roleArn), through the
 * same signer, key and session-name rules as credential vending; `sdk` is the standard AWS SDK chain; `auto` is
 * rolesAnywhere while a valid identity is live and the SDK chain only before the first enrolment or after the
 * identity expired. The decision is a pure function of the config, the live identity and the time.
 */
import { type AgentConfig, route53CredentialsMode } from '../config/schema.js';
import { liveKey, sessionRequestNow } from './signing.js';
import type { Clock } from '../core/clock.js';
import { AgentError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { createRoute53Client, type Route53Credentials, sdkCredentialChain, staticCredentialSources } from '../dns/index.js';
import { createSession, credentialsProvider } from '../signer/index.js';
import type { Identity } from '../store/index.js';

export type Route53CredentialSource = 'sdk' | 'rolesAnywhere';

export interface Route53CredentialDecision {
  source: Route53CredentialSource;
  /** why, for the log and the errors */
  reason: string;
}

interface LiveWindow {
  version: string;
  notBefore: Date;
  notAfter: Date;
}

const RECOVERY =
  'put a one-time Route 53 credential where the SDK finds it (/etc/iamra-agent/route53-credentials, the units’ LoadCredential=, or AWS_* in the environment), run `iamra-agent bootstrap --force`, then remove it: the fleet DNS role takes over once a valid identity is live';

function identityState(live: LiveWindow | undefined, now: Date): { valid: boolean; why: string } {
  if (!live) return { valid: false, why: 'no identity is live yet (first enrolment)' };
  if (now.getTime() < live.notBefore.getTime()) return { valid: false, why: `identity ${live.version} is not valid before ${live.notBefore.toISOString()}` };
  if (now.getTime() >= live.notAfter.getTime()) return { valid: false, why: `identity ${live.version} expired at ${live.notAfter.toISOString()}` };
  return { valid: true, why: `identity ${live.version} is valid until ${live.notAfter.toISOString()}` };
}

/** Throws the CRITICAL error of `rolesAnywhere` without a valid identity: it can never sign, so no retry helps. */
export function decideRoute53Credentials(mode: 'sdk' | 'rolesAnywhere' | 'auto', live: LiveWindow | undefined, now: Date): Route53CredentialDecision {
  if (mode === 'sdk') return { source: 'sdk', reason: 'dns.route53.credentials is sdk' };
  const id = identityState(live, now);
  if (id.valid) return { source: 'rolesAnywhere', reason: id.why };
  if (mode === 'auto') return { source: 'sdk', reason: `${id.why}; auto uses the SDK chain until a valid identity is live` };
  throw new AgentError({
    code: 'ROUTE53_NO_IDENTITY',
    component: 'route53',
    message: `CRITICAL: dns.route53.credentials is rolesAnywhere but ${id.why}, so the fleet DNS role cannot be assumed`,
    hint: `set dns.route53.credentials: auto, ${RECOVERY}`,
  });
}

export interface Route53CredentialChoice extends Route53CredentialDecision {
  /** undefined: the client's own SDK chain for dns.route53.profile (plain `sdk`) */
  credentials?: () => Promise<Route53Credentials>;
}

/**
 * The credentials for the Route 53 client of this run. For rolesAnywhere the session is memoised (one CreateSession
 * per run, refreshed like vending's). An `auto` fallback whose SDK chain finds nothing is a CRITICAL error with the
 * recovery steps instead of the SDK's "could not load credentials".
 */
export async function route53Credentials(
  cfg: AgentConfig,
  deps: { clock: Clock; logger: Logger; signal?: AbortSignal },
  live: Identity | undefined,
): Promise<Route53CredentialChoice> {
  const { clock, logger } = deps;
  const mode = route53CredentialsMode(cfg);
  const r53 = cfg.dns.route53;
  // auto without a rolesAnywhere section has nothing to sign CreateSession with: the SDK chain, said so
  const decision =
    mode === 'auto' && !cfg.rolesAnywhere
      ? { source: 'sdk' as const, reason: 'rolesAnywhere is not configured; auto uses the SDK chain' }
      : decideRoute53Credentials(mode, live, clock.now());
  if (decision.source === 'rolesAnywhere' && live && r53.roleArn) {
    const id = live;
    const key = await liveKey(id, cfg);
    const roleArn = r53.roleArn;
    const provider = credentialsProvider(
      { clock, logger },
      // the session name is computed per CreateSession, as vending does (a TOTP name changes with time)
      async () =>
        createSession(
          { clock, logger },
          { ...(await sessionRequestNow(cfg, clock)), roleArn, certPem: id.certPem, chainPem: id.chainPem, key },
          deps.signal ? { signal: deps.signal } : {},
        ),
      { refreshBeforeMs: cfg.vend.refreshBefore },
    );
    logger.info('route53 credentials', { source: 'rolesAnywhere', roleArn: r53.roleArn, identity: id.version, serial: id.serial, reason: decision.reason });
    return { ...decision, credentials: () => provider.get() };
  }
  logger.info('route53 credentials', { source: 'sdk', ...(r53.profile ? { profile: r53.profile } : {}), reason: decision.reason });
  if (mode === 'sdk') return decision;
  const chain = sdkCredentialChain(r53.profile);
  return {
    ...decision,
    credentials: async () => {
      try {
        return await chain();
      } catch (e) {
        throw new AgentError({
          code: 'ROUTE53_NO_CREDENTIALS',
          component: 'route53',
          message: `CRITICAL: no credentials for Route 53: ${decision.reason}, and it found none (${e instanceof Error ? e.message : String(e)})`,
          hint: RECOVERY,
          cause: e,
        });
      }
    },
  };
}

/**
 * After an enrolment (issue 9): whether static Route 53 credentials are still reachable although renewals will use
 * the fleet DNS role, so the bootstrap output says so at the moment the key can go. Undefined for plain `sdk`.
 */
export async function staticKeyNotice(cfg: AgentConfig, env: NodeJS.ProcessEnv): Promise<{ staticRoute53Credentials: string[]; message: string } | undefined> {
  const r53 = cfg.dns.route53;
  if (route53CredentialsMode(cfg) === 'sdk' || !cfg.rolesAnywhere || !r53.roleArn) return undefined;
  const found = await staticCredentialSources({ ...(r53.profile ? { profile: r53.profile } : {}), env });
  const message = found.length
    ? `static Route 53 credentials are still reachable (${found.join(', ')}): renewals use the fleet DNS role ${r53.roleArn}, so remove them (status warns until they are gone)`
    : `no static Route 53 credentials are reachable: renewals use the fleet DNS role ${r53.roleArn}`;
  return { staticRoute53Credentials: found, message };
}

/** The SDK client the Route 53 provider is given: region/endpoint/profile from the config, signed with `credentials`. */
export function route53Client(r53: AgentConfig['dns']['route53'], credentials: Route53CredentialChoice['credentials']) {
  return createRoute53Client({
    region: r53.region,
    ...(r53.endpoint ? { endpoint: r53.endpoint } : {}),
    ...(r53.profile ? { profile: r53.profile } : {}),
    ...(credentials ? { credentials } : {}),
  });
}
