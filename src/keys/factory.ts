import path from 'node:path';
import { AgentError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { FileKeyHandle } from './file.js';
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
}

/** What to generate; hardware kinds add their config (module, URI, TCTI …) here. */
export type GenerateSpec =
  | { kind: 'file'; algorithm: KeyAlgorithmName }
  | { kind: 'pkcs11'; algorithm: KeyAlgorithmName }
  | { kind: 'tpm'; algorithm: KeyAlgorithmName };

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
    case 'pkcs11':
    case 'tpm':
      throw unsupported(ref.kind);
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
export async function generateKey(spec: GenerateSpec, _deps?: Partial<KeyDeps>): Promise<VersionKey> {
  switch (spec.kind) {
    case 'file': {
      const handle = FileKeyHandle.generate(parseAlgorithm(spec.algorithm));
      return { handle, ref: { kind: 'file', path: KEY_FILE_NAME }, keyPem: handle.pem() };
    }
    case 'pkcs11':
    case 'tpm':
      throw unsupported(spec.kind);
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
    hint:
      kind === 'pkcs11'
        ? 'use key.source file, or key.source csr with the token making the CSR'
        : 'use key.source file, or key.source csr with a CSR made by the TPM',
  });
}
