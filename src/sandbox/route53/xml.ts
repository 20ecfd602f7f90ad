import { XMLParser } from 'fast-xml-parser';
import { AwsApiError } from '../aws/types.js';
import { renderName } from './names.js';
import { RECORD_TYPES, type Change, type ChangeAction, type ChangeInfo, type HostedZone, type RecordSet } from './store.js';

/**
 * Route 53's REST-XML wire format, API version 2013-04-01 (the only importer of fast-xml-parser). Element names and
 * their order follow the service model, which the AWS SDK for JavaScript v3, botocore and aws-sdk-go parse:
 * https://docs.aws.amazon.com/Route53/latest/APIReference/
 */

export const XMLNS = 'https://route53.amazonaws.com/doc/2013-04-01/';
const DECL = '<?xml version="1.0" encoding="UTF-8"?>\n';

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export const el = (name: string, inner: string) => `<${name}>${inner}</${name}>`;
export const text = (name: string, v: string | number | boolean) => el(name, esc(String(v)));
export const opt = (name: string, v: string | number | undefined) => (v === undefined ? '' : text(name, v));

export function document(root: string, inner: string): string {
  return `${DECL}<${root} xmlns="${XMLNS}">${inner}</${root}>`;
}

export function errorDocument(e: AwsApiError, requestId: string): string {
  return `<?xml version="1.0"?>\n<ErrorResponse xmlns="${XMLNS}">${el('Error', text('Type', e.type) + text('Code', e.code) + text('Message', e.message))}${text('RequestId', requestId)}</ErrorResponse>`;
}

export function hostedZoneXml(z: HostedZone, recordCount: number): string {
  const config = opt('Comment', z.comment) + text('PrivateZone', z.private);
  return el(
    'HostedZone',
    text('Id', `/hostedzone/${z.id}`) +
      text('Name', renderName(z.name)) +
      text('CallerReference', z.callerReference) +
      el('Config', config) +
      text('ResourceRecordSetCount', recordCount),
  );
}

export function delegationSetXml(z: HostedZone): string {
  return el('DelegationSet', el('NameServers', z.nameServers.map((n) => text('NameServer', n.replace(/\.$/, ''))).join('')));
}

export function recordSetXml(r: RecordSet): string {
  const rrs = el('ResourceRecords', r.values.map((v) => el('ResourceRecord', text('Value', v))).join(''));
  return el('ResourceRecordSet', text('Name', renderName(r.name)) + text('Type', r.type) + text('TTL', r.ttl) + rrs);
}

export function changeInfoXml(c: ChangeInfo): string {
  return el(
    'ChangeInfo',
    text('Id', `/change/${c.id}`) + text('Status', c.status) + text('SubmittedAt', c.submittedAt.toISOString()) + opt('Comment', c.comment),
  );
}

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  // numeric character references are plain XML, and aws-sdk-go's encoder writes every quote as &#34; — this
  // option is what turns on their decoding (it also accepts HTML's named entities, which no client sends)
  htmlEntities: true,
  isArray: (name) => name === 'Change' || name === 'ResourceRecord',
});

type Node = Record<string, unknown>;
const invalidInput = (m: string) => new AwsApiError(400, 'InvalidInput', m);
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** The body of ChangeResourceRecordSets -> changes; throws AwsApiError InvalidInput like Route 53's validation. */
export function parseChangeBatch(body: Buffer): { changes: Change[]; comment?: string } {
  let doc: Node;
  try {
    doc = parser.parse(body.toString('utf8'), true) as Node;
  } catch (e) {
    throw invalidInput(`Could not parse the request body as XML: ${e instanceof Error ? e.message : String(e)}`);
  }
  const root = doc['ChangeResourceRecordSetsRequest'] as Node | undefined;
  const batch = root?.['ChangeBatch'] as Node | undefined;
  const list = ((batch?.['Changes'] as Node | undefined)?.['Change'] as Node[] | undefined) ?? [];
  if (!batch || list.length === 0) {
    throw invalidInput("1 validation error detected: Value null at 'changeBatch.changes' failed to satisfy constraint: Member must not be null");
  }
  const changes = list.map((c, i): Change => {
    const n = i + 1;
    const action = str(c['Action']);
    if (action !== 'CREATE' && action !== 'DELETE' && action !== 'UPSERT') {
      throw invalidInput(
        `1 validation error detected: Value '${action ?? 'null'}' at 'changeBatch.changes.${n}.member.action' failed to satisfy constraint: Member must satisfy enum value set: [CREATE, DELETE, UPSERT]`,
      );
    }
    const rrs = (c['ResourceRecordSet'] ?? {}) as Node;
    const name = str(rrs['Name']);
    const type = str(rrs['Type']);
    if (!name)
      throw invalidInput(
        `1 validation error detected: Value null at 'changeBatch.changes.${n}.member.resourceRecordSet.name' failed to satisfy constraint: Member must not be null`,
      );
    if (!type || !RECORD_TYPES.includes(type)) {
      throw invalidInput(
        `1 validation error detected: Value '${type ?? 'null'}' at 'changeBatch.changes.${n}.member.resourceRecordSet.type' failed to satisfy constraint: Member must satisfy enum value set: [${RECORD_TYPES.join(', ')}]`,
      );
    }
    const where = `Change with [Action=${action}, Name=${name}, Type=${type}, SetIdentifier=${str(rrs['SetIdentifier']) ?? 'null'}]`;
    const routing = [
      'SetIdentifier',
      'Weight',
      'Region',
      'GeoLocation',
      'Failover',
      'MultiValueAnswer',
      'HealthCheckId',
      'CidrRoutingConfig',
      'AliasTarget',
      'TrafficPolicyInstanceId',
    ].filter((k) => k in rrs);
    if (routing.length)
      throw invalidInput(
        `Invalid request: the sandbox's Route 53 supports simple routing with TTL and ResourceRecords only, but found ${routing.join(', ')} in ${where}`,
      );
    const ttlText = str(rrs['TTL']);
    const values = ((rrs['ResourceRecords'] as Node | undefined)?.['ResourceRecord'] as Node[] | undefined)?.map((r) => str(r['Value']) ?? '') ?? [];
    if (ttlText === undefined || values.length === 0) {
      throw invalidInput(
        `Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in ${where}`,
      );
    }
    const ttl = Number(ttlText);
    if (!/^\d+$/.test(ttlText) || ttl > 2147483647) {
      throw invalidInput(
        `1 validation error detected: Value '${ttlText}' at 'changeBatch.changes.${n}.member.resourceRecordSet.tTL' failed to satisfy constraint: Member must have value less than or equal to 2147483647`,
      );
    }
    return { action: action as ChangeAction, rrset: { name, type, ttl, values } };
  });
  const comment = str(batch['Comment']);
  return comment === undefined ? { changes } : { changes, comment };
}
