import { isIP } from 'node:net';

/**
 * localhost (and *.localhost, RFC 6761 §6.3), 127.0.0.0/8, ::1 and IPv4-mapped 127.0.0.0/8: the one test for "this
 * host or peer address is loopback". Strict on purpose: literal addresses must be real IP addresses (isIP), so
 * `127.0.0.1.example.com` or `127.999.0.1` never pass. Used for "plain HTTP only to loopback" and for servers that
 * answer loopback peers only.
 */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h);
  return false;
}
