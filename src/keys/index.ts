/** Keys: the KeyHandle port, the KeyRef a version stores, and the factory that opens or generates keys. */
export { generateKey, isKeyHandle, openKey, openStoredKey, reuseKey } from './factory.js';
export type { GenerateSpec, KeyDeps, VersionKey } from './factory.js';
export { describeKeyRef, KEY_FILE_NAME, parseKeyRef, storedKeyRef } from './ref.js';
export type { ExternalKeyRef, FileKeyRef, KeyKind, KeyRef, Pkcs11KeyRef, StoredKeyView, TpmKeyRef } from './ref.js';
export { parseAlgorithm } from './types.js';
export type { KeyAlgorithm, KeyAlgorithmName, KeyHandle } from './types.js';
