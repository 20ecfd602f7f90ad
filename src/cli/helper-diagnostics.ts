import type { Argv, CommandModule } from 'yargs';
import type { SignDigest, SignFormat } from '../compose/helper-diagnostics.js';
import type { CliDeps, GlobalArgs } from './context.js';
import { runCommand } from './run.js';

/**
 * The AWS credential helper's diagnostic commands (`read-certificate-data`, `sign-string`) with its flags and output,
 * to check a certificate or a hardware key without a CreateSession. PINs come from --pin-file or the systemd
 * credential pkcs11-pin, never from the URI.
 */
const GROUP = 'AWS credential helper flags:';

interface Args extends GlobalArgs {
  certificate?: string;
  privateKey?: string;
  pkcs11Lib?: string;
  pinFile?: string;
  tpmKeyPassword?: string | false;
  digest: SignDigest;
  format: SignFormat;
  debug?: boolean;
}

function tokenOptions<T>(y: Argv<T>): Argv<T> {
  return y
    .option('pkcs11-lib', { type: 'string', group: GROUP, describe: 'PKCS#11 library (default p11-kit-proxy.so)' })
    .option('pin-file', { type: 'string', group: GROUP, describe: 'file (0600) holding the token PIN; default the systemd credential pkcs11-pin' })
    .option('debug', { type: 'boolean', group: GROUP, describe: 'same as --log-level debug' });
}

export function readCertificateDataCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'read-certificate-data',
    describe: "print a certificate's data as the AWS credential helper does (a PEM file, or the certificates a pkcs11: URI matches)",
    builder: (y) =>
      tokenOptions(y)
        .option('certificate', { type: 'string', group: GROUP, demandOption: true, describe: 'PEM file, or a pkcs11: URI (no PIN in it)' })
        .example('$0 read-certificate-data --certificate /var/lib/iamra-agent/live/cert.pem', 'keyType, base64 DER, serial, algorithms (JSON)')
        .example(
          "$0 read-certificate-data --certificate 'pkcs11:token=iamra' --pkcs11-lib /usr/lib/softhsm/libsofthsm2.so --pin-file pin",
          'the token certificates',
        ),
    handler: async (a) => {
      const args = a as unknown as Args;
      if (args.debug) args.logLevel = 'debug';
      setExit(
        await runCommand(deps, args, async () => {
          const { certificateData, tokenCertificates } = await import('../compose/helper-diagnostics.js');
          const cert = args.certificate!;
          deps.io.stdout.write(cert.startsWith('pkcs11:') ? await tokenCertificates({ ...args, certificate: cert }, deps.io.env) : await certificateData(cert));
          return 0;
        }),
      );
    },
  };
}

export function signStringCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'sign-string',
    describe: "sign the AWS credential helper's fixed test string with a key (file, pkcs11: URI, handle:0x…), as the helper does",
    builder: (y) =>
      tokenOptions(y)
        .option('private-key', { type: 'string', group: GROUP, demandOption: true, describe: 'PEM file, pkcs11: URI (no PIN in it) or handle:0x81…' })
        .option('certificate', { type: 'string', group: GROUP, describe: 'PEM file: checked to hold the public key of --private-key' })
        .option('digest', { choices: ['SHA256', 'SHA384', 'SHA512'] as const, default: 'SHA256' as const, group: GROUP })
        .option('format', {
          choices: ['json', 'text', 'bin'] as const,
          default: 'json' as const,
          group: GROUP,
          describe: 'hex in a JSON string, hex, or raw bytes',
        })
        .option('reuse-pin', { type: 'boolean', group: GROUP, describe: 'accepted for compatibility (the PIN comes from a file, never a prompt)' })
        // --no-tpm-key-password (a key without password) parses as false; a value is a secret on argv and refused
        .option('tpm-key-password', { type: 'string', hidden: true, describe: 'refused: a secret on argv' })
        .example("$0 sign-string --private-key 'pkcs11:token=iamra;object=host-key' --pin-file pin --format text", 'hex ECDSA/RSA signature'),
    handler: async (a) => {
      const args = a as unknown as Args;
      if (args.debug) args.logLevel = 'debug';
      setExit(
        await runCommand(deps, args, async () => {
          const { signString } = await import('../compose/helper-diagnostics.js');
          deps.io.stdout.write(await signString(args, deps.io.env, { digest: args.digest, format: args.format }));
          return 0;
        }),
      );
    },
  };
}
