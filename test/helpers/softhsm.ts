import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Debian's SoftHSM2 module and OpenSC's pkcs11-tool, as test/setup/install.sh installs them */
export const softhsmModule = '/usr/lib/softhsm/libsofthsm2.so';
export const pkcs11Tool = '/usr/bin/pkcs11-tool';

export interface SoftHsm {
  dir: string;
  /** the private SoftHSM2 config; every process using these tokens needs SOFTHSM2_CONF pointing at it */
  conf: string;
  env: NodeJS.ProcessEnv;
  /** creates a token (user PIN, SO PIN) and returns a 0600 file holding its user PIN */
  initToken(label: string, pin: string): string;
  /** pkcs11-tool with --module, as an operator would run it; with `pin` it logs in (the PIN passes through env:) */
  tool(args: string[], pin?: string): string;
}

/** A SoftHSM2 token store in `dir`, isolated from the machine's by its own SOFTHSM2_CONF. */
export function softHsm(dir: string): SoftHsm {
  const tokens = path.join(dir, 'tokens');
  mkdirSync(tokens, { recursive: true, mode: 0o700 });
  const conf = path.join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`, { mode: 0o600 });
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  // PINs never go on argv, even test ones: pkcs11-tool reads `env:NAME` from its environment
  const run = (args: string[], pins: Record<string, string> = {}) =>
    execFileSync(pkcs11Tool, ['--module', softhsmModule, ...args], { env: { ...env, ...pins }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return {
    dir,
    conf,
    env,
    initToken(label, pin) {
      // SoftHSM always offers exactly one uninitialized slot; it is listed last
      const slots = run(['--list-slots'])
        .split(/\n(?=Slot )/)
        .filter((s) => s.startsWith('Slot '));
      const free = slots.findIndex((s) => /token state:\s+uninitialized/.test(s));
      if (free < 0) throw new Error('SoftHSM offers no free slot');
      run(['--slot-index', String(free), '--init-token', '--label', label, '--so-pin', 'env:SO_PIN'], { SO_PIN: `so-${pin}` });
      run(['--token-label', label, '--login', '--login-type', 'so', '--so-pin', 'env:SO_PIN', '--init-pin', '--pin', 'env:USER_PIN'], {
        SO_PIN: `so-${pin}`,
        USER_PIN: pin,
      });
      const file = path.join(dir, `${label}.pin`);
      writeFileSync(file, `${pin}\n`, { mode: 0o600 });
      return file;
    },
    tool(args, pin) {
      return pin === undefined ? run(args) : run(['--login', '--pin', 'env:USER_PIN', ...args], { USER_PIN: pin });
    },
  };
}
