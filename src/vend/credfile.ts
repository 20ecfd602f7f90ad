import { constants, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import { AgentError, formatError } from '../core/errors.js';
import { atomicWriteFile, fsError } from '../core/fs.js';
import { acquireLock } from '../core/lock.js';
import type { Logger } from '../core/logger.js';
import type { AwsCredentials, Provider } from '../core/provider.js';
import { retry } from '../core/retry.js';
import { assertUsable, isoSeconds } from './process.js';

/**
 * Informational expiry, under the key saml2aws and similar tools use. AWS SDKs and the AWS CLI ignore unknown keys
 * in the shared credentials file (the test reads the file back through the AWS CLI v2 and the JS SDK); the AWS
 * credential helper writes no expiry at all, so nothing depends on this key.
 */
export const EXPIRATION_KEY = 'x_security_token_expires';
const OWN_KEYS = ['aws_access_key_id', 'aws_secret_access_key', 'aws_session_token', EXPIRATION_KEY] as const;

/** `$AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`, as the AWS SDKs resolve it. */
export function defaultCredentialsFile(env: NodeJS.ProcessEnv = process.env): string {
  return env.AWS_SHARED_CREDENTIALS_FILE || path.join(env.HOME || os.homedir(), '.aws', 'credentials');
}

const SECTION = /^\s*\[([^\]]*)\]\s*(?:[#;].*)?$/;
/** a key line starts in column 0 (indented lines continue the previous value, as in Python's configparser) */
const KEY = /^([^\s=#;[][^=]*?)\s*=/;

/**
 * Sets the profile's credentials in INI text, changing nothing else: other profiles, comments, blank lines, unknown
 * keys and their order stay byte-for-byte. Keys of ours already in the section are replaced in place (with their
 * continuation lines); missing ones follow the section's last key; a missing section is appended. Only the first
 * section of that name is touched, like the AWS credential helper (reference/iamra-protocol.md §4.5).
 */
export function mergeCredentials(text: string, profile: string, creds: AwsCredentials): string {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const values: Record<(typeof OWN_KEYS)[number], string> = {
    aws_access_key_id: creds.accessKeyId,
    aws_secret_access_key: creds.secretAccessKey,
    aws_session_token: creds.sessionToken,
    [EXPIRATION_KEY]: isoSeconds(creds.expiration),
  };
  const line = (k: (typeof OWN_KEYS)[number]) => `${k} = ${values[k]}`;
  const lines = text === '' ? [] : text.replace(/\r?\n$/, '').split(/\r?\n/);

  const start = lines.findIndex((l) => SECTION.exec(l)?.[1]?.trim() === profile);
  if (start < 0) {
    const out = [...lines];
    if (out.length > 0 && out[out.length - 1]?.trim() !== '') out.push('');
    out.push(`[${profile}]`, ...OWN_KEYS.map(line));
    return out.join(eol) + eol;
  }
  let end = lines.length;
  for (let i = start + 1; i < lines.length; i++) {
    if (SECTION.test(lines[i] as string)) {
      end = i;
      break;
    }
  }
  const body: string[] = [];
  const seen = new Set<string>();
  let lastKey = -1; // index in body after which missing keys go
  for (let i = start + 1; i < end; i++) {
    const l = lines[i] as string;
    const key = KEY.exec(l)?.[1]?.trim().toLowerCase();
    const own = OWN_KEYS.find((k) => k === key);
    if (own) {
      // drop continuation lines of the old value; write ours once, drop later duplicates
      while (i + 1 < end && /^[ \t]+\S/.test(lines[i + 1] as string)) i++;
      if (seen.has(own)) continue;
      seen.add(own);
      body.push(line(own));
      lastKey = body.length - 1;
    } else {
      body.push(l);
      if (key !== undefined || (/^[ \t]+\S/.test(l) && lastKey === body.length - 2)) lastKey = body.length - 1;
    }
  }
  const missing = OWN_KEYS.filter((k) => !seen.has(k)).map(line);
  body.splice(lastKey + 1, 0, ...missing);
  return [...lines.slice(0, start + 1), ...body, ...lines.slice(end)].join(eol) + eol;
}

export interface UpdateDeps {
  clock: Clock;
  logger?: Logger;
  /** how long to wait for another writer's lock; default 10 s */
  lockWaitMs?: number;
}

/**
 * Writes the profile's credentials into a shared credentials file: merged (see mergeCredentials), atomically
 * (temp file + rename, so a reader never sees half a file), 0600, under `<file>.lock` so two agents never lose each
 * other's profile. A missing file and parent directory (0700) are created; an existing directory's mode is left
 * alone (it may be a user's ~/.aws).
 *
 * Like OpenSSH with its own files, the agent refuses a credentials file that is a symbolic link or is owned by
 * another user: writing through a link replaces whatever it points at (a root `update` made a file of `nobody`
 * root-owned), and a foreign owner means someone else controls what the agent merges into. The existing file is
 * opened with O_NOFOLLOW and checked on the open descriptor (no window between check and read), and the write is a
 * rename, which replaces a link planted later instead of following it.
 */
export async function updateCredentialsFile(file: string, profile: string, creds: AwsCredentials, deps: UpdateDeps): Promise<void> {
  assertUsable(creds, deps.clock);
  for (const [k, v] of [
    ['profile', profile],
    ['aws_access_key_id', creds.accessKeyId],
    ['aws_secret_access_key', creds.secretAccessKey],
    ['aws_session_token', creds.sessionToken],
  ] as const) {
    // an INI value cannot hold line breaks or brackets safely; a profile name with them would forge sections
    if (!/^[\x21-\x7e]+$/.test(v) || (k === 'profile' && /[[\]]/.test(v))) {
      throw new AgentError({
        code: 'VEND_BAD_INI_VALUE',
        component: 'vend',
        message: `${k} contains characters a credentials file cannot hold`,
        hint: k === 'profile' ? 'use a plain profile name' : 'this is a bug in the credentials provider',
      });
    }
  }
  const dir = path.dirname(file);
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 }).catch((e: unknown) => {
    throw fsError('create directory', dir, e);
  });
  const lock = await acquireLock(`${file}.lock`, { clock: deps.clock, waitMs: deps.lockWaitMs ?? 10_000 }).catch((e: unknown) => {
    throw notWritable(file, e);
  });
  try {
    const old = (await readOwnFile(file)) ?? '';
    await atomicWriteFile(file, mergeCredentials(old, profile, creds), 0o600).catch((e: unknown) => {
      throw notWritable(file, e);
    });
  } finally {
    await lock.release();
  }
  deps.logger?.info('credentials file updated', { file, profile, expiration: creds.expiration.toISOString() });
}

const uid = (): number => process.geteuid?.() ?? -1;

/** The file's text if it exists, is a regular file (not a link) and is ours; undefined if it does not exist. */
async function readOwnFile(file: string): Promise<string | undefined> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') {
      const to = await fsp.readlink(file).catch(() => undefined);
      throw new AgentError({
        code: 'VEND_CREDENTIALS_FILE_SYMLINK',
        component: 'vend',
        message: `credentials file ${file} is a symbolic link${to !== undefined ? ` (to ${to})` : ''}; refusing to write through it`,
        hint: 'point --file (or AWS_SHARED_CREDENTIALS_FILE) at the real file, or replace the link with a regular file',
      });
    }
    throw fsError('read', file, e);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) {
      throw new AgentError({
        code: 'VEND_CREDENTIALS_FILE_TYPE',
        component: 'vend',
        message: `credentials file ${file} is not a regular file`,
        hint: 'point --file (or AWS_SHARED_CREDENTIALS_FILE) at a regular file or a path that does not exist yet',
      });
    }
    if (st.uid !== uid()) {
      throw new AgentError({
        code: 'VEND_CREDENTIALS_FILE_OWNER',
        component: 'vend',
        message: `credentials file ${file} is owned by uid ${st.uid}, not by the agent (uid ${uid()}); refusing to take it over`,
        hint: `run update as the file's owner, or remove the file (or chown it to uid ${uid()}) if the agent should own it`,
      });
    }
    return await fh.readFile('utf8');
  } catch (e) {
    throw fsError('read', file, e);
  } finally {
    await fh.close();
  }
}

