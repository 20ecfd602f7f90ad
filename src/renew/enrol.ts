import { X509Certificate, createHash } from 'node:crypto';
import type { IssuedCertificate } from '../acme/index.js';
import { AgentError } from '../core/errors.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { buildCsr, checkExternalCsr } from '../keys/csr.js';
import { type GenerateSpec, generateKey, type Pkcs11Settings, type TpmGenerateSettings, type VersionKey } from '../keys/factory.js';
import type { ExternalKeyRef } from '../keys/ref.js';
import type { KeyAlgorithmName, KeyHandle } from '../keys/types.js';
import type { IdentityStore, StageMaterial } from '../store/index.js';

/**
 * Enrolment, shared by `bootstrap` and `renew`: key → CSR → ACME order → staged version → verified → live.
 * Every external effect is a port, so this file is the whole decision logic and nothing else.
 * Invariant: `live` changes only after the new identity is complete on disk and verified; any failure before that
 * leaves the old identity live and untouched.
 */

/** What enrolment uses of an ACME issuance (acme's IssuedCertificate; the URLs are for the log only). */
export type IssuedForEnrol = Pick<IssuedCertificate, 'certPem' | 'chainPem' | 'fullchainPem' | 'profile'> & Partial<Pick<IssuedCertificate, 'orderUrl'>>;

/** The narrow view of the identity store enrolment needs (IdentityStore implements it). */
export type EnrolStore = Pick<IdentityStore, 'stage' | 'activate' | 'discard'>;

export interface KeySpec {
  source: 'file' | 'csr' | 'pkcs11' | 'tpm';
  algorithm: KeyAlgorithmName;
  csrFile?: string;
  /** key.pkcs11 (source pkcs11): the URI naming token and key label, the module and the PIN source */
  pkcs11?: Pkcs11Settings & { uri: string };
  /** key.tpm (source tpm) */
  tpm?: TpmGenerateSettings;
  /** a new key even when one with the configured label exists (rotation at renewal; file keys are always new) */
  fresh?: boolean;
  /** for `csr` mode: reads the CSR file (PEM) */
  readCsr?: (file: string) => Promise<string>;
  /** a key to keep instead of generating a new one (renewal with rotateOnRenew off) */
  reuse?: VersionKey;
}

export interface EnrolDeps {
  clock: Clock;
  logger: Logger;
  store: EnrolStore;
  issue(req: { csrPem: string; names: string[]; replaces?: string; signal?: AbortSignal }): Promise<IssuedForEnrol>;
  /** throws an AgentError naming what failed (chain, key match, names, validity, keyUsage, CreateSession) */
  verify(m: StageMaterial, key: KeyHandle | { publicKeyDer: Buffer }): Promise<void>;
}

export interface EnrolResult {
  version: string;
  serial: string;
  notAfter: string;
  durationMs: number;
}

export async function enrol(deps: EnrolDeps, names: string[], key: KeySpec, o: { replaces?: string; signal?: AbortSignal } = {}): Promise<EnrolResult> {
  const started = deps.clock.now().getTime();
  let csrPem: string;
  let versionKey: VersionKey | undefined;
  let externalKey: { publicKeyDer: Buffer } | undefined;
  let externalRef: ExternalKeyRef | undefined;
  if (key.source === 'csr') {
    if (!key.csrFile || !key.readCsr) {
      throw new AgentError({
        code: 'CONFIG_INVALID',
        component: 'config',
        message: 'key.source is csr but key.csrFile is not set',
        hint: 'set key.csrFile to the PEM CSR made by the hardware key',
      });
    }
    csrPem = await key.readCsr(key.csrFile);
    externalKey = await checkExternalCsr(csrPem, key.csrFile, names);
    externalRef = {
      kind: 'external',
      source: 'csr',
      csrFile: key.csrFile,
      publicKeySha256: createHash('sha256').update(externalKey.publicKeyDer).digest('hex'),
    };
  } else {
    versionKey = key.reuse ?? (await generateKey(generateSpec(key), { logger: deps.logger }));
    csrPem = await buildCsr(versionKey.handle, names);
  }
  const ref = versionKey?.ref ?? externalRef!;
  o.signal?.throwIfAborted();

  deps.logger.info('requesting certificate', { names, keySource: key.source, ...(o.replaces ? { replaces: o.replaces } : {}) });
  const issued = await deps.issue({ csrPem, names, ...(o.replaces ? { replaces: o.replaces } : {}), ...(o.signal ? { signal: o.signal } : {}) });
  const material: StageMaterial = {
    certPem: issued.certPem,
    chainPem: issued.chainPem,
    fullchainPem: issued.fullchainPem,
    // a file key is stored as key.pem (0600); any other key is stored as where it lives (key.ref)
    ...(versionKey?.keyPem !== undefined ? { keyPem: versionKey.keyPem } : { keyRef: { ...ref } }),
    ...(versionKey?.files ? { keyFiles: versionKey.files } : {}),
    // the store adds serial, validity, issuer and createdAt from the certificate itself
    meta: {
      names,
      keySource: key.source,
      key: ref,
      keyAlgorithm: key.algorithm,
      ...(issued.profile ? { profile: issued.profile } : {}),
      ...(issued.orderUrl ? { orderUrl: issued.orderUrl } : {}),
      ...(o.replaces ? { replaces: o.replaces } : {}),
    },
  };

  const staged = await deps.store.stage(material);
  try {
    await deps.verify(material, versionKey?.handle ?? externalKey!);
  } catch (e) {
    // The staged version never went live; drop it so a later rollback cannot pick an identity that failed checks.
    await deps.store.discard(staged).catch((d) => deps.logger.warn('could not discard a rejected version', { version: staged.version, error: String(d) }));
    throw e;
  }
  await deps.store.activate(staged);
  const leaf = new X509Certificate(issued.certPem);
  const result = {
    version: staged.version,
    serial: leaf.serialNumber.toUpperCase(), // as the store, meta.json and openssl print it
    notAfter: new Date(leaf.validTo).toISOString(),
    durationMs: deps.clock.now().getTime() - started,
  };
  deps.logger.info('identity live', result);
  return result;
}

function generateSpec(key: KeySpec): GenerateSpec {
  if (key.source === 'tpm') {
    if (!key.tpm)
      throw new AgentError({
        code: 'CONFIG_INVALID',
        component: 'config',
        message: 'key.source is tpm but key.tpm is not set',
        hint: 'set key.tpm.handle or key.tpm.keyFile (and tcti)',
      });
    return { kind: 'tpm', algorithm: key.algorithm, settings: key.tpm, fresh: key.fresh ?? false };
  }
  if (key.source !== 'pkcs11') return { kind: 'file', algorithm: key.algorithm };
  if (!key.pkcs11) {
    throw new AgentError({
      code: 'CONFIG_INVALID',
      component: 'config',
      message: 'key.source is pkcs11 but key.pkcs11 is not set',
      hint: 'set key.pkcs11.uri (and module, pinFile)',
    });
  }
  const { uri, ...settings } = key.pkcs11;
  return { kind: 'pkcs11', algorithm: key.algorithm, uri, settings, fresh: key.fresh ?? false };
}
