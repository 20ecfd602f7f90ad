import { createHash } from 'node:crypto';
import { certId } from '../acme/index.js';
import { type AgentConfig, identityNames } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import { formatError, isAgentError, messageOf } from '../core/errors.js';
import { describeKeyRef, storedKeyRef, type KeyRef } from '../keys/ref.js';
import type { KeyHandle } from '../keys/types.js';
import { checkIdentity, trustAnchorsFor, type VerifyInput } from '../renew/verify.js';
import type { Identity, IdentityStore, StateFile } from '../store/index.js';
import type { AnchorFacts, ConfigFacts, CredentialFacts, IdentityFacts, KeyFacts, StatusInput } from './checks.js';

/**
 * Collects the facts `evaluate` judges, from ports the composition root (compose/status.ts) opens read-only: the
 * store (nothing created, cleaned or locked), state.json (only read), no renewal lock, so status runs next to a
 * renewal, under a monitoring user, and on a read-only state directory. Every failure becomes a fact, never a throw.
 */
export interface GatherPorts {
  clock: Clock;
  config: ConfigFacts;
  store: Pick<IdentityStore, 'live'>;
  state: Pick<StateFile, 'read'>;
  /** the configured trust anchors' PEMs ([] when none are configured); a rejection is reported as a fact */
  anchors(): Promise<string[]>;
  /** opens a stored key (the key factory, with what hardware keys need from the config) */
  openKey(ref: KeyRef, dir: string): Promise<KeyHandle>;
  /** how Route 53 credentials are chosen and which static keys the SDK chain could still reach */
  route53(): Promise<NonNullable<StatusInput['route53']>>;
  /** a live CreateSession with the identity (`status --probe`); absent: report the recorded one */
  probe?: (live: Identity) => Promise<{ expiration: Date }>;
}

/** The facts a config gives the checks. */
export function configFacts(cfg: AgentConfig, file: string): ConfigFacts {
  return {
    file,
    names: identityNames(cfg),
    maxAgeMs: cfg.renewal.maxAge,
    ari: cfg.renewal.ari,
    rolesAnywhere: !!cfg.rolesAnywhere,
    // A record younger than this can belong to a renewal that is waiting for DNS propagation right now.
    pendingGraceMs: Math.max(15 * 60_000, 2 * cfg.dns.propagationTimeout),
    overdueGraceMs: cfg.status.overdueGrace,
  };
}

/** A config that did not load is itself the report's first fact (with every problem the schema found). */
export function configFailure(now: Date, file: string, e: unknown): StatusInput {
  const problems = isAgentError(e) && Array.isArray(e.details?.problems) ? (e.details.problems as unknown[]).map(String) : undefined;
  return { now, config: { file, error: formatError(e), ...(problems ? { problems } : {}) } };
}

export async function gatherStatus(p: GatherPorts): Promise<StatusInput> {
  const [liveR, stateR] = await Promise.all([
    p.store.live().then(
      (v) => v,
      (e: unknown) => ({ error: formatError(e) }),
    ),
    p.state.read().catch((e: unknown) => ({ error: formatError(e) })),
  ]);
  const input: StatusInput = { now: p.clock.now(), config: p.config, state: stateR, route53: await p.route53() };
  if (!liveR) return input;
  if ('error' in liveR) {
    input.identity = liveR;
    return input;
  }
  const live: Identity = liveR;
  input.identity = identityFacts(live);

  const key = await keyOf(live, p.openKey);
  input.key = key.facts;
  const anchors = await anchorsOf(p.anchors, live);
  input.anchors = anchors.facts;
  // checked "as of now" like everything else in the report
  const now = p.clock.now();
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

  if (p.probe) input.probe = await probe(p.clock, p.probe, live);
  return input;
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
  extraFailure?: { check: 'key'; message: string; role: 'leaf' };
}

async function keyOf(live: Identity, open: GatherPorts['openKey']): Promise<KeyResult> {
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
        extraFailure: {
          check: 'key',
          role: 'leaf',
          message: `the certificate's public key (SHA-256 ${have}) is not the ${describe} recorded in key.ref (SHA-256 ${want})`,
        },
      };
    }
    return { facts: { present: true, describe: want ? describe : `${describe}, not checkable: key.ref has no publicKeySha256` }, verifyKey: certSpki };
  }
  if (ref) {
    try {
      const k = await open(ref, live.dir);
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

async function anchorsOf(configured: GatherPorts['anchors'], live: Identity): Promise<{ facts: AnchorFacts; pems: string[] }> {
  let pems: string[];
  try {
    pems = await configured();
  } catch (e) {
    return { facts: { source: 'error', error: formatError(e) }, pems: [] };
  }
  // the same rule as the renewal's verification: without trust.anchors, the top of the identity's own chain
  try {
    const a = trustAnchorsFor(pems, live.chainPem);
    return { facts: a.source === 'configured' ? { source: 'configured', count: a.pems.length } : { source: 'chain-top' }, pems: a.pems };
  } catch (e) {
    return { facts: { source: 'error', error: formatError(e) }, pems: [] };
  }
}

async function probe(clock: Clock, createSession: NonNullable<GatherPorts['probe']>, live: Identity): Promise<CredentialFacts> {
  const at = clock.now();
  try {
    const creds = await createSession(live);
    return { source: 'probe', ok: true, at, expiration: creds.expiration };
  } catch (e) {
    return { source: 'probe', ok: false, at, error: formatError(e) };
  }
}
