/**
 * DNS rebinding guard. A web page can make a browser on this host resolve the attacker's name to 127.0.0.1 and
 * then talk to the endpoint as a same-origin site, but the browser still sends the attacker's name in Host. Local
 * AWS clients send the address they connected to (or `localhost`). So a request is served only when its Host is
 * `localhost` or, over TCP, the very address the connection arrived at, either with any port (port forwarding
 * changes the port, never the name). Everything else, a missing Host included, is refused.
 */
import net from 'node:net';

/** `[v6]`, an IPv4 literal or a DNS name, then an optional port: the shapes a Host header may take (RFC 9110 §7.2) */
const HOST_HEADER = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/;

/**
 * Whether `host` (the Host header) names this endpoint. `localAddress` is the connection's local address (TCP), or
 * undefined for a unix socket, which has no address a client could name: there only `localhost` is accepted.
 */
export function hostAllowed(host: string | undefined, localAddress: string | undefined): boolean {
  if (host === undefined) return false;
  const m = HOST_HEADER.exec(host);
  if (!m || Number(m[3] ?? 0) > 65535) return false;
  const name = (m[1] ?? m[2] ?? '').toLowerCase();
  if (name === 'localhost') return true;
  if (localAddress === undefined) return false;
  const local = localAddress.toLowerCase().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
  if (name === local) return true;
  // another spelling of the same IPv6 address ([0:0:0:0:0:0:0:1] for ::1): compare in the URL parser's canonical form
  return m[1] !== undefined && net.isIPv6(name) && net.isIPv6(local) && canonicalV6(name) === canonicalV6(local);
}

function canonicalV6(a: string): string {
  return new URL(`http://[${a}]/`).hostname;
}
