import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { AgentError } from '../core/errors.js';

/**
 * Where a token's user PIN comes from: key.pkcs11.pinFile, else the systemd credential `pkcs11-pin`
 * (`LoadCredential=pkcs11-pin:/etc/iamra-agent/pkcs11-pin` puts it in $CREDENTIALS_DIRECTORY). Never argv, never
 * the URI, never a log field.
 */
export interface PinSource {
  pinFile?: string;
  /** $CREDENTIALS_DIRECTORY of the process, passed in rather than read here */
  credentialsDirectory?: string;
}

export interface Pin {
  value: string;
  /** safe to log and to put in errors: which setting the PIN came from */
  from: string;
}

export const PIN_CREDENTIAL = 'pkcs11-pin';

/** The PIN, or undefined when no source is configured (a token that needs no login). */
export async function readPin(src: PinSource): Promise<Pin | undefined> {
  if (src.pinFile) return readPinFile(src.pinFile, `key.pkcs11.pinFile (${src.pinFile})`, true);
  if (src.credentialsDirectory) {
    const file = path.join(src.credentialsDirectory, PIN_CREDENTIAL);
    const st = await fsp.stat(file).catch(() => undefined);
    // systemd makes credential files readable by the service alone; their mode is systemd's business, not ours
    if (st) return readPinFile(file, `the systemd credential ${PIN_CREDENTIAL} (${file})`, false);
  }
  return undefined;
}

async function readPinFile(file: string, from: string, checkMode: boolean): Promise<Pin> {
  const fail = (what: string, hint: string, cause?: unknown) =>
    new AgentError({ code: 'KEY_PKCS11_PIN_FILE', component: 'pkcs11', message: `${from} ${what}`, hint, cause });
  let st: Awaited<ReturnType<typeof fsp.stat>>;
  let text: string;
  try {
    st = await fsp.stat(file);
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw fail(
      `cannot be read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      'create the file with the token user PIN on one line, mode 0600, readable by the agent user',
      e,
    );
  }
  // A PIN readable by others is a PIN shared with them: refuse rather than use it.
  if (checkMode && (st.mode & 0o077) !== 0) {
    throw fail(`is readable by group or others (mode ${(st.mode & 0o777).toString(8)})`, `chmod 600 ${file}`);
  }
  const value = text.replace(/\r?\n$/, '');
  if (value === '') throw fail('is empty', 'write the token user PIN into it, on one line');
  return { value, from };
}