/** A write refused by the file system names the credentials file and its likely causes, not the state directory. */
function notWritable(file: string, e: unknown): AgentError {
  const cause = e instanceof AgentError && e.cause !== undefined ? e.cause : e;
  const code = (cause as NodeJS.ErrnoException).code;
  if (code !== 'EPERM' && code !== 'EACCES' && code !== 'EROFS') return e instanceof AgentError ? e : fsError('write', file, e);
  return new AgentError({
    code: 'VEND_CREDENTIALS_FILE_WRITE',
    component: 'vend',
    message: `cannot replace credentials file ${file}: ${code}`,
    hint:
      code === 'EROFS'
        ? `${path.dirname(file)} is on a read-only file system: under systemd, list it in ReadWritePaths=`
        : `the file or its directory ${path.dirname(file)} refuses writes by uid ${uid()}: check lsattr (chattr -i/-a removes the immutable/append-only flag), ownership and mode`,
    cause: e,
  });
}

export interface UpdaterOptions {
  provider: Provider<AwsCredentials>;
  file: string;
  profile: string;
  clock: Clock;
  logger: Logger;
  /** rewrite this long before expiry; default 5 minutes (the AWS credential helper's rule) */
  refreshBeforeMs?: number;
  /** stops the loop (SIGTERM) */
  signal?: AbortSignal;
  /** write once and return; a failure rejects (exit 1) */
  once?: boolean;
  /** backoff after failures: full jitter between baseMs and maxMs; defaults 1 s and 60 s */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /**
   * floor for the sleep between writes, so credentials that already are inside the refresh window (a provider
   * that cannot refresh yet) cannot make the loop spin; default 30 s
   */
  minSleepMs?: number;
}

