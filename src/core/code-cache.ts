/**
 * require() of one CommonJS bundle file through a V8 code cache, for the one-shot credential_process path. Why: V8
 * compiles each function the first time it runs, and a warm `credential-process` runs most of its ~100 kB bundle
 * (store, signer, CreateSession, state record) exactly once; Node 20 has no compile cache of its own for user code
 * (module.enableCompileCache is Node 22). Measured here: ~6-8 % of `node -e ""` off a cold call with one CreateSession.
 *
 * The cache is written after the code ran (`save()`), so it holds the functions that were compiled then, not just
 * the top level a cache made at compile time would hold (which measured no gain).
 *
 * What is trusted, and why that is no more than before:
 * - The cache lives beside the credential routes (cli/fast-credentials.ts), in the user's own 0700 directory, and is
 *   read only from a 0600 file this user owns: whoever can write there is this user, who can already change the
 *   route (the config the call runs with).
 * - The file name holds the SHA-256 of the source and the Node version, so an upgraded or edited bundle never meets
 *   an old cache (V8's own check compares only the source's length, the V8 version and its flags), and of the
 *   bundle's path, so two installations side by side do not take turns replacing one file.
 * - A SHA-256 of the cached data heads the file: a damaged or cut-off file is no cache (V8 is never handed it).
 * - V8 rejects data from another V8 version or other flags; a rejected cache is rewritten by that call.
 * - Nothing here ever fails the call: any problem with the cache is no cache.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { atomicWriteFileSync } from './fs.js';

export type CodeCacheStatus = 'used' | 'absent' | 'damaged' | 'rejected' | 'off';

export interface CachedModule {
  exports: unknown;
  /** what happened to the cache on this load */
  status: CodeCacheStatus;
  /**
   * Writes the cache when this load had none (or V8 refused it), with the functions compiled by now: call it once
   * the work is done. Never throws; does nothing when the cache was used or there is no directory.
   */
  save(): void;
}

const DIGEST_BYTES = 32;

export interface CodeCacheOptions {
  /** where the cache is kept; undefined: no cache (a plain compile) */
  cacheDir: string | undefined;
  /**
   * the loading bundle's own require(), which the file's require() is built on: a bundle asks only for Node
   * built-ins and the files beside it, by relative path. Not node:module's createRequire: loading node:module
   * loads Node's ES module loader and node:fs/promises with it (~2 ms), which a one-shot call never needs.
   */
  require: (id: string) => unknown;
}

/** Loads `file` (a CommonJS bundle) as require() would, compiled with the cache in `cacheDir` when one is there. */
export function requireWithCodeCache(file: string, o: CodeCacheOptions): CachedModule {
  const { cacheDir } = o;
  const source = readFileSync(file, 'utf8');
  // <bundle>-<its path>-<its bytes>-<Node>: two installations each keep theirs; a rebuilt one replaces its own
  const install = `${path.basename(file, '.js')}-${sha256Hex(file).slice(0, 16)}-`;
  const name = `${install}${sha256Hex(source).slice(0, 32)}-${process.version}.v8`;
  const cacheFile = cacheDir === undefined ? undefined : path.join(cacheDir, name);
  const cached = cacheFile === undefined ? 'off' : readCache(cacheFile);
  // the wrapper Node's CommonJS loader puts around a file, on the source's first line so that positions hold
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) { ${source}\n})`, {
    filename: file,
    ...(typeof cached === 'string' ? {} : { cachedData: cached }),
  });
  const status: CodeCacheStatus = typeof cached === 'string' ? cached : script.cachedDataRejected ? 'rejected' : 'used';
  const module = { exports: {} as unknown };
  const dir = path.dirname(file);
  const fileRequire = (id: string) => o.require(id.startsWith('.') ? path.resolve(dir, id) : id);
  (script.runInThisContext() as (...a: unknown[]) => void).call(module.exports, module.exports, fileRequire, module, file, dir);
  let saved = false;
  return {
    exports: module.exports,
    status,
    save: () => {
      if (saved || status === 'used' || status === 'off' || cacheDir === undefined || cacheFile === undefined) return;
      saved = true;
      writeCache(cacheDir, cacheFile, script.createCachedData(), install);
    },
  };
}

const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

/** The cached data, checked against its digest; 'damaged' also for a file that is not this user's private one. */
function readCache(file: string): Buffer | 'absent' | 'damaged' {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return 'absent';
  }
  try {
    const st = fstatSync(fd);
    // as the routes: only this user's own private file (anything else is not ours to run)
    if (!st.isFile() || (st.mode & 0o077) !== 0 || (process.getuid && st.uid !== process.getuid())) return 'damaged';
    const bytes = readFileSync(fd);
    const data = bytes.subarray(DIGEST_BYTES);
    if (bytes.length <= DIGEST_BYTES || !createHash('sha256').update(data).digest().equals(bytes.subarray(0, DIGEST_BYTES))) return 'damaged';
    return data;
  } catch {
    return 'damaged';
  } finally {
    closeSync(fd);
  }
}

/**
 * Atomically (a reader sees the old file or the new one), without fsync: a cache lost in a crash costs one slower
 * call. The directory is made 0700 if missing and used only when it is this user's own and private. Older caches of
 * the same installed bundle (`install`: its name and path; another build or Node version) are removed: one file per
 * installation, not one per upgrade.
 */
function writeCache(dir: string, file: string, data: Buffer, install: string): void {
  try {
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return;
    }
    const st = lstatSync(dir);
    if (!st.isDirectory() || (st.mode & 0o077) !== 0 || (process.getuid && st.uid !== process.getuid())) return;
    const digest = createHash('sha256').update(data).digest();
    atomicWriteFileSync(file, Buffer.concat([digest, data]), 0o600, { durable: false });
    for (const old of readdirSync(dir)) {
      if (old !== path.basename(file) && old.startsWith(install) && old.endsWith('.v8')) rmSync(path.join(dir, old), { force: true });
    }
  } catch {
    // a cache: the next call compiles as this one did
  }
}
