import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Debian's SoftHSM2 module and OpenSC's pkcs11-tool, as test/setup/install.sh installs them */
export const softhsmModule = '/usr/lib/softhsm/libsofthsm2.so';
export const pkcs11Tool = '/usr/bin/pkcs11-tool';
const softhsmUtil = '/usr/bin/softhsm2-util';

export interface SoftHsm {
  dir: string;
  /** the private SoftHSM2 config; every process using these tokens needs SOFTHSM2_CONF pointing at it */
  conf: string;
  env: NodeJS.ProcessEnv;
  /** creates a token (user PIN, SO PIN) and returns a 0600 file holding its user PIN */
  initToken(label: string, pin: string): string;
  /** pkcs11-tool with --module and the token, as an operator would run it; PINs only in tests */
  tool(args: string[]): string;
}

/** A SoftHSM2 token store in `dir`, isolated from the machine's by its own SOFTHSM2_CONF. */
export function softHsm(dir: string): SoftHsm {
  const tokens = path.join(dir, 'tokens');
  mkdirSync(tokens, { recursive: true, mode: 0o700 });
  const conf = path.join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`, { mode: 0o600 });
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  return {
    dir,
    conf,
    env,
    initToken(label, pin) {
      execFileSync(softhsmUtil, ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', `so-${pin}`], { env, stdio: 'pipe' });
      const file = path.join(dir, `${label}.pin`);
      writeFileSync(file, `${pin}\n`, { mode: 0o600 });
      return file;
    },
    tool(args) {
      return execFileSync(pkcs11Tool, ['--module', softhsmModule, ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    },
  };
}
