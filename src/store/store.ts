import { randomBytes, X509Certificate } from 'node:crypto';
import { accessSync, constants, readFileSync, readlinkSync, promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import { AgentError, messageOf } from '../core/errors.js';
import { checkPrivateDir, fsError, fsyncDir, mkdirp } from '../core/fs.js';
import { readPemCertificates } from '../core/pem.js';
import { binaryOffset } from '../core/text.js';
import { acquireLock, type Lock } from '../core/lock.js';
import type { Logger } from '../core/logger.js';

/**
 * The versioned identity store (DESIGN.md "Host layout"):
 *
 *   <dir>/versions/0001/{cert.pem, chain.pem, fullchain.pem, key.pem | key.ref, meta.json}
 *   <dir>/live -> versions/000N
 *
 * A version directory is written under a temporary name and renamed into place only when every file in it is on
 * disk, so a crash never leaves a half-written version visible. Versions are immutable once visible. `live` is a
 * relative symlink (the state directory can move or be bind-mounted) switched by rename(2) of a fresh symlink over
 * it, which is atomic: a reader sees the old or the new version, never a missing one. A reader that needs several
 * files of one version resolves `live` once (as `live()` does) and reads from that directory; reading `live/a` and
 * then `live/b` may straddle a switch.
 */

export interface StoreDeps {
  clock: Clock;
  logger: Logger;
}

export interface StoreOptions {
  /** readers (status, the signer) never create, clean or write anything */
  readOnly?: boolean;
  /** where lock() locks; default <dir>/.lock */
  lockFile?: string;
  /**
   * a process that reads the live identity once and exits (credential-process): live() reads synchronously, as
   * that process also writes its CreateSession record and credential cache. Each asynchronous read is a thread-pool
   * round trip, and a one-shot process has nothing to overlap them with (~3 ms measured for the six reads of live()).
   */
  oneShot?: boolean;
}

/**
 * key.ref: where a key lives when the store does not hold it (PKCS#11 URI, TPM handle, external CSR). The store keeps
 * it as JSON; keys/ref.ts gives it its type and validates it on the way back.
 */
export type KeyRefRecord = Record<string, unknown>;

/** Facts about a version that the caller knows; the certificate facts are read from the certificate itself. */
export interface MetaInput {
  names: string[];
  profile?: string;
  keyAlgorithm?: string;
  orderUrl?: string;
  [field: string]: unknown;
}

export interface IdentityMeta extends MetaInput {
  /** hex, upper case, as openssl prints it */
  serial: string;
  notBefore: string;
  notAfter: string;
  issuer: string;
  subject: string;
  createdAt: string;
}

export interface StageMaterial {
  certPem: string;
  chainPem: string;
  fullchainPem: string;
  /** exactly one of keyPem (a file key, stored 0600) and keyRef */
  keyPem?: string;
  keyRef?: KeyRefRecord;
  /** with keyRef: files the key needs beside it (a TPM key's TSS2 PEM), by file name, stored 0600 */
  keyFiles?: Record<string, string>;
  meta: MetaInput;
}

export interface VersionFiles {
  cert: string;
  chain: string;
  fullchain: string;
  meta: string;
  key?: string;
  keyRef?: string;
}

export interface StagedVersion {
  /** zero-padded directory name, e.g. "0003" */
  version: string;
  number: number;
  dir: string;
  files: VersionFiles;
}

export interface VersionInfo {
  version: string;
  number: number;
  dir: string;
  live: boolean;
}

export interface Identity extends StagedVersion {
  meta: IdentityMeta;
  certPem: string;
  chainPem: string;
  fullchainPem: string;
  keyRef?: KeyRefRecord;
  certificate: X509Certificate;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

const VERSION_RE = /^\d{4,}$/;
const TMP_PREFIX = '.tmp-';
const DEL_PREFIX = '.del-';
const LIVE_TMP_PREFIX = '.live-';

export class IdentityStore {
  readonly dir: string;
  readonly versionsDir: string;
  readonly livePath: string;
  readonly lockFile: string;
  private readonly deps: StoreDeps;
  private readonly readOnly: boolean;
  private readonly oneShot: boolean;

  private constructor(dir: string, deps: StoreDeps, o: StoreOptions) {
    this.dir = path.resolve(dir);
    this.versionsDir = path.join(this.dir, 'versions');
    this.livePath = path.join(this.dir, 'live');
    this.lockFile = o.lockFile ?? path.join(this.dir, '.lock');
    this.deps = deps;
    this.readOnly = o.readOnly ?? false;
    this.oneShot = o.oneShot ?? false;
  }

  /**
   * Opens (and unless readOnly, creates with mode 0700) the store. A directory the agent cannot write is reported
   * here, once, with its path, rather than as a failure halfway through a renewal.
   */
  static async open(dir: string, deps: StoreDeps, o: StoreOptions = {}): Promise<IdentityStore> {
    const s = new IdentityStore(dir, deps, o);
    if (s.readOnly) return s;
    const existing: [string, Stats][] = [];
    try {
      for (const d of [s.dir, s.versionsDir]) {
        const st = await fsp.stat(d).catch(() => undefined);
        if (st) existing.push([d, st]);
        else await mkdirp(d, 0o700);
      }
      // mkdir succeeds on an existing directory we cannot write to: prove we can create a file in both.
      for (const d of [s.dir, s.versionsDir]) {
        const probe = path.join(d, `.probe-${randomBytes(4).toString('hex')}`);
        await fsp.writeFile(probe, '', { mode: 0o600, flag: 'wx' });
        await fsp.rm(probe);
      }
    } catch (e) {
      throw unwritable(s.dir, e);
    }
    // It holds private keys: a directory others can read is refused with the fix, never silently narrowed (it may
    // be shared, and what was in it was already exposed). Checked after the write probe, so a directory the agent
    // cannot use at all is reported as that first.
    for (const [d, st] of existing) checkPrivateDir(d, st, 0o700, d === s.dir ? 'state.dir' : 'the store directory');
    await s.removeLeftovers();
    return s;
  }

  /** Exclusive for the whole run (stage → verify → activate → prune), across processes. */
  lock(o: { waitMs?: number } = {}): Promise<Lock> {
    return acquireLock(this.lockFile, { clock: this.deps.clock, waitMs: o.waitMs ?? 0 });
  }

  /** Complete versions, oldest first. Temporary and half-deleted directories are not versions. */
  async versions(): Promise<VersionInfo[]> {
    let names: string[];
    try {
      names = await fsp.readdir(this.versionsDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fsError('list', this.versionsDir, e);
    }
    const live = await this.liveVersion();
    return names
      .filter((n) => VERSION_RE.test(n))
      .map((n) => ({ version: n, number: Number(n), dir: path.join(this.versionsDir, n), live: n === live }))
      .sort((a, b) => a.number - b.number);
  }

  /** The version name `live` points at, or undefined when there is no live identity yet. */
  async liveVersion(): Promise<string | undefined> {
    let target: string;
    try {
      target = this.oneShot ? readlinkSync(this.livePath) : await fsp.readlink(this.livePath);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      if (code === 'EINVAL') {
        throw new AgentError({
          code: 'STORE_LIVE_NOT_LINK',
          component: 'store',
          message: `${this.livePath} is not a symlink`,
          hint: `move it away; the agent manages ${this.livePath} as a link to versions/NNNN`,
        });
      }
      throw fsError('read link', this.livePath, e);
    }
    const m = /^versions\/(\d{4,})\/?$/.exec(target);
    if (!m) {
      throw new AgentError({
        code: 'STORE_LIVE_INVALID',
        component: 'store',
        message: `${this.livePath} points at ${target}, not at versions/NNNN`,
        hint: 'activate a version again (iamra-agent renew --force) or fix the link by hand',
      });
    }
    return m[1]!;
  }

  /** The live identity, parsed, or undefined when none has been activated. */
  async live(): Promise<Identity | undefined> {
    const v = await this.liveVersion();
    return v === undefined ? undefined : this.read(v);
  }

  /** One version, parsed. All files come from that version's directory, so they belong together. */
  async read(version: string): Promise<Identity> {
    const { number, dir } = this.versionPath(version);
    const files = filesOf(dir);
    const text = async (f: string, required: boolean): Promise<string | undefined> => {
      try {
        return this.oneShot ? readFileSync(f, 'utf8') : await fsp.readFile(f, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !required) return undefined;
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
          throw new AgentError({
            code: 'STORE_VERSION_MISSING',
            component: 'store',
            message: `version ${version} is incomplete: ${f} is missing`,
            hint: 'roll back (iamra-agent rollback) or renew with --force',
          });
        }
        throw fsError('read', f, e);
      }
    };
    const [metaText, certPem, chainPem, fullchainPem, keyRefText, keyPresent] = await Promise.all([
      text(files.meta, true),
      text(files.cert, true),
      text(files.chain, true),
      text(files.fullchain, true),
      text(files.keyRef!, false),
      (this.oneShot ? Promise.resolve().then(() => accessSync(files.key!)) : fsp.access(files.key!)).then(
        () => true,
        () => false,
      ),
    ]);
    // Each file is named on its own, and the parser's text (which quotes the file's bytes) stays out of the message.
    const corrupt = (f: string, what: string, e: unknown) =>
      new AgentError({
        code: 'STORE_VERSION_CORRUPT',
        component: 'store',
        message: `version ${version}: ${f} ${what}`,
        hint: 'roll back (iamra-agent rollback) or renew with --force',
        details: { file: f, version },
        cause: e,
      });
    const json = <T>(f: string, t: string): T => {
      try {
        const v = JSON.parse(t) as unknown;
        if (!v || typeof v !== 'object' || Array.isArray(v)) throw new TypeError('not an object');
        return v as T;
      } catch (e) {
        throw corrupt(f, binaryOffset(t) === undefined ? 'is not a JSON object' : 'is not a JSON object (it holds binary data)', e);
      }
    };
    const meta = json<IdentityMeta>(files.meta, metaText!);
    if (!Array.isArray(meta.names) || !meta.names.every((n) => typeof n === 'string')) throw corrupt(files.meta, 'has no list of names', undefined);
    const keyRef = keyRefText === undefined ? undefined : json<KeyRefRecord>(files.keyRef!, keyRefText);
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(certPem!);
    } catch (e) {
      throw corrupt(files.cert, 'is not a PEM certificate', e);
    }
    // A damaged chain.pem is caught here, naming the file, before anything signs with it (issue 12 item 7).
    try {
      readPemCertificates(chainPem!, { what: files.chain, component: 'store', allowEmpty: true, hint: 'roll back or renew with --force' });
    } catch (e) {
      throw corrupt(files.chain, `is damaged: ${e instanceof AgentError ? e.message.slice(files.chain.length + 1) : 'not PEM'}`, e);
    }
    const out: Identity = {
      version,
      number,
      dir,
      files: {
        cert: files.cert,
        chain: files.chain,
        fullchain: files.fullchain,
        meta: files.meta,
        ...(keyPresent ? { key: files.key! } : {}),
        ...(keyRef ? { keyRef: files.keyRef! } : {}),
      },
      meta,
      certPem: certPem!,
      chainPem: chainPem!,
      fullchainPem: fullchainPem!,
      certificate,
      serial: certificate.serialNumber.toUpperCase(),
      notBefore: new Date(certificate.validFrom),
      notAfter: new Date(certificate.validTo),
    };
    if (keyRef) out.keyRef = keyRef;
    return out;
  }

  /**
   * Writes a new version: every file into a temporary directory, fsynced, then one rename makes it visible as the
   * next number. Not activated: the caller verifies it first, then calls activate().
   */
  async stage(m: StageMaterial): Promise<StagedVersion> {
    this.writable('stage');
    if ((m.keyPem === undefined) === (m.keyRef === undefined)) {
      throw new AgentError({
        code: 'STORE_STAGE_KEY',
        component: 'store',
        message: 'a version needs exactly one of keyPem and keyRef',
        hint: 'pass the file key PEM, or a key.ref for an external key',
      });
    }
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(m.certPem);
    } catch (e) {
      throw new AgentError({
        code: 'STORE_STAGE_CERT',
        component: 'store',
        message: `the certificate to store is not a PEM certificate: ${messageOf(e)}`,
        hint: 'this is a bug in the caller; the ACME response should have been checked',
        cause: e,
      });
    }
    const meta: IdentityMeta = {
      ...m.meta,
      serial: cert.serialNumber.toUpperCase(),
      notBefore: new Date(cert.validFrom).toISOString(),
      notAfter: new Date(cert.validTo).toISOString(),
      issuer: (cert.issuer ?? '').split('\n').join(', '),
      // empty for profiles that do not promote the CN (LE tlsserver, shortlived): Node then gives undefined
      subject: (cert.subject ?? '').split('\n').join(', '),
      createdAt: this.deps.clock.now().toISOString(),
    };
    const tmp = path.join(this.versionsDir, `${TMP_PREFIX}${randomBytes(6).toString('hex')}`);
    try {
      await fsp.mkdir(tmp, { mode: 0o700 });
      const f = filesOf(tmp);
      await writeNew(f.cert, m.certPem);
      await writeNew(f.chain, m.chainPem);
      await writeNew(f.fullchain, m.fullchainPem);
      if (m.keyPem !== undefined) await writeNew(f.key!, m.keyPem);
      if (m.keyRef !== undefined) await writeNew(f.keyRef!, JSON.stringify(m.keyRef, null, 2) + '\n');
      for (const [name, data] of Object.entries(m.keyFiles ?? {})) await writeNew(path.join(tmp, keyFileName(name)), data);
      await writeNew(f.meta, JSON.stringify(meta, null, 2) + '\n');
      await fsyncDir(tmp);
    } catch (e) {
      await fsp.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      throw fsError('write version into', tmp, e);
    }
    // The next number; if another writer (one that skipped the lock) took it, rename fails and we take the next.
    const existing = await this.versions();
    let n = (existing.at(-1)?.number ?? 0) + 1;
    for (;;) {
      const version = formatVersion(n);
      const dir = path.join(this.versionsDir, version);
      try {
        await fsp.rename(tmp, dir);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOTEMPTY' || code === 'EEXIST') {
          n++;
          continue;
        }
        await fsp.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
        throw fsError('publish version', dir, e);
      }
      await fsyncDir(this.versionsDir);
      const { key, keyRef, ...common } = filesOf(dir);
      const files: VersionFiles = { ...common, ...(m.keyPem !== undefined ? { key } : { keyRef }) };
      this.deps.logger.info('identity version staged', { version, serial: meta.serial, notAfter: meta.notAfter });
      return { version, number: n, dir, files };
    }
  }

  /** Points `live` at the version: a new symlink renamed over the old one, then the directory fsynced. */
  async activate(v: StagedVersion | VersionInfo | string): Promise<void> {
    this.writable('activate');
    const version = typeof v === 'string' ? v : v.version;
    const { dir } = this.versionPath(version);
    try {
      await fsp.access(path.join(dir, 'meta.json'));
    } catch (e) {
      throw new AgentError({
        code: 'STORE_VERSION_MISSING',
        component: 'store',
        message: `cannot activate version ${version}: ${dir} is not a complete version`,
        hint: 'stage it first',
        cause: e,
      });
    }
    const before = await this.liveVersion();
    const tmp = path.join(this.dir, `${LIVE_TMP_PREFIX}${randomBytes(6).toString('hex')}`);
    try {
      await fsp.symlink(`versions/${version}`, tmp);
      await fsp.rename(tmp, this.livePath);
      await fsyncDir(this.dir);
    } catch (e) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw fsError('switch', this.livePath, e);
    }
    this.deps.logger.info('identity version activated', { version, previous: before ?? null });
  }

  /** Switches live back to the newest complete version older than the live one. */
  async rollback(): Promise<VersionInfo> {
    this.writable('roll back');
    const all = await this.versions();
    const live = all.find((v) => v.live);
    if (!live) {
      throw new AgentError({
        code: 'STORE_NO_LIVE',
        component: 'store',
        message: `no live identity in ${this.dir} to roll back from`,
        hint: 'run iamra-agent bootstrap',
      });
    }
    const prev = all.filter((v) => v.number < live.number).at(-1);
    if (!prev) {
      throw new AgentError({
        code: 'STORE_NO_PREVIOUS',
        component: 'store',
        message: `version ${live.version} is the oldest in ${this.versionsDir}; nothing to roll back to`,
        hint: 'renew instead (iamra-agent renew --force)',
      });
    }
    await this.activate(prev.version);
    this.deps.logger.warn('identity rolled back', { from: live.version, to: prev.version });
    return { ...prev, live: true };
  }

  /**
   * Deletes old versions, keeping the `keep` newest, and always the live one and the one before it (the rollback
   * target). A version is first renamed out of the listing, then removed, so a crash mid-delete leaves no
   * half-version behind. Returns the deleted version names.
   */
  async prune(keep: number): Promise<string[]> {
    this.writable('prune');
    const all = await this.versions();
    const liveIdx = all.findIndex((v) => v.live);
    const protect = new Set(all.slice(Math.max(0, all.length - Math.max(keep, 0))).map((v) => v.version));
    if (liveIdx >= 0) {
      protect.add(all[liveIdx]!.version);
      if (liveIdx > 0) protect.add(all[liveIdx - 1]!.version);
    }
    const removed: string[] = [];
    for (const v of all) {
      if (protect.has(v.version)) continue;
      await this.removeVersion(v.dir);
      removed.push(v.version);
    }
    if (removed.length) {
      await fsyncDir(this.versionsDir);
      this.deps.logger.info('old identity versions pruned', { removed, kept: all.length - removed.length });
    }
    return removed;
  }

  /**
   * Removes a staged version that never went live (it failed verification), so it can never become a rollback
   * target. Refuses the live version.
   */
  async discard(v: StagedVersion | string): Promise<void> {
    this.writable('discard');
    const version = typeof v === 'string' ? v : v.version;
    if ((await this.liveVersion()) === version) {
      throw new AgentError({
        code: 'STORE_DISCARD_LIVE',
        component: 'store',
        message: `version ${version} is live and cannot be discarded`,
        hint: 'this is a bug: only rejected staged versions are discarded',
      });
    }
    await this.removeVersion(this.versionPath(version).dir);
    await fsyncDir(this.versionsDir);
  }

  /** rename out of the listing first, then delete, so a crash mid-delete leaves no half-version visible */
  private async removeVersion(dir: string): Promise<void> {
    const doomed = path.join(this.versionsDir, `${DEL_PREFIX}${path.basename(dir)}-${randomBytes(4).toString('hex')}`);
    try {
      await fsp.rename(dir, doomed);
      await fsp.rm(doomed, { recursive: true, force: true });
    } catch (e) {
      throw fsError('remove version', dir, e);
    }
  }

  /**
   * Leftovers of an interrupted run: temporary version directories, half-deleted versions and temporary live links.
   * Only those older than the newest complete version are removed: anything newer may belong to a run still going.
   */
  private async removeLeftovers(): Promise<void> {
    const all = await this.versions();
    const newest = all.at(-1);
    if (!newest) return;
    const horizon = (await fsp.stat(newest.dir)).mtimeMs;
    const candidates = [
      ...(await fsp.readdir(this.versionsDir)).filter((n) => n.startsWith(TMP_PREFIX) || n.startsWith(DEL_PREFIX)).map((n) => path.join(this.versionsDir, n)),
      ...(await fsp.readdir(this.dir)).filter((n) => n.startsWith(LIVE_TMP_PREFIX)).map((n) => path.join(this.dir, n)),
    ];
    for (const p of candidates) {
      const st = await fsp.lstat(p).catch(() => undefined);
      if (!st || st.mtimeMs >= horizon) continue;
      await fsp.rm(p, { recursive: true, force: true });
      this.deps.logger.info('leftover of an interrupted run removed', { path: p });
    }
  }

  private versionPath(version: string): { number: number; dir: string } {
    if (!VERSION_RE.test(version)) {
      throw new AgentError({
        code: 'STORE_BAD_VERSION',
        component: 'store',
        message: `"${version}" is not a version name`,
        hint: 'versions are named like 0001',
      });
    }
    return { number: Number(version), dir: path.join(this.versionsDir, version) };
  }

  private writable(op: string): void {
    if (this.readOnly) {
      throw new AgentError({
        code: 'STORE_READ_ONLY',
        component: 'store',
        message: `cannot ${op}: ${this.dir} was opened read-only`,
        hint: 'this is a bug: writers open the store without readOnly',
      });
    }
  }
}

