import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import type { Clock } from '../../core/clock.js';
import { AgentError, isAgentError, messageOf } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { retry } from '../../core/retry.js';
import { parseServer, waitForTxt, type NameServer } from '../authoritative.js';
import type { DnsChallengeProvider } from '../types.js';

/**
 * DNS-01 on Amazon Route 53; the only module that talks to the Route 53 API. Every API call it makes is one that
 * src/policy/route53.ts grants, and nothing else: ListHostedZonesByName only when no zone id is configured,
 * ListResourceRecordSets and ChangeResourceRecordSets on the one zone, GetChange. In particular it never calls
 * GetHostedZone: the zone's nameservers come from its apex NS record set (ListResourceRecordSets).
 */

export type Route53Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date };

export interface Route53ProviderConfig {
  /** Z…, with or without the /hostedzone/ prefix; when set, no ListHostedZonesByName permission is needed */
  hostedZoneId?: string;
  region: string;
  /** Route 53 API URL override (sandbox, tests) */
  endpoint?: string;
  /** shared-config profile; otherwise the SDK's default chain (env, profile, credential_process, web identity, IMDS) */
  profile?: string;
  /** for tests and embedding; overrides profile and the default chain */
  credentials?: Route53Credentials | (() => Promise<Route53Credentials>);
  /** TTL of the challenge TXT record set, seconds */
  ttl: number;
  /** host:port of servers to check the TXT at; empty: the zone's authoritative nameservers on port 53 */
  resolvers: string[];
  /** one deadline for a present(): change INSYNC, then visible at every nameserver */
  propagationTimeoutMs: number;
  pollIntervalMs: number;
  /** retries of throttled / busy / 5xx calls; default 8 attempts, 250 ms base, 5 s cap (at most ~25 s per call) */
  retry?: { attempts: number; baseMs: number; maxMs: number };
  /** per HTTP request; default 10 s */
  requestTimeoutMs?: number;
}

export interface Route53ProviderDeps {
  clock: Clock;
  logger: Logger;
  /** jitter source for the backoff (tests pin it) */
  random?: () => number;
}

interface Zone {
  id: string;
  /** lower-case, no trailing dot; undefined until needed when the id was configured */
  name?: string;
}

type Rrset = Required<Pick<ResourceRecordSet, 'Name' | 'Type' | 'TTL'>> & { ResourceRecords: { Value: string }[] };

const COMPONENT = 'route53';
const POLICY_HINT = 'grant the policy printed by `iamra-agent policy route53` to the credentials used for Route 53';
const TRANSIENT_CODES = new Set([
  'Throttling',
  'ThrottlingException',
  'PriorRequestNotComplete',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'ServiceUnavailable',
  'InternalFailure',
  'InternalError',
  'RequestTimeout',
  'TimeoutError',
]);
const TRANSIENT_NET = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'EAI_AGAIN']);

