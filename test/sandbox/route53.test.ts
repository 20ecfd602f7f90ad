import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  GetHostedZoneCommand,
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
  type Change,
} from '@aws-sdk/client-route-53';
import { startRoute53Sandbox, type Route53Sandbox } from '../../src/sandbox/route53/index.js';
import type { Principal } from '../../src/sandbox/aws/types.js';
import { dig, offsetClock } from './dns-helpers.js';

/**
 * The Route 53 stand-in driven by the real AWS SDK for JavaScript v3, checked on the wire by the real dig.
 */

const ACCOUNT = '111122223333';
const ZONE = 'Z0SANDBOXEXAMPLE01';
const INSYNC_MS = 60_000;

function client(url: string, creds: Pick<Principal, 'accessKeyId' | 'secretAccessKey'>): Route53Client {
  return new Route53Client({
    region: 'us-east-1',
    endpoint: url,
    credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey },
    maxAttempts: 1,
  });
}

const txt = (action: Change['Action'], name: string, values: string[], ttl = 60): Change => ({
  Action: action,
  ResourceRecordSet: { Name: name, Type: 'TXT', TTL: ttl, ResourceRecords: values.map((v) => ({ Value: `"${v}"` })) },
});

async function rejects(p: Promise<unknown>): Promise<Error & { name: string; message: string; $metadata?: { httpStatusCode?: number } }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { name: string; $metadata?: { httpStatusCode?: number } };
  }
  assert.fail('expected the call to fail');
}