export function formatVersion(n: number): string {
  return String(n).padStart(4, '0');
}

function filesOf(dir: string): Required<VersionFiles> {
  return {
    cert: path.join(dir, 'cert.pem'),
    chain: path.join(dir, 'chain.pem'),
    fullchain: path.join(dir, 'fullchain.pem'),
    meta: path.join(dir, 'meta.json'),
    key: path.join(dir, 'key.pem'),
    keyRef: path.join(dir, 'key.ref'),
  };
}

/** A key file's name: one plain name that is none of the version's own files (writeNew refuses an existing one). */
function keyFileName(name: string): string {
  if (!/^[\w.-]+$/.test(name) || name === '.' || name === '..') {
    throw new AgentError({
      code: 'STORE_STAGE_KEY',
      component: 'store',
      message: `a key file must be a plain file name, not ${JSON.stringify(name)}`,
      hint: 'this is a bug in the caller: key.tpm.keyFile names a file in the version directory',
    });
  }
  return name;
}

/** A new private file, flushed to disk; its directory is still temporary, so no rename per file is needed. */
async function writeNew(file: string, data: string): Promise<void> {
  const fh = await fsp.open(file, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  try {
    await fh.writeFile(data);
    await fh.chmod(0o600);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function unwritable(dir: string, e: unknown): AgentError {
  const code = (e as NodeJS.ErrnoException).code ?? 'ERROR';
  const uid = typeof process.geteuid === 'function' ? process.geteuid() : undefined;
  return new AgentError({
    code: 'STATE_DIR_UNWRITABLE',
    component: 'store',
    message: `state directory ${dir} is not writable${uid === undefined ? '' : ` by uid ${uid}`}: ${code}`,
    hint:
      code === 'EROFS'
        ? `${dir} is on a read-only filesystem: under systemd use StateDirectory=iamra-agent or list it in ReadWritePaths=`
        : `make ${dir} writable by the agent user (mode 0700, owned by it), or set state.dir to a directory it owns`,
    cause: e,
    details: { path: dir, errno: code },
  });
}
