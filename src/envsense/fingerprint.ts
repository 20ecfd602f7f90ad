import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { EnvsenseConfig, FingerprintSource } from '../config/envsense.js';
import { AgentError } from '../core/errors.js';

/**
 * The environment fingerprint: a digest over chosen invariants of the host. Computed afresh every time it is
 * needed and never written anywhere (a stored fingerprint would travel with a stolen key).
 *
 * Canonical form (documented in the README, stable across versions): every source becomes one line
 * `<label>\t<hex digest of its value>\n`, the lines are sorted by label (so the order in the config does not
 * matter), and the fingerprint is the digest of their concatenation. Labels: `file:<absolute path>`,
 * `dmi:<attribute>`, `machine-id`, `command:<JSON argv>`. Values: a file's bytes; a DMI attribute and the machine
 * id with surrounding white space removed (sysfs and systemd end them with a newline); a command's stdout.
 */

export interface FingerprintDeps {
  readFile(file: string): Promise<Buffer>;
  /** runs argv without a shell; rejects on a non-zero exit or after timeoutMs (killing the process) */
  run(argv: string[], timeoutMs: number): Promise<Buffer>;
  /** /sys/class/dmi/id */
  dmiDir: string;
  /** /etc/machine-id */
  machineIdFile: string;
}

export interface Fingerprint {
  /** lower-case hex digest: the database entry and the TOTP key */
  hex: string;
  /** the labels that went into it, in canonical order (no values: those may be sensitive) */
  labels: string[];
}

const component = 'envsense';

export const systemFingerprintDeps: FingerprintDeps = {
  // fs.promises, read when called: node:fs/promises (with readline and the watchers) is ~1.5 ms to load, and the
  // credential path carries this module without reading a fingerprint unless envsense is on
  readFile: (f) => fsp.readFile(f),
  // node:child_process is loaded only for a command source: every credential-process loads this module
  run: async (argv, timeoutMs) => {
    const { execFile } = await import('node:child_process');
    return new Promise((resolve, reject) => {
      execFile(
        argv[0]!,
        argv.slice(1),
        { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'buffer', maxBuffer: 1 << 20, shell: false, windowsHide: true },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      );
    });
  },
  dmiDir: '/sys/class/dmi/id',
  machineIdFile: '/etc/machine-id',
};

export function sourceLabel(s: FingerprintSource): string {
  if ('file' in s) return `file:${path.resolve(s.file)}`;
  if ('dmi' in s) return `dmi:${s.dmi}`;
  if ('machineId' in s) return 'machine-id';
  return `command:${JSON.stringify(s.command)}`;
}

function sourceError(label: string, why: string, hint: string, cause?: unknown): AgentError {
  return new AgentError({
    code: 'FINGERPRINT_SOURCE',
    component,
    message: `fingerprint source ${label}: ${why}`,
    hint,
    details: { source: label },
    ...(cause === undefined ? {} : { cause }),
  });
}

async function readSource(label: string, file: string, what: string, deps: FingerprintDeps): Promise<Buffer> {
  try {
    return await deps.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw sourceError(label, `cannot read ${file} (${code})`, `make ${what} readable by the agent's user, or remove the source from envsense.sources`, e);
  }
}

async function sourceValue(s: FingerprintSource, label: string, deps: FingerprintDeps): Promise<Buffer> {
  if ('file' in s) return readSource(label, path.resolve(s.file), 'the file', deps);
  if ('dmi' in s) {
    const v = (await readSource(label, path.join(deps.dmiDir, s.dmi), 'the DMI attribute (often root-only: ReadOnlyPaths/a udev rule)', deps))
      .toString('utf8')
      .trim();
    if (!v) throw sourceError(label, 'is empty on this machine', 'choose another DMI attribute: this one would not tell machines apart');
    return Buffer.from(v, 'utf8');
  }
  if ('machineId' in s) {
    const v = (await readSource(label, deps.machineIdFile, deps.machineIdFile, deps)).toString('utf8').trim();
    if (!/^[0-9a-f]{32}$/.test(v)) throw sourceError(label, `${deps.machineIdFile} does not hold a machine id`, 'run systemd-machine-id-setup');
    return Buffer.from(v, 'utf8');
  }
  const timeoutMs = s.timeout;
  try {
    return await deps.run(s.command, timeoutMs);
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { killed?: boolean; signal?: string };
    const why = err.killed
      ? `did not finish within ${timeoutMs} ms and was killed`
      : err.code === 'ENOENT'
        ? `${s.command[0]} was not found`
        : `failed (${typeof err.code === 'number' ? `exit ${err.code}` : (err.signal ?? err.code ?? String(e))})`;
    throw sourceError(label, why, 'fix the command (it runs without a shell) or raise its timeout', e);
  }
}

/** Reads every source (all of them, or the first failure) and digests them in canonical order. */
export async function computeFingerprint(cfg: Pick<EnvsenseConfig, 'sources' | 'digest'>, deps: FingerprintDeps): Promise<Fingerprint> {
  const labelled = cfg.sources.map((s) => ({ s, label: sourceLabel(s) }));
  const seen = new Set<string>();
  for (const { label } of labelled) {
    if (seen.has(label)) throw sourceError(label, 'is listed twice', 'list each source once in envsense.sources');
    seen.add(label);
  }
  const lines = await Promise.all(
    labelled.map(async ({ s, label }) => ({
      label,
      value: createHash(cfg.digest)
        .update(await sourceValue(s, label, deps))
        .digest('hex'),
    })),
  );
  lines.sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  const h = createHash(cfg.digest);
  for (const l of lines) h.update(`${l.label}\t${l.value}\n`, 'utf8');
  return { hex: h.digest('hex'), labels: lines.map((l) => l.label) };
}