describe('Route 53 sandbox with the AWS SDK v3 and dig', () => {
  const clock = offsetClock();
  let sb: Route53Sandbox;
  let admin: Principal;
  let r53: Route53Client;

  before(async () => {
    sb = await startRoute53Sandbox({
      clock,
      insyncDelayMs: INSYNC_MS,
      ratePerSec: 0,
      zones: [
        { name: 'example.com', id: ZONE, records: [{ name: 'www.example.com', type: 'A', ttl: 300, values: ['192.0.2.10'] }] },
        { name: 'example.org.', id: 'Z0SANDBOXEXAMPLE02' },
        { name: 'internal.example.com', id: 'Z0SANDBOXPRIVATE01', private: true },
      ],
    });
    admin = sb.aws.principals.createUser({
      accountId: ACCOUNT,
      name: 'admin',
      policies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'route53:*', Resource: '*' }] }],
    });
    r53 = client(sb.url, admin);
  });
  after(async () => {
    r53?.destroy();
    await sb?.close();
  });

  it('lists hosted zones by name in Route 53 order', async () => {
    const all = await r53.send(new ListHostedZonesByNameCommand({}));
    assert.deepEqual(
      all.HostedZones!.map((z) => [z.Id, z.Name, z.Config?.PrivateZone]),
      [
        [`/hostedzone/${ZONE}`, 'example.com.', false],
        ['/hostedzone/Z0SANDBOXPRIVATE01', 'internal.example.com.', true],
        ['/hostedzone/Z0SANDBOXEXAMPLE02', 'example.org.', false],
      ],
    );
    assert.equal(all.IsTruncated, false);
    assert.equal(all.MaxItems, 100);
    const one = await r53.send(new ListHostedZonesByNameCommand({ DNSName: 'example.com', MaxItems: 1 }));
    assert.equal(one.DNSName, 'example.com');
    assert.deepEqual(
      one.HostedZones!.map((z) => z.Name),
      ['example.com.'],
    );
    assert.equal(one.HostedZones![0]!.ResourceRecordSetCount, 3);
    assert.equal(one.IsTruncated, true);
    assert.equal(one.NextDNSName, 'internal.example.com.');
    assert.equal(one.NextHostedZoneId, 'Z0SANDBOXPRIVATE01');
    const zone = await r53.send(new GetHostedZoneCommand({ Id: `/hostedzone/${ZONE}` }));
    assert.equal(zone.HostedZone?.Name, 'example.com.');
    assert.equal(zone.DelegationSet?.NameServers?.length, 4);
  });

  it('UPSERTs a TXT with two values: PENDING, then INSYNC, and only then on the wire (UDP and TCP)', async () => {
    const name = '_acme-challenge.host1.example.com';
    const res = await r53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: ZONE,
        ChangeBatch: { Comment: 'dns-01', Changes: [txt('UPSERT', name, ['token-one', 'token-two'])] },
      }),
    );
    assert.match(res.ChangeInfo!.Id!, /^\/change\/C[A-Z0-9]+$/);
    assert.equal(res.ChangeInfo!.Status, 'PENDING');
    assert.equal(res.ChangeInfo!.Comment, 'dns-01');
    assert.ok(res.ChangeInfo!.SubmittedAt instanceof Date);

    // the API sees the change at once; the name servers do not
    const listed = await r53.send(new ListResourceRecordSetsCommand({ HostedZoneId: ZONE, StartRecordName: name, StartRecordType: 'TXT', MaxItems: 1 }));
    assert.deepEqual(listed.ResourceRecordSets![0], {
      Name: `${name}.`,
      Type: 'TXT',
      TTL: 60,
      ResourceRecords: [{ Value: '"token-one"' }, { Value: '"token-two"' }],
    });
    assert.equal((await r53.send(new GetChangeCommand({ Id: res.ChangeInfo!.Id }))).ChangeInfo!.Status, 'PENDING');
    const before = await dig(sb.dnsPort, name, 'TXT');
    assert.equal(before.status, 'NXDOMAIN');
    assert.ok(before.flags.includes('aa'));
    assert.deepEqual(before.authority, ['SOA']);

    clock.advance(INSYNC_MS);
    assert.equal((await r53.send(new GetChangeCommand({ Id: res.ChangeInfo!.Id!.replace('/change/', '') }))).ChangeInfo!.Status, 'INSYNC');
    for (const tcp of [false, true]) {
      const after = await dig(sb.dnsPort, name, 'TXT', { tcp });
      assert.equal(after.status, 'NOERROR', after.raw);
      assert.ok(after.flags.includes('aa'));
      assert.deepEqual(after.answers.sort(), ['"token-one"', '"token-two"']);
    }
  });

  it('DELETE must match the record set exactly; then the name is gone from DNS after INSYNC', async () => {
    const name = '_acme-challenge.host1.example.com';
    const wrongTtl = await rejects(
      r53.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: ZONE, ChangeBatch: { Changes: [txt('DELETE', name, ['token-one', 'token-two'], 300)] } })),
    );
    assert.equal(wrongTtl.name, 'InvalidChangeBatch');
    assert.equal(
      wrongTtl.message,
      `[Tried to delete resource record set [name='${name}.', type='TXT'] but the values provided do not match the current values]`,
    );
    const del = await r53.send(
      new ChangeResourceRecordSetsCommand({ HostedZoneId: ZONE, ChangeBatch: { Changes: [txt('DELETE', `${name}.`, ['token-two', 'token-one'])] } }),
    );
    assert.equal((await dig(sb.dnsPort, name, 'TXT')).answers.length, 2, 'still served while PENDING');
    clock.advance(INSYNC_MS);
    assert.equal((await r53.send(new GetChangeCommand({ Id: del.ChangeInfo!.Id }))).ChangeInfo!.Status, 'INSYNC');
    assert.equal((await dig(sb.dnsPort, name, 'TXT', { tcp: true })).status, 'NXDOMAIN');
    const again = await rejects(
      r53.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: ZONE, ChangeBatch: { Changes: [txt('DELETE', name, ['token-one'])] } })),
    );
    assert.equal(again.message, `[Tried to delete resource record set [name='${name}.', type='TXT'] but it was not found]`);
  });

  it('applies a batch atomically and reports every problem, as InvalidChangeBatch', async () => {
    const e = await rejects(
      r53.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: ZONE,
          ChangeBatch: {
            Changes: [
              txt('CREATE', 'ok.example.com', ['v']),
              { Action: 'CREATE', ResourceRecordSet: { Name: 'www.example.com', Type: 'CNAME', TTL: 60, ResourceRecords: [{ Value: 'ok.example.com' }] } },
              { Action: 'CREATE', ResourceRecordSet: { Name: 'www.example.com', Type: 'A', TTL: 60, ResourceRecords: [{ Value: '192.0.2.1' }] } },
            ],
          },
        }),
      ),
    );
    assert.equal(e.name, 'InvalidChangeBatch');
    assert.equal(e.$metadata?.httpStatusCode, 400);
    assert.match(
      e.message,
      /^\[RRSet of type CNAME with DNS name www\.example\.com\. is not permitted as it conflicts with other records with the same DNS name in zone example\.com\., /,
    );
    assert.match(e.message, /Tried to create resource record set \[name='www\.example\.com\.', type='A'\] but it already exists\]$/);
    const listed = await r53.send(new ListResourceRecordSetsCommand({ HostedZoneId: ZONE }));
    assert.ok(!listed.ResourceRecordSets!.some((r) => r.Name === 'ok.example.com.'), 'nothing of a failed batch is applied');
    assert.deepEqual(
      listed.ResourceRecordSets!.map((r) => `${r.Name} ${r.Type}`),
      ['example.com. NS', 'example.com. SOA', 'www.example.com. A'],
    );
    const unquoted = await rejects(
      r53.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: ZONE,
          ChangeBatch: {
            Changes: [{ Action: 'UPSERT', ResourceRecordSet: { Name: 'x.example.com', Type: 'TXT', TTL: 60, ResourceRecords: [{ Value: 'bare' }] } }],
          },
        }),
      ),
    );
    assert.equal(
      unquoted.message,
      "[Invalid Resource Record: 'FATAL problem: InvalidCharacterString (Value should be enclosed in quotation marks) encountered with 'bare'']",
    );
    const outside = await rejects(
      r53.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: ZONE, ChangeBatch: { Changes: [txt('UPSERT', 'x.example.net', ['v'])] } })),
    );
    assert.equal(outside.message, '[RRSet with DNS name x.example.net. is not permitted in zone example.com.]');
    const noTtl = await rejects(
      r53.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: ZONE,
          ChangeBatch: { Changes: [{ Action: 'UPSERT', ResourceRecordSet: { Name: 'x.example.com', Type: 'TXT' } }] },
        }),
      ),
    );
    assert.equal(noTtl.name, 'InvalidInput');
  });

  it('returns wildcard names escaped as Route 53 does (\\052) and pages ListResourceRecordSets', async () => {
    await r53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: ZONE,
        ChangeBatch: { Changes: [txt('UPSERT', '*.w.example.com', ['wild']), txt('UPSERT', 'z.example.com', ['z'])] },
      }),
    );
    const page1 = await r53.send(new ListResourceRecordSetsCommand({ HostedZoneId: ZONE, StartRecordName: 'w.example.com', MaxItems: 1 }));
    assert.deepEqual(
      page1.ResourceRecordSets!.map((r) => r.Name),
      ['\\052.w.example.com.'],
    );
    assert.equal(page1.IsTruncated, true);
    assert.deepEqual([page1.NextRecordName, page1.NextRecordType], ['www.example.com.', 'A']);
    const page2 = await r53.send(
      new ListResourceRecordSetsCommand({ HostedZoneId: ZONE, StartRecordName: page1.NextRecordName, StartRecordType: page1.NextRecordType as 'A' }),
    );
    assert.deepEqual(
      page2.ResourceRecordSets!.map((r) => r.Name),
      ['www.example.com.', 'z.example.com.'],
    );
    assert.equal(page2.IsTruncated, false);
    await r53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: ZONE,
        ChangeBatch: { Changes: [txt('DELETE', '\\052.w.example.com.', ['wild']), txt('DELETE', 'z.example.com', ['z'])] },
      }),
    );
  });

  it('answers NoSuchHostedZone and NoSuchChange for unknown ids', async () => {
    const e = await rejects(r53.send(new ListResourceRecordSetsCommand({ HostedZoneId: 'ZNOSUCHZONE' })));
    assert.equal(e.name, 'NoSuchHostedZone');
    assert.equal(e.message, 'No hosted zone found with ID: ZNOSUCHZONE');
    assert.equal(e.$metadata?.httpStatusCode, 404);
    const c = await rejects(
      r53.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: 'ZNOSUCHZONE', ChangeBatch: { Changes: [txt('UPSERT', 'a.example.com', ['v'])] } })),
    );
    assert.equal(c.name, 'NoSuchHostedZone');
    assert.equal((await rejects(r53.send(new GetChangeCommand({ Id: 'CNOSUCHCHANGE' })))).name, 'NoSuchChange');
  });

  it('rejects a wrong secret with SignatureDoesNotMatch', async () => {
    const bad = client(sb.url, { accessKeyId: admin.accessKeyId, secretAccessKey: 'not-the-secret' });
    try {
      const e = await rejects(bad.send(new ListHostedZonesByNameCommand({})));
      assert.equal(e.name, 'SignatureDoesNotMatch');
      assert.equal(e.$metadata?.httpStatusCode, 403);
    } finally {
      bad.destroy();
    }
  });

  it('enforces a policy scoped to one record name with the route53:ChangeResourceRecordSets* condition keys', async () => {
    const agent = sb.aws.principals.createUser({
      accountId: ACCOUNT,
      name: 'agent-a',
      policies: [
        {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: 'route53:ChangeResourceRecordSets',
              Resource: `arn:aws:route53:::hostedzone/${ZONE}`,
              Condition: {
                'ForAllValues:StringEquals': {
                  'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['_acme-challenge.a.example.com'],
                  'route53:ChangeResourceRecordSetsRecordTypes': ['TXT'],
                  'route53:ChangeResourceRecordSetsActions': ['UPSERT', 'DELETE'],
                },
              },
            },
            { Effect: 'Allow', Action: 'route53:GetChange', Resource: 'arn:aws:route53:::change/*' },
            { Effect: 'Allow', Action: 'route53:ListHostedZonesByName', Resource: '*' },
          ],
        },
      ],
    });
    const c = client(sb.url, agent);
    try {
      // upper case and the final dot are normalized away, as AWS does for the condition key
      const ok = await c.send(
        new ChangeResourceRecordSetsCommand({ HostedZoneId: ZONE, ChangeBatch: { Changes: [txt('UPSERT', '_ACME-challenge.A.example.com.', ['v'])] } }),
      );
      assert.equal(ok.ChangeInfo?.Status, 'PENDING');
      assert.equal((await c.send(new GetChangeCommand({ Id: ok.ChangeInfo!.Id }))).ChangeInfo?.Status, 'PENDING');
      const denied = await rejects(
        c.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: ZONE, ChangeBatch: { Changes: [txt('UPSERT', '_acme-challenge.b.example.com', ['v'])] } })),
      );
      assert.equal(denied.name, 'AccessDenied');
      assert.equal(denied.$metadata?.httpStatusCode, 403);
      assert.equal(
        denied.message,
        `User: ${agent.arn} is not authorized to perform: route53:ChangeResourceRecordSets on resource: arn:aws:route53:::hostedzone/${ZONE} because no identity-based policy allows the route53:ChangeResourceRecordSets action`,
      );
      // one foreign name in a batch denies the whole batch (ForAllValues), and CREATE is not among the allowed actions
      const mixed = await rejects(
        c.send(
          new ChangeResourceRecordSetsCommand({
            HostedZoneId: ZONE,
            ChangeBatch: { Changes: [txt('UPSERT', '_acme-challenge.a.example.com', ['v']), txt('UPSERT', 'www2.example.com', ['v'])] },
          }),
        ),
      );
      assert.equal(mixed.name, 'AccessDenied');
      const create = await rejects(
        c.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: ZONE, ChangeBatch: { Changes: [txt('CREATE', '_acme-challenge.a.example.com', ['w'])] } })),
      );
      assert.equal(create.name, 'AccessDenied');
      assert.equal((await rejects(c.send(new ListResourceRecordSetsCommand({ HostedZoneId: ZONE })))).name, 'AccessDenied');

      const recorded = sb.aws.calls.filter((x) => x.principalArn === agent.arn);
      assert.deepEqual(
        recorded.map((x) => [x.action, x.status, x.errorCode ?? '']),
        [
          ['ChangeResourceRecordSets', 200, ''],
          ['GetChange', 200, ''],
          ['ChangeResourceRecordSets', 403, 'AccessDenied'],
          ['ChangeResourceRecordSets', 403, 'AccessDenied'],
          ['ChangeResourceRecordSets', 403, 'AccessDenied'],
          ['ListResourceRecordSets', 403, 'AccessDenied'],
        ],
      );
      assert.equal(recorded[0]!.resource, `arn:aws:route53:::hostedzone/${ZONE}`);
      assert.deepEqual(recorded[2]!.detail, { changes: ['UPSERT TXT _acme-challenge.b.example.com.'] });
    } finally {
      c.destroy();
    }
  });

  it('serves SOA, NS and A authoritatively, NODATA for a missing type, REFUSED outside its zones', async () => {
    const soa = await dig(sb.dnsPort, 'example.com', 'SOA');
    assert.equal(soa.status, 'NOERROR');
    assert.match(soa.answers[0]!, /^ns-1\.awsdns-sandbox\.invalid\. awsdns-hostmaster\.amazon\.com\. 1 7200 900 1209600 86400$/);
    assert.equal((await dig(sb.dnsPort, 'example.com', 'NS', { tcp: true })).answers.length, 4);
    const a = await dig(sb.dnsPort, 'WWW.Example.com', 'A');
    assert.deepEqual(a.answers, ['192.0.2.10']);
    const nodata = await dig(sb.dnsPort, 'www.example.com', 'TXT');
    assert.deepEqual([nodata.status, nodata.answers.length, nodata.authority], ['NOERROR', 0, ['SOA']]);
    assert.ok(nodata.flags.includes('aa'));
    const refused = await dig(sb.dnsPort, 'example.net', 'A');
    assert.equal(refused.status, 'REFUSED');
    assert.ok(!refused.flags.includes('aa'));
    // a private zone is not served: its parent public zone answers that the name does not exist
    const priv = await dig(sb.dnsPort, 'internal.example.com', 'SOA');
    assert.deepEqual([priv.status, priv.answers.length, priv.authority], ['NXDOMAIN', 0, ['SOA']]);
  });

  it('records every answered call', async () => {
    const calls = (await (await fetch(`${sb.url}/_sandbox/calls?service=route53`)).json()) as { action: string; status: number; errorCode?: string }[];
    assert.equal(calls.length, sb.aws.calls.length);
    const actions = new Set(calls.map((c) => c.action));
    for (const a of ['ListHostedZonesByName', 'GetHostedZone', 'ListResourceRecordSets', 'ChangeResourceRecordSets', 'GetChange']) assert.ok(actions.has(a), a);
    assert.ok(calls.some((c) => c.errorCode === 'SignatureDoesNotMatch' && c.action === 'ListHostedZonesByName'));
    assert.ok(calls.some((c) => c.errorCode === 'NoSuchHostedZone' && c.status === 404));
  });
});

