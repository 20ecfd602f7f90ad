import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { Clock } from '../../core/clock.js';
import { AgentError } from '../../core/errors.js';
import { AwsApiError } from '../aws/types.js';
import { parseCharacterStrings } from '../dns/rdata.js';
import { canonicalName, compareNames, isWithin } from './names.js';

/**
 * The hosted zones behind the Route 53 stand-in. The API sees every accepted change at once (as on AWS:
 * ListResourceRecordSets reflects a change while it is still PENDING); the name servers see a change only once it
 * is INSYNC, `insyncDelayMs` after it was submitted, measured on the sandbox clock. Every batch is applied
 * atomically: all of its changes or, with any error, none.
 */

export interface RecordSet {
  /** canonical: lower-case, decoded, with the final dot */
  name: string;
  type: string;
  ttl: number;
  /** in Route 53's presentation format, e.g. TXT values keep their quotes: "\"abc\"" */
  values: string[];
}

export interface RecordSetInput {
  name: string;
  type: string;
  ttl: number;
  values: string[];
}

export interface ZoneConfig {
  name: string;
  /** Z…; generated when omitted */
  id?: string;
  private?: boolean;
  comment?: string;
  callerReference?: string;
  /** the zone's NS record set; defaults to four sandbox names */
  nameServers?: string[];
  records?: RecordSetInput[];
}

export interface HostedZone {
  id: string;
  /** canonical, with the final dot */
  name: string;
  private: boolean;
  comment?: string;
  callerReference: string;
  nameServers: string[];
}

export type ChangeAction = 'CREATE' | 'DELETE' | 'UPSERT';

export interface Change {
  action: ChangeAction;
  rrset: RecordSetInput;
}

export interface ChangeInfo {
  id: string;
  status: 'PENDING' | 'INSYNC';
  submittedAt: Date;
  comment?: string;
}

export const RECORD_TYPES = ['SOA', 'A', 'TXT', 'NS', 'CNAME', 'MX', 'NAPTR', 'PTR', 'SRV', 'SPF', 'AAAA', 'CAA', 'DS', 'TLSA', 'SSHFP', 'SVCB', 'HTTPS'];

interface Version {
  seq: number;
  insyncAt: number;
  records: Map<string, RecordSet>;
}

interface ZoneState extends HostedZone {
  /** oldest first; versions[0] is the one the name servers currently serve or older */
  versions: Version[];
  seq: number;
}

interface ChangeState {
  id: string;
  zoneId: string;
  seq: number;
  submittedAt: Date;
  comment?: string;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
function randomId(prefix: string, n: number): string {
  let s = prefix;
  for (const b of randomBytes(n)) s += ALNUM[b % ALNUM.length];
  return s;
}

const key = (name: string, type: string) => `${name}|${type}`;

/** The bracketed list AWS puts in InvalidChangeBatch messages: "[first problem, second problem]" */
function invalidChangeBatch(problems: string[]): AwsApiError {
  return new AwsApiError(400, 'InvalidChangeBatch', `[${problems.join(', ')}]`);
}

const badRecord = (what: string, detail: string, value: string) => `Invalid Resource Record: 'FATAL problem: ${what} (${detail}) encountered with '${value}''`;

function validateValues(type: string, values: string[]): string[] {
  const problems: string[] = [];
  for (const v of values) {
    if (type === 'TXT' || type === 'SPF') {
      const strings = parseCharacterStrings(v);
      if (!strings) problems.push(badRecord('InvalidCharacterString', 'Value should be enclosed in quotation marks', v));
      else if (strings.some((s) => Buffer.byteLength(s, 'latin1') > 255)) problems.push(badRecord('CharacterStringTooLong', 'Value is too long', v));
    } else if (type === 'A' && isIP(v) !== 4) problems.push(badRecord('ARRDATAIllegalIPv4Address', 'Value is not a valid IPv4 address', v));
    else if (type === 'AAAA' && isIP(v) !== 6) problems.push(badRecord('AAAARRDATAIllegalIPv6Address', 'Value is not a valid IPv6 address', v));
  }
  if ((type === 'CNAME' || type === 'SOA') && values.length !== 1)
    problems.push(badRecord('DomainLabelEmpty', `${type} record sets take exactly one value`, values.join(' ')));
  return problems;
}

const sameValues = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

export class Route53ZoneStore {
  private readonly zones = new Map<string, ZoneState>();
  private readonly changes = new Map<string, ChangeState>();

