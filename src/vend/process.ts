import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import { AgentError, formatError } from '../core/errors.js';
import { atomicWriteFileSync, checkPrivateDir, ensurePrivateDir, readFileOrUndefinedSync, statOrUndefinedSync } from '../core/fs.js';
import type { Logger } from '../core/logger.js';
import type { AwsCredentials, Provider } from '../core/provider.js';

/**
 * AWS timestamps as the services send them: ISO 8601 UTC with whole seconds ("2024-01-16T00:02:43Z"). Sub-second
 * parts are dropped (floored), so a consumer never believes credentials live longer than they do.
 */
export function isoSeconds(d: Date): string {
  return new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

/**
 * The `credential_process` document, Version 1, in the key order the AWS credential helper prints (compact JSON,
 * no trailing newline). Spec: https://docs.aws.amazon.com/sdkref/latest/guide/feature-process-credentials.html
 */
export function formatCredentialProcess(creds: AwsCredentials): string {
  return JSON.stringify({
    Version: 1,
    AccessKeyId: creds.accessKeyId,
    SecretAccessKey: creds.secretAccessKey,
    SessionToken: creds.sessionToken,
    Expiration: isoSeconds(creds.expiration),
  });
}

/** What the cached credentials were issued for; any change must miss the cache. */
export interface CacheKey {
  /** fingerprint of the identity certificate (e.g. SHA-256 hex of its DER): a renewal invalidates the cache */
  certFingerprint: string;
  roleArn: string;
  profileArn: string;
  sessionName?: string;
}

export interface CacheOptions {
  /** state.runtimeDir/cache; created 0700 */
  dir: string;
  key: CacheKey;
  /** a cached entry is used only while it has more than this left (vend.refreshBefore) */
  refreshBeforeMs: number;
  clock: Clock;
  logger?: Logger;
}

interface CacheFile {
  v: 1;
  certFingerprint: string;
  roleArn: string;
  profileArn: string;
  sessionName: string | null;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: string;
}

/** `<sha256 of the key>.json`: the name reveals nothing about the role or the certificate. */
export function cacheFileName(key: CacheKey): string {
  const material = JSON.stringify([key.certFingerprint, key.roleArn, key.profileArn, key.sessionName ?? null]);
  return createHash('sha256').update(material).digest('hex') + '.json';
}

function parseCacheFile(text: string): CacheFile | undefined {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!j || typeof j !== 'object') return undefined;
  const o = j as Record<string, unknown>;
  const strings = ['certFingerprint', 'roleArn', 'profileArn', 'accessKeyId', 'secretAccessKey', 'sessionToken', 'expiration'];
  if (o.v !== 1 || !strings.every((k) => typeof o[k] === 'string')) return undefined;
  if (o.sessionName !== null && typeof o.sessionName !== 'string') return undefined;
  if (Number.isNaN(new Date(o.expiration as string).getTime())) return undefined;
  return o as unknown as CacheFile;
}

/**
 * Cached credentials for this key, or undefined (miss). A hit requires: a well-formed file, the same certificate
 * fingerprint, role, profile and session name as recorded (the file name is a hash of them, and the content is
 * checked too, so a hash collision or a renamed file cannot serve foreign credentials), and more than
 * refreshBeforeMs of validity left. Unreadable or corrupt entries are a miss, never an error: the cache is an
 * optimisation and the provider is always the fallback.
 */
export async function readCache(o: CacheOptions): Promise<AwsCredentials | undefined> {
  const entry = await readCacheEntry(o);
  if (entry && !entry.fresh) o.logger?.debug('credential cache entry too close to expiry', { expiration: entry.creds.expiration.toISOString() });
  return entry?.fresh ? entry.creds : undefined;
}

/**
 * The cached entry for this key with whether it is still fresh (more than refreshBeforeMs left); undefined for a
 * missing, corrupt, foreign or already expired entry.
 */
async function readCacheEntry(o: CacheOptions): Promise<{ creds: AwsCredentials; fresh: boolean } | undefined> {
  const file = path.join(o.dir, cacheFileName(o.key));
  let text: string | undefined;
  try {
    // synchronous: credential-process (a one-shot process) is the only reader, and on a cache hit this read is
    // the only use of node:fs/promises, which would load for it
    text = readFileOrUndefinedSync(file);
  } catch (e) {
    o.logger?.debug('credential cache unreadable', { file, error: formatError(e) });
    return undefined;
  }
  if (text === undefined) return undefined;
  const c = parseCacheFile(text);
  const k = o.key;
  if (!c || c.certFingerprint !== k.certFingerprint || c.roleArn !== k.roleArn || c.profileArn !== k.profileArn || c.sessionName !== (k.sessionName ?? null)) {
    o.logger?.debug('credential cache entry does not match', { file });
    return undefined;
  }
  const expiration = new Date(c.expiration);
  const left = expiration.getTime() - o.clock.now().getTime();
  if (left <= 0) return undefined;
  return {
    creds: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken, expiration },
    fresh: left > o.refreshBeforeMs,
  };
}

