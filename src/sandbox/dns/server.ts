import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type Answer, type DecodedPacket, type Packet, type Question } from 'dns-packet';
import { messageOf } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { toAnswers } from './rdata.js';

/**
 * An authoritative-only name server over UDP and TCP (RFC 1035 §4.2, RFC 7766) for the sandbox's zones. It answers
 * with AA set for names in its zones, NXDOMAIN or NOERROR/NODATA with the zone's SOA in the authority section
 * (RFC 2308), and REFUSED for anything outside them; it never recurses. It serves what `source` says is live now,
 * so a Route 53 change shows up only once it is INSYNC.
 */

export interface DnsRecordSet {
  /** lower-case, with the final dot */
  name: string;
  type: string;
  ttl: number;
  /** presentation format (TXT values quoted) */
  values: string[];
}

export interface DnsZone {
  /** apex, lower-case, with the final dot */
  name: string;
  records: DnsRecordSet[];
}

export interface DnsZoneSource {
  /** the zones and records to serve at this instant */
  zones(): DnsZone[];
}

export interface AuthoritativeDnsOptions {
  /** default 127.0.0.1 */
  host?: string;
  /** 0 (default) picks a free port, the same for UDP and TCP */
  port?: number;
  zones: DnsZoneSource;
  logger?: Logger;
}

