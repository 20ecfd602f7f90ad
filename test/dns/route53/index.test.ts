import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { ChangeResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import type { Clock } from '../../../src/core/clock.js';
import { AgentError } from '../../../src/core/errors.js';
import { memoryLogger } from '../../../src/core/logger.js';
import { queryTxt } from '../../../src/dns/authoritative.js';
import { createRoute53Client, createRoute53Provider, type Route53Api, type Route53ProviderConfig } from '../../../src/dns/route53/index.js';
import { route53Policy } from '../../../src/policy/index.js';
import type { PolicyDocument, Principal } from '../../../src/sandbox/aws/types.js';
import { startRoute53Sandbox, type Route53Sandbox, type ZoneConfig } from '../../../src/sandbox/route53/index.js';

/**
 * The provider with the real AWS SDK against the sandbox's Route 53 (REST-XML, SigV4, IAM evaluation, PENDING ->
 * INSYNC) and its authoritative DNS server. Sandbox and provider share a clock whose sleep() moves it forward, so
 * a minute of "waiting for INSYNC" costs no real time. Each test starts its own sandbox: the shifted clock must
 * stay within the 5-minute SigV4 skew window of the SDK's real clock.
 */

const ACCOUNT = '111122223333';
const ZONE = 'Z0AGENTEXAMPLE01';
const SUB_ZONE = 'Z0AGENTSUBZONE01';
const HOST = 'host1.example.com';
const REC = `_acme-challenge.${HOST}`;
const V1 = 'LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0';
const V2 = 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA';
const ADMIN_POLICY: PolicyDocument = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'route53:*', Resource: '*' }] };

function shiftingClock(): Clock {
  let offset = 0;
  return {
    now: () => new Date(Date.now() + offset),
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      offset += ms;
    },
  };
}

interface Env {
  sb: Route53Sandbox;
  clock: Clock;
  dns: string;
  user(name: string, policy: PolicyDocument): Principal;
  /** `wrap` sees the real SDK client first (the provider takes an injected client), e.g. to interleave another writer */
  provider(p: Principal, cfg?: Partial<Route53ProviderConfig>, wrap?: (c: Route53Api) => Route53Api): ReturnType<typeof createRoute53Provider>;
  /** the TXT values the API holds at REC (or another name), as stored: quoted */
  apiValues(name?: string, zone?: string): string[] | undefined;
  served(name?: string): Promise<string[]>;
}

let current: Route53Sandbox | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

async function env(zones: ZoneConfig[] = [{ name: 'example.com', id: ZONE }], o: { ratePerSec?: number } = {}): Promise<Env> {
  const clock = shiftingClock();
  // no rate limit unless a test asks for it, so any failed call in the log is the policy's or a fault's doing
  const sb = await startRoute53Sandbox({ clock, zones, ratePerSec: o.ratePerSec ?? 0 });
  current = sb;
  const dns = `127.0.0.1:${sb.dnsPort}`;
  return {
    sb,
    clock,
    dns,
    user: (name, policy) => sb.aws.principals.createUser({ accountId: ACCOUNT, name, policies: [policy] }),
    provider: (p, cfg = {}, wrap = (c) => c) =>
      createRoute53Provider(
        {
          clock,
          logger: memoryLogger(),
          random: () => 0.5,
          client: wrap(
            createRoute53Client({
              region: 'us-east-1',
              endpoint: sb.url,
              credentials: { accessKeyId: p.accessKeyId, secretAccessKey: p.secretAccessKey },
            }),
          ),
        },
        {
          hostedZoneId: ZONE,
          ttl: 10,
          resolvers: [dns],
          propagationTimeoutMs: 120_000,
          pollIntervalMs: 2_000,
          ...cfg,
        },
      ),
    apiValues: (name = REC, zone = ZONE) => sb.store.listRecords(zone).find((r) => r.name === `${name}.` && r.type === 'TXT')?.values,
    served: async (name = REC) => (await queryTxt(name, { host: '127.0.0.1', port: sb.dnsPort })).values.sort(),
  };
}

/** zoneId null: the by-name policy (no zone id configured) */
const agentPolicy = (names = [HOST, `*.${HOST}`], zoneId: string | null = ZONE) =>
  route53Policy({ ...(zoneId ? { zoneId } : {}), names }) as unknown as PolicyDocument;

