import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pkcs11js from 'pkcs11js';

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

/**
 * A key pair whose private half may not sign. pkcs11-tool always asks for CKA_SIGN on generated keys, so this
 * one is made through the Cryptoki API directly, in this process (whose SOFTHSM2_CONF must name the token's store).
 */
export function makeNoSignKey(token: string, pin: string, label: string): void {
  const p = new pkcs11js.PKCS11();
  p.load(softhsmModule);
  try {
    p.C_Initialize();
  } catch (e) {
    if ((e as { code?: number }).code !== pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw e;
  }
  const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === token)!;
  const s = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  try {
    p.C_Login(s, pkcs11js.CKU_USER, pin);
  } catch (e) {
    if ((e as { code?: number }).code !== pkcs11js.CKR_USER_ALREADY_LOGGED_IN) throw e;
  }
  const common = [
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: Buffer.from('nosign') },
  ];
  p.C_GenerateKeyPair(
    s,
    { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
    [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
      ...common,
      { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from('06082a8648ce3d030107', 'hex') },
    ],
    [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      ...common,
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SIGN, value: false },
      { type: pkcs11js.CKA_DERIVE, value: true },
    ],
  );
  p.C_CloseSession(s);
}