  constructor(
    private readonly clock: Clock,
    /** how long a change stays PENDING; Route 53 takes about a minute, tests use a few hundred ms */
    public insyncDelayMs = 0,
  ) {}

  addZone(cfg: ZoneConfig): HostedZone {
    const name = canonicalName(cfg.name);
    const id = cfg.id ?? randomId('Z', 20);
    if (!/^Z[A-Z0-9]{1,31}$/.test(id) || this.zones.has(id)) {
      throw new AgentError({
        code: 'SANDBOX_ZONE_INVALID',
        component: 'sandbox',
        message: `hosted zone id ${id} is malformed or already used`,
        hint: 'use Z followed by upper-case letters and digits, unique per sandbox',
      });
    }
    const nameServers = (
      cfg.nameServers ?? ['ns-1.awsdns-sandbox.invalid', 'ns-2.awsdns-sandbox.invalid', 'ns-3.awsdns-sandbox.invalid', 'ns-4.awsdns-sandbox.invalid']
    ).map(canonicalName);
    const records = new Map<string, RecordSet>();
    // what Route 53 creates with every zone: its SOA (serial 1, never incremented) and the delegation set's NS
    records.set(key(name, 'SOA'), { name, type: 'SOA', ttl: 900, values: [`${nameServers[0]} awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400`] });
    records.set(key(name, 'NS'), { name, type: 'NS', ttl: 172800, values: nameServers });
    for (const r of cfg.records ?? []) {
      const rs = { name: canonicalName(r.name), type: r.type.toUpperCase(), ttl: r.ttl, values: [...r.values] };
      const problems = [
        ...(isWithin(rs.name, name) ? [] : [`RRSet with DNS name ${rs.name} is not permitted in zone ${name}`]),
        ...validateValues(rs.type, rs.values),
      ];
      if (problems.length)
        throw new AgentError({
          code: 'SANDBOX_ZONE_INVALID',
          component: 'sandbox',
          message: `zone ${name}: ${problems.join('; ')}`,
          hint: 'fix the zone records',
        });
      records.set(key(rs.name, rs.type), rs);
    }
    const z: ZoneState = {
      id,
      name,
      private: cfg.private ?? false,
      comment: cfg.comment,
      callerReference: cfg.callerReference ?? randomId('sandbox-', 12).toLowerCase(),
      nameServers,
      versions: [{ seq: 0, insyncAt: Number.NEGATIVE_INFINITY, records }],
      seq: 0,
    };
    this.zones.set(id, z);
    return this.describe(z);
  }

  private describe(z: ZoneState): HostedZone {
    const { versions: _v, seq: _s, ...zone } = z;
    return { ...zone, nameServers: [...z.nameServers] };
  }

  /** zones sorted as ListHostedZonesByName returns them: by name with labels reversed, then by id */
  listZones(): HostedZone[] {
    return [...this.zones.values()].sort((a, b) => compareNames(a.name, b.name) || (a.id < b.id ? -1 : 1)).map((z) => this.describe(z));
  }

  getZone(id: string): HostedZone | undefined {
    const z = this.zones.get(id);
    return z && this.describe(z);
  }

  private latest(z: ZoneState): Map<string, RecordSet> {
    return z.versions[z.versions.length - 1]!.records;
  }

