import type { Logger } from '../core/logger.js';
import { messageOf } from '../core/errors.js';
import type { Pkcs11Settings, TpmSettings } from './factory.js';
import { parsePkcs11Uri } from './pkcs11-uri.js';
import { describeKeyRef, type KeyRef, type StoredKeyView, storedKeyRef } from './ref.js';

/**
 * Pruning old versions takes their hardware keys along: a token object made by rotation, or a TPM key at a
 * persistent handle, is deleted once no version that stays names it. Key files (key.pem, a TSS2 PEM) go with
 * their directory already. What the configuration itself names (the key.pkcs11.uri object, key.tpm.handle and
 * key.tpm.parent) is never deleted: bootstrap uses it, and it may be a key the operator made. A key that cannot
 * be deleted is logged and left: pruning never fails a renewal that has already gone live.
 */

/** What of the identity store pruning needs (IdentityStore has it) */
export interface PrunableStore {
  versions(): Promise<{ version: string }[]>;
  read(version: string): Promise<StoredKeyView>;
  prune(keep: number): Promise<string[]>;
}

export interface PruneKeyDeps {
  logger: Logger;
  /** key.pkcs11 of the config: the library and the PIN (token objects are deleted in a logged-in session) */
  pkcs11?: Pkcs11Settings & { uri?: string };
  /** key.tpm of the config */
  tpm?: TpmSettings & { handle?: string; parent?: string };
}

/** store.prune(keep), then the keys only the removed versions named are deleted. Returns the removed versions. */
export async function pruneVersions(store: PrunableStore, keep: number, deps: PruneKeyDeps): Promise<string[]> {
  const refs = new Map<string, KeyRef | undefined>();
  for (const { version } of await store.versions()) refs.set(version, await refOf(store, version));
  const removed = await store.prune(keep);
  const gone = new Set(removed);
  const stays = new Set([...refs].filter(([v]) => !gone.has(v)).map(([, r]) => r && identity(r)));
  const done = new Set<string>();
  for (const v of removed) {
    const ref = refs.get(v);
    const id = ref && identity(ref);
    if (!ref || !id || stays.has(id) || done.has(id) || isConfigured(ref, deps)) continue;
    done.add(id);
    try {
      await deleteKey(ref, deps);
      deps.logger.info('the key of a pruned version was deleted', { version: v, key: describeKeyRef(ref) });
    } catch (e) {
      deps.logger.warn('could not delete the key of a pruned version; delete it by hand', { version: v, key: describeKeyRef(ref), error: messageOf(e) });
    }
  }
  return removed;
}

async function refOf(store: PrunableStore, version: string): Promise<KeyRef | undefined> {
  try {
    return storedKeyRef(await store.read(version));
  } catch {
    // a damaged version's key is unknown: nothing is deleted for it
    return undefined;
  }
}

/** One key, whichever versions name it; undefined for keys that live in the version directory. */
function identity(ref: KeyRef): string | undefined {
  if (ref.kind === 'pkcs11') return `pkcs11 ${ref.uri}`;
  if (ref.kind === 'tpm' && ref.handle) return `tpm ${ref.tcti ?? ''} ${ref.handle}`;
  return undefined;
}

function isConfigured(ref: KeyRef, deps: PruneKeyDeps): boolean {
  if (ref.kind === 'tpm') return ref.handle === deps.tpm?.handle || ref.handle === (deps.tpm?.parent ?? ref.parent);
  if (ref.kind !== 'pkcs11') return false;
  const configured = deps.pkcs11?.uri ? parsePkcs11Uri(deps.pkcs11.uri).object : undefined;
  // without a configured label there is nothing to tell the operator's key from rotated ones: keep everything
  return configured === undefined || parsePkcs11Uri(ref.uri).object === configured;
}

async function deleteKey(ref: KeyRef, deps: PruneKeyDeps): Promise<void> {
  if (ref.kind === 'pkcs11') {
    const { deletePkcs11Key, defaultPkcs11Module } = await import('./pkcs11.js');
    await deletePkcs11Key({ module: deps.pkcs11?.module ?? ref.module ?? defaultPkcs11Module(), uri: ref.uri, pin: deps.pkcs11?.pin ?? {} });
  } else if (ref.kind === 'tpm' && ref.handle) {
    const { evictTpmKey, DEFAULT_TCTI } = await import('./tpm.js');
    await evictTpmKey({ tcti: deps.tpm?.tcti ?? ref.tcti ?? DEFAULT_TCTI, handle: ref.handle });
  }
}