/**
 * Stores credentials for this key (0600, atomic, in a 0700 directory), then removes other entries that have
 * expired, e.g. those of a certificate that has since been renewed, so the directory stays small. Synchronous but
 * for creating the directory the first time: credential-process (a one-shot process, with nothing to overlap) is
 * the only writer, and each asynchronous step is a thread-pool round trip (and node:fs/promises to load).
 */
export async function writeCache(o: CacheOptions, creds: AwsCredentials): Promise<void> {
  const dir = statOrUndefinedSync(o.dir);
  if (dir) checkPrivateDir(o.dir, dir, 0o700, 'directory');
  else await ensurePrivateDir(o.dir, 0o700);
  const name = cacheFileName(o.key);
  const body: CacheFile = {
    v: 1,
    certFingerprint: o.key.certFingerprint,
    roleArn: o.key.roleArn,
    profileArn: o.key.profileArn,
    sessionName: o.key.sessionName ?? null,
    accessKeyId: creds.accessKeyId,
    secretAccessKey: creds.secretAccessKey,
    sessionToken: creds.sessionToken,
    expiration: creds.expiration.toISOString(),
  };
  // a cache: atomic (no reader sees half an entry) but not fsynced; lost after a crash, it is one CreateSession
  atomicWriteFileSync(path.join(o.dir, name), JSON.stringify(body), 0o600, { durable: false });
  const now = o.clock.now().getTime();
  // pruning is best effort: an entry that cannot be listed, read or removed stays
  for (const other of bestEffort(() => readdirSync(o.dir)) ?? []) {
    if (other === name || !/^[0-9a-f]{64}\.json$/.test(other)) continue;
    const file = path.join(o.dir, other);
    const c = parseCacheFile(bestEffort(() => readFileSync(file, 'utf8')) ?? '');
    if (!c || new Date(c.expiration).getTime() <= now) bestEffort(() => rmSync(file, { force: true }));
  }
}

function bestEffort<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

export interface CredentialProcessOptions {
  provider: Provider<AwsCredentials>;
  clock: Clock;
  logger: Logger;
  /** the vend.cache flag: undefined disables the cache */
  cache?: Omit<CacheOptions, 'clock' | 'logger'>;
}

/**
 * What `iamra-agent credential-process` prints: cached credentials while they are fresh, otherwise the provider's
 * (then cached). AWS tools run credential_process for every command, so the cache saves a CreateSession round trip
 * per `aws` invocation. A cache write failure only costs that saving, so it is logged, not fatal.
 *
 * Inside the refresh window the provider is asked for new credentials, but when it fails (IAMRA unreachable, 5xx)
 * the cached ones are printed while they are still valid, with the failure logged, as `serve` answers with its last
 * good credentials: refreshing early exists to ride out such outages. Expired or unusable credentials are never
 * printed; with nothing valid cached the provider's failure is the command's (exit 1).
 */
export async function credentialProcessOutput(o: CredentialProcessOptions): Promise<string> {
  const cacheOpts = o.cache ? { ...o.cache, clock: o.clock, logger: o.logger } : undefined;
  const cached = cacheOpts ? await readCacheEntry(cacheOpts) : undefined;
  if (cached?.fresh) {
    o.logger.debug('credentials from cache', { expiration: cached.creds.expiration.toISOString() });
    return formatCredentialProcess(cached.creds);
  }
  let creds: AwsCredentials;
  try {
    creds = await o.provider.get();
    assertUsable(creds, o.clock);
  } catch (e) {
    if (!cached || cached.creds.expiration.getTime() <= o.clock.now().getTime()) throw e;
    o.logger.warn('credentials not refreshed; printing the cached ones, still valid', {
      expiration: cached.creds.expiration.toISOString(),
      error: formatError(e),
    });
    return formatCredentialProcess(cached.creds);
  }
  if (cacheOpts) {
    await writeCache(cacheOpts, creds).catch((e: unknown) => o.logger.warn('credential cache not written', { dir: cacheOpts.dir, error: formatError(e) }));
  }
  return formatCredentialProcess(creds);
}

/** Never hand out credentials that are already expired or malformed: an error is clearer than an AWS 403 later. */
export function assertUsable(creds: AwsCredentials, clock: Clock): void {
  const fields = [creds.accessKeyId, creds.secretAccessKey, creds.sessionToken];
  if (fields.some((f) => typeof f !== 'string' || f.length === 0)) {
    throw new AgentError({
      code: 'VEND_EMPTY_CREDENTIALS',
      component: 'vend',
      message: 'the credentials provider returned empty fields',
      hint: 'check the CreateSession response; this is a bug if it persists',
    });
  }
  const exp = creds.expiration;
  if (!(exp instanceof Date) || Number.isNaN(exp.getTime()) || exp.getTime() <= clock.now().getTime()) {
    throw new AgentError({
      code: 'VEND_EXPIRED_CREDENTIALS',
      component: 'vend',
      message: `the credentials provider returned credentials that expired at ${exp instanceof Date && !Number.isNaN(exp.getTime()) ? exp.toISOString() : String(exp)}`,
      hint: 'check the system clock (SNTP) and the session duration',
    });
  }
}