  /** what the API sees: every accepted change, sorted by name (labels reversed), then type */
  listRecords(zoneId: string): RecordSet[] {
    const z = this.zones.get(zoneId);
    if (!z) return [];
    return [...this.latest(z).values()].sort((a, b) => compareNames(a.name, b.name) || (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
  }

  /** what the name servers serve at `now`: the newest version whose change is INSYNC */
  liveRecords(zoneId: string, now = this.clock.now()): RecordSet[] {
    const z = this.zones.get(zoneId);
    if (!z) return [];
    return [...this.live(z, now.getTime()).records.values()];
  }

  private live(z: ZoneState, now: number): Version {
    // a change is INSYNC once its own delay passed or a later change of the same zone is INSYNC
    let i = z.versions.length - 1;
    while (i > 0 && z.versions[i]!.insyncAt > now) i--;
    if (i > 0) z.versions.splice(0, i);
    return z.versions[0]!;
  }

  getChange(id: string): ChangeInfo | undefined {
    const c = this.changes.get(id);
    if (!c) return undefined;
    const z = this.zones.get(c.zoneId)!;
    const insync = this.live(z, this.clock.now().getTime()).seq >= c.seq;
    return { id: c.id, status: insync ? 'INSYNC' : 'PENDING', submittedAt: c.submittedAt, ...(c.comment === undefined ? {} : { comment: c.comment }) };
  }

  /** Applies one ChangeBatch atomically with Route 53's semantics; throws AwsApiError InvalidChangeBatch. */
  applyChanges(zoneId: string, changes: Change[], comment?: string): ChangeInfo {
    const z = this.zones.get(zoneId);
    if (!z) throw new AwsApiError(404, 'NoSuchHostedZone', `No hosted zone found with ID: ${zoneId}`);
    const work = new Map(this.latest(z));
    const problems: string[] = [];
    const seen = new Map<string, ChangeAction[]>();
    for (const ch of changes) {
      const rs: RecordSet = { name: canonicalName(ch.rrset.name), type: ch.rrset.type, ttl: ch.rrset.ttl, values: ch.rrset.values };
      const k = key(rs.name, rs.type);
      const label = `[name='${rs.name}', type='${rs.type}']`;
      const prior = seen.get(k) ?? [];
      seen.set(k, [...prior, ch.action]);
      // the one legal repetition is DELETE then CREATE of the same record set (how a value is replaced atomically)
      if (prior.length > 1 || (prior.length === 1 && !(prior[0] === 'DELETE' && ch.action === 'CREATE'))) {
        problems.push(`The request contains an invalid set of changes for a resource record set '${rs.type} ${rs.name}'`);
        continue;
      }
      if (!isWithin(rs.name, z.name)) {
        problems.push(`RRSet with DNS name ${rs.name} is not permitted in zone ${z.name}`);
        continue;
      }
      if (ch.action !== 'DELETE') {
        const bad = validateValues(rs.type, rs.values);
        if (bad.length) {
          problems.push(...bad);
          continue;
        }
        if (rs.type === 'CNAME' && rs.name === z.name) {
          problems.push(`RRSet of type CNAME with DNS name ${rs.name} is not permitted at apex in zone ${z.name}`);
          continue;
        }
        const others = [...work.values()].filter((o) => o.name === rs.name && o.type !== rs.type);
        if ((rs.type === 'CNAME' && others.length) || (rs.type !== 'CNAME' && others.some((o) => o.type === 'CNAME'))) {
          problems.push(
            `RRSet of type ${rs.type} with DNS name ${rs.name} is not permitted as it conflicts with other records with the same DNS name in zone ${z.name}`,
          );
          continue;
        }
      }
      const current = work.get(k);
      if (ch.action === 'CREATE') {
        if (current) problems.push(`Tried to create resource record set ${label} but it already exists`);
        else work.set(k, rs);
      } else if (ch.action === 'UPSERT') {
        work.set(k, rs);
      } else if (!current) {
        problems.push(`Tried to delete resource record set ${label} but it was not found`);
      } else if (current.ttl !== rs.ttl || !sameValues(current.values, rs.values)) {
        problems.push(`Tried to delete resource record set ${label} but the values provided do not match the current values`);
      } else {
        work.delete(k);
      }
    }
    for (const t of ['SOA', 'NS']) {
      if (!work.has(key(z.name, t)) && problems.length === 0) problems.push(`A HostedZone must contain at least one ${t} record for the zone itself.`);
    }
    if (problems.length) throw invalidChangeBatch(problems);
    const now = this.clock.now();
    this.live(z, now.getTime()); // drop versions nobody can see any more before adding one
    const seq = ++z.seq;
    const id = randomId('C', 20);
    z.versions.push({ seq, insyncAt: now.getTime() + this.insyncDelayMs, records: work });
    this.changes.set(id, { id, zoneId, seq, submittedAt: now, ...(comment === undefined ? {} : { comment }) });
    // AWS answers PENDING even when propagation is instant; GetChange reports INSYNC
    return { id, status: 'PENDING', submittedAt: now, ...(comment === undefined ? {} : { comment }) };
  }
}