describe('Route 53 sandbox throttling and faults', () => {
  it('answers Throttling beyond 5 requests/s, which the SDK surfaces (and retries when allowed)', async () => {
    const sb = await startRoute53Sandbox({ zones: [{ name: 'example.com', id: ZONE }], ratePerSec: 5 });
    const u = sb.aws.principals.createUser({
      accountId: ACCOUNT,
      name: 'u',
      policies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'route53:*', Resource: '*' }] }],
    });
    const c = client(sb.url, u);
    try {
      const results = await Promise.allSettled(Array.from({ length: 10 }, () => c.send(new GetHostedZoneCommand({ Id: ZONE }))));
      const failed = results
        .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
        .map((r) => r.reason as Error & { name: string; $metadata: { httpStatusCode: number }; $retryable?: { throttling?: boolean } });
      assert.ok(results.filter((r) => r.status === 'fulfilled').length >= 5);
      assert.ok(failed.length >= 4, `${failed.length} throttled`);
      for (const e of failed) {
        assert.equal(e.name, 'Throttling');
        assert.equal(e.message, 'Rate exceeded');
        assert.equal(e.$metadata.httpStatusCode, 400);
      }
      assert.ok(sb.aws.calls.filter((x) => x.errorCode === 'Throttling').length >= 4);
      // the SDK's standard retry (3 attempts, backoff) treats Throttling as retryable and gets through
      const patient = new Route53Client({ region: 'us-east-1', endpoint: sb.url, credentials: u, maxAttempts: 5 });
      try {
        const r = await Promise.all(Array.from({ length: 6 }, () => patient.send(new GetHostedZoneCommand({ Id: ZONE }))));
        assert.equal(r.length, 6);
      } finally {
        patient.destroy();
      }
    } finally {
      c.destroy();
      await sb.close();
    }
  });

  it('sends Date from the sandbox clock, so the SDK corrects its skew after RequestExpired', async () => {
    const clock = offsetClock();
    clock.advance(3600_000);
    const sb = await startRoute53Sandbox({ clock, zones: [{ name: 'example.com', id: ZONE }], ratePerSec: 0 });
    const u = sb.aws.principals.createUser({
      accountId: ACCOUNT,
      name: 'u',
      policies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'route53:*', Resource: '*' }] }],
    });
    const c = new Route53Client({ region: 'us-east-1', endpoint: sb.url, credentials: u, maxAttempts: 2 });
    try {
      const r = await c.send(new GetHostedZoneCommand({ Id: ZONE }));
      assert.equal(r.HostedZone?.Id, `/hostedzone/${ZONE}`);
      assert.deepEqual(
        sb.aws.calls.map((x) => [x.status, x.errorCode ?? '']),
        [
          [400, 'RequestExpired'],
          [200, ''],
        ],
      );
    } finally {
      c.destroy();
      await sb.close();
    }
  });

  it('injects PriorRequestNotComplete and throttle storms through the admin API', async () => {
    const sb = await startRoute53Sandbox({ zones: [{ name: 'example.com', id: ZONE }], ratePerSec: 0 });
    const u = sb.aws.principals.createUser({
      accountId: ACCOUNT,
      name: 'u',
      policies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'route53:*', Resource: '*' }] }],
    });
    const c = client(sb.url, u);
    try {
      const set = await fetch(`${sb.url}/_sandbox/faults`, {
        method: 'POST',
        body: JSON.stringify({ priorRequestNotComplete: 1, throttleStorm: 1, insyncDelayMs: 5 }),
      });
      assert.deepEqual(((await set.json()) as { applied: string[] }).applied.sort(), ['insyncDelayMs', 'priorRequestNotComplete', 'throttleStorm']);
      assert.equal((await rejects(c.send(new GetHostedZoneCommand({ Id: ZONE })))).name, 'Throttling');
      const batch = { HostedZoneId: ZONE, ChangeBatch: { Changes: [txt('UPSERT', '_acme-challenge.example.com', ['v'])] } };
      const prior = await rejects(c.send(new ChangeResourceRecordSetsCommand(batch)));
      assert.equal(prior.name, 'PriorRequestNotComplete');
      assert.equal((await c.send(new ChangeResourceRecordSetsCommand(batch))).ChangeInfo?.Status, 'PENDING');
      const faults = (await (await fetch(`${sb.url}/_sandbox/faults`)).json()) as Record<string, unknown>;
      assert.deepEqual(faults, { throttleStorm: 0, throttleStormService: null, dateOffsetSeconds: 0, insyncDelayMs: 5, priorRequestNotComplete: 0 });
    } finally {
      c.destroy();
      await sb.close();
    }
  });
});
