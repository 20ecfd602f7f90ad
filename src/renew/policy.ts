import { createHash } from 'node:crypto';

/**
 * When to renew: a pure function of the certificate, the ARI answer and the instant `now`. Nothing here reads the
 * clock, so `renew --needed`, the timer and `status` reach the same answer for the same inputs.
 *
 * Order of the rules (letsencrypt integration guide; RFC 9773 ARI):
 *  1. ARI: a uniformly random instant inside suggestedWindow; a window already over means "renew now".
 *  2. Without a usable ARI window: renew when 1/3 of the lifetime remains (1/2 for lifetimes of 10 days or less),
 *     computed from the certificate's own notBefore/notAfter, never from an assumed lifetime.
 *  3. maxAge (the weekly rotation): the certificate is renewed once it is this old. It can only pull the renewal
 *     earlier than rules 1-2, never later. 0 switches it off.
 *  An expired certificate is always due.
 */

export const DEFAULT_MAX_AGE_MS = 7 * 24 * 3600_000;
/** Lifetimes up to this use the 1/2 rule instead of 1/3 (LE: "½ for lifetimes under 10 days"; 160 h certificates). */
export const SHORT_LIFETIME_MS = 10 * 24 * 3600_000;

export type RenewalReason = 'ari-window' | 'ari-window-passed' | 'lifetime' | 'max-age' | 'expired';

export interface AriWindow {
  windowStart: Date;
  windowEnd: Date;
  /** when the server asked to be polled again (already clamped by the caller: core/retry.ts clampAriRetryAfterSec) */
  retryAfter?: Date;
}

export interface RenewalOptions {
  now: Date;
  /** renew once the certificate is this old; 0 = off. The config default is DEFAULT_MAX_AGE_MS. */
  maxAgeMs: number;
  ari?: AriWindow;
  /**
   * Source of the position inside the ARI window, in [0, 1). Defaults to a value derived from the certificate and
   * the window, so repeated decisions about the same certificate and window give the same instant (the decision
   * made by `renew --needed` is the one `renew` acts on).
   */
  random?: () => number;
}

export interface RenewalDecision {
  due: boolean;
  /** the instant at or after which the certificate should be renewed */
  renewAt: Date;
  reason: RenewalReason;
  /** when to look again if not due: renewAt, or earlier when ARI must be re-fetched (Retry-After) */
  nextCheck?: Date;
  /** set when an ARI window was supplied but not usable (end <= start, or ending after notAfter) */
  ariIgnored?: string;
}

export function renewalDecision(cert: { notBefore: Date; notAfter: Date }, opts: RenewalOptions): RenewalDecision {
  const now = opts.now.getTime();
  const nb = cert.notBefore.getTime();
  const na = cert.notAfter.getTime();
  if (!(na > nb)) throw new RangeError(`renewalDecision: notAfter ${cert.notAfter.toISOString()} is not after notBefore ${cert.notBefore.toISOString()}`);
  if (now >= na) return { due: true, renewAt: new Date(na), reason: 'expired' };

  let at: number;
  let reason: RenewalReason;
  let ariIgnored: string | undefined;
  const ari = opts.ari;
  const ariProblem = ari ? windowProblem(ari, na) : undefined;
  if (ari && !ariProblem) {
    const s = ari.windowStart.getTime();
    const e = ari.windowEnd.getTime();
    if (e <= now) {
      // RFC 9773: a window entirely in the past (revocation, incident) means renew immediately.
      at = now;
      reason = 'ari-window-passed';
    } else {
      const r = opts.random ? opts.random() : stableFraction(cert, ari);
      at = s + Math.floor(Math.min(Math.max(r, 0), 1 - Number.EPSILON) * (e - s));
      reason = 'ari-window';
    }
  } else {
    if (ariProblem) ariIgnored = ariProblem;
    const life = na - nb;
    at = na - Math.floor(life <= SHORT_LIFETIME_MS ? life / 2 : life / 3);
    reason = 'lifetime';
  }

  if (opts.maxAgeMs > 0 && nb + opts.maxAgeMs < at) {
    at = nb + opts.maxAgeMs;
    reason = 'max-age';
  }

  const due = now >= at;
  const out: RenewalDecision = { due, renewAt: new Date(at), reason };
  if (!due) {
    const retry = ari?.retryAfter?.getTime();
    out.nextCheck = new Date(retry !== undefined && retry > now && retry < at ? retry : at);
  }
  if (ariIgnored) out.ariIgnored = ariIgnored;
  return out;
}

function windowProblem(w: AriWindow, notAfter: number): string | undefined {
  const s = w.windowStart.getTime();
  const e = w.windowEnd.getTime();
  if (!Number.isFinite(s) || !Number.isFinite(e)) return 'suggestedWindow has an invalid date';
  // RFC 9773: a window whose end is not after its start is an invalid response.
  if (e <= s) return 'suggestedWindow end is not after its start';
  // A window that ends after expiry cannot be honoured; the lifetime rule still renews in time.
  if (e > notAfter) return 'suggestedWindow ends after the certificate expires';
  return undefined;
}

/** A fraction in [0, 1) fixed by the certificate and the window: the same inputs always pick the same instant. */
export function stableFraction(cert: { notBefore: Date; notAfter: Date }, w: { windowStart: Date; windowEnd: Date }): number {
  const h = createHash('sha256')
    .update([cert.notBefore, cert.notAfter, w.windowStart, w.windowEnd].map((d) => d.toISOString()).join('|'))
    .digest();
  return h.readUIntBE(0, 6) / 2 ** 48;
}
