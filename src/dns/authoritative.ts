import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { Clock } from '../core/clock.js';
import { AgentError, messageOf } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

/**
 * Direct TXT queries to a zone's authoritative nameservers. The CA resolves the challenge record itself
 * (RFC 8555 §8.4), usually through the authoritative servers, so this is the check that matches what the CA will
 * see; a recursive resolver would only tell us about its own cache (and could cache a negative answer, RFC 2308,
 * that outlives our write).
 */

export interface NameServer {
  host: string;
  port: number;
}

/** `host`, `host:port`, `[v6]` or `[v6]:port`; port 53 when absent. */
export function parseServer(s: string): NameServer {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  const m = v6 ?? /^([^:\s]+)(?::(\d+))?$/.exec(s) ?? (net.isIPv6(s) ? [s, s, undefined] : null);
  const port = m?.[2] === undefined ? 53 : Number(m[2]);
  if (!m?.[1] || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new AgentError({
      code: 'DNS_BAD_SERVER',
      component: 'dns',
      message: `not a nameserver address: ${JSON.stringify(s)}`,
      hint: 'write host:port, e.g. 127.0.0.1:53 or [::1]:53',
    });
  }
  return { host: m[1], port };
}

export function formatServer(s: NameServer): string {
  return net.isIPv6(s.host) ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`;
}

export interface QueryOptions {
  /** per query attempt (UDP, then TCP if truncated); default 3 s */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What one server says about one name: the TXT values (character-strings of one record joined) or NXDOMAIN. */
export interface TxtAnswer {
  values: string[];
  authoritative: boolean;
}

const RCODE_NXDOMAIN = 3;

/**
 * Asks one server for the TXT record set at `fqdn`. UDP first; on a truncated reply (TC bit) the same question goes
 * over TCP (RFC 1035 §4.2.1, RFC 7766 §5). A record's character-strings are joined, as CAs do for values longer
 * than 255 octets. NXDOMAIN and NODATA both yield no values; any other rcode is an error.
 */
export async function queryTxt(fqdn: string, server: NameServer, o: QueryOptions = {}): Promise<TxtAnswer> {
  const name = trimDot(fqdn);
  const reply = await queryServer(name, 'TXT', server, o);
  const rcode = (reply.flags ?? 0) & 0xf;
  if (rcode === RCODE_NXDOMAIN) return { values: [], authoritative: reply.flag_aa };
  if (rcode !== 0) throw new Error(`${formatServer(server)} answered rcode ${rcode} for TXT ${name}`);
  const values: string[] = [];
  for (const a of reply.answers ?? []) {
    if (a.type !== 'TXT' || trimDot(a.name).toLowerCase() !== name.toLowerCase()) continue;
    const parts = Array.isArray(a.data) ? a.data : [a.data];
    values.push(parts.map((p) => (typeof p === 'string' ? p : p.toString('utf8'))).join(''));
  }
  return { values, authoritative: reply.flag_aa };
}

/**
 * One question to one server, RD clear (we ask the authoritative server itself, not for recursion on our behalf):
 * UDP, and TCP when the reply is truncated. The reply is checked to answer this question; its rcode is the caller's.
 */
export async function queryServer(fqdn: string, type: 'TXT' | 'SOA' | 'NS', server: NameServer, o: QueryOptions = {}): Promise<dnsPacket.DecodedPacket> {
  const name = trimDot(fqdn);
  const timeoutMs = o.timeoutMs ?? 3000;
  const address = await resolveHost(server.host);
  const id = randomInt(0, 0x10000);
  const query: dnsPacket.Packet = { type: 'query', id, flags: 0, questions: [{ type, class: 'IN', name }] };
  let reply = await udpExchange(dnsPacket.encode(query), address, server.port, id, timeoutMs, o.signal);
  if (reply.flag_tc) reply = await tcpExchange(dnsPacket.streamEncode(query), address, server.port, id, timeoutMs, o.signal);
  const q = reply.questions?.[0];
  if (!q || trimDot(q.name).toLowerCase() !== name.toLowerCase()) throw new Error(`reply from ${formatServer(server)} is for another question`);
  return reply;
}

export interface WaitOptions {
  clock: Clock;
  /** overall deadline for every server to show the value */
  timeoutMs: number;
  pollMs: number;
  /** per query attempt; default min(3 s, pollMs) but at least 500 ms */
  queryTimeoutMs?: number;
  signal?: AbortSignal;
  logger?: Logger;
}

/**
 * Resolves once every server returns `value` among the TXT values at `fqdn`. Every server, because the CA may ask
 * any of them (and Let's Encrypt asks from several vantage points). Failures to reach a server count as "not
 * yet" until the deadline, then the error names the servers still missing the value and why.
 */
export async function waitForTxt(fqdn: string, value: string, servers: string[] | NameServer[], o: WaitOptions): Promise<void> {
  const list = servers.map((s) => (typeof s === 'string' ? parseServer(s) : s));
  if (list.length === 0) {
    throw new AgentError({
      code: 'DNS_NO_NAMESERVERS',
      component: 'dns',
      message: `no nameservers to check TXT ${trimDot(fqdn)} at`,
      hint: 'set dns.resolvers',
    });
  }
  const deadline = o.clock.now().getTime() + o.timeoutMs;
  const queryTimeoutMs = o.queryTimeoutMs ?? Math.max(500, Math.min(3000, o.pollMs));
  const pending = new Map(list.map((s) => [formatServer(s), s]));
  const lastProblem = new Map<string, string>();
  for (let round = 1; ; round++) {
    o.signal?.throwIfAborted();
    await Promise.all(
      [...pending].map(async ([key, s]) => {
        try {
          const a = await queryTxt(fqdn, s, { timeoutMs: queryTimeoutMs, ...(o.signal ? { signal: o.signal } : {}) });
          if (a.values.includes(value)) pending.delete(key);
          else lastProblem.set(key, a.values.length ? `other values only (${a.values.length})` : 'no TXT record yet');
        } catch (e) {
          if (o.signal?.aborted) throw e;
          lastProblem.set(key, messageOf(e));
        }
      }),
    );
    if (pending.size === 0) {
      o.logger?.debug('challenge TXT visible at nameservers', { fqdn: trimDot(fqdn), servers: list.map(formatServer), rounds: round });
      return;
    }
    const left = deadline - o.clock.now().getTime();
    if (left <= 0) {
      const missing = [...pending.keys()].map((k) => `${k} (${lastProblem.get(k) ?? 'no answer'})`).join(', ');
      throw new AgentError({
        code: 'DNS_PROPAGATION_TIMEOUT',
        component: 'dns',
        message: `TXT ${trimDot(fqdn)} not visible after ${o.timeoutMs} ms at ${missing}`,
        hint: 'raise dns.propagationTimeout, or point dns.resolvers at nameservers that serve the zone',
        details: { fqdn: trimDot(fqdn), missing: [...pending.keys()] },
      });
    }
    await o.clock.sleep(Math.min(o.pollMs, left), o.signal);
  }
}

function trimDot(n: string): string {
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

async function resolveHost(host: string): Promise<string> {
  if (net.isIP(host)) return host;
  // NS targets are host names (ns-1.awsdns-01.org); the system resolver turns them into addresses.
  return (await lookup(host)).address;
}

type Settle = (err: Error | null, p?: dnsPacket.DecodedPacket) => void;

/**
 * One query on one socket: the first of answer, error, timeout or abort settles it, and the socket is released
 * exactly once. `open` starts the exchange and returns how to release its socket.
 */
function exchange(
  proto: 'UDP' | 'TCP',
  address: string,
  port: number,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  open: (done: Settle) => () => void,
): Promise<dnsPacket.DecodedPacket> {
  return new Promise((resolve, reject) => {
    let finished = false;
    let release = () => {};
    const done: Settle = (err, p) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      release();
      if (err) reject(err);
      else resolve(p!);
    };
    const onAbort = () => done(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    const timer = setTimeout(() => done(new Error(`no ${proto} answer from ${address}:${port} within ${timeoutMs} ms`)), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    release = open(done);
  });
}

function udpExchange(msg: Buffer, address: string, port: number, id: number, timeoutMs: number, signal?: AbortSignal): Promise<dnsPacket.DecodedPacket> {
  return exchange('UDP', address, port, timeoutMs, signal, (done) => {
    const sock = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
    sock.on('error', (e) => done(e));
    sock.on('message', (buf, rinfo) => {
      // Only the server we asked, with our id, may answer (RFC 5452 §9.1); anything else is ignored.
      if (rinfo.address !== address || rinfo.port !== port) return;
      let p: dnsPacket.DecodedPacket;
      try {
        p = dnsPacket.decode(buf);
      } catch {
        return;
      }
      if (p.id === id && p.type === 'response') done(null, p);
    });
    sock.connect(port, address, () => sock.send(msg));
    return () => sock.close();
  });
}

function tcpExchange(msg: Buffer, address: string, port: number, id: number, timeoutMs: number, signal?: AbortSignal): Promise<dnsPacket.DecodedPacket> {
  return exchange('TCP', address, port, timeoutMs, signal, (done) => {
    const sock = net.connect({ host: address, port });
    let buf = Buffer.alloc(0);
    sock.on('error', (e) => done(e));
    sock.on('connect', () => sock.write(msg));
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      // RFC 1035 §4.2.2: each TCP message is preceded by a two-octet length.
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      try {
        const p = dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        if (p.id !== id) done(new Error(`TCP reply from ${address}:${port} has a foreign id`));
        else done(null, p);
      } catch (e) {
        done(new Error(`undecodable TCP reply from ${address}:${port}: ${messageOf(e)}`));
      }
    });
    sock.on('end', () => done(new Error(`${address}:${port} closed the TCP connection before answering`)));
    return () => sock.destroy();
  });
}
