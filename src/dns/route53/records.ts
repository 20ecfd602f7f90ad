import { ChangeResourceRecordSetsCommand, GetChangeCommand, ListResourceRecordSetsCommand, type ResourceRecordSet } from '@aws-sdk/client-route-53';
import type { Clock } from '../../core/clock.js';
import { AgentError } from '../../core/errors.js';
import { COMPONENT } from './errors.js';
import { normName, type Zone, type ZoneDeps } from './zones.js';

/**
 * The challenge TXT record set: read it, change it (ListResourceRecordSets and ChangeResourceRecordSets on the one
 * zone), and wait for the change to be INSYNC (GetChange): the calls src/policy/route53.ts grants.
 */

export type Rrset = Required<Pick<ResourceRecordSet, 'Name' | 'Type' | 'TTL'>> & { ResourceRecords: { Value: string }[] };

export interface RecordDeps extends ZoneDeps {
  clock: Clock;
}

/** A TXT value in Route 53's zone-file syntax: one quoted character-string (ACME values are 43 base64url chars). */
export function encodeTxt(v: string): string {
  return `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** `"a" "b"` → `ab`: the strings of one record joined, escapes undone, as a resolver hands them to the CA. */
export function decodeTxt(v: string): string {
  const parts = [...v.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) =>
    m[1]!.replace(/\\(\d{3}|.)/g, (_x, c: string) => (c.length === 3 ? String.fromCharCode(parseInt(c, 8)) : c)),
  );
  return parts.length > 0 ? parts.join('') : v;
}

/** The simple (no routing policy) TXT set at `name`, or undefined; `defaultTtl` when Route 53 omits the TTL. */
export async function readTxt(d: RecordDeps, zone: Zone, name: string, defaultTtl: number, signal?: AbortSignal): Promise<Rrset | undefined> {
  const out = await d.call(
    { action: 'ListResourceRecordSets', zoneId: zone.id, record: name, doing: `read TXT ${name} in zone ${zone.id}` },
    (o) => d.client.send(new ListResourceRecordSetsCommand({ HostedZoneId: zone.id, StartRecordName: name, StartRecordType: 'TXT', MaxItems: 1 }), o),
    signal,
  );
  const rr = out.ResourceRecordSets?.[0];
  // The listing starts at (name, TXT) but returns whatever comes next when that set does not exist.
  if (rr?.Type !== 'TXT' || normName(rr.Name ?? '') !== name || rr.SetIdentifier !== undefined) return undefined;
  return {
    Name: rr.Name!,
    Type: 'TXT',
    TTL: rr.TTL ?? defaultTtl,
    ResourceRecords: (rr.ResourceRecords ?? []).flatMap((r) => (r.Value === undefined ? [] : [{ Value: r.Value }])),
  };
}

/** One UPSERT or DELETE of the set; returns the change id to wait on. */
export async function changeTxt(d: RecordDeps, zone: Zone, action: 'UPSERT' | 'DELETE', rrset: Rrset, name: string, signal?: AbortSignal): Promise<string> {
  const out = await d.call(
    { action: 'ChangeResourceRecordSets', zoneId: zone.id, record: name, doing: `change TXT ${name} in zone ${zone.id}` },
    (o) =>
      d.client.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: zone.id,
          ChangeBatch: { Comment: 'iamra-agent ACME DNS-01 challenge', Changes: [{ Action: action, ResourceRecordSet: rrset }] },
        }),
        o,
      ),
    signal,
  );
  const id = out.ChangeInfo?.Id ?? '';
  d.log.info('route53 record changed', { record: name, zoneId: zone.id, action, values: rrset.ResourceRecords.length, changeId: id });
  return id;
}

/** GetChange until INSYNC: Route 53 has then pushed the change to all its authoritative servers. */
export async function waitInsync(
  d: RecordDeps,
  changeId: string,
  name: string,
  t: { deadline: number; timeoutMs: number; pollMs: number },
  signal?: AbortSignal,
): Promise<void> {
  const started = d.clock.now().getTime();
  for (;;) {
    const out = await d.call(
      { action: 'GetChange', record: name, doing: `read the status of change ${changeId} (TXT ${name})` },
      (o) => d.client.send(new GetChangeCommand({ Id: changeId }), o),
      signal,
    );
    if (out.ChangeInfo?.Status === 'INSYNC') {
      d.log.debug('route53 change in sync', { record: name, changeId, waitedMs: d.clock.now().getTime() - started });
      return;
    }
    const left = t.deadline - d.clock.now().getTime();
    if (left <= 0) {
      throw new AgentError({
        code: 'ROUTE53_CHANGE_TIMEOUT',
        component: COMPONENT,
        message: `change ${changeId} for TXT ${name} still ${out.ChangeInfo?.Status ?? 'unknown'} after ${t.timeoutMs} ms`,
        hint: 'raise dns.propagationTimeout',
      });
    }
    await d.clock.sleep(Math.min(t.pollMs, left), signal);
  }
}
