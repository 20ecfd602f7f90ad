/**
 * Part of the composition root (main.ts): turns a validated config into the real collaborators of each feature —
 * the identity store, the Route 53 DNS-01 provider, the ACME issuer, the verifier, the CreateSession signer. Commands
 * call these factories; features receive only ports.
 */
import { X509Certificate } from 'node:crypto';
import type { Clock } from './core/clock.js';
import { durationMs, route53CredentialsMode, type AgentConfig } from './config/schema.js';
import { route53Credentials } from './compose/route53-credentials.js';
import { AgentError } from './core/errors.js';
import { readTextFile } from './core/fs.js';
import type { Logger } from './core/logger.js';
import { acmeSettingsFromConfig, issueCertificate } from './acme/index.js';
import { createRoute53Provider } from './dns/index.js';
import type { LifecycleDeps, IdentitySpec } from './renew/bootstrap.js';
import { trackedDns } from './renew/tracked-dns.js';
import { preflightOrThrow } from './renew/preflight.js';
import { verifyIdentity } from './renew/verify.js';
import { isKeyHandle } from './keys/factory.js';
import { createSession } from './signer/index.js';
import { pkcs11Settings, sessionRequestNow } from './compose-signing.js';
import { type Identity, IdentityStore, StateFile } from './store/index.js';

export interface Runtime {
  clock: Clock;
  logger: Logger;
  signal: AbortSignal;
}

export function identitySpec(cfg: AgentConfig): IdentitySpec {
  return {
    names: [cfg.identity.name, ...cfg.identity.extraNames],
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
    { clock, logger },
    {
      ...(r53.hostedZoneId ? { hostedZoneId: r53.hostedZoneId } : {}),
      region: r53.region,
      ...(r53.endpoint ? { endpoint: r53.endpoint } : {}),
      ...(r53.profile ? { profile: r53.profile } : {}),
      ...(creds.credentials ? { credentials: creds.credentials } : {}),
      ttl: cfg.dns.ttl,
      resolvers: cfg.dns.resolvers,
      propagationTimeoutMs: durationMs(cfg.dns.propagationTimeout),
      pollIntervalMs: durationMs(cfg.dns.pollInterval),
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
      const anchors = anchorsPem.length ? anchorsPem : topOfChain(m.chainPem, logger);
      await verifyIdentity({ certPem: m.certPem, chainPem: m.chainPem, key, names: m.meta.names, anchorsPem: anchors, now: clock.now() });
      if (cfg.rolesAnywhere && !new X509Certificate(m.certPem).subject) {
        throw new AgentError({
          code: 'IDENTITY_EMPTY_SUBJECT',
          component: 'verify',
          message: `the new certificate has an empty subject (ACME profile ${m.meta.profile ?? 'default'} puts no CN in it), which IAM Roles Anywhere does not support`,
          hint: "use acme.profile: classic (the Let's Encrypt profile that keeps the CN)",
        });
      }
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
    lockWaitMs: durationMs(cfg.state.lockTimeout),
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

/**
 * Without configured trust anchors the chain can still be checked to its own top (leaf → intermediates), which
 * catches a broken or mismatched chain but not a wrong CA; say so.
 */
function topOfChain(chainPem: string, logger: Logger): string[] {
  const blocks = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (!blocks.length) {
    throw new AgentError({
      code: 'TRUST_ANCHORS_MISSING',
      component: 'verify',
      message: 'no trust anchors are configured and the CA sent no chain',
      hint: 'set trust.anchors to the CA certificates of the IAM Roles Anywhere trust anchor',
    });
  }
  logger.warn('trust.anchors is not set: the new certificate is checked against its own chain only', {});
  return [blocks[blocks.length - 1]! + '\n'];
}
