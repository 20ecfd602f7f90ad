import { Resolver } from 'node:dns/promises';
import { messageOf } from '../core/errors.js';
import { formatServer, type NameServer, queryServer } from '../dns/index.js';
import { type DoctorOutcome, fail, ok } from './doctor.js';

/**
 * doctor's delegation check: every nameserver the agent checks its challenge record at (dns.resolvers, else the
 * zone's NS hosts) must answer for the record's zone authoritatively (AA, RFC 1035 §4.1.1), name the same zone apex
 * (the SOA owner, RFC 2308 §3) and serve the same NS set. A server that refuses, answers without AA or disagrees is
 * one the CA may also ask and find nothing at.
 */

export interface ServerView {
  server: string;
  apex?: string;
  ns: string[];
  /** why this server's answer does not count */
  problem?: string;
}

const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
const trimDot = (n: string) => n.replace(/\.$/, '').toLowerCase();

/** What one server says: the zone apex of `record` (from the SOA it returns) and that apex's NS set. */
export async function viewFrom(record: string, server: NameServer, timeoutMs: number): Promise<ServerView> {
  const name = formatServer(server);
  try {
    const soa = await queryServer(record, 'SOA', server, { timeoutMs });
    const rcode = (soa.flags ?? 0) & 0xf;
    const owner = [...(soa.answers ?? []), ...(soa.authorities ?? [])].find((a) => a.type === 'SOA')?.name;
    if ((rcode !== 0 && rcode !== 3) || !soa.flag_aa || !owner) {
      return {
        server: name,
        ns: [],
        problem: `not authoritative for ${record} (${RCODES[rcode] ?? `rcode ${rcode}`}, AA ${soa.flag_aa ? 'set' : 'clear'}${owner ? '' : ', no SOA'})`,
      };
    }
    const apex = trimDot(owner);
    const nsReply = await queryServer(apex, 'NS', server, { timeoutMs });
    const ns = (nsReply.answers ?? [])
      .filter((a) => a.type === 'NS' && trimDot(a.name) === apex)
      .map((a) => trimDot(String((a as { data: unknown }).data)))
      .sort();
    if (!nsReply.flag_aa || ns.length === 0) return { server: name, apex, ns, problem: `serves no authoritative NS set for ${apex}` };
    return { server: name, apex, ns };
  } catch (e) {
    return { server: name, ns: [], problem: `unreachable: ${messageOf(e)}` };
  }
}

const FIX =
  "point dns.resolvers at the zone's authoritative servers (host:port), and check that the registrar delegates the zone to the hosted zone's name servers (Route 53: the zone's NS record / DelegationSet)";

export function judgeDelegation(record: string, views: ServerView[], source: string): DoctorOutcome {
  if (views.length === 0) return fail(`no nameservers to check ${record} at (${source})`, FIX);
  const bad = views.filter((v) => v.problem);
  if (bad.length) return fail(bad.map((v) => `${v.server}: ${v.problem}`).join('; '), FIX);
  const say = (v: ServerView) => `zone ${v.apex} NS ${v.ns.join(', ')}`;
  const first = say(views[0]!);
  if (views.some((v) => say(v) !== first)) {
    return fail(`the servers disagree: ${views.map((v) => `${v.server} says ${say(v)}`).join('; ')}`, FIX);
  }
  return ok(`${first}, served authoritatively by ${views.map((v) => v.server).join(', ')} (${source})`);
}

/**
 * Without dns.resolvers the agent checks at the zone's NS hosts; they are found here as a resolver finds a zone
 * cut: the NS set of the closest enclosing name that has one (system resolver, the host's own configuration).
 */
export async function zoneNameservers(record: string): Promise<NameServer[]> {
  const r = new Resolver();
  const labels = trimDot(record).split('.');
  for (let i = 0; i < labels.length - 1; i++) {
    const hosts = await r.resolveNs(labels.slice(i).join('.')).catch(() => [] as string[]);
    if (hosts.length) return hosts.sort().map((host) => ({ host, port: 53 }));
  }
  return [];
}
