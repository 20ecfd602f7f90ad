/** Credential vending: everything here knows only a Provider<AwsCredentials>, never how credentials are made. */
export { formatCredentialProcess, credentialProcessOutput, readCache, writeCache, cacheFileName, assertUsable, isoSeconds } from './process.js';
export type { CacheKey, CacheOptions, CredentialProcessOptions } from './process.js';
export { startImdsServer, readContainerToken, MAX_TOKEN_TTL_SECONDS, CONTAINER_CREDENTIALS_PATH } from './imds.js';
export type { ImdsListen, ImdsOptions, ImdsServer } from './imds.js';
export { updateCredentialsFile, runUpdater, mergeCredentials, defaultCredentialsFile, EXPIRATION_KEY } from './credfile.js';
export type { UpdateDeps, UpdaterOptions } from './credfile.js';
