import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { AgentError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { FileKeyHandle } from './file.js';
import type { PinSource } from './pkcs11-pin.js';
import { parsePkcs11Uri } from './pkcs11-uri.js';
import { KEY_FILE_NAME, storedKeyRef, type KeyKind, type KeyRef, type StoredKeyView } from './ref.js';
import { parseAlgorithm, type KeyAlgorithmName, type KeyHandle } from './types.js';

/**
 * The one place that decides how a key is opened (from a stored KeyRef) or generated (from config). Callers get a
 * KeyHandle and never construct one: adding a key type is one new file beside file.ts plus one case below.
 */

export interface KeyDeps {
  /** the version directory relative key paths in a KeyRef resolve against */
  dir: string;
  logger?: Logger;
  /** key.pkcs11 from the config: the library and where the PIN comes from (the KeyRef carries only the URI) */
  pkcs11?: Pkcs11Settings;
  tpm?: TpmSettings;
}

/** key.tpm from the config; the KeyRef carries the handle */
export interface TpmSettings {
  tcti?: string;
  authFile?: string;
}

export interface Pkcs11Settings {
  /** key.pkcs11.module; a stored ref's module is used only when the config names none */
  module?: string;
  pin: PinSource;
}

/** What to generate; hardware kinds add their config (module, URI, TCTI …) here. */
export type GenerateSpec =
  | { kind: 'file'; algorithm: KeyAlgorithmName }
  | {
      kind: 'pkcs11';
      algorithm: KeyAlgorithmName;
      /** key.pkcs11.uri: token and the object label of the identity key */
      uri: string;
      settings: Pkcs11Settings;
      /**
       * false (bootstrap): use the key with the URI's label when the token has one, else generate it;
       * true (rotation at renewal): always a new object, labelled `<label>-<hex>`, so each version has its own key
       */
      fresh: boolean;
    }
  | {
      kind: 'tpm';
      algorithm: KeyAlgorithmName;
      /** key.tpm: the key at `handle` is used when there is one (also at renewal: a persistent key is kept), else created */
      settings: TpmSettings & { handle: string; parent: string };
    };

/** A key ready to go into a new version: the handle signs, `ref` goes to meta.json, `keyPem` (file keys only) to key.pem. */
export interface VersionKey {
  handle: KeyHandle;
  ref: KeyRef;
  keyPem?: string;
}

/** Opens the key a version names. External keys (key.source csr) cannot sign: KEY_EXTERNAL. */
export async function openKey(ref: KeyRef, deps: KeyDeps): Promise<KeyHandle> {
  switch (ref.kind) {
    case 'file':
      return FileKeyHandle.load(path.resolve(deps.dir, ref.path));
    case 'pkcs11': {
      const { Pkcs11KeyHandle, defaultPkcs11Module } = await import('./pkcs11.js');
      return Pkcs11KeyHandle.open({ module: deps.pkcs11?.module ?? ref.module ?? defaultPkcs11Module(), uri: ref.uri, pin: deps.pkcs11?.pin ?? {} });
    }
    case 'tpm': {
      if (!ref.handle) throw unsupported('tpm');
      const { TpmKeyHandle, DEFAULT_TCTI } = await import('./tpm.js');
      const authFile = deps.tpm?.authFile;
      return TpmKeyHandle.open({ tcti: deps.tpm?.tcti ?? ref.tcti ?? DEFAULT_TCTI, handle: ref.handle, ...(authFile ? { authFile } : {}) });
    }
    case 'external':
      throw new AgentError({
        code: 'KEY_EXTERNAL',
        component: 'keys',
        message: `the key of ${deps.dir} lives outside the agent (${ref.source})`,
        hint: 'signing with hardware keys needs a PKCS#11 or TPM key source',
      });
  }
}

/** A new key for a version about to be enrolled. */
export async function generateKey(spec: GenerateSpec, deps?: Partial<KeyDeps>): Promise<VersionKey> {
  switch (spec.kind) {
    case 'file': {
      const handle = FileKeyHandle.generate(parseAlgorithm(spec.algorithm));
      return { handle, ref: { kind: 'file', path: KEY_FILE_NAME }, keyPem: handle.pem() };
    }
    case 'pkcs11': {
      const { Pkcs11KeyHandle, defaultPkcs11Module } = await import('./pkcs11.js');
      const module = spec.settings.module ?? defaultPkcs11Module();
      const o = { module, uri: spec.uri, pin: spec.settings.pin };
      let handle: (KeyHandle & { uri: string }) | undefined;
      if (!spec.fresh) {
        try {
          handle = await Pkcs11KeyHandle.open(o);
          deps?.logger?.info('using the key already in the token', { key: handle.describe() });
        } catch (e) {
          if (!(e instanceof AgentError) || e.code !== 'KEY_PKCS11_NOT_FOUND') throw e;
        }
      }
      if (!handle) {
        const base = parsePkcs11Uri(spec.uri).object;
        const label = spec.fresh && base ? `${base}-${randomBytes(4).toString('hex')}` : undefined;
        handle = await Pkcs11KeyHandle.generate({ ...o, algorithm: parseAlgorithm(spec.algorithm), ...(label ? { label } : {}) });
        deps?.logger?.info('key generated in the token', { key: handle.describe() });
      }
      return { handle, ref: { kind: 'pkcs11', uri: handle.uri, module } };
    }
    case 'tpm': {
      const { TpmKeyHandle, DEFAULT_TCTI } = await import('./tpm.js');
      const s = spec.settings;
      const o = { tcti: s.tcti ?? DEFAULT_TCTI, handle: s.handle, ...(s.authFile ? { authFile: s.authFile } : {}) };
      let handle: KeyHandle;
      try {
        handle = await TpmKeyHandle.open(o);
        deps?.logger?.info('using the key already in the TPM', { key: handle.describe() });
      } catch (e) {
        if (!(e instanceof AgentError) || e.code !== 'KEY_TPM_NOT_FOUND') throw e;
        handle = await TpmKeyHandle.generate({ ...o, parent: s.parent, algorithm: parseAlgorithm(spec.algorithm) });
        deps?.logger?.info('key created in the TPM', { key: handle.describe() });
      }
      return { handle, ref: { kind: 'tpm', handle: s.handle, parent: s.parent, tcti: o.tcti } };
    }
  }
}

/** The live version's key, carried into the next version unchanged (key.rotateOnRenew: false). */
export async function reuseKey(ref: KeyRef, deps: KeyDeps): Promise<VersionKey> {
  switch (ref.kind) {
    case 'file': {
      const handle = await FileKeyHandle.load(path.resolve(deps.dir, ref.path));
      return { handle, ref: { kind: 'file', path: KEY_FILE_NAME }, keyPem: handle.pem() };
    }
    case 'pkcs11':
    case 'tpm':
    case 'external':
      return { handle: await openKey(ref, deps), ref };
  }
}

/** The key of a stored version (the store's Identity): its KeyRef read back with validation, then opened. */
export async function openStoredKey(v: StoredKeyView & { version: string; dir: string }, deps: Omit<KeyDeps, 'dir'> = {}): Promise<KeyHandle> {
  const ref = storedKeyRef(v);
  if (!ref) {
    throw new AgentError({
      code: 'KEY_MISSING',
      component: 'keys',
      message: `version ${v.version} in ${v.dir} has neither key.pem nor key.ref`,
      hint: 're-enrol: iamra-agent renew --force',
    });
  }
  return openKey(ref, { ...deps, dir: v.dir });
}

/** A key that can sign (file, token, TPM), as opposed to an external key known only by its public key. */
export function isKeyHandle(k: KeyHandle | { publicKeyDer: Uint8Array }): k is KeyHandle {
  return typeof (k as Partial<KeyHandle>).sign === 'function';
}

function unsupported(kind: KeyKind): AgentError {
  return new AgentError({
    code: 'KEY_UNSUPPORTED',
    component: 'keys',
    message: `${kind} keys are not supported by this build`,
    hint: 'use a TPM key at a persistent handle (key.tpm.handle); TSS2 PEM key files are not supported yet',
  });
}
