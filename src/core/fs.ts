import { randomBytes } from 'node:crypto';
import { promises as fsp, constants } from 'node:fs';
import path from 'node:path';
import { AgentError } from './errors.js';

/**
 * Writes that matter are atomic and private: a temp file in the same directory (same filesystem, so rename is
 * atomic), fsync, rename, fsync of the directory (so the rename itself survives a crash).
 */
export async function atomicWriteFile(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(tmp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, mode);
    await fh.writeFile(data);
    await fh.chmod(mode); // umask may have narrowed or (never) widened the mode given to open
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fsp.rename(tmp, file);
    await fsyncDir(dir);
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw fsError('write', file, e);
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const dh = await fsp.open(dir, constants.O_RDONLY);
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** mkdir -p with a private mode; an existing directory is narrowed to the mode when it is ours to fix. */
/**
 * `mkdir -p` that always terminates. Node's own `mkdir(…, { recursive: true })` loops forever (Node 20) when a
 * component cannot be created although its parent exists — e.g. anything under /proc, where mkdir says ENOENT —
 * so a state directory configured there would hang the agent instead of failing. Each level is tried once.
 */
export async function mkdirp(dir: string, mode: number): Promise<void> {
  try {
    await fsp.mkdir(dir, { mode });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if ((await fsp.stat(dir)).isDirectory()) return;
      throw e;
    }
    const parent = path.dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw e;
    await mkdirp(parent, mode);
    await fsp.mkdir(dir, { mode }).catch((again: NodeJS.ErrnoException) => {
      if (again.code !== 'EEXIST') throw again;
    });
  }
}

export async function ensurePrivateDir(dir: string, mode = 0o700): Promise<void> {
  try {
    await mkdirp(dir, mode);
    const st = await fsp.stat(dir);
    if ((st.mode & 0o777 & ~mode) !== 0) await fsp.chmod(dir, mode);
  } catch (e) {
    throw fsError('create directory', dir, e);
  }
}

export async function readFileOrUndefined(file: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fsError('read', file, e);
  }
}

export async function readTextFile(file: string, what: string): Promise<string> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw new AgentError({
      code: 'FILE_UNREADABLE',
      component: 'fs',
      message: `cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      hint: 'check that the file exists and that the agent user may read it',
      cause: e,
    });
  }
}

export async function pathExists(p: string): Promise<boolean> {
  try {
    await fsp.lstat(p);
    return true;
  } catch {
    return false;
  }
}

export function fsError(op: string, file: string, e: unknown): AgentError {
  if (e instanceof AgentError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const hint =
    code === 'EACCES' || code === 'EPERM'
      ? 'the agent lacks permission there: fix ownership/mode or point state.dir elsewhere'
      : code === 'ENOSPC'
        ? 'the filesystem is full'
        : code === 'EROFS'
          ? 'the filesystem is read-only: under systemd, list the path in ReadWritePaths= or StateDirectory='
          : undefined;
  return new AgentError({
    code: 'FS_' + (code ?? 'ERROR'),
    component: 'fs',
    message: `cannot ${op} ${file}: ${code ?? (e instanceof Error ? e.message : String(e))}`,
    ...(hint ? { hint } : {}),
    cause: e,
  });
}
