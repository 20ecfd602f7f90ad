/**
 * Composition: what signing CreateSession needs from the config and the store. Kept apart from compose/enrol.ts
 * (ACME, Route 53) so the credential commands, which run once per AWS CLI call, load only this.
 */
import path from 'node:path';
import type { AgentConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import { AgentError } from '../core/errors.js';
// the modules themselves, not envsense/index.ts: the audit half of that barrel (zlib, CloudTrail parsing) has no
// place on the credential path
import { systemFingerprintDeps } from '../envsense/fingerprint.js';
import { sessionNameProvider, type SessionNameProvider } from '../envsense/session-name.js';
import { openStoredKey } from '../keys/factory.js';
import type { KeyDeps, Pkcs11Settings, TpmSettings } from '../keys/factory.js';
import type { KeyHandle } from '../keys/types.js';
import { endpointInputOf, resolveEndpoint } from '../signer/index.js';
import type { Identity } from '../store/index.js';

/** The CreateSession request the config describes (ARNs checked and the endpoint resolved by the signer). */
export function sessionRequest(cfg: AgentConfig) {
  const ra = cfg.rolesAnywhere;
  if (!ra) {
    throw new AgentError({
      code: 'CONFIG_INVALID',
      component: 'config',
      message: 'rolesAnywhere is not configured',
      hint: 'set rolesAnywhere.trustAnchorArn, profileArn and roleArn',
    });
  }
  const ep = resolveEndpoint(endpointInputOf(ra));
  return {
    trustAnchorArn: ra.trustAnchorArn,
    profileArn: ra.profileArn,
    roleArn: ra.roleArn,
    durationSeconds: ra.durationSeconds,
    ...(ra.roleSessionName ? { roleSessionName: ra.roleSessionName } : {}),
    endpoint: ep.url,
    region: ep.region,
    ...(ra.withProxy ? { withProxy: true } : {}),
  };
}

/** The roleSessionName of each CreateSession: the configured one, or (`totp`) a code from a fingerprint read then. */
export function sessionNames(cfg: AgentConfig, clock: Clock): SessionNameProvider {
  return sessionNameProvider(cfg, { clock, fingerprint: systemFingerprintDeps });
}

/** sessionRequest with the session name of this moment, for a single CreateSession (pre-activation check, status probe). */
export async function sessionRequestNow(cfg: AgentConfig, clock: Clock) {
  const { roleSessionName: _configured, ...req } = sessionRequest(cfg);
  const roleSessionName = await sessionNames(cfg, clock)();
  return { ...req, ...(roleSessionName === undefined ? {} : { roleSessionName }) };
}

/** The live identity's key as a KeyHandle, through the key factory (`oneShot`: KeyDeps'). */
export async function liveKey(live: Identity, cfg: AgentConfig, o: { oneShot?: boolean } = {}): Promise<KeyHandle> {
  return openStoredKey(live, { ...keySettings(cfg), ...(o.oneShot ? { oneShot: true } : {}) });
}

/** What the key factory needs from the config to open a hardware key (nothing for file keys). */
export function keySettings(cfg: AgentConfig): Pick<KeyDeps, 'pkcs11' | 'tpm'> {
  const pkcs11 = pkcs11Settings(cfg);
  const tpm = tpmSettings(cfg);
  return { ...(pkcs11 ? { pkcs11 } : {}), ...(tpm ? { tpm } : {}) };
}

/**
 * key.pkcs11 as the key factory takes it. The PIN falls back to the systemd credential pkcs11-pin, found through
 * $CREDENTIALS_DIRECTORY, which systemd sets for the service (LoadCredential=).
 */
export function pkcs11Settings(cfg: AgentConfig, env: NodeJS.ProcessEnv = process.env): Pkcs11Settings | undefined {
  const p = cfg.key.pkcs11;
  if (!p) return undefined;
  const credentialsDirectory = env.CREDENTIALS_DIRECTORY;
  return {
    ...(p.module ? { module: p.module } : {}),
    pin: { ...(p.pinFile ? { pinFile: p.pinFile } : {}), ...(credentialsDirectory ? { credentialsDirectory } : {}) },
  };
}

/** A path under state.runtimeDir (credential cache, lock, socket). */
export function runtimeDir(cfg: AgentConfig, ...parts: string[]): string {
  return path.join(cfg.state.runtimeDir, ...parts);
}

/** key.tpm as the key factory takes it (the handle comes from the stored KeyRef). */
export function tpmSettings(cfg: AgentConfig): TpmSettings | undefined {
  const t = cfg.key.tpm;
  return t ? { tcti: t.tcti, ...(t.authFile ? { authFile: t.authFile } : {}) } : undefined;
}
