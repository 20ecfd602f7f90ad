import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { AgentError } from '../core/errors.js';
import { atomicWriteFile } from '../core/fs.js';

/** The path the shipped units name; install rewrites it to where the agent really is. */
export const UNIT_BINARY = '/usr/local/bin/iamra-agent';

export interface InstallUnitsOptions {
  /** units/ of the package */
  sourceDir: string;
  /** e.g. /etc/systemd/system */
  targetDir: string;
  /** absolute path of the iamra-agent executable */
  binary: string;
  /** the agent config path, when not the default */
  config?: string;
}

/**
 * Writes the systemd units with ExecStart pointing at the real binary (and --config when given). sysusers.d and
 * tmpfiles.d snippets are copied beside them for the packager to place. Returns the files written.
 */
export async function installUnits(o: InstallUnitsOptions): Promise<string[]> {
  if (!path.isAbsolute(o.binary)) {
    throw new AgentError({
      code: 'UNITS_BAD_BINARY',
      component: 'units',
      message: `--bin ${o.binary} is not an absolute path`,
      hint: 'systemd needs an absolute ExecStart path',
    });
  }
  const names = (await fsp.readdir(o.sourceDir)).filter((n) => /\.(service|timer|conf)$/.test(n)).sort();
  await fsp.mkdir(o.targetDir, { recursive: true, mode: 0o755 });
  const written: string[] = [];
  for (const n of names) {
    let text = await fsp.readFile(path.join(o.sourceDir, n), 'utf8');
    const exe = o.config ? `${o.binary} --config ${o.config}` : o.binary;
    text = text.split(UNIT_BINARY).join(exe);
    const dest = path.join(o.targetDir, n);
    await atomicWriteFile(dest, text, 0o644);
    written.push(dest);
  }
  return written;
}