export function createRoute53Provider(deps: Route53ProviderDeps, cfg: Route53ProviderConfig): DnsChallengeProvider {
  const log = deps.logger.child({ component: COMPONENT });
  const client = new Route53Client({
    region: cfg.region,
    ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
    ...(cfg.profile ? { profile: cfg.profile } : {}),
    ...(cfg.credentials ? { credentials: cfg.credentials } : {}),
    // Our own backoff (below) is the only retry layer, so the worst-case time of a call is known and bounded.
    maxAttempts: 1,
    requestHandler: { requestTimeout: cfg.requestTimeoutMs ?? 10_000, connectionTimeout: 5_000 },
  });
  const retryCfg = cfg.retry ?? { attempts: 8, baseMs: 250, maxMs: 5_000 };
  const configuredZone = cfg.hostedZoneId === undefined ? undefined : bareZoneId(cfg.hostedZoneId);
  const zoneCache = new Map<string, Promise<Zone>>();
  const nsCache = new Map<string, Promise<NameServer[]>>();
  const writeQueues = new Map<string, Promise<unknown>>();

  interface CallSite {
    action: string;
    zoneId?: string;
    record?: string;
    /** what a denial stopped us doing, for the message */
    doing: string;
  }

  async function call<T>(site: CallSite, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    try {
      return await retry(fn, {
        ...retryCfg,
        clock: deps.clock,
        ...(deps.random ? { random: deps.random } : {}),
        ...(signal ? { signal } : {}),
        retryable: (e) => isTransient(e),
        onRetry: (e, attempt, delayMs) => log.debug('route53 call retried', { action: site.action, error: errorCode(e), attempt, delayMs }),
      });
    } catch (e) {
      throw translate(e, site);
    }
  }

  function translate(e: unknown, site: CallSite): unknown {
    if (isAgentError(e) || (e instanceof Error && e.name === 'AbortError')) return e;
    const code = errorCode(e);
    const aws = messageOf(e);
    const details = { action: site.action, zoneId: site.zoneId, record: site.record, awsCode: code };
    if (code === 'AccessDenied' || code === 'AccessDeniedException' || code === 'NotAuthorizedException') {
      return new AgentError({
        code: 'ROUTE53_ACCESS_DENIED',
        component: COMPONENT,
        message: `${code}: not allowed to ${site.doing}: ${aws}`,
        hint: POLICY_HINT,
        cause: e,
        details,
      });
    }
    if (code === 'NoSuchHostedZone') {
      return new AgentError({
        code: 'ROUTE53_NO_SUCH_ZONE',
        component: COMPONENT,
        message: `hosted zone ${site.zoneId ?? '?'} does not exist (${site.doing}): ${aws}`,
        hint: 'check dns.route53.hostedZoneId, or remove it to look the zone up by name',
        cause: e,
        details,
      });
    }
    if (code === 'InvalidChangeBatch') {
      return new AgentError({
        code: 'ROUTE53_INVALID_CHANGE',
        component: COMPONENT,
        message: `Route 53 rejected the change to TXT ${site.record ?? '?'} in zone ${site.zoneId ?? '?'}: ${aws}`,
        cause: e,
        details,
      });
    }
    if (TRANSIENT_CODES.has(code)) {
      return new AgentError({
        code: 'ROUTE53_THROTTLED',
        component: COMPONENT,
        message: `still throttled or busy after ${retryCfg.attempts} attempts to ${site.doing}: ${aws}`,
        hint: 'another client is using the Route 53 API rate (5 requests/s per account); retry later',
        cause: e,
        details,
      });
    }
    if (e instanceof Error && /credential/i.test(e.name + e.message) && !('$metadata' in e)) {
      return new AgentError({
        code: 'ROUTE53_NO_CREDENTIALS',
        component: COMPONENT,
        message: `no AWS credentials to ${site.doing}: ${aws}`,
        hint: 'provide Route 53 credentials (AWS_* environment, dns.route53.profile, credential_process or web identity)',
        cause: e,
        details,
      });
    }
    return new AgentError({
      code: 'ROUTE53_API_ERROR',
      component: COMPONENT,
      message: `failed to ${site.doing}: ${code ? `${code}: ` : ''}${aws}`,
      cause: e,
      details,
    });
  }

  /** Serializes the read-modify-write of one record set inside this process (apex and wildcard share a name). */
  function serialized<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = writeQueues.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.then(
      () => undefined,
      () => undefined,
    );
    writeQueues.set(name, tail);
    void tail.then(() => {
      if (writeQueues.get(name) === tail) writeQueues.delete(name);
    });
    return next;
  }

  function zoneFor(name: string, signal?: AbortSignal): Promise<Zone> {
    if (configuredZone) return Promise.resolve({ id: configuredZone });
    let p = zoneCache.get(name);
    if (!p) {
      p = findZone(name, signal);
      zoneCache.set(name, p);
      p.catch(() => zoneCache.delete(name));
    }
    return p;
  }

  /**
   * The longest public zone whose name is a suffix of `name` (the record itself may be a zone: a delegated
   * _acme-challenge zone). ListHostedZonesByName lists zones in name order starting at DNSName, so the zones named
   * exactly `candidate` come first. Private zones are skipped: the CA never sees them.
   */
  async function findZone(name: string, signal?: AbortSignal): Promise<Zone> {
    const labels = name.split('.');
    const tried: string[] = [];
    for (let i = 0; i < labels.length - 1; i++) {
      const candidate = labels.slice(i).join('.');
      tried.push(candidate);
      const matches: { id: string; name: string }[] = [];
      let marker: { DNSName: string; HostedZoneId?: string } = { DNSName: candidate };
      for (;;) {
        const out = await call(
          { action: 'ListHostedZonesByName', record: name, doing: `list hosted zones (looking up the zone of TXT ${name})` },
          () => client.send(new ListHostedZonesByNameCommand({ ...marker, MaxItems: 100 }), signal ? { abortSignal: signal } : {}),
          signal,
        );
        let pastCandidate = false;
        for (const z of out.HostedZones ?? []) {
          if (normName(z.Name ?? '') !== candidate) {
            pastCandidate = true;
            break;
          }
          if (!z.Config?.PrivateZone && z.Id) matches.push({ id: bareZoneId(z.Id), name: candidate });
        }
        if (pastCandidate || !out.IsTruncated || !out.NextDNSName || normName(out.NextDNSName) !== candidate) break;
        marker = { DNSName: out.NextDNSName, ...(out.NextHostedZoneId ? { HostedZoneId: out.NextHostedZoneId } : {}) };
      }
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
        log.debug('route53 zone found', { record: name, zoneId: matches[0]!.id, zone: candidate });
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

  async function readTxt(zone: Zone, name: string, signal?: AbortSignal): Promise<Rrset | undefined> {
    const out = await call(
      { action: 'ListResourceRecordSets', zoneId: zone.id, record: name, doing: `read TXT ${name} in zone ${zone.id}` },
      () =>
        client.send(
          new ListResourceRecordSetsCommand({ HostedZoneId: zone.id, StartRecordName: name, StartRecordType: 'TXT', MaxItems: 1 }),
          signal ? { abortSignal: signal } : {},
        ),
      signal,
    );
    const rr = out.ResourceRecordSets?.[0];
    // The listing starts at (name, TXT) but returns whatever comes next when that set does not exist.
    if (rr?.Type !== 'TXT' || normName(rr.Name ?? '') !== name || rr.SetIdentifier !== undefined) return undefined;
    return {
      Name: rr.Name!,
      Type: 'TXT',
      TTL: rr.TTL ?? cfg.ttl,
      ResourceRecords: (rr.ResourceRecords ?? []).flatMap((r) => (r.Value === undefined ? [] : [{ Value: r.Value }])),
    };
  }

  async function change(zone: Zone, action: 'UPSERT' | 'DELETE', rrset: Rrset, name: string, signal?: AbortSignal): Promise<string> {
    const out = await call(
      { action: 'ChangeResourceRecordSets', zoneId: zone.id, record: name, doing: `change TXT ${name} in zone ${zone.id}` },
      () =>
        client.send(
          new ChangeResourceRecordSetsCommand({
            HostedZoneId: zone.id,
            ChangeBatch: { Comment: 'iamra-agent ACME DNS-01 challenge', Changes: [{ Action: action, ResourceRecordSet: rrset }] },
          }),
          signal ? { abortSignal: signal } : {},
        ),
      signal,
    );
    const id = out.ChangeInfo?.Id ?? '';
    log.info('route53 record changed', { record: name, zoneId: zone.id, action, values: rrset.ResourceRecords.length, changeId: id });
    return id;
  }

  /** GetChange until INSYNC: Route 53 has then pushed the change to all its authoritative servers. */
  async function waitInsync(changeId: string, name: string, deadline: number, signal?: AbortSignal): Promise<void> {
    const started = deps.clock.now().getTime();
    for (;;) {
      const out = await call(
        { action: 'GetChange', record: name, doing: `read the status of change ${changeId} (TXT ${name})` },
        () => client.send(new GetChangeCommand({ Id: changeId }), signal ? { abortSignal: signal } : {}),
        signal,
      );
      if (out.ChangeInfo?.Status === 'INSYNC') {
        log.debug('route53 change in sync', { record: name, changeId, waitedMs: deps.clock.now().getTime() - started });
        return;
      }
      const left = deadline - deps.clock.now().getTime();
      if (left <= 0) {
        throw new AgentError({
          code: 'ROUTE53_CHANGE_TIMEOUT',
          component: COMPONENT,
          message: `change ${changeId} for TXT ${name} still ${out.ChangeInfo?.Status ?? 'unknown'} after ${cfg.propagationTimeoutMs} ms`,
          hint: 'raise dns.propagationTimeout',
        });
      }
      await deps.clock.sleep(Math.min(cfg.pollIntervalMs, left), signal);
    }
  }

  async function zoneApex(zone: Zone, signal?: AbortSignal): Promise<string> {
    if (zone.name) return zone.name;
    // Records list in DNS name order with labels reversed, so the zone apex (shortest name) always comes first.
    const out = await call(
      { action: 'ListResourceRecordSets', zoneId: zone.id, doing: `list records of zone ${zone.id} (to find its name servers)` },
      () => client.send(new ListResourceRecordSetsCommand({ HostedZoneId: zone.id, MaxItems: 1 }), signal ? { abortSignal: signal } : {}),
      signal,
    );
    const first = out.ResourceRecordSets?.[0]?.Name;
    if (!first) throw new AgentError({ code: 'ROUTE53_API_ERROR', component: COMPONENT, message: `zone ${zone.id} lists no records, not even its apex NS` });
    return normName(first);
  }

  function nameservers(zone: Zone, signal?: AbortSignal): Promise<NameServer[]> {
    if (cfg.resolvers.length > 0) return Promise.resolve(cfg.resolvers.map(parseServer));
    let p = nsCache.get(zone.id);
    if (!p) {
      p = (async () => {
        const apex = await zoneApex(zone, signal);
        const out = await call(
          { action: 'ListResourceRecordSets', zoneId: zone.id, record: apex, doing: `read NS ${apex} in zone ${zone.id}` },
          () =>
            client.send(
              new ListResourceRecordSetsCommand({ HostedZoneId: zone.id, StartRecordName: apex, StartRecordType: 'NS', MaxItems: 1 }),
              signal ? { abortSignal: signal } : {},
            ),
          signal,
        );
        const rr = out.ResourceRecordSets?.[0];
        const hosts =
          rr && rr.Type === 'NS' && normName(rr.Name ?? '') === apex ? (rr.ResourceRecords ?? []).map((r) => trimDot(r.Value ?? '')).filter(Boolean) : [];
        if (hosts.length === 0) {
          throw new AgentError({
            code: 'ROUTE53_NO_NAMESERVERS',
            component: COMPONENT,
            message: `zone ${zone.id} (${apex}) has no NS record set`,
            hint: 'set dns.resolvers',
          });
        }
        return hosts.map((host) => ({ host, port: 53 }));
      })();
      nsCache.set(zone.id, p);
      p.catch(() => nsCache.delete(zone.id));
    }
    return p;
  }

  return {
    async present(fqdn, value, signal) {
      const name = normName(fqdn);
      const deadline = deps.clock.now().getTime() + cfg.propagationTimeoutMs;
      const zone = await zoneFor(name, signal);
      const changeId = await serialized(name, async () => {
        const current = await readTxt(zone, name, signal);
        const records = current?.ResourceRecords ?? [];
        if (records.some((r) => decodeTxt(r.Value) === value)) {
          log.debug('route53 challenge value already present', { record: name, zoneId: zone.id });
          return undefined;
        }
        // UPSERT replaces the whole set: keep every value already there (the apex and wildcard challenges of one
        // order, or another client's, share this name).
        return change(zone, 'UPSERT', { Name: name, Type: 'TXT', TTL: cfg.ttl, ResourceRecords: [...records, { Value: encodeTxt(value) }] }, name, signal);
      });
      if (changeId) await waitInsync(changeId, name, deadline, signal);
      const servers = await nameservers(zone, signal);
      await waitForTxt(name, value, servers, {
        clock: deps.clock,
        timeoutMs: Math.max(0, deadline - deps.clock.now().getTime()),
        pollMs: cfg.pollIntervalMs,
        logger: log,
        ...(signal ? { signal } : {}),
      });
    },

    async cleanup(fqdn, value) {
      const name = normName(fqdn);
      const zone = await zoneFor(name);
      await serialized(name, async () => {
        // A writer outside this process may change the set between our read and our write; Route 53 then rejects
        // the change (InvalidChangeBatch), and one more read-modify-write on fresh data settles it.
        for (let attempt = 1; ; attempt++) {
          const current = await readTxt(zone, name);
          const keep = (current?.ResourceRecords ?? []).filter((r) => decodeTxt(r.Value) !== value);
          if (!current || keep.length === current.ResourceRecords.length) {
            log.debug('route53 challenge value already gone', { record: name, zoneId: zone.id });
            return;
          }
          try {
            // DELETE must name the set exactly as it is (TTL and all values), so it is only used for our last value.
            if (keep.length > 0) await change(zone, 'UPSERT', { ...current, ResourceRecords: keep }, name);
            else await change(zone, 'DELETE', current, name);
            return;
          } catch (e) {
            if (!isAgentError(e) || e.code !== 'ROUTE53_INVALID_CHANGE') throw e;
            if (/not found/i.test(e.message)) return;
            if (attempt >= 2) throw e;
          }
        }
      });
    },
  };
}

/** Route 53 names: trailing dot, lower case, and octal escapes for anything outside [a-z0-9-_.] (`*` is \052). */
export function normName(n: string): string {
  return trimDot(n.replace(/\\(\d{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)))).toLowerCase();
}

export function bareZoneId(id: string): string {
  return id.replace(/^\/?hostedzone\//, '');
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

function trimDot(n: string): string {
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

function errorCode(e: unknown): string {
  if (!e || typeof e !== 'object') return '';
  const o = e as { name?: unknown; Code?: unknown; code?: unknown };
  if (typeof o.Code === 'string') return o.Code;
  if (typeof o.name === 'string' && o.name !== 'Error') return o.name;
  return typeof o.code === 'string' ? o.code : '';
}

function isTransient(e: unknown): boolean {
  if (isAgentError(e) || (e instanceof Error && e.name === 'AbortError')) return false;
  const code = errorCode(e);
  if (TRANSIENT_CODES.has(code)) return true;
  const o = e as { $metadata?: { httpStatusCode?: number }; code?: unknown; cause?: { code?: unknown } };
  const status = o?.$metadata?.httpStatusCode;
  if (status !== undefined && (status === 429 || status >= 500)) return true;
  return TRANSIENT_NET.has(String(o?.code ?? '')) || TRANSIENT_NET.has(String(o?.cause?.code ?? ''));
}