export interface AuthoritativeDns {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const MAX_CNAME_CHAIN = 8;
const OPCODE_MASK = 0xf << 11;

const canonical = (name: string) => (name === '' || name === '.' ? '.' : `${name.toLowerCase().replace(/\.$/, '')}.`);
const within = (name: string, zone: string) => zone === '.' || name === zone || name.endsWith(`.${zone}`);

interface Resolution {
  rcode: number;
  aa: boolean;
  answers: Answer[];
  authorities: Answer[];
}

/** The answer for one question, from a snapshot of the zones (pure, so it is easy to reason about). */
export function resolve(q: Question, zones: DnsZone[]): Resolution {
  const qname = canonical(q.name);
  const zone = zones.filter((z) => within(qname, z.name)).sort((a, b) => b.name.length - a.name.length)[0];
  if (!zone) return { rcode: RCODE.REFUSED, aa: false, answers: [], authorities: [] };
  const soa = zone.records.find((r) => r.name === zone.name && r.type === 'SOA');
  // negative answers are cached for min(SOA TTL, SOA MINIMUM) (RFC 2308 §3)
  const negative = (): Answer[] => {
    if (!soa) return [];
    const minimum = Number(soa.values[0]?.trim().split(/\s+/)[6] ?? soa.ttl);
    return toAnswers(zone.name.replace(/\.$/, ''), 'SOA', Math.min(soa.ttl, minimum), soa.values) ?? [];
  };
  const answers: Answer[] = [];
  let owner = qname;
  let asked = q.name;
  for (let hop = 0; hop <= MAX_CNAME_CHAIN; hop++) {
    let here = zone.records.filter((r) => r.name === owner);
    if (here.length === 0) {
      const emptyNonTerminal = zone.records.some((r) => r.name.endsWith(`.${owner}`));
      if (emptyNonTerminal) return { rcode: RCODE.NOERROR, aa: true, answers, authorities: answers.length ? [] : negative() };
      // wildcard at the closest encloser (RFC 4592 §3.3.1)
      let encloser = owner.slice(owner.indexOf('.') + 1);
      while (within(encloser, zone.name) && !zone.records.some((r) => r.name === encloser || r.name.endsWith(`.${encloser}`)))
        encloser = encloser.slice(encloser.indexOf('.') + 1);
      here = within(encloser, zone.name) ? zone.records.filter((r) => r.name === `*.${encloser}`) : [];
      if (here.length === 0)
        return { rcode: answers.length ? RCODE.NOERROR : RCODE.NXDOMAIN, aa: true, answers, authorities: answers.length ? [] : negative() };
    }
    const matching = q.type === ('ANY' as Question['type']) ? here : here.filter((r) => r.type === q.type);
    if (matching.length) {
      for (const r of matching) answers.push(...(toAnswers(asked, r.type, r.ttl, r.values) ?? []));
      return { rcode: RCODE.NOERROR, aa: true, answers, authorities: [] };
    }
    const cname = here.find((r) => r.type === 'CNAME');
    if (!cname || q.type === 'CNAME') return { rcode: RCODE.NOERROR, aa: true, answers, authorities: answers.length ? [] : negative() };
    answers.push(...(toAnswers(asked, 'CNAME', cname.ttl, cname.values) ?? []));
    owner = canonical(cname.values[0] ?? '');
    asked = owner.replace(/\.$/, '');
    // the target is answered only when it is in this zone; a resolver follows the rest (RFC 1034 §4.3.2)
    if (!within(owner, zone.name)) return { rcode: RCODE.NOERROR, aa: true, answers, authorities: [] };
  }
  return { rcode: RCODE.NOERROR, aa: true, answers, authorities: [] };
}

/** A reply for one wire-format query, or undefined when the bytes are not a query at all (dropped, as BIND does). */
export function answer(query: Buffer, zones: DnsZoneSource, maxUdp: number | undefined): Buffer | undefined {
  let q: DecodedPacket & { opcode?: string };
  try {
    q = dnsPacket.decode(query) as DecodedPacket & { opcode?: string };
  } catch {
    if (query.length < 12) return undefined;
    // echo the id with FORMERR (RFC 1035 §4.1.1)
    return dnsPacket.encode({ type: 'response', id: query.readUInt16BE(0), flags: RCODE.FORMERR, questions: [] });
  }
  if (q.type !== 'query') return undefined;
  const opt = q.additionals?.find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
  // the reply copies the query's OPCODE and RD bits (RFC 1035 §4.1.1)
  const reply: Packet = {
    type: 'response',
    id: q.id ?? 0,
    flags: q.flags! & (OPCODE_MASK | dnsPacket.RECURSION_DESIRED),
    questions: q.questions ?? [],
    answers: [],
    authorities: [],
  };
  if (opt) reply.additionals = [{ name: '.', type: 'OPT', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, options: [] } as unknown as Answer];
  if (q.opcode !== 'QUERY') reply.flags! |= RCODE.NOTIMP;
  else if ((q.questions ?? []).length !== 1) reply.flags! |= RCODE.FORMERR;
  else {
    const r = resolve(q.questions![0]!, zones.zones());
    reply.flags! |= r.rcode | (r.aa ? dnsPacket.AUTHORITATIVE_ANSWER : 0);
    reply.answers = r.answers;
    reply.authorities = r.authorities;
  }
  let out = dnsPacket.encode(reply);
  if (maxUdp !== undefined) {
    // over UDP the reply must fit the client's buffer: 512 octets, or what EDNS(0) advertised (RFC 6891 §6.2.5)
    const limit = opt ? Math.max(512, Math.min(opt.udpPayloadSize ?? 512, maxUdp)) : 512;
    if (out.length > limit) out = dnsPacket.encode({ ...reply, flags: reply.flags! | dnsPacket.TRUNCATED_RESPONSE, answers: [], authorities: [] });
  }
  return out;
}

export async function startAuthoritativeDns(o: AuthoritativeDnsOptions): Promise<AuthoritativeDns> {
  const host = o.host ?? '127.0.0.1';
  const family = net.isIPv6(host) ? 'udp6' : 'udp4';
  const sockets = new Set<net.Socket>();

  const tcp = net.createServer((sock) => {
    sockets.add(sock);
    sock.setTimeout(10_000, () => sock.destroy());
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      // RFC 1035 §4.2.2: every message is prefixed with its two-octet length; a connection may carry several
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        const out = answer(msg, o.zones, undefined);
        if (out) {
          const framed = Buffer.alloc(2 + out.length);
          framed.writeUInt16BE(out.length, 0);
          out.copy(framed, 2);
          sock.write(framed);
        }
      }
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => sockets.delete(sock));
  });

  const newUdp = () => {
    const u = dgram.createSocket({ type: family });
    u.on('message', (msg, rinfo) => {
      try {
        const out = answer(msg, o.zones, 1232);
        if (out) u.send(out, rinfo.port, rinfo.address);
      } catch (e) {
        o.logger?.warn('sandbox DNS query failed', { error: messageOf(e), from: rinfo.address });
      }
    });
    return u;
  };

  const listenTcp = (port: number) =>
    new Promise<number>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, host, () => {
        tcp.off('error', reject);
        resolve((tcp.address() as net.AddressInfo).port);
      });
    });
  const bindUdp = (u: dgram.Socket, port: number) =>
    new Promise<void>((resolve, reject) => {
      u.once('error', reject);
      u.bind(port, host, () => {
        u.off('error', reject);
        resolve();
      });
    });

  // one port number for both transports: take a free TCP port, then the same UDP port (retry if UDP's is taken)
  let port = 0;
  let udp: dgram.Socket;
  for (let attempt = 0; ; attempt++) {
    port = await listenTcp(o.port ?? 0);
    udp = newUdp();
    try {
      await bindUdp(udp, port);
      break;
    } catch (e) {
      udp.close();
      await new Promise<void>((r) => tcp.close(() => r()));
      if (o.port || attempt >= 20) throw e;
    }
  }
  o.logger?.info('sandbox DNS listening', { host, port });

  return {
    host,
    port,
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all([new Promise<void>((r) => tcp.close(() => r())), new Promise<void>((r) => udp.close(() => r()))]);
    },
  };
}
