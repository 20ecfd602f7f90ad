/**
 * The AWS credential helper's way of running, with no config file: every CreateSession input on the command line
 * (`credential_process = aws_signing_helper credential-process --certificate … --private-key … …`), so replacing
 * the binary name in ~/.aws/config is enough. Builds the request from those flags; the caller signs and prints.
 * Secrets the helper takes on argv are refused here, before any file is read.
 */
import { promises as fsp } from 'node:fs';
import { AgentError } from '../core/errors.js';
import { openKey } from '../keys/factory.js';
import type { KeyHandle } from '../keys/types.js';
import { type CreateSessionInput, isLoopbackHost, resolveEndpoint } from '../signer/index.js';

/** The helper's flags, as parsed (kebab-case names camel-cased by yargs). */
export interface DropInFlags {
  certificate: string;
  privateKey?: string;
  intermediates?: string;
  trustAnchorArn?: string;
  profileArn?: string;
  roleArn?: string;
  region?: string;
  endpoint?: string;
  sessionDuration?: number;
  roleSessionName?: string;
  pkcs11Lib?: string;
  /** the agent's file-based stand-in for the helper's PIN prompt */
  pinFile?: string;
  reusePin?: boolean;
  verifySsl?: boolean;
  tpmKeyPassword?: string;
}

const usage = (message: string, hint: string) => new AgentError({ code: 'DROPIN_INVALID', component: 'cli', message, hint });

/**
 * Everything that can be refused without reading a file: secrets on argv, missing ARNs, --no-verify-ssl towards a
 * non-loopback endpoint.
 */
export function checkDropIn(f: DropInFlags): void {
  if (f.tpmKeyPassword !== undefined) {
    throw usage(
      '--tpm-key-password puts a secret on the command line, where every local user can read it (ps, /proc)',
      'TPM keys: configure key.source tpm with its password in a 0600 file (or the systemd credential) instead',
    );
  }
  if (f.privateKey !== undefined && /(^|[;?&:])pin-value=/i.test(f.privateKey)) {
    throw usage(
      '--private-key carries a PIN (pin-value=) on the command line, where every local user can read it',
      'remove pin-value from the URI and pass --pin-file FILE (mode 0600), or the systemd credential pkcs11-pin',
    );
  }
  if (f.privateKey === undefined) throw usage('--certificate needs --private-key (a file, or a pkcs11: URI)', 'e.g. --private-key /etc/pki/host.key');
  const missing = (['trustAnchorArn', 'profileArn', 'roleArn'] as const).filter((k) => f[k] === undefined);
  if (missing.length) {
    throw usage(
      `--certificate without a config file needs ${missing.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')}`,
      'pass them as for the AWS credential helper',
    );
  }
  if (f.verifySsl === false) {
    const host = f.endpoint ? new URL(f.endpoint).hostname : undefined;
    if (host === undefined || !isLoopbackHost(host)) {
      throw usage(
        `--no-verify-ssl is refused for ${f.endpoint ?? "the region's public endpoint"}: without certificate verification anyone on the path can answer CreateSession`,
        'it is accepted only for a loopback --endpoint (a local test service); for a private CA set NODE_EXTRA_CA_CERTS',
      );
    }
    if (new URL(f.endpoint!).protocol === 'https:') {
      throw usage(
        '--no-verify-ssl with an https loopback endpoint is not supported',
        'use http:// on loopback, or trust the local CA with NODE_EXTRA_CA_CERTS',
      );
    }
  }
  if (f.privateKey.startsWith('handle:')) throw usage('TPM key handles are not supported in drop-in mode', 'configure key.source tpm in the agent config');
}

async function readText(file: string, flag: string): Promise<string> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw new AgentError({
      code: 'FILE_UNREADABLE',
      component: 'cli',
      message: `${flag} ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      hint: 'check the path and its permissions',
      cause: e,
    });
  }
}

/** The CreateSession input the flags describe (files read, key opened). */
export async function dropInRequest(f: DropInFlags, env: NodeJS.ProcessEnv): Promise<CreateSessionInput> {
  checkDropIn(f);
  const privateKey = f.privateKey!;
  const ep = resolveEndpoint({
    trustAnchorArn: f.trustAnchorArn!,
    profileArn: f.profileArn!,
    ...(f.region ? { region: f.region } : {}),
    fips: false,
    dualStack: false,
    ...(f.endpoint ? { endpoint: f.endpoint } : {}),
  });
  const [certPem, chainPem] = await Promise.all([
    readText(f.certificate, '--certificate'),
    f.intermediates ? readText(f.intermediates, '--intermediates') : Promise.resolve(''),
  ]);
  let key: KeyHandle;
  if (privateKey.startsWith('pkcs11:')) {
    const pin = { ...(f.pinFile ? { pinFile: f.pinFile } : {}), ...(env.CREDENTIALS_DIRECTORY ? { credentialsDirectory: env.CREDENTIALS_DIRECTORY } : {}) };
    key = await openKey(
      { kind: 'pkcs11', uri: privateKey, ...(f.pkcs11Lib ? { module: f.pkcs11Lib } : {}) },
      { dir: process.cwd(), pkcs11: { ...(f.pkcs11Lib ? { module: f.pkcs11Lib } : {}), pin } },
    );
  } else {
    key = await openKey({ kind: 'file', path: privateKey }, { dir: process.cwd() });
  }
  return {
    certPem,
    chainPem,
    key,
    trustAnchorArn: f.trustAnchorArn!,
    profileArn: f.profileArn!,
    roleArn: f.roleArn!,
    durationSeconds: f.sessionDuration ?? 3600,
    ...(f.roleSessionName ? { roleSessionName: f.roleSessionName } : {}),
    endpoint: ep.url,
    region: ep.region,
  };
}
