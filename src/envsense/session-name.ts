import type { AgentConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import { AgentError } from '../core/errors.js';
import { computeFingerprint, type FingerprintDeps } from './fingerprint.js';

/** The value of rolesAnywhere.roleSessionName that turns the TOTP session name on. */
export const TOTP_SESSION_NAME = 'totp';

export type SessionNameProvider = () => Promise<string | undefined>;

/**
 * What each CreateSession sends as roleSessionName: nothing, the configured fixed name, or (`totp`) the current
 * RFC 6238 code of a fingerprint read afresh at that moment. Called once per CreateSession, so neither the
 * fingerprint nor the seed is ever kept, in memory between calls or on disk.
 */
export function sessionNameProvider(
  cfg: Pick<AgentConfig, 'rolesAnywhere' | 'envsense'>,
  deps: { clock: Clock; fingerprint: FingerprintDeps },
): SessionNameProvider {
  const name = cfg.rolesAnywhere?.roleSessionName;
  if (name !== TOTP_SESSION_NAME) return async () => name;
  const es = cfg.envsense;
  if (!es) {
    throw new AgentError({
      code: 'CONFIG_INVALID',
      component: 'config',
      message: 'rolesAnywhere.roleSessionName is totp but there is no envsense section',
      hint: 'add envsense.sources (see config/agent.example.yaml)',
    });
  }
  return async () => {
    // otpauth (~25 kB) loads only here: every credential-process imports this module, few configs use totp
    const [fp, { totpAt }] = await Promise.all([computeFingerprint(es, deps.fingerprint), import('./totp.js')]);
    return totpAt(fp.hex, es, deps.clock.now());
  };
}

/** The fingerprint database entry for a subject, in the format `audit --db` reads. */
export function databaseEntry(subject: string, hex: string): Record<string, string> {
  return { [subject]: hex };
}

/** The subject IAM Roles Anywhere reports for the agent's certificates (CN = identity.name, nothing else). */
export function subjectOf(cfg: Pick<AgentConfig, 'identity'>): string {
  return `CN=${cfg.identity.name}`;
}
