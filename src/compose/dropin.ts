/**
 * The AWS credential helper's way of running, with no config file: every CreateSession input on the command line
 * (`credential_process = aws_signing_helper credential-process --certificate … --private-key … …`), so replacing
 * the binary name in ~/.aws/config is enough. Builds the request from those flags; the caller signs and prints.
 * Secrets the helper takes on argv are refused here, before any file is read.
 */
import { promises as fsp } from 'node:fs';
import { AgentError } from '../core/errors.js';
import { openKey } from '../keys/factory.js';
import type { PinSource } from '../keys/pkcs11-pin.js';
import type { KeyHandle } from '../keys/types.js';
import { type CreateSessionInput, createSession, isLoopbackHost, resolveEndpoint } from '../signer/index.js';
import { assertUsable, formatCredentialProcess } from '../vend/process.js';
import type { Runtime } from './runtime.js';

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
  /** a value is refused; false is the helper's --no-tpm-key-password (a TPM key without password) */
  tpmKeyPassword?: string | false;
  /** CreateSession through the proxy the environment names (signer/proxy.ts) */
  withProxy?: boolean;
}

const usage = (message: string, hint: string) => new AgentError({ code: 'DROPIN_INVALID', component: 'cli', message, hint });

/** Secrets the helper takes on argv (every local user can read them): refused, naming the file-based option. */
export function refuseArgvSecrets(f: Partial<Pick<DropInFlags, 'certificate' | 'privateKey' | 'tpmKeyPassword'>>): void {
  if (typeof f.tpmKeyPassword === 'string') {
    throw usage(
      '--tpm-key-password puts a secret on the command line, where every local user can read it (ps, /proc)',
      'a TPM key with a password: configure key.source tpm with key.tpm.authFile (a 0600 file) in the agent config; a key without one: --no-tpm-key-password',
    );
  }
  for (const [flag, v] of [
    ['--private-key', f.privateKey],
    ['--certificate', f.certificate],
  ] as const) {
    if (v !== undefined && /(^|[;?&:])pin-value=/i.test(v)) {
      throw usage(
        `${flag} carries a PIN (pin-value=) on the command line, where every local user can read it`,
        'remove pin-value from the URI and pass --pin-file FILE (mode 0600), or the systemd credential pkcs11-pin',
      );
    }
  }
}

/**
 * Everything that can be refused without reading a file: secrets on argv, missing ARNs, --no-verify-ssl towards a
 * non-loopback endpoint.
 */
export function checkDropIn(f: DropInFlags): void {
  refuseArgvSecrets(f);
  if (f.privateKey === undefined)
    throw usage('--certificate needs --private-key (a file, a pkcs11: URI or handle:0x…)', 'e.g. --private-key /etc/pki/host.key');
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
  if (f.privateKey.startsWith('handle:') && !/^handle:0x[0-9a-f]{8}$/i.test(f.privateKey)) {
    throw usage(`--private-key ${f.privateKey} is not a TPM persistent handle`, 'e.g. handle:0x81000001 (tpm2_getcap handles-persistent lists them)');
  }
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

/** The PIN sources a token is opened with: --pin-file, else the systemd credential pkcs11-pin (as key.pkcs11 takes them). */
export function pinSource(f: Pick<DropInFlags, 'pinFile'>, env: NodeJS.ProcessEnv): PinSource {
  return { ...(f.pinFile ? { pinFile: f.pinFile } : {}), ...(env.CREDENTIALS_DIRECTORY ? { credentialsDirectory: env.CREDENTIALS_DIRECTORY } : {}) };
}

/**
 * The key --private-key names: a PEM file, a pkcs11: URI (PIN from --pin-file or the systemd credential pkcs11-pin,
 * as key.pkcs11 takes it) or handle:0x… (a TPM persistent key without password, through $TPM2TOOLS_TCTI, else the
 * helper's $TPM_DEVICE, else the kernel's resource manager).
 */
export async function dropInKey(f: Pick<DropInFlags, 'privateKey' | 'pkcs11Lib' | 'pinFile'>, env: NodeJS.ProcessEnv): Promise<KeyHandle> {
  const privateKey = f.privateKey!;
  if (privateKey.startsWith('pkcs11:')) {
    const pin = pinSource(f, env);
    return openKey(
      { kind: 'pkcs11', uri: privateKey, ...(f.pkcs11Lib ? { module: f.pkcs11Lib } : {}) },
      { dir: process.cwd(), pkcs11: { ...(f.pkcs11Lib ? { module: f.pkcs11Lib } : {}), pin } },
    );
  }
  if (privateKey.startsWith('handle:')) {
    const tcti = env.TPM2TOOLS_TCTI || (env.TPM_DEVICE ? `device:${env.TPM_DEVICE}` : undefined);
    return openKey({ kind: 'tpm', handle: privateKey.slice('handle:'.length) }, { dir: process.cwd(), ...(tcti ? { tpm: { tcti } } : {}) });
  }
  return openKey({ kind: 'file', path: privateKey }, { dir: process.cwd() });
}

/** The CreateSession input the flags describe (files read, key opened). */
export async function dropInRequest(f: DropInFlags, env: NodeJS.ProcessEnv): Promise<CreateSessionInput> {
  checkDropIn(f);
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
  const key = await dropInKey(f, env);
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
    ...(f.withProxy ? { withProxy: true } : {}),
  };
}

/** `credential-process` the helper's way: one CreateSession per call (no state directory, so no cache) → Version 1 JSON. */
export async function credentialProcessDropIn(f: DropInFlags, rt: Runtime): Promise<string> {
  const req = await dropInRequest(f, rt.env);
  const creds = await createSession({ clock: rt.clock, logger: rt.logger }, req, { signal: rt.signal });
  assertUsable(creds, rt.clock);
  return formatCredentialProcess(creds);
}
