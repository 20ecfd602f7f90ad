/**
 * Composition of enrolment (bootstrap, and renew's enrol step): a validated config → the identity store, the Route 53
 * DNS-01 provider, the ACME issuer, the verifier, the CreateSession pre-activation check. Features receive only ports.
 */
import { identityNames, route53CredentialsMode, type AgentConfig } from '../config/schema.js';
import type { Logger } from '../core/logger.js';
import { readTextFile } from '../core/fs.js';
import { issueCertificate } from '../acme/index.js';
import { acmeSettingsFromConfig } from './acme.js';
import { createRoute53Provider } from '../dns/index.js';
import { bootstrap, type BootstrapResult, type LifecycleDeps, type IdentitySpec } from '../renew/bootstrap.js';
import type { HookResult } from '../renew/hooks.js';
import { preflightOrThrow } from '../renew/preflight.js';
import { trackedDns } from '../renew/tracked-dns.js';
import { assertSubjectForRolesAnywhere, trustAnchorsFor, verifyIdentity } from '../renew/verify.js';
import { isKeyHandle } from '../keys/factory.js';
import { createSession } from '../signer/index.js';
import { route53Client, route53Credentials, staticKeyNotice } from './route53-credentials.js';

type StaticKeyNotice = NonNullable<Awaited<ReturnType<typeof staticKeyNotice>>>;
import { pkcs11Settings, sessionRequestNow } from './signing.js';
import { type Identity, IdentityStore, StateFile } from '../store/index.js';
import { afterRenewHooks } from './hooks.js';
import type { Runtime } from './runtime.js';

/** The identity the config asks for: its names and how its key is made. */
export function identitySpec(cfg: AgentConfig): IdentitySpec {
  return {
    names: identityNames(cfg),
    key: {
      source: cfg.key.source,
      algorithm: cfg.key.algorithm,
      ...(cfg.key.csrFile ? { csrFile: cfg.key.csrFile } : {}),
      readCsr: (f) => readTextFile(f, 'key.csrFile'),
      ...(cfg.key.pkcs11 ? { pkcs11: { uri: cfg.key.pkcs11.uri, ...pkcs11Settings(cfg)! } } : {}),
      ...(cfg.key.tpm ? { tpm: { ...cfg.key.tpm } } : {}),
    },
  };
}

/** Everything bootstrap and renew need to enrol (store, state, DNS-01, ACME, verification). */
export async function lifecycleDeps(cfg: AgentConfig, rt: Runtime): Promise<LifecycleDeps> {
  const { clock, logger } = rt;
  // anchors, CA bundle, CSR, rolesAnywhere: refused here, before any ACME order or Route 53 change (issue 12 item 3)
  const { anchorsPem, warnings } = await preflightOrThrow(cfg, clock.now());
  for (const w of warnings) logger.warn('config warning', { warning: w });
  const store = await IdentityStore.open(cfg.state.dir, { clock, logger });
  const state = new StateFile(cfg.state.dir, { clock, logger });
  const r53 = cfg.dns.route53;
  const creds = await route53Credentials(cfg, rt, route53CredentialsMode(cfg) === 'sdk' ? undefined : await liveOrNone(store, logger));
  const dns = createRoute53Provider(
    { clock, logger, client: route53Client(r53, creds.credentials) },
    {
      ...(r53.hostedZoneId ? { hostedZoneId: r53.hostedZoneId } : {}),
      ttl: cfg.dns.ttl,
      resolvers: cfg.dns.resolvers,
      propagationTimeoutMs: cfg.dns.propagationTimeout,
      pollIntervalMs: cfg.dns.pollInterval,
    },
  );
  const acme = await acmeSettingsFromConfig(cfg, { logger });
  const tracked = trackedDns(dns, state, () => clock.now());
  return {
    clock,
    logger,
    store,
    state,
    dns,
    issue: (req) => issueCertificate({ clock, logger, dns: tracked }, acme, req),
    verify: async (m, key) => {
      const anchors = trustAnchorsFor(anchorsPem, m.chainPem);
      if (anchors.source === 'chain-top') logger.warn('trust.anchors is not set: the new certificate is checked against its own chain only', {});
      await verifyIdentity({ certPem: m.certPem, chainPem: m.chainPem, key, names: m.meta.names, anchorsPem: anchors.pems, now: clock.now() });
      if (cfg.rolesAnywhere) assertSubjectForRolesAnywhere(m.certPem, m.meta.profile);
      if (cfg.rolesAnywhere?.verifyBeforeActivate) {
        if (!isKeyHandle(key)) {
          logger.warn('verifyBeforeActivate skipped: the key lives outside the agent (key.source csr)');
          return;
        }
        // A real CreateSession with the new identity: only an identity AWS accepts goes live.
        await createSession(
          { clock, logger },
          { ...(await sessionRequestNow(cfg, clock)), certPem: m.certPem, chainPem: m.chainPem, key },
          { signal: rt.signal },
        );
      }
    },
    keepVersions: cfg.state.keepVersions,
    keys: {
      ...(cfg.key.pkcs11 ? { pkcs11: { uri: cfg.key.pkcs11.uri, ...pkcs11Settings(cfg)! } } : {}),
      ...(cfg.key.tpm ? { tpm: { ...cfg.key.tpm } } : {}),
    },
    lockWaitMs: cfg.state.lockTimeout,
  };
}

/** The live identity for the Route 53 credentials choice; one that cannot be read counts as none (re-enrol). */
async function liveOrNone(store: IdentityStore, logger: Logger): Promise<Identity | undefined> {
  try {
    return await store.live();
  } catch (e) {
    logger.warn('live identity unreadable; Route 53 credentials chosen as without one', { error: e instanceof Error ? e.message : String(e) });
    return undefined;
  }
}

/** `bootstrap`: first enrolment (or --force), then the after-renew hooks for a version that went live. */
export async function bootstrapIdentity(
  cfg: AgentConfig,
  rt: Runtime,
  o: { force: boolean },
): Promise<{ result: BootstrapResult; hooks: HookResult[]; notice?: StaticKeyNotice }> {
  const life = await lifecycleDeps(cfg, rt);
  const result = await bootstrap(life, identitySpec(cfg), { force: o.force, signal: rt.signal });
  if (result.action !== 'enrolled') return { result, hooks: [] };
  const hooks = await afterRenewHooks(cfg, rt, life, result.version);
  // after the first enrolment the fleet DNS role can take over: say whether static Route 53 keys are still around
  const notice = await staticKeyNotice(cfg, rt.env);
  return { result, hooks, ...(notice ? { notice } : {}) };
}
