import { AwsApiError, type AwsHttpRequest, type AwsHttpResponse, type AwsService, type Principal } from '../aws/types.js';
import { canonicalName, compareNames, iamName, renderName } from './names.js';
import type { Route53ZoneStore, ZoneConfig } from './store.js';
import { changeInfoXml, delegationSetXml, document, el, errorDocument, hostedZoneXml, opt, parseChangeBatch, recordSetXml, text } from './xml.js';

/**
 * Route 53 (REST-XML, API 2013-04-01) as an AwsService: ListHostedZones, ListHostedZonesByName, GetHostedZone,
 * ListResourceRecordSets, ChangeResourceRecordSets and GetChange. Each call is authenticated (SigV4, scope
 * route53/us-east-1: Route 53 is a global service), admitted by the account-wide rate limit (5 requests/s on AWS),
 * authorized with the IAM evaluator against the resource ARNs and condition keys AWS uses, then answered.
 */

const PREFIX = '/2013-04-01/';
const REGION = 'us-east-1';

export interface Route53Faults {
  /** the next n ChangeResourceRecordSets calls fail with PriorRequestNotComplete */
  priorRequestNotComplete: number;
}

interface Route {
  action: string;
  /** IAM resource ARN */
  resource: string;
  run(): AwsHttpResponse;
  /** extra fields for the call record, set by run() */
  detail?: Record<string, unknown>;
}

const ok = (xml: string): AwsHttpResponse => ({ status: 200, headers: { 'content-type': 'text/xml' }, body: xml });

/** "/hostedzone/Z1" (an Id copied from a response) and "Z1" both name the zone */
function stripId(raw: string, kind: 'hostedzone' | 'change'): string {
  let id = raw;
  try {
    id = decodeURIComponent(raw);
  } catch {
    // keep the raw segment; the lookup will fail with the AWS error for an unknown id
  }
  return id.replace(new RegExp(`^/?${kind}/`), '');
}

function maxItems(q: URLSearchParams, dflt: number, max: number): number {
  const v = q.get('maxitems');
  if (v === null) return dflt;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1)
    throw new AwsApiError(
      400,
      'InvalidInput',
      `1 validation error detected: Value '${v}' at 'maxItems' failed to satisfy constraint: Member must be a positive integer`,
    );
  return Math.min(n, max);
}

