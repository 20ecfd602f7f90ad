import { Route53Client } from '@aws-sdk/client-route-53';
import type { Clock } from '../../core/clock.js';
import { isAgentError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { retry } from '../../core/retry.js';
import { waitForTxt } from '../authoritative.js';
import type { DnsChallengeProvider } from '../types.js';
import { COMPONENT, type Caller, errorName, isThrottled, isTransient, translate } from './errors.js';
import { changeTxt, decodeTxt, encodeTxt, readTxt, type RecordDeps, type Rrset, waitInsync } from './records.js';
import { nameserverLocator, normName, type Route53Api, zoneLocator } from './zones.js';

/**
 * DNS-01 on Amazon Route 53; the only module tree that imports the Route 53 SDK. Every API call it makes is one
 * that src/policy/route53.ts grants, and nothing else. The SDK client is built by the caller (createRoute53Client)
 * and passed in, as lego's provider takes a client, so region, endpoint and credentials are the composition
 * root's business and tests can hand in a client aimed at the sandbox.
 */

export { bareZoneId, normName, type Route53Api } from './zones.js';
export { decodeTxt, encodeTxt } from './records.js';
export { mayListHostedZones } from './scope.js';

export type Route53Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date };

export interface Route53ClientSettings {
  region: string;
  /** Route 53 API URL override (sandbox, tests) */
  endpoint?: string;
  /** shared-config profile; otherwise the SDK's default chain (env, profile, credential_process, web identity, IMDS) */
  profile?: string;
  /** for tests and embedding; overrides profile and the default chain */
  credentials?: Route53Credentials | (() => Promise<Route53Credentials>);
  /** per HTTP request; default 10 s */
  requestTimeoutMs?: number;
}

export interface Route53ProviderConfig {
  /** Z…, with or without the /hostedzone/ prefix; when set, no ListHostedZonesByName permission is needed */
  hostedZoneId?: string;
  /** TTL of the challenge TXT record set, seconds */
  ttl: number;
  /** host:port of servers to check the TXT at; empty: the zone's authoritative nameservers on port 53 */
  resolvers: string[];
  /** one deadline for a present(), from the accepted change: INSYNC, then visible at every nameserver */
  propagationTimeoutMs: number;
  pollIntervalMs: number;
  /**
   * retries of a call: capped exponential backoff with full jitter (default 250 ms base, 5 s cap). A call failing
   * with 5xx or a dropped connection gets `attempts` tries (default 8, at most ~25 s). A throttled call (the
   * account's 5 requests/s, shared with every other client) is retried until it has waited `throttledForMs`
   * (default propagationTimeoutMs), whatever the number of attempts: a fleet renewing at once needs its turn.
   */
  retry?: { attempts: number; baseMs: number; maxMs: number; throttledForMs?: number };
}

export interface Route53ProviderDeps {
  clock: Clock;
  logger: Logger;
  /** the SDK client (createRoute53Client) */
  client: Route53Api;
  /** jitter source for the backoff (tests pin it) */
  random?: () => number;
}

export function createRoute53Client(s: Route53ClientSettings): Route53Client {
  return new Route53Client({
    region: s.region,
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    ...(s.profile ? { profile: s.profile } : {}),
    ...(s.credentials ? { credentials: s.credentials } : {}),
    // The provider's own backoff is the only retry layer, so the worst-case time of a call is known and bounded.
    maxAttempts: 1,
    requestHandler: { requestTimeout: s.requestTimeoutMs ?? 10_000, connectionTimeout: 5_000 },
  });
}

