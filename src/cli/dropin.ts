import type { Argv } from 'yargs';

/**
 * The AWS credential helper's flags (aws_signing_helper v1.4.0), with the same meaning, so an existing
 * `credential_process = aws_signing_helper credential-process …` line works with only the binary name changed.
 * With --certificate the command runs without any config file (compose/dropin.ts).
 */
export function helperOptions<T>(y: Argv<T>): Argv<T> {
  return y
    .option('certificate', {
      type: 'string',
      group: 'AWS credential helper flags:',
      describe: 'leaf certificate (PEM file): run without a config file, as the helper does',
    })
    .option('private-key', { type: 'string', group: 'AWS credential helper flags:', describe: 'private key: PEM file or pkcs11: URI (no PIN in it)' })
    .option('intermediates', { type: 'string', group: 'AWS credential helper flags:', describe: 'intermediate certificates (PEM file)' })
    .option('region', { type: 'string', group: 'AWS credential helper flags:', describe: 'signing region (default the trust anchor ARN region)' })
    .option('session-duration', { type: 'number', group: 'AWS credential helper flags:', describe: 'seconds, 900-43200 (default 3600)' })
    .option('role-session-name', { type: 'string', group: 'AWS credential helper flags:', describe: 'role session name' })
    .option('pkcs11-lib', { type: 'string', group: 'AWS credential helper flags:', describe: 'PKCS#11 library for a pkcs11: key' })
    .option('pin-file', {
      type: 'string',
      group: 'AWS credential helper flags:',
      describe: 'file (0600) holding the token PIN; default the systemd credential pkcs11-pin',
    })
    .option('reuse-pin', {
      type: 'boolean',
      group: 'AWS credential helper flags:',
      describe: 'accepted for compatibility (the PIN comes from a file, never a prompt)',
    })
    .option('verify-ssl', { type: 'boolean', group: 'AWS credential helper flags:', describe: '--no-verify-ssl: accepted only for a loopback --endpoint' })
    .option('debug', { type: 'boolean', group: 'AWS credential helper flags:', describe: 'same as --log-level debug' })
    .option('tpm-key-password', { type: 'string', hidden: true, describe: 'refused: a secret on argv' });
}
