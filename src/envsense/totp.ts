import { Secret, TOTP } from 'otpauth';

/**
 * RFC 6238 TOTP over the environment fingerprint: the fingerprint's digest bytes are the HMAC key, so a host that
 * still has its invariants produces the codes the audit recomputes from the fingerprint database. The arithmetic is
 * otpauth's (RFC 4226 dynamic truncation); this module only fixes the parameters and makes time a parameter.
 */

export interface TotpParams {
  /** HMAC algorithm, the same name as the fingerprint digest */
  digest: 'sha1' | 'sha256';
  /** step X in seconds */
  period: number;
  digits: number;
}

const ALGORITHMS = { sha1: 'SHA1', sha256: 'SHA256' } as const;

/** The code for `keyHex` at `at` (RFC 6238 §4: T = floor((unixtime − T0) / X), T0 = 0). */
export function totpAt(keyHex: string, p: TotpParams, at: Date): string {
  return TOTP.generate({ secret: Secret.fromHex(keyHex), algorithm: ALGORITHMS[p.digest], digits: p.digits, period: p.period, timestamp: at.getTime() });
}

/** The RFC 6238 time step T of an instant. */
export function timeStep(p: Pick<TotpParams, 'period'>, at: Date): number {
  return Math.floor(at.getTime() / 1000 / p.period);
}

/** Every code (with its step) whose step falls between the steps of `from` and `to`, both included. */
export function codesBetween(keyHex: string, p: TotpParams, from: Date, to: Date): { step: number; code: string }[] {
  const out: { step: number; code: string }[] = [];
  for (let s = timeStep(p, from); s <= timeStep(p, to); s++) out.push({ step: s, code: totpAt(keyHex, p, new Date(s * p.period * 1000)) });
  return out;
}