export function createRoute53Provider(deps: Route53ProviderDeps, cfg: Route53ProviderConfig): DnsChallengeProvider;
/** Transitional: builds its own client from the settings; the composition root should pass `client` instead. */
export function createRoute53Provider(deps: Omit<Route53ProviderDeps, 'client'>, cfg: Route53ProviderConfig & Route53ClientSettings): DnsChallengeProvider;
export function createRoute53Provider(
  deps: Omit<Route53ProviderDeps, 'client'> & { client?: Route53Api },
  cfg: Route53ProviderConfig & Partial<Route53ClientSettings>,
): DnsChallengeProvider {
  const client = deps.client ?? createRoute53Client(cfg as Route53ClientSettings);
  const log = deps.logger.child({ component: COMPONENT });
  const retryCfg = cfg.retry ?? { attempts: 8, baseMs: 250, maxMs: 5_000 };
  const throttledForMs = retryCfg.throttledForMs ?? cfg.propagationTimeoutMs;
  const call: Caller = async (site, send, signal) => {
    const started = deps.clock.now().getTime();
    let attempts = 0;
    let otherFailures = 0;
    try {
      return await retry(
        () => {
          attempts++;
          return send(signal ? { abortSignal: signal } : {});
        },
        {
          baseMs: retryCfg.baseMs,
          maxMs: retryCfg.maxMs,
          // the budgets are kept below, per kind of failure
          attempts: Number.MAX_SAFE_INTEGER,
          clock: deps.clock,
          ...(deps.random ? { random: deps.random } : {}),
          ...(signal ? { signal } : {}),
          retryable: (e) => {
            if (isThrottled(e)) return deps.clock.now().getTime() - started < throttledForMs;
            return isTransient(e) && ++otherFailures < retryCfg.attempts;
          },
          onRetry: (e, attempt, delayMs) => log.debug('route53 call retried', { action: site.action, error: errorName(e), attempt, delayMs }),
        },
      );
    } catch (e) {
      throw translate(e, site, attempts, deps.clock.now().getTime() - started);
    }
  };
  const d: RecordDeps = { client, call, log, clock: deps.clock };
  const zoneFor = zoneLocator(d, cfg.hostedZoneId);
  const nameservers = nameserverLocator(d, cfg.resolvers);
  const serialized = perKeyQueue();
  /** the TXT set this process last wrote at each name, until its cleanup */
  const written = new Map<string, Rrset>();

  return {
    async present(fqdn, value, signal) {
      const name = normName(fqdn);
      const zone = await zoneFor(name, signal);
      const changeId = await serialized(name, async () => {
        const current = await readTxt(d, zone, name, cfg.ttl, signal);
        const records = current?.ResourceRecords ?? [];
        if (records.some((r) => decodeTxt(r.Value) === value)) {
          log.debug('route53 challenge value already present', { record: name, zoneId: zone.id });
          return undefined;
        }
        // UPSERT replaces the whole set: keep every value already there (the apex and wildcard challenges of one
        // order, or another client's, share this name).
        const rrset = { Name: name, Type: 'TXT' as const, TTL: cfg.ttl, ResourceRecords: [...records, { Value: encodeTxt(value) }] };
        const id = await changeTxt(d, zone, 'UPSERT', rrset, name, signal);
        written.set(name, rrset);
        return id;
      });
      // Propagation is timed from the accepted change: time spent waiting for the account's rate limit before it
      // (a fleet renewing at once) is the retry budget's, not the propagation's.
      const deadline = deps.clock.now().getTime() + cfg.propagationTimeoutMs;
      if (changeId) await waitInsync(d, changeId, name, { deadline, timeoutMs: cfg.propagationTimeoutMs, pollMs: cfg.pollIntervalMs }, signal);
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
        const mine = written.get(name);
        written.delete(name);
        // The set as this process wrote it, holding our value only (the common case: one name, one order): DELETE it
        // as written, without reading it first — one call fewer per renewal on the account's shared 5 requests/s.
        // Route 53 deletes only an exact match, so if anyone changed the set since, it refuses (InvalidChangeBatch)
        // and the read-modify-write below settles it.
        if (mine?.ResourceRecords.length === 1 && decodeTxt(mine.ResourceRecords[0]!.Value) === value) {
          try {
            await changeTxt(d, zone, 'DELETE', mine, name);
            return;
          } catch (e) {
            if (!isAgentError(e) || e.code !== 'ROUTE53_INVALID_CHANGE') throw e;
          }
        }
        // A writer outside this process may change the set between our read and our write (or delete it); Route 53
        // then rejects the change (InvalidChangeBatch), and a read-modify-write on fresh data settles it: the fresh
        // read decides whether our value is gone, so no message text is needed to tell "not found" apart.
        for (let attempt = 1; ; attempt++) {
          const current = await readTxt(d, zone, name, cfg.ttl);
          const keep = (current?.ResourceRecords ?? []).filter((r) => decodeTxt(r.Value) !== value);
          if (!current || keep.length === current.ResourceRecords.length) {
            log.debug('route53 challenge value already gone', { record: name, zoneId: zone.id });
            return;
          }
          try {
            // DELETE must name the set exactly as it is (TTL and all values), so it is only used for our last value.
            if (keep.length > 0) await changeTxt(d, zone, 'UPSERT', { ...current, ResourceRecords: keep }, name);
            else await changeTxt(d, zone, 'DELETE', current, name);
            return;
          } catch (e) {
            if (!isAgentError(e) || e.code !== 'ROUTE53_INVALID_CHANGE' || attempt >= 3) throw e;
          }
        }
      });
    },
  };
}

/** Serializes the read-modify-write of one record set inside this process (apex and wildcard share a name). */
function perKeyQueue(): <T>(key: string, fn: () => Promise<T>) => Promise<T> {
  const queues = new Map<string, Promise<unknown>>();
  return (key, fn) => {
    const next = (queues.get(key) ?? Promise.resolve()).then(fn, fn);
    const tail = next.then(
      () => undefined,
      () => undefined,
    );
    queues.set(key, tail);
    void tail.then(() => {
      if (queues.get(key) === tail) queues.delete(key);
    });
    return next;
  };
}