function callsOf(e: Env, p: Principal) {
  return e.sb.aws.calls.filter((c) => c.principalArn === p.arn);
}

function isCode(code: string, ...fragments: string[]) {
  return (e: unknown) => {
    assert.ok(e instanceof AgentError, `expected AgentError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.ok(`${e.message} ${e.hint ?? ''}`.includes(f), `"${e.message}; ${e.hint}" should mention ${f}`);
    return true;
  };
}

describe('Route 53 provider against the sandbox (real AWS SDK)', () => {
  it('adds its value next to existing ones, waits until served, and removes only its own', async () => {
    const e = await env([{ name: 'example.com', id: ZONE, records: [{ name: REC, type: 'TXT', ttl: 300, values: ['"other-writer"'] }] }]);
    const agent = e.user('agent', agentPolicy());
    const p = e.provider(agent);
    await p.present(REC, V1);
    assert.deepEqual(e.apiValues()?.sort(), [`"${V1}"`, '"other-writer"']);
    // present() returned, so the authoritative server must already serve both values
    assert.deepEqual(await e.served(), [V1, 'other-writer']);
    await p.cleanup(REC, V1);
    assert.deepEqual(e.apiValues(), ['"other-writer"']);
    // every call the agent made was allowed by the generated policy, and none outside it was attempted
    const calls = callsOf(e, agent);
    assert.ok(calls.length >= 4);
    assert.deepEqual(
      calls.filter((c) => c.status !== 200),
      [],
    );
    assert.deepEqual([...new Set(calls.map((c) => c.action))].sort(), ['ChangeResourceRecordSets', 'GetChange', 'ListResourceRecordSets']);
  });

  it('keeps both values of two concurrent presents on one name (apex + wildcard); the last cleanup deletes the set', async () => {
    const e = await env();
    const agent = e.user('agent', agentPolicy());
    const p = e.provider(agent);
    await Promise.all([p.present(REC, V1), p.present(`${REC}.`, V2)]);
    assert.deepEqual(e.apiValues()?.sort(), [`"${V1}"`, `"${V2}"`].sort());
    assert.deepEqual(await e.served(), [V1, V2].sort());
    await Promise.all([p.cleanup(REC, V2), p.cleanup(REC, V1)]);
    assert.equal(e.apiValues(), undefined);
    const changes = callsOf(e, agent).filter((c) => c.action === 'ChangeResourceRecordSets');
    assert.deepEqual(
      changes.map((c) => (c.detail!['changes'] as string[])[0]),
      [`UPSERT TXT ${REC}.`, `UPSERT TXT ${REC}.`, `UPSERT TXT ${REC}.`, `DELETE TXT ${REC}.`],
    );
    // a second cleanup finds nothing and changes nothing
    await p.cleanup(REC, V1);
    assert.equal(callsOf(e, agent).filter((c) => c.action === 'ChangeResourceRecordSets').length, 4);
    assert.ok(callsOf(e, agent).every((c) => c.status === 200));
  });

  it('cleanup deletes the set it wrote without reading it again; if another writer changed it, the refused DELETE falls back to a fresh read', async () => {
    const e = await env();
    const agent = e.user('agent', agentPolicy());
    const p = e.provider(agent);
    await p.present(REC, V1);
    await p.cleanup(REC, V1);
    assert.equal(e.apiValues(), undefined);
    const seq = (calls: ReturnType<typeof callsOf>) =>
      calls
        .filter((c) => c.action !== 'GetChange')
        .map((c) => `${c.action} ${c.status}${c.action === 'ChangeResourceRecordSets' ? ` ${(c.detail!['changes'] as string[])[0]}` : ''}`);
    assert.deepEqual(seq(callsOf(e, agent)), [
      'ListResourceRecordSets 200',
      `ChangeResourceRecordSets 200 UPSERT TXT ${REC}.`,
      `ChangeResourceRecordSets 200 DELETE TXT ${REC}.`,
    ]);
    // another writer adds its value between our present and our cleanup: its value stays
    e.sb.aws.resetCalls();
    await p.present(REC, V2);
    e.sb.store.applyChanges(ZONE, [{ action: 'UPSERT', rrset: { name: `${REC}.`, type: 'TXT', ttl: 10, values: [`"${V2}"`, '"other-writer"'] } }]);
    await p.cleanup(REC, V2);
    assert.deepEqual(e.apiValues(), ['"other-writer"']);
    assert.deepEqual(seq(callsOf(e, agent)), [
      'ListResourceRecordSets 200',
      `ChangeResourceRecordSets 200 UPSERT TXT ${REC}.`,
      `ChangeResourceRecordSets 400 DELETE TXT ${REC}.`,
      'ListResourceRecordSets 200',
      `ChangeResourceRecordSets 200 UPSERT TXT ${REC}.`,
    ]);
  });

  it('cleanup settles a race with another writer by re-reading, whatever Route 53 words its rejection', async () => {
    const e = await env([{ name: 'example.com', id: ZONE, records: [{ name: REC, type: 'TXT', ttl: 10, values: [`"${V1}"`] }] }]);
    const agent = e.user('agent', agentPolicy());
    /** runs `other` (a second writer, straight into the zone store) just before the provider's next change */
    const racing =
      (other: () => void) =>
      (c: Route53Api): Route53Api => {
        let pending: (() => void) | undefined = other;
        const send = (cmd: unknown, o?: unknown) => {
          if (cmd instanceof ChangeResourceRecordSetsCommand) {
            pending?.();
            pending = undefined;
          }
          return (c.send as (a: unknown, b?: unknown) => Promise<unknown>)(cmd, o);
        };
        return { send: send as Route53Api['send'] };
      };
    // the other writer deletes the set first: our DELETE is rejected (InvalidChangeBatch), the fresh read finds it gone
    const gone = racing(() => e.sb.store.applyChanges(ZONE, [{ action: 'DELETE', rrset: { name: `${REC}.`, type: 'TXT', ttl: 10, values: [`"${V1}"`] } }]));
    await e.provider(agent, {}, gone).cleanup(REC, V1);
    assert.equal(e.apiValues(), undefined);
    const rejected = callsOf(e, agent).filter((c) => c.status !== 200);
    assert.deepEqual(
      rejected.map((c) => c.errorCode),
      ['InvalidChangeBatch'],
    );
    // the other writer adds a value first: our DELETE no longer names the set exactly, so the retry keeps theirs
    e.sb.store.applyChanges(ZONE, [{ action: 'UPSERT', rrset: { name: `${REC}.`, type: 'TXT', ttl: 10, values: [`"${V1}"`] } }]);
    const added = racing(() =>
      e.sb.store.applyChanges(ZONE, [{ action: 'UPSERT', rrset: { name: `${REC}.`, type: 'TXT', ttl: 10, values: [`"${V1}"`, '"other-writer"'] } }]),
    );
    await e.provider(agent, {}, added).cleanup(REC, V1);
    assert.deepEqual(e.apiValues(), ['"other-writer"']);
    const changes = callsOf(e, agent).filter((c) => c.action === 'ChangeResourceRecordSets');
    assert.deepEqual(
      changes.slice(-2).map((c) => [c.status, (c.detail!['changes'] as string[])[0]]),
      [
        [400, `DELETE TXT ${REC}.`],
        [200, `UPSERT TXT ${REC}.`],
      ],
    );
  });

  it('waits for a slow INSYNC by polling GetChange, and gives up at the propagation timeout', async () => {
    const e = await env();
    const agent = e.user('agent', agentPolicy());
    e.sb.aws.setFaults({ insyncDelayMs: 60_000 });
    const t0 = e.clock.now().getTime();
    await e.provider(agent).present(REC, V1);
    assert.ok(e.clock.now().getTime() - t0 >= 60_000);
    const polls = callsOf(e, agent).filter((c) => c.action === 'GetChange').length;
    assert.ok(polls >= 30 && polls <= 32, `GetChange polled ${polls} times at 2 s for a 60 s change`);
    await assert.rejects(e.provider(agent, { propagationTimeoutMs: 20_000 }).present(REC, V2), isCode('ROUTE53_CHANGE_TIMEOUT', REC, 'PENDING'));
  });

  it('rides out a throttling storm and PriorRequestNotComplete with backoff, within its retry budget', async () => {
    const e = await env();
    const agent = e.user('agent', agentPolicy());
    e.sb.aws.setFaults({ throttleStorm: 5, throttleStormService: 'route53', priorRequestNotComplete: 2 });
    await e.provider(agent).present(REC, V1);
    assert.deepEqual(e.apiValues(), [`"${V1}"`]);
    const failed = callsOf(e, agent).filter((c) => c.status !== 200);
    assert.deepEqual(failed.map((c) => c.errorCode).sort(), [
      'PriorRequestNotComplete',
      'PriorRequestNotComplete',
      'Throttling',
      'Throttling',
      'Throttling',
      'Throttling',
      'Throttling',
    ]);
    // a storm longer than the budget ends in a clear error, not an endless loop
    e.sb.aws.setFaults({ throttleStorm: 50, throttleStormService: 'route53' });
    const t0 = e.clock.now().getTime();
    await assert.rejects(
      e.provider(agent, { retry: { attempts: 3, baseMs: 100, maxMs: 1000, throttledForMs: 2_000 } }).cleanup(REC, V1),
      isCode('ROUTE53_THROTTLED', REC, 'attempts over 2.', 'Rate exceeded'),
    );
    const waited = e.clock.now().getTime() - t0;
    assert.ok(waited >= 2_000 && waited < 2_600, `gave up after ${waited} ms of a 2 s budget`);
  });

  it('retries a throttled call past its attempt count for the time budget (a fleet queuing on 5 requests/s), and 5xx only `attempts` times', async () => {
    const e = await env();
    const agent = e.user('agent', agentPolicy());
    // 20 Throttling answers in a row: more than the 8 attempts other transient failures get
    e.sb.aws.setFaults({ throttleStorm: 20, throttleStormService: 'route53' });
    const t0 = e.clock.now().getTime();
    await e.provider(agent, { propagationTimeoutMs: 60_000 }).present(REC, V1);
    assert.deepEqual(e.apiValues(), [`"${V1}"`]);
    assert.equal(callsOf(e, agent).filter((c) => c.errorCode === 'Throttling').length, 20);
    // jitter pinned at ½: 125, 250, 500, 1000, 2000, then 2500 ms per wait
    assert.ok(e.clock.now().getTime() - t0 < 60_000, 'within the budget');
    // a 5xx outage still ends after `attempts` tries
    e.sb.aws.setFaults({ throttleStorm: 0 });
    let sent = 0;
    const broken = e.provider(agent, { retry: { attempts: 3, baseMs: 100, maxMs: 1000 } }, () => ({
      send: async () => {
        sent++;
        throw Object.assign(new Error('We encountered an internal error.'), { name: 'InternalFailure', $metadata: { httpStatusCode: 500 } });
      },
    }));
    await assert.rejects(broken.cleanup(REC, V1), isCode('ROUTE53_THROTTLED', REC, 'after 3 attempts'));
    assert.equal(sent, 3);
  });

  it('honours the account rate limit (5 requests/s) for a burst of records', async () => {
    const e = await env([{ name: 'example.com', id: ZONE }], { ratePerSec: 5 });
    const names = ['a', 'b', 'c', 'd', 'e', 'f'].map((l) => `${l}.example.com`);
    const agent = e.user('agent', agentPolicy(names));
    const p = e.provider(agent);
    await Promise.all(names.map((n) => p.present(`_acme-challenge.${n}`, V1)));
    for (const n of names) assert.deepEqual(e.apiValues(`_acme-challenge.${n}`), [`"${V1}"`]);
    assert.ok(
      callsOf(e, agent).some((c) => c.errorCode === 'Throttling'),
      'the burst should have been throttled at least once',
    );
  });

  it('names the record, the zone and the policy command when access is denied', async () => {
    const e = await env();
    const agent = e.user('agent', agentPolicy(['other.example.com']));
    await assert.rejects(
      e.provider(agent).present(REC, V1),
      isCode('ROUTE53_ACCESS_DENIED', `not allowed to change TXT ${REC} in zone ${ZONE}: `, 'iamra-agent policy route53'),
    );
    assert.equal(e.apiValues(), undefined);
    const nobody = e.user('nobody', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'route53:GetChange', Resource: '*' }] });
    await assert.rejects(e.provider(nobody).cleanup(REC, V1), isCode('ROUTE53_ACCESS_DENIED', `read TXT ${REC} in zone ${ZONE}`));
  });

  it('reports a configured zone id that does not exist', async () => {
    const e = await env();
    const admin = e.user('admin', ADMIN_POLICY);
    await assert.rejects(
      e.provider(admin, { hostedZoneId: '/hostedzone/Z0NOSUCHZONE' }).present(REC, V1),
      isCode('ROUTE53_NO_SUCH_ZONE', 'Z0NOSUCHZONE', 'dns.route53.hostedZoneId'),
    );
  });

  it('without a zone id: finds the longest public zone, skips private twins, and works under the by-name policy', async () => {
    const e = await env([
      { name: 'example.com', id: ZONE },
      { name: 'sub.example.com', id: SUB_ZONE },
      { name: 'sub.example.com', id: 'Z0AGENTPRIVATE01', private: true },
    ]);
    const name = 'host.sub.example.com';
    const agent = e.user('agent', agentPolicy([name], null));
    const p = e.provider(agent, { hostedZoneId: undefined });
    await p.present(`_acme-challenge.${name}`, V1);
    assert.deepEqual(e.apiValues(`_acme-challenge.${name}`, SUB_ZONE), [`"${V1}"`]);
    assert.equal(e.apiValues(`_acme-challenge.${name}`, 'Z0AGENTPRIVATE01'), undefined);
    await p.cleanup(`_acme-challenge.${name}`, V1);
    assert.equal(e.apiValues(`_acme-challenge.${name}`, SUB_ZONE), undefined);
    const calls = callsOf(e, agent);
    assert.ok(calls.every((c) => c.status === 200));
    // longest suffix first, once per record name (cleanup reuses it): _acme-challenge.host.sub…, host.sub…, sub.example.com
    assert.equal(calls.filter((c) => c.action === 'ListHostedZonesByName').length, 3);
  });

  it('without a zone id: a clear error for no zone and for two public zones of one name', async () => {
    const e = await env([
      { name: 'example.com', id: ZONE },
      { name: 'example.com', id: 'Z0AGENTEXAMPLE02' },
    ]);
    const admin = e.user('admin', ADMIN_POLICY);
    const p = e.provider(admin, { hostedZoneId: undefined });
    await assert.rejects(p.present(REC, V1), isCode('ROUTE53_AMBIGUOUS_ZONE', ZONE, 'Z0AGENTEXAMPLE02', 'example.com', 'dns.route53.hostedZoneId'));
    await assert.rejects(p.present('_acme-challenge.host1.example.net', V1), isCode('ROUTE53_NO_ZONE', 'host1.example.net', 'dns.route53.hostedZoneId'));
  });

  it('without resolvers: checks the zone apex NS hosts, found with the permissions the policy grants (both modes)', async () => {
    const zones = [{ name: 'example.com', id: ZONE, nameServers: ['ns-1.awsdns-sandbox.invalid', 'ns-2.awsdns-sandbox.invalid'] }];
    for (const zoneId of [ZONE, undefined]) {
      const e = await env(zones);
      const agent = e.user('agent', agentPolicy([HOST], zoneId ?? null));
      const p = e.provider(agent, { hostedZoneId: zoneId, resolvers: [], propagationTimeoutMs: 10_000 });
      // the sandbox's NS names do not resolve and would be on port 53: the check times out naming them
      await assert.rejects(p.present(REC, V1), isCode('DNS_PROPAGATION_TIMEOUT', REC, 'ns-1.awsdns-sandbox.invalid:53', 'ns-2.awsdns-sandbox.invalid:53'));
      const calls = callsOf(e, agent);
      assert.ok(
        calls.every((c) => c.status === 200),
        JSON.stringify(calls.filter((c) => c.status !== 200)),
      );
      assert.ok(!calls.some((c) => c.action === 'GetHostedZone'));
      assert.equal(
        calls.some((c) => c.action === 'ListHostedZonesByName'),
        zoneId === undefined,
      );
      await p.cleanup(REC, V1);
      assert.equal(e.apiValues(), undefined);
      await e.sb.close();
      current = undefined;
    }
  });
});
