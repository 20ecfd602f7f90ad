import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { AgentError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { FileKeyHandle } from './file.js';
import type { PinSource } from './pkcs11-pin.js';
import { parsePkcs11Uri } from './pkcs11-uri.js';
import { KEY_FILE_NAME, storedKeyRef, type KeyRef, type StoredKeyView } from './ref.js';
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
  /** a one-shot process (credential-process): a key file is read synchronously (FileKeyHandle.load) */
  oneShot?: boolean;
}

/** key.tpm from the config; the KeyRef carries the handle or the key file */
export interface TpmSettings {
  tcti?: string;
  authFile?: string;
}

/** key.tpm as generation needs it: exactly one of handle and keyFile */
export type TpmGenerateSettings = TpmSettings & {
  parent: string;
  /** a persistent handle: the key there is used when there is one (also at renewal: a persistent key is kept) */
  handle?: string;
  /**
   * a file name: a new key is made under `parent` for each version and stored there as a TSS2 PEM of that name;
   * an absolute path: an existing TSS2 PEM that bootstrap enrols (copied into the version directory)
   */
  keyFile?: string;
  /** key.tpm.pcrs: new keys are bound to these PCRs' current values by a policy */
  pcrs?: string;
};

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
      settings: TpmGenerateSettings;
      /** true (rotation at renewal): a key file is always a new key; a persistent handle keeps its key */
      fresh: boolean;
    };

/**
 * A key ready to go into a new version: the handle signs, `ref` goes to meta.json, `keyPem` (file keys only) to
 * key.pem, `files` (a TPM key's TSS2 PEM) into the version directory, 0600.
 */
export interface VersionKey {
  handle: KeyHandle;
  ref: KeyRef;
  keyPem?: string;
  files?: Record<string, string>;
}

/** Opens the key a version names. External keys (key.source csr) cannot sign: KEY_EXTERNAL. */
export async function openKey(ref: KeyRef, deps: KeyDeps): Promise<KeyHandle> {
  switch (ref.kind) {
    case 'file':
      return FileKeyHandle.load(path.resolve(deps.dir, ref.path), { sync: deps.oneShot ?? false });
    case 'pkcs11': {
      const { Pkcs11KeyHandle, defaultPkcs11Module } = await import('./pkcs11.js');
      return Pkcs11KeyHandle.open({ module: deps.pkcs11?.module ?? ref.module ?? defaultPkcs11Module(), uri: ref.uri, pin: deps.pkcs11?.pin ?? {} });
    }
    case 'tpm': {
      const { TpmKeyHandle, DEFAULT_TCTI, readTss2File } = await import('./tpm.js');
      const authFile = deps.tpm?.authFile;
      const o = { tcti: deps.tpm?.tcti ?? ref.tcti ?? DEFAULT_TCTI, ...(authFile ? { authFile } : {}), ...(ref.pcrs ? { pcrs: ref.pcrs } : {}) };
      if (ref.keyFile) return TpmKeyHandle.open({ ...o, file: await readTss2File(path.resolve(deps.dir, ref.keyFile)) });
      return TpmKeyHandle.open({ ...o, handle: ref.handle! });
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
      const { TpmKeyHandle, DEFAULT_TCTI, readTss2File } = await import('./tpm.js');
      const s = spec.settings;
      const o = { tcti: s.tcti ?? DEFAULT_TCTI, ...(s.authFile ? { authFile: s.authFile } : {}), ...(s.pcrs ? { pcrs: s.pcrs } : {}) };
      const ref = { kind: 'tpm' as const, parent: s.parent, tcti: o.tcti, ...(s.pcrs ? { pcrs: s.pcrs } : {}) };
      if (s.keyFile) {
        const name = path.basename(s.keyFile);
        let handle: KeyHandle;
        let pem: string;
        if (path.isAbsolute(s.keyFile) && !spec.fresh) {
          // an existing key (made with the tpm2 OpenSSL provider, say): opening it proves it loads on this TPM
          const file = await readTss2File(s.keyFile);
          handle = await TpmKeyHandle.open({ ...o, file });
          pem = file.pem;
          deps?.logger?.info('using the TPM key file', { key: handle.describe() });
        } else {
          const made = await TpmKeyHandle.generate({ ...o, keyPath: name, parent: s.parent, algorithm: parseAlgorithm(spec.algorithm) });
          pem = made.pem!;
          handle = made;
          deps?.logger?.info('key created in the TPM', { key: handle.describe() });
        }
        return { handle, ref: { ...ref, keyFile: name }, files: { [name]: pem } };
      }
      const at = { ...o, handle: s.handle! };
      let handle: KeyHandle;
      try {
        handle = await TpmKeyHandle.open(at);
        deps?.logger?.info('using the key already in the TPM', { key: handle.describe() });
      } catch (e) {
        if (!(e instanceof AgentError) || e.code !== 'KEY_TPM_NOT_FOUND') throw e;
        handle = await TpmKeyHandle.generate({ ...at, parent: s.parent, algorithm: parseAlgorithm(spec.algorithm) });
        deps?.logger?.info('key created in the TPM', { key: handle.describe() });
      }
      return { handle, ref: { ...ref, handle: at.handle } };
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
    case 'tpm':
      if (ref.keyFile) {
        // the same TPM key in the next version: its TSS2 PEM is copied, the TPM holds nothing to share
        const { readTss2File } = await import('./tpm.js');
        const file = await readTss2File(path.resolve(deps.dir, ref.keyFile));
        return { handle: await openKey(ref, deps), ref, files: { [ref.keyFile]: file.pem } };
      }
      return { handle: await openKey(ref, deps), ref };
    case 'pkcs11':
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
