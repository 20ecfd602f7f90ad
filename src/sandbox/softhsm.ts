import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { AgentError } from '../core/errors.js';
import { atomicWriteFile, ensurePrivateDir, pathExists } from '../core/fs.js';

/**
 * `sandbox up --key pkcs11`: a SoftHSM2 token in D/softhsm, with its own SOFTHSM2_CONF (exported in D/env) so it
 * never mixes with the machine's tokens, and the user PIN in a 0600 file the agent reads (key.pkcs11.pinFile).
 * The token is initialized by OpenSC's pkcs11-tool, which takes PINs as `env:NAME`: no PIN on argv.
 */
export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const PKCS11_TOOL = '/usr/bin/pkcs11-tool';
export const SANDBOX_TOKEN = 'iamra';
export const SANDBOX_KEY_LABEL = 'host-key';

export interface SandboxToken {
  module: string;
  /** SOFTHSM2_CONF for every process that uses the token */
  conf: string;
  uri: string;
  pinFile: string;
  /** the SO PIN, for an operator who locks the user PIN while trying things (pkcs11-tool --init-pin) */
  soPinFile: string;
}

const run = promisify(execFile);

export async function createSandboxToken(dir: string): Promise<SandboxToken> {
  const home = path.join(dir, 'softhsm');
  const tokens = path.join(home, 'tokens');
  const t: SandboxToken = {
    module: SOFTHSM_MODULE,
    conf: path.join(home, 'softhsm2.conf'),
    uri: `pkcs11:token=${SANDBOX_TOKEN};object=${SANDBOX_KEY_LABEL}`,
    pinFile: path.join(home, 'pin'),
    soPinFile: path.join(home, 'so-pin'),
  };
  // a sandbox restarted in the same directory keeps its token, and so the identity enrolled with it
  if (await pathExists(t.pinFile)) return t;
  await ensurePrivateDir(home);
  await ensurePrivateDir(tokens);
  await atomicWriteFile(t.conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`, 0o600);
  const pin = randomBytes(8).toString('hex');
  const soPin = randomBytes(8).toString('hex');
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', SOFTHSM2_CONF: t.conf, USER_PIN: pin, SO_PIN: soPin };
  const tool = async (args: string[]) => {
    try {
      await run(PKCS11_TOOL, ['--module', t.module, ...args], { env });
    } catch (e) {
      throw new AgentError({
        code: 'SANDBOX_SOFTHSM',
        component: 'sandbox',
        message: `pkcs11-tool ${args.find((a) => a.startsWith('--init')) ?? ''} failed for the sandbox token: ${(e as { stderr?: string }).stderr?.trim() || String(e)}`,
        hint: 'install softhsm2 and opensc (test/setup/install.sh)',
        cause: e,
      });
    }
  };
  // a fresh token directory has exactly one, uninitialized, slot: index 0
  await tool(['--slot-index', '0', '--init-token', '--label', SANDBOX_TOKEN, '--so-pin', 'env:SO_PIN']);
  await tool(['--token-label', SANDBOX_TOKEN, '--login', '--login-type', 'so', '--so-pin', 'env:SO_PIN', '--init-pin', '--pin', 'env:USER_PIN']);
  await atomicWriteFile(t.soPinFile, `${soPin}\n`, 0o600);
  // last: its presence means the token is complete
  await atomicWriteFile(t.pinFile, `${pin}\n`, 0o600);
  await fsp.chmod(home, 0o700);
  return t;
}
