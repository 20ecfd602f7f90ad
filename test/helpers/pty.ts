import { execFile } from 'node:child_process';

/**
 * Runs a program with a pseudo-terminal as its controlling terminal (util-linux `script`), its output (stdout and
 * stderr, merged by the terminal) returned with the terminal's CR LF turned back into LF.
 *
 * Why: the AWS credential helper v1.4.0 opens /dev/tty before every TPM signature, even for a key without a
 * password (`--no-tpm-key-password`, or a TSS2 PEM with emptyAuth): `PasswordPrompt` in its signer.go opens the
 * terminal first and only then checks `NoPassword`. Without a terminal (systemd, cron, CI) it fails with "could not
 * sign unable to read your TPM key password" (credential-process) before asking the TPM anything.
 */
export function runInPty(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<{ code: number; output: string }> {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [file, ...args].map(q).join(' ');
  return new Promise((resolve) => {
    // -q: no "Script started" banner; -e: the program's exit code; -c: the command; /dev/null: no typescript file
    execFile('/usr/bin/script', ['-qec', command, '/dev/null'], { env, timeout: timeoutMs }, (err, stdout) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, output: String(stdout).replace(/\r\n/g, '\n') });
    });
  });
}