export function createRoute53Service(o: { store: Route53ZoneStore }): AwsService & { readonly store: Route53ZoneStore } {
  const store = o.store;
  const faults: Route53Faults = { priorRequestNotComplete: 0 };

  const zoneOrThrow = (id: string) => {
    const z = store.getZone(id);
    if (!z) throw new AwsApiError(404, 'NoSuchHostedZone', `No hosted zone found with ID: ${id}`);
    return z;
  };
  const zoneArn = (id: string) => `arn:aws:route53:::hostedzone/${id}`;

  function listZonesByName(q: URLSearchParams): AwsHttpResponse {
    const dnsName = q.get('dnsname') ?? undefined;
    const zoneId = q.get('hostedzoneid') ?? undefined;
    if (zoneId !== undefined && dnsName === undefined) throw new AwsApiError(400, 'InvalidInput', 'The input is not valid: hostedzoneid requires dnsname');
    const limit = maxItems(q, 100, 100);
    let zones = store.listZones();
    if (dnsName !== undefined) {
      const start = canonicalName(dnsName);
      zones = zones.filter((z) => {
        const c = compareNames(z.name, start);
        return c > 0 || (c === 0 && (zoneId === undefined || z.id >= stripId(zoneId, 'hostedzone')));
      });
    }
    const page = zones.slice(0, limit);
    const next = zones[limit];
    const body =
      el('HostedZones', page.map((z) => hostedZoneXml(z, store.listRecords(z.id).length)).join('')) +
      opt('DNSName', dnsName) +
      opt('HostedZoneId', zoneId) +
      text('IsTruncated', next !== undefined) +
      (next ? text('NextDNSName', renderName(next.name)) + text('NextHostedZoneId', next.id) : '') +
      text('MaxItems', limit);
    return ok(document('ListHostedZonesByNameResponse', body));
  }

  function listZones(q: URLSearchParams): AwsHttpResponse {
    const marker = q.get('marker') ?? undefined;
    const limit = maxItems(q, 100, 100);
    let zones = store.listZones();
    if (marker !== undefined) {
      const i = zones.findIndex((z) => z.id === marker);
      if (i < 0) throw new AwsApiError(400, 'InvalidInput', `The input is not valid: marker ${marker} is not a hosted zone id`);
      zones = zones.slice(i);
    }
    const next = zones[limit];
    const body =
      el(
        'HostedZones',
        zones
          .slice(0, limit)
          .map((z) => hostedZoneXml(z, store.listRecords(z.id).length))
          .join(''),
      ) +
      opt('Marker', marker) +
      text('IsTruncated', next !== undefined) +
      opt('NextMarker', next?.id) +
      text('MaxItems', limit);
    return ok(document('ListHostedZonesResponse', body));
  }

  function listRecords(id: string, q: URLSearchParams): AwsHttpResponse {
    zoneOrThrow(id);
    const name = q.get('name') ?? undefined;
    const type = q.get('type') ?? undefined;
    if (type !== undefined && name === undefined) throw new AwsApiError(400, 'InvalidInput', 'The input is not valid: type requires name');
    const limit = maxItems(q, 300, 300);
    let records = store.listRecords(id);
    if (name !== undefined) {
      const start = canonicalName(name);
      records = records.filter((r) => {
        const c = compareNames(r.name, start);
        return c > 0 || (c === 0 && (type === undefined || r.type >= type));
      });
    }
    const next = records[limit];
    const body =
      el('ResourceRecordSets', records.slice(0, limit).map(recordSetXml).join('')) +
      text('IsTruncated', next !== undefined) +
      (next ? text('NextRecordName', renderName(next.name)) + text('NextRecordType', next.type) : '') +
      text('MaxItems', limit);
    return ok(document('ListResourceRecordSetsResponse', body));
  }

  /** Maps a request to its action, IAM resource and handler; throws for an unknown operation. */
  function route(req: AwsHttpRequest, context: Record<string, string[]>): Route {
    const rest = req.path.slice(PREFIX.length).replace(/\/$/, '');
    const parts = rest.split('/');
    const m = req.method;
    if (m === 'GET' && rest === 'hostedzonesbyname') return { action: 'ListHostedZonesByName', resource: '*', run: () => listZonesByName(req.query) };
    if (m === 'GET' && rest === 'hostedzone') return { action: 'ListHostedZones', resource: '*', run: () => listZones(req.query) };
    if (parts[0] === 'hostedzone' && parts.length === 2 && m === 'GET') {
      const id = stripId(parts[1]!, 'hostedzone');
      return {
        action: 'GetHostedZone',
        resource: zoneArn(id),
        run: () => {
          const z = zoneOrThrow(id);
          return ok(document('GetHostedZoneResponse', hostedZoneXml(z, store.listRecords(id).length) + (z.private ? '' : delegationSetXml(z))));
        },
      };
    }
    if (parts[0] === 'hostedzone' && parts.length === 3 && parts[2] === 'rrset') {
      const id = stripId(parts[1]!, 'hostedzone');
      if (m === 'GET') return { action: 'ListResourceRecordSets', resource: zoneArn(id), run: () => listRecords(id, req.query) };
      if (m === 'POST') {
        const batch = parseChangeBatch(req.body);
        // the condition keys AWS evaluates for ChangeResourceRecordSets (distinct values of the whole batch)
        const names = new Set(batch.changes.map((c) => iamName(canonicalName(c.rrset.name))));
        context['route53:ChangeResourceRecordSetsNormalizedRecordNames'] = [...names];
        context['route53:ChangeResourceRecordSetsRecordTypes'] = [...new Set(batch.changes.map((c) => c.rrset.type))];
        context['route53:ChangeResourceRecordSetsActions'] = [...new Set(batch.changes.map((c) => c.action))];
        const r: Route = {
          action: 'ChangeResourceRecordSets',
          resource: zoneArn(id),
          run: () => {
            zoneOrThrow(id);
            if (faults.priorRequestNotComplete > 0) {
              faults.priorRequestNotComplete--;
              throw new AwsApiError(400, 'PriorRequestNotComplete', 'The request was rejected because Route 53 was still processing a prior request.');
            }
            const info = store.applyChanges(id, batch.changes, batch.comment);
            r.detail = { ...r.detail, changeId: info.id };
            return ok(document('ChangeResourceRecordSetsResponse', changeInfoXml(info)));
          },
          detail: { changes: batch.changes.map((c) => `${c.action} ${c.rrset.type} ${canonicalName(c.rrset.name)}`) },
        };
        return r;
      }
    }
    if (parts[0] === 'change' && parts.length === 2 && m === 'GET') {
      const id = stripId(parts[1]!, 'change');
      return {
        action: 'GetChange',
        resource: `arn:aws:route53:::change/${id}`,
        run: () => {
          const info = store.getChange(id);
          if (!info) throw new AwsApiError(404, 'NoSuchChange', `A change with the specified change ID does not exist. (${id})`);
          return ok(document('GetChangeResponse', changeInfoXml(info)));
        },
      };
    }
    throw new AwsApiError(400, 'InvalidAction', `The sandbox's Route 53 does not implement ${m} ${req.path}`);
  }

  return {
    name: 'route53',
    store,
    matches: (req) => req.path.startsWith(PREFIX),
    async handle(req, ctx) {
      let principal: Principal | undefined;
      let action = actionOf(req);
      let r: Route | undefined;
      const done = (res: AwsHttpResponse, errorCode?: string): AwsHttpResponse => {
        ctx.record({
          time: ctx.clock.now().toISOString(),
          service: 'route53',
          action,
          ...(principal ? { principalArn: principal.arn } : {}),
          ...(r ? { resource: r.resource } : {}),
          status: res.status,
          ...(errorCode ? { errorCode } : {}),
          ...(r?.detail ? { detail: r.detail } : {}),
        });
        return res;
      };
      try {
        principal = ctx.authenticate(req, 'route53', { region: REGION });
        ctx.admit('route53', principal);
        const context: Record<string, string[]> = {};
        r = route(req, context);
        action = r.action;
        ctx.authorize(principal, `route53:${r.action}`, r.resource, { ...context, 'aws:SourceIp': req.remoteAddress.replace(/^::ffff:/, '') });
        return done(r.run());
      } catch (e) {
        if (!(e instanceof AwsApiError)) throw e;
        return done({ status: e.status, headers: { 'content-type': 'text/xml' }, body: errorDocument(e, ctx.requestId) }, e.code);
      }
    },
    async admin(action, method, body) {
      if (action === 'zones' && method === 'GET')
        return store.listZones().map((z) => ({ ...z, records: store.listRecords(z.id), live: store.liveRecords(z.id) }));
      if (action === 'zones' && method === 'POST') return store.addZone(body as ZoneConfig);
      throw new AwsApiError(404, 'NotFound', `no route53 admin endpoint ${method} ${action}`);
    },
    applyFaults(f) {
      const taken: string[] = [];
      if ('insyncDelayMs' in f) {
        store.insyncDelayMs = Number(f['insyncDelayMs']) || 0;
        taken.push('insyncDelayMs');
      }
      if ('priorRequestNotComplete' in f) {
        faults.priorRequestNotComplete = Number(f['priorRequestNotComplete']) || 0;
        taken.push('priorRequestNotComplete');
      }
      return taken;
    },
    faults: () => ({ insyncDelayMs: store.insyncDelayMs, priorRequestNotComplete: faults.priorRequestNotComplete }),
  };
}

/** the operation a request names, known before it is authenticated, so every call record has one */
function actionOf(req: AwsHttpRequest): string {
  const rest = req.path.slice(PREFIX.length).replace(/\/$/, '');
  if (rest === 'hostedzonesbyname') return 'ListHostedZonesByName';
  if (rest === 'hostedzone') return 'ListHostedZones';
  if (rest.startsWith('change/')) return 'GetChange';
  if (rest.endsWith('/rrset')) return req.method === 'POST' ? 'ChangeResourceRecordSets' : 'ListResourceRecordSets';
  if (rest.startsWith('hostedzone/')) return 'GetHostedZone';
  return 'Unknown';
}
