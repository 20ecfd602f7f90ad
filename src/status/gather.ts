import { createHash } from 'node:crypto';
import { certId } from '../acme/index.js';
import { liveKey, pkcs11Settings, sessionRequestNow, tpmSettings } from '../compose-signing.js';
import { durationMs, route53CredentialsMode, type AgentConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import { formatError, isAgentError, messageOf } from '../core/errors.js';
import { readTextFile } from '../core/fs.js';
import { staticCredentialSources } from '../dns/index.js';
import type { Logger } from '../core/logger.js';
import { openKey } from '../keys/factory.js';
import { describeKeyRef, storedKeyRef, type KeyRef } from '../keys/ref.js';
import type { KeyHandle } from '../keys/types.js';
import { checkIdentity, type VerifyInput } from '../renew/verify.js';
import { createSession } from '../signer/index.js';
import { IdentityStore, StateFile, type Identity } from '../store/index.js';
import type { AnchorFacts, ConfigFacts, CredentialFacts, IdentityFacts, KeyFacts, StatusInput } from './checks.js';

/**
 * Collects the facts `evaluate` judges. Read-only by construction: the store is opened readOnly (nothing created,
 * cleaned or locked), state.json is only read, and the renewal lock is never taken, so status runs next to a
 * renewal, under a monitoring user, and on a read-only state directory. Every failure becomes a fact, never a throw.
 */
export interface GatherDeps {
  clock: Clock;
  logger: Logger;
  signal?: AbortSignal;
  /** the environment the SDK chain would read (static Route 53 keys); default process.env */
  env?: NodeJS.ProcessEnv;
}

export interface GatherOptions {
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

export async function gatherStatus(deps: GatherDeps, o: GatherOptions): Promise<Gathered> {
  let cfg: AgentConfig;
  try {
    cfg = await o.loadConfig();
  } catch (e) {
    const problems = isAgentError(e) && Array.isArray(e.details?.problems) ? (e.details.problems as unknown[]).map(String) : undefined;
    return { input: { now: deps.clock.now(), config: { file: o.configFile, error: formatError(e), ...(problems ? { problems } : {}) } } };
  }

  const config: ConfigFacts = {
    file: o.configFile,
    names: [cfg.identity.name, ...cfg.identity.extraNames],
    maxAgeMs: durationMs(cfg.renewal.maxAge),
    ari: cfg.renewal.ari,
    rolesAnywhere: !!cfg.rolesAnywhere,
    // A record younger than this can belong to a renewal that is waiting for DNS propagation right now.
    pendingGraceMs: Math.max(15 * 60_000, 2 * durationMs(cfg.dns.propagationTimeout)),
    overdueGraceMs: durationMs(cfg.status.overdueGrace),
  };

  const store = await IdentityStore.open(cfg.state.dir, { clock: deps.clock, logger: deps.logger }, { readOnly: true });
  const stateFile = new StateFile(cfg.state.dir, { clock: deps.clock, logger: deps.logger });
  const [liveR, stateR] = await Promise.all([
    store.live().then(
      (v) => v,
      (e: unknown) => ({ error: formatError(e) }),
    ),
    stateFile.read().catch((e: unknown) => ({ error: formatError(e) })),
  ]);
  const input: StatusInput = { now: deps.clock.now(), config, state: stateR, route53: await route53Facts(cfg, deps.env ?? process.env) };
  if (!liveR) return { input, config: cfg };
  if ('error' in liveR) {
    input.identity = liveR;
    return { input, config: cfg };
  }
  const live: Identity = liveR;
  input.identity = identityFacts(live);

  const key = await keyOf(cfg, live);
  input.key = key.facts;
  const anchors = await anchorsOf(cfg, live);
  input.anchors = anchors.facts;
  // checked "as of now" like everything else in the report
  const now = deps.clock.now();
  input.now = now;
  const verifyInput: VerifyInput = {
    certPem: live.certPem,
    chainPem: live.chainPem,
    key: key.verifyKey,
    names: live.meta.names,
    anchorsPem: anchors.pems,
    now,
  };
  try {
    const r = await checkIdentity(verifyInput);
    input.verify = key.extraFailure ? { ...r, failures: [...r.failures, key.extraFailure] } : r;
  } catch (e) {
    input.verify = { error: messageOf(e) };
  }

  if (o.probe && cfg.rolesAnywhere) input.probe = await probe(deps, cfg, live, o.probeTimeoutMs ?? 10_000);
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

function identityFacts(live: Identity): IdentityFacts {
  let id: string | undefined;
  try {
    id = certId(live.certPem);
  } catch {
    id = undefined; // no AKI: no ARI either, and the window check treats the answer as unknown
  }
  const createdAt = live.meta.createdAt ? new Date(live.meta.createdAt) : undefined;
  return {
    version: live.version,
    serial: live.serial,
    notBefore: live.notBefore,
    notAfter: live.notAfter,
    names: Array.isArray(live.meta.names) ? live.meta.names : [],
    subject: (live.certificate.subject ?? '').split('\n').join(', '),
    issuer: (live.certificate.issuer ?? '').split('\n').join(', '),
    ...(createdAt && Number.isFinite(createdAt.getTime()) ? { createdAt } : {}),
    ...(id ? { certId: id } : {}),
  };
}

interface KeyResult {
  facts: KeyFacts;
  /** what checkIdentity proves possession against */
  verifyKey: VerifyInput['key'];
  extraFailure?: { check: 'key'; message: string };
}

async function keyOf(cfg: AgentConfig, live: Identity): Promise<KeyResult> {
  const certSpki = { publicKeyDer: new Uint8Array(live.certificate.publicKey.export({ type: 'spki', format: 'der' })) };
  let ref: KeyRef | undefined;
  try {
    ref = storedKeyRef(live);
  } catch (e) {
    // the certificate's own key stands in so the chain and certificate checks still run
    return { facts: { present: false, reason: `the key cannot be used: ${formatError(e)}` }, verifyKey: certSpki };
  }
  if (ref?.kind === 'external') {
    // External key (csr source): the store keeps the SHA-256 of its SubjectPublicKeyInfo; compare with the certificate.
    const want = ref.publicKeySha256?.toLowerCase();
    const have = createHash('sha256').update(certSpki.publicKeyDer).digest('hex');
    const describe = describeKeyRef(ref);
    if (want && want !== have) {
      return {
        facts: { present: true, describe },
        verifyKey: certSpki,
        extraFailure: { check: 'key', message: `the certificate's public key (SHA-256 ${have}) is not the ${describe} recorded in key.ref (SHA-256 ${want})` },
      };
    }
    return { facts: { present: true, describe: want ? describe : `${describe}, not checkable: key.ref has no publicKeySha256` }, verifyKey: certSpki };
  }
  if (ref) {
    try {
      const pkcs11 = pkcs11Settings(cfg);
      const tpm = tpmSettings(cfg);
      const k: KeyHandle = await openKey(ref, { dir: live.dir, ...(pkcs11 ? { pkcs11 } : {}), ...(tpm ? { tpm } : {}) });
      return { facts: { present: true, describe: k.describe() }, verifyKey: k };
    } catch (e) {
      return { facts: { present: false, reason: `the key cannot be used: ${formatError(e)}` }, verifyKey: certSpki };
    }
  }
  return {
    facts: { present: false, reason: `the key is missing: version ${live.version} in ${live.dir} has neither key.pem nor key.ref` },
    verifyKey: certSpki,
  };
}

async function anchorsOf(cfg: AgentConfig, live: Identity): Promise<{ facts: AnchorFacts; pems: string[] }> {
  if (cfg.trust.anchors.length) {
    try {
      const pems = await Promise.all(cfg.trust.anchors.map((f) => readTextFile(f, 'trust anchor')));
      return { facts: { source: 'configured', count: pems.length }, pems };
    } catch (e) {
      return { facts: { source: 'error', error: formatError(e) }, pems: [] };
    }
  }
  // Without trust.anchors the chain is checked to its own top, as the renewal's verification does (compose.ts).
  const blocks = live.chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (!blocks.length) return { facts: { source: 'error', error: 'trust.anchors is not set and the identity has no chain to check against' }, pems: [] };
  return { facts: { source: 'chain-top' }, pems: [blocks[blocks.length - 1]! + '\n'] };
}

async function probe(deps: GatherDeps, cfg: AgentConfig, live: Identity, timeoutMs: number): Promise<CredentialFacts> {
  const at = deps.clock.now();
  try {
    const key = await liveKey(live, cfg);
    const creds = await createSession(
      { clock: deps.clock, logger: deps.logger },
      { ...(await sessionRequestNow(cfg, deps.clock)), certPem: live.certPem, chainPem: live.chainPem, key },
      // one attempt: status reports what happens now and must finish fast; the timer and vending code retry
      { attempts: 1, timeoutMs, ...(deps.signal ? { signal: deps.signal } : {}) },
    );
    return { source: 'probe', ok: true, at, expiration: creds.expiration };
  } catch (e) {
    return { source: 'probe', ok: false, at, error: formatError(e) };
  }
}