/**
 * `iamra-agent update`: write the profile, sleep until expiration − refreshBefore, repeat. A failed fetch or write
 * leaves the file as it was (the provider is asked first; nothing is written unless it returned usable
 * credentials), and is retried with capped, jittered backoff until it works or the signal stops the loop.
 * Resolves when the signal aborts (or after one write with `once`).
 */
export async function runUpdater(o: UpdaterOptions): Promise<void> {
  const refreshBefore = o.refreshBeforeMs ?? 5 * 60_000;
  const minSleep = o.minSleepMs ?? 30_000;
  const writeOnce = async (): Promise<AwsCredentials> => {
    const creds = await o.provider.get();
    await updateCredentialsFile(o.file, o.profile, creds, { clock: o.clock, logger: o.logger });
    return creds;
  };
  if (o.once) {
    await writeOnce();
    return;
  }
  try {
    while (!o.signal?.aborted) {
      const creds = await retry(writeOnce, {
        attempts: Number.POSITIVE_INFINITY,
        baseMs: o.retryBaseMs ?? 1000,
        maxMs: o.retryMaxMs ?? 60_000,
        clock: o.clock,
        retryable: () => !o.signal?.aborted,
        onRetry: (e, attempt, delayMs) =>
          o.logger.warn('credentials file not updated; keeping the previous one', {
            file: o.file,
            profile: o.profile,
            attempt,
            retryInMs: delayMs,
            error: formatError(e),
          }),
        ...(o.signal ? { signal: o.signal } : {}),
      });
      const wait = Math.max(minSleep, creds.expiration.getTime() - refreshBefore - o.clock.now().getTime());
      o.logger.debug('next credentials file update', { at: new Date(o.clock.now().getTime() + wait).toISOString() });
      if (o.signal?.aborted) break;
      await o.clock.sleep(wait, o.signal);
    }
  } catch (e) {
    if (o.signal?.aborted) return;
    throw e;
  }
}
