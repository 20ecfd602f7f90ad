import type { Argv } from 'yargs';

const GROUP = 'AWS credential helper flags:';

/** Flags that describe the drop-in identity: without --certificate (a config file names the identity) they mean nothing. */
const IDENTITY_FLAGS = [
  'private-key',
  'intermediates',
  'region',
  'session-duration',
  'role-session-name',
  'pkcs11-lib',
  'pin-file',
  'reuse-pin',
  'verify-ssl',
  'tpm-key-password',
] as const;
/** The ARNs: credential-process also takes them as overrides of rolesAnywhere; serve and update only in drop-in mode. */
const ARN_FLAGS = ['trust-anchor-arn', 'profile-arn', 'role-arn'] as const;

/**
 * The AWS credential helper's flags (aws_signing_helper v1.4.0), with the same meaning, so an existing
 * `credential_process = aws_signing_helper credential-process …` line (or `serve …`, `update …`) works with only the
 * binary name changed. With --certificate the command runs without any config file (compose/dropin.ts); without it,
 * a flag that only describes a drop-in identity is a usage error rather than silently ignored.
 */
export function helperOptions<T>(y: Argv<T>, o: { arnOverrides: boolean }): Argv<T> {
  const arn = (what: string, field: string) =>
    o.arnOverrides ? `${what} (default rolesAnywhere.${field}; required with --certificate)` : `${what} (with --certificate)`;
  return (
    y
      .option('certificate', { type: 'string', group: GROUP, describe: 'leaf certificate (PEM file): run without a config file, as the helper does' })
      .option('private-key', {
        type: 'string',
        group: GROUP,
        describe: 'private key: PEM file, pkcs11: URI (no PIN in it) or handle:0x81… (a TPM key without password)',
      })
      .option('intermediates', { type: 'string', group: GROUP, describe: 'intermediate certificates (PEM file)' })
      .option('trust-anchor-arn', { type: 'string', group: GROUP, describe: arn('trust anchor', 'trustAnchorArn') })
      .option('profile-arn', { type: 'string', group: GROUP, describe: arn('Roles Anywhere profile', 'profileArn') })
      .option('role-arn', { type: 'string', group: GROUP, describe: arn('role to assume', 'roleArn') })
      .option('region', { type: 'string', group: GROUP, describe: 'signing region (default the trust anchor ARN region)' })
      .option('session-duration', { type: 'number', group: GROUP, describe: 'seconds, 900-43200 (default 3600)' })
      .option('role-session-name', { type: 'string', group: GROUP, describe: 'role session name' })
      .option('pkcs11-lib', { type: 'string', group: GROUP, describe: 'PKCS#11 library for a pkcs11: key' })
      .option('pin-file', { type: 'string', group: GROUP, describe: 'file (0600) holding the token PIN; default the systemd credential pkcs11-pin' })
      .option('reuse-pin', { type: 'boolean', group: GROUP, describe: 'accepted for compatibility (the PIN comes from a file, never a prompt)' })
      .option('verify-ssl', { type: 'boolean', group: GROUP, describe: '--no-verify-ssl: accepted only for a loopback --endpoint' })
      .option('with-proxy', {
        type: 'boolean',
        group: GROUP,
        describe: 'CreateSession through $HTTPS_PROXY/$HTTP_PROXY except $NO_PROXY and loopback, as the helper (default rolesAnywhere.withProxy)',
      })
      .option('debug', { type: 'boolean', group: GROUP, describe: 'same as --log-level debug' })
      // --no-tpm-key-password (a key without password) parses as false; a value is a secret on argv and refused
      .option('tpm-key-password', { type: 'string', hidden: true, describe: 'refused: a secret on argv' })
      // The helper's Windows/macOS certificate-store flags. The helper cannot use a store on Linux either ("unable to
      // use cert store signer on linux"), and refuses --system-store-name beside --certificate: no working line on
      // this platform has them, so a line that does is told what to use instead, not "Unknown argument".
      .option('cert-selector', { type: 'string', hidden: true, describe: 'refused: the Windows/macOS certificate store' })
      .option('system-store-name', { type: 'string', hidden: true, describe: 'refused: the Windows certificate store' })
      .check((argv) => {
        const store = (['cert-selector', 'system-store-name'] as const).filter((k) => argv[k] !== undefined);
        if (store.length > 0) {
          throw new Error(
            `${store.map((k) => `--${k}`).join(' and ')} name${store.length === 1 ? 's' : ''} a certificate in the Windows or macOS certificate store, which the agent does not read (nor does the AWS helper on Linux): give the certificate as --certificate FILE and its key as --private-key (a PEM file, a pkcs11: URI or handle:0x…)`,
          );
        }
        if (argv.certificate !== undefined) return true;
        const given = [...IDENTITY_FLAGS, ...(o.arnOverrides ? [] : ARN_FLAGS)].filter((k) => argv[k] !== undefined);
        if (given.length === 0) return true;
        const shown = given.map((k) => (k === 'verify-ssl' ? '--no-verify-ssl' : k === 'tpm-key-password' ? '--[no-]tpm-key-password' : `--${k}`));
        throw new Error(
          `${shown.join(', ')} describe${given.length === 1 ? 's' : ''} a drop-in identity and need${given.length === 1 ? 's' : ''} --certificate; without it the config file names the identity`,
        );
      })
  );
}
