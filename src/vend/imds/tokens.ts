/**
 * IMDSv2 session tokens without server-side state. A token is `expiry ‖ nonce ‖ HMAC-SHA256(key, expiry ‖ nonce)`
 * under a key drawn when the server starts, so validating one is a MAC check and a clock comparison. Nothing is
 * stored per token: any number of PUTs costs no memory and can never evict (log out) another client's token, which
 * a bounded token table cannot promise (a noisy local process filled the previous 256-entry table in one burst).
 * Tokens die at their TTL or with the process (a restart draws a new key), as on EC2, where a token is opaque.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../core/clock.js';

const EXPIRY_BYTES = 6; // milliseconds since the epoch, 48 bits: enough until the year 10889
const NONCE_BYTES = 12; // tokens issued in the same millisecond still differ
const MAC_BYTES = 24; // HMAC-SHA256 truncated to 192 bits
const SIGNED_BYTES = EXPIRY_BYTES + NONCE_BYTES;
/** 42 bytes → 56 base64url characters, as long as EC2's tokens */
const TOKEN_CHARS = ((SIGNED_BYTES + MAC_BYTES) / 3) * 4;
const TOKEN_SHAPE = new RegExp(`^[A-Za-z0-9_-]{${TOKEN_CHARS}}$`);

export interface TokenIssuer {
  /** a new token valid for ttlSeconds from now (by the clock) */
  issue(ttlSeconds: number): string;
  /**
   * whole seconds (rounded up) the token has left at `now` (ms, default the clock's), or undefined when it is
   * malformed, forged or expired
   */
  remainingSeconds(token: string, now?: number): number | undefined;
}

/**
 * Tokens whose MAC was checked, with their expiry, so a client reusing its token (every SDK does, for hours) costs
 * a map lookup instead of an HMAC. Only a cache: a miss re-checks the MAC, and the whole map is dropped when full, so
 * no client can grow it or push another's token out of validity.
 */
const VERIFIED_CACHE = 64;

export function createTokenIssuer(clock: Clock, key: Buffer = randomBytes(32)): TokenIssuer {
  const mac = (signed: Buffer) => createHmac('sha256', key).update(signed).digest().subarray(0, MAC_BYTES);
  const verified = new Map<string, number>();
  const left = (expiry: number, now: number) => {
    const ms = expiry - now;
    return ms > 0 ? Math.ceil(ms / 1000) : undefined;
  };
  return {
    issue(ttlSeconds) {
      const signed = Buffer.alloc(SIGNED_BYTES);
      signed.writeUIntBE(clock.now().getTime() + ttlSeconds * 1000, 0, EXPIRY_BYTES);
      randomBytes(NONCE_BYTES).copy(signed, EXPIRY_BYTES);
      return Buffer.concat([signed, mac(signed)]).toString('base64url');
    },
    remainingSeconds(token, now = clock.now().getTime()) {
      const known = verified.get(token);
      if (known !== undefined) return left(known, now);
      if (!TOKEN_SHAPE.test(token)) return undefined;
      const raw = Buffer.from(token, 'base64url');
      const signed = raw.subarray(0, SIGNED_BYTES);
      if (!timingSafeEqual(raw.subarray(SIGNED_BYTES), mac(signed))) return undefined;
      const expiry = signed.readUIntBE(0, EXPIRY_BYTES);
      if (verified.size >= VERIFIED_CACHE) verified.clear();
      verified.set(token, expiry);
      return left(expiry, now);
    },
  };
}
