import { ListHostedZonesByNameCommand, ListResourceRecordSetsCommand, type Route53Client } from '@aws-sdk/client-route-53';
import { AgentError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { parseServer, type NameServer } from '../authoritative.js';
import { COMPONENT, type Caller } from './errors.js';

/**
 * Which hosted zone holds a record, and which nameservers serve that zone. Only ListHostedZonesByName (when no
 * zone id is configured) and ListResourceRecordSets, both granted by src/policy/route53.ts; never GetHostedZone:
 * the zone's nameservers come from its apex NS record set.
 */

/** The SDK client's one method the provider uses; the caller constructs (and configures) the client. */
export type Route53Api = Pick<Route53Client, 'send'>;

export interface Zone {
  id: string;
  /** lower-case, no trailing dot; undefined until needed when the id was configured */
  name?: string;
}

export interface ZoneDeps {
  client: Route53Api;
  call: Caller;
  log: Logger;
}

/** Route 53 names: trailing dot, lower case, and octal escapes for anything outside [a-z0-9-_.] (`*` is \052). */
export function normName(n: string): string {
  return trimDot(n.replace(/\\(\d{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)))).toLowerCase();
}

export function bareZoneId(id: string): string {
  return id.replace(/^\/?hostedzone\//, '');
}

function trimDot(n: string): string {
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/** Memoizes one lookup per key; a failed lookup is forgotten so the next call tries again. */
function memo<T>(cache: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
  let p = cache.get(key);
  if (!p) {
    p = load();
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}

/** The zone of a record name: the configured one, or found by name once per record name. */
export function zoneLocator(d: ZoneDeps, configuredId: string | undefined): (name: string, signal?: AbortSignal) => Promise<Zone> {
  const configured = configuredId === undefined ? undefined : bareZoneId(configuredId);
  const cache = new Map<string, Promise<Zone>>();
  return (name, signal) => (configured ? Promise.resolve({ id: configured }) : memo(cache, name, () => findZone(d, name, signal)));
}

/**
 * The longest public zone whose name is a suffix of `name` (the record itself may be a zone: a delegated
 * _acme-challenge zone). ListHostedZonesByName lists zones in name order starting at DNSName, so the zones named
 * exactly `candidate` come first. Private zones are skipped: the CA never sees them.
 */
async function findZone(d: ZoneDeps, name: string, signal?: AbortSignal): Promise<Zone> {
  const labels = name.split('.');
  const tried: string[] = [];
  for (let i = 0; i < labels.length - 1; i++) {
    const candidate = labels.slice(i).join('.');
    tried.push(candidate);
    const matches = await zonesNamed(d, candidate, name, signal);
    if (matches.length > 1) {
      throw new AgentError({
        code: 'ROUTE53_AMBIGUOUS_ZONE',
        component: COMPONENT,
        message: `several public hosted zones are named ${candidate} (${matches.map((m) => m.id).join(', ')}); cannot tell which one serves ${name}`,
        hint: 'set dns.route53.hostedZoneId to the delegated one',
        details: { zones: matches.map((m) => m.id) },
      });
    }
    if (matches.length === 1) {
      d.log.debug('route53 zone found', { record: name, zoneId: matches[0]!.id, zone: candidate });
      return matches[0]!;
    }
  }
  throw new AgentError({
    code: 'ROUTE53_NO_ZONE',
    component: COMPONENT,
    message: `no public hosted zone for ${name} (looked up ${tried.join(', ')})`,
    hint: 'create the zone, or set dns.route53.hostedZoneId',
  });
}

/** Every public zone named exactly `candidate`, following the listing's pages while they stay on that name. */
async function zonesNamed(d: ZoneDeps, candidate: string, record: string, signal?: AbortSignal): Promise<Required<Zone>[]> {
  const matches: Required<Zone>[] = [];
  let marker: { DNSName: string; HostedZoneId?: string } = { DNSName: candidate };
  for (;;) {
    const out = await d.call(
      { action: 'ListHostedZonesByName', record, doing: `list hosted zones (looking up the zone of TXT ${record})` },
      (o) => d.client.send(new ListHostedZonesByNameCommand({ ...marker, MaxItems: 100 }), o),
      signal,
    );
    for (const z of out.HostedZones ?? []) {
      if (normName(z.Name ?? '') !== candidate) return matches;
      if (!z.Config?.PrivateZone && z.Id) matches.push({ id: bareZoneId(z.Id), name: candidate });
    }
    if (!out.IsTruncated || !out.NextDNSName || normName(out.NextDNSName) !== candidate) return matches;
    marker = { DNSName: out.NextDNSName, ...(out.NextHostedZoneId ? { HostedZoneId: out.NextHostedZoneId } : {}) };
  }
}

async function zoneApex(d: ZoneDeps, zone: Zone, signal?: AbortSignal): Promise<string> {
  if (zone.name) return zone.name;
  // Records list in DNS name order with labels reversed, so the zone apex (shortest name) always comes first.
  const out = await d.call(
    { action: 'ListResourceRecordSets', zoneId: zone.id, doing: `list records of zone ${zone.id} (to find its name servers)` },
    (o) => d.client.send(new ListResourceRecordSetsCommand({ HostedZoneId: zone.id, MaxItems: 1 }), o),
    signal,
  );
  const first = out.ResourceRecordSets?.[0]?.Name;
  if (!first) throw new AgentError({ code: 'ROUTE53_API_ERROR', component: COMPONENT, message: `zone ${zone.id} lists no records, not even its apex NS` });
  return normName(first);
}

async function apexNameservers(d: ZoneDeps, zone: Zone, signal?: AbortSignal): Promise<NameServer[]> {
  const apex = await zoneApex(d, zone, signal);
  const out = await d.call(
    { action: 'ListResourceRecordSets', zoneId: zone.id, record: apex, doing: `read NS ${apex} in zone ${zone.id}` },
    (o) => d.client.send(new ListResourceRecordSetsCommand({ HostedZoneId: zone.id, StartRecordName: apex, StartRecordType: 'NS', MaxItems: 1 }), o),
    signal,
  );
  const rr = out.ResourceRecordSets?.[0];
  const hosts = rr && rr.Type === 'NS' && normName(rr.Name ?? '') === apex ? (rr.ResourceRecords ?? []).map((r) => trimDot(r.Value ?? '')).filter(Boolean) : [];
  if (hosts.length === 0) {
    throw new AgentError({
      code: 'ROUTE53_NO_NAMESERVERS',
      component: COMPONENT,
      message: `zone ${zone.id} (${apex}) has no NS record set`,
      hint: 'set dns.resolvers',
    });
  }
  return hosts.map((host) => ({ host, port: 53 }));
}

/** Where to check that a value is served: the configured resolvers, else the zone's apex NS hosts on port 53. */
export function nameserverLocator(d: ZoneDeps, resolvers: string[]): (zone: Zone, signal?: AbortSignal) => Promise<NameServer[]> {
  const cache = new Map<string, Promise<NameServer[]>>();
  return (zone, signal) => (resolvers.length > 0 ? Promise.resolve(resolvers.map(parseServer)) : memo(cache, zone.id, () => apexNameservers(d, zone, signal)));
}
