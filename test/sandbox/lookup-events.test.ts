import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { CloudTrailClient, LookupEventsCommand, paginateLookupEvents, type LookupEventsCommandInput } from '@aws-sdk/client-cloudtrail';
import { fixedClock } from '../../src/core/clock.js';
import { createAwsSandbox, type AwsSandbox } from '../../src/sandbox/aws/server.js';
import type { Principal } from '../../src/sandbox/aws/types.js';
import { createSessionRecord, type CreateSessionEvent } from '../../src/sandbox/iamra/cloudtrail.js';
import { createCloudTrailService } from '../../src/sandbox/iamra/lookup-events.js';
import { awsCli } from '../helpers/aws-cli.js';
import { tempDir } from '../helpers/paths.js';

/**
 * The CloudTrail LookupEvents stand-in against the real clients: @aws-sdk/client-cloudtrail (its JSON 1.1
 * serializer, SigV4 signer, paginator and retry strategy) and AWS CLI v2 (/usr/bin/aws, botocore). Keys travel in
 * the environment, never on argv.
 */

const ACCOUNT = '111122223333';
const T0 = Date.parse('2026-12-01T10:00:00Z');

/** 7 CreateSessions one per minute (two share a second), and one event of another source between them */
function records(): CreateSessionEvent[] {
  const at = [0, 60, 120, 120, 180, 240, 300];
  return at.map((s, i) =>
    createSessionRecord({
      time: new Date(T0 + s * 1000),
      requestId: `req-${i}`,
      eventId: `00000000-0000-4000-8000-00000000000${i}`,
      region: 'us-east-1',
      accountId: ACCOUNT,
      sourceIp: '127.0.0.1',
      userAgent: 'test',
      params: { roleSessionName: String(100000 + i) },
      certificate: { subject: 'CN=host1.example.com', issuer: 'CN=ca', serialHex: '01' },
    }),
  );
}

describe('CloudTrail LookupEvents stand-in', () => {
  const clock = fixedClock(new Date(Math.floor(Date.now() / 1000) * 1000));
  const events = records();
  let sandbox: AwsSandbox;
  let url: string;
  let auditor: Principal;
  let nobody: Principal;
  const dir = tempDir('lookup-events');

  before(async () => {
    sandbox = createAwsSandbox({ clock, throttle: false });
    sandbox.addService(createCloudTrailService({ events: () => events }));
    url = await sandbox.listen();
    auditor = sandbox.principals.createUser({
      accountId: ACCOUNT,
      name: 'auditor',
      policies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'cloudtrail:LookupEvents', Resource: '*' }] }],
    });
    nobody = sandbox.principals.createUser({ accountId: ACCOUNT, name: 'nobody', policies: [] });
    writeFileSync(path.join(dir, 'config'), '');
    writeFileSync(path.join(dir, 'credentials'), '');
  });
  after(async () => {
    await sandbox?.close();
  });

  const client = (who: { accessKeyId: string; secretAccessKey: string } = auditor, maxAttempts = 1) =>
    new CloudTrailClient({ endpoint: url, region: 'us-east-1', credentials: who, maxAttempts });
  // a fresh object each time: the SDK paginator writes NextToken into the input it is given
  const createSessions = (): LookupEventsCommandInput => ({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'CreateSession' }] });

  it('pages newest first through the SDK paginator, with CloudTrailEvent as the record string', async () => {
    const ids: string[] = [];
    let pages = 0;
    for await (const page of paginateLookupEvents({ client: client(), pageSize: 2 }, createSessions())) {
      pages++;
      assert.ok((page.Events ?? []).length <= 2);
      for (const e of page.Events ?? []) {
        const rec = JSON.parse(e.CloudTrailEvent ?? '') as CreateSessionEvent;
        assert.equal(rec.eventID, e.EventId);
        assert.equal(e.EventTime?.getTime(), Date.parse(rec.eventTime));
        assert.equal(e.EventSource, 'rolesanywhere.amazonaws.com');
        ids.push(e.EventId ?? '');
      }
    }
    assert.equal(pages, 4);
    assert.deepEqual(ids, events.map((e) => e.eventID).reverse());
  });

  it('StartTime and EndTime include their instants; an attribute that matches nothing gives no events', async () => {
    const out = await client().send(new LookupEventsCommand({ ...createSessions(), StartTime: new Date(T0 + 120_000), EndTime: new Date(T0 + 180_000) }));
    assert.deepEqual(
      out.Events?.map((e) => e.EventId),
      [events[4]!.eventID, events[3]!.eventID, events[2]!.eventID],
    );
    assert.equal(out.NextToken, undefined);
    const none = await client().send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'AssumeRole' }] }));
    assert.deepEqual(none.Events, []);
    const one = await client().send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventId', AttributeValue: events[5]!.eventID }] }));
    assert.deepEqual(
      one.Events?.map((e) => e.EventId),
      [events[5]!.eventID],
    );
  });

  it('a page cursor stays exact when new events arrive between pages', async () => {
    const first = await client().send(new LookupEventsCommand({ ...createSessions(), MaxResults: 3 }));
    events.push(
      createSessionRecord({
        time: new Date(T0 + 600_000),
        requestId: 'late',
        eventId: '00000000-0000-4000-8000-0000000000ff',
        region: 'us-east-1',
        accountId: ACCOUNT,
        sourceIp: '127.0.0.1',
        userAgent: 'test',
        params: {},
      }),
    );
    try {
      const second = await client().send(new LookupEventsCommand({ ...createSessions(), MaxResults: 50, NextToken: first.NextToken }));
      assert.deepEqual(
        [...(first.Events ?? []), ...(second.Events ?? [])].map((e) => e.EventId),
        events
          .slice(0, 7)
          .map((e) => e.eventID)
          .reverse(),
      );
    } finally {
      events.pop();
    }
  });

  it("refuses what CloudTrail refuses, with CloudTrail's error codes", async () => {
    const cases: [LookupEventsCommandInput, string][] = [
      [{ MaxResults: 51 }, 'InvalidMaxResultsException'],
      [{ StartTime: new Date(T0 + 1000), EndTime: new Date(T0) }, 'InvalidTimeRangeException'],
      [
        {
          LookupAttributes: [
            { AttributeKey: 'EventName', AttributeValue: 'CreateSession' },
            { AttributeKey: 'EventSource', AttributeValue: 'rolesanywhere.amazonaws.com' },
          ],
        },
        'InvalidLookupAttributesException',
      ],
      [{ NextToken: 'bm90LWEtdG9rZW4' }, 'InvalidNextTokenException'],
    ];
    for (const [input, code] of cases) {
      await assert.rejects(client().send(new LookupEventsCommand(input)), (e: Error) => e.name === code, code);
    }
    // a token is bound to the parameters it came from
    const page = await client().send(new LookupEventsCommand({ ...createSessions(), MaxResults: 1 }));
    await assert.rejects(client().send(new LookupEventsCommand({ NextToken: page.NextToken })), { name: 'InvalidNextTokenException' });
  });

  it('verifies SigV4 and authorizes cloudtrail:LookupEvents', async () => {
    await assert.rejects(client({ ...auditor, secretAccessKey: 'wrong'.padEnd(40, 'x') }).send(new LookupEventsCommand({})), { name: 'SignatureDoesNotMatch' });
    await assert.rejects(
      client(nobody).send(new LookupEventsCommand({})),
      (e: Error) => e.name === 'AccessDeniedException' && /cloudtrail:LookupEvents/.test(e.message),
    );
  });

  it('throttling (sandbox fault throttleStorm) is ThrottlingException, which the SDK retries', async () => {
    sandbox.setFaults({ throttleStorm: 2, throttleStormService: 'cloudtrail' });
    sandbox.resetCalls();
    const out = await client(auditor, 3).send(new LookupEventsCommand(createSessions()));
    assert.equal(out.Events?.length, 7);
    assert.deepEqual(
      sandbox.calls.map((c) => c.errorCode ?? c.status),
      ['ThrottlingException', 'ThrottlingException', 200],
    );
    sandbox.setFaults({ throttleStorm: 1, throttleStormService: 'cloudtrail' });
    await assert.rejects(client().send(new LookupEventsCommand({})), { name: 'ThrottlingException' });
  });

  it('AWS CLI v2: lookup-events through every page (--page-size 3), and its error for a bad key', async () => {
    const aws = (secret: string, args: string[]) =>
      awsCli(['cloudtrail', 'lookup-events', ...args], { endpoint: url, home: dir, accessKeyId: auditor.accessKeyId, secretAccessKey: secret });
    sandbox.resetCalls();
    const r = await aws(auditor.secretAccessKey, ['--lookup-attributes', 'AttributeKey=EventName,AttributeValue=CreateSession', '--page-size', '3']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { Events: { EventId: string; CloudTrailEvent: string; EventTime: string }[] };
    assert.deepEqual(
      out.Events.map((e) => e.EventId),
      events.map((e) => e.eventID).reverse(),
    );
    assert.equal((JSON.parse(out.Events[0]!.CloudTrailEvent) as CreateSessionEvent).requestParameters?.roleSessionName, '100006');
    assert.equal(sandbox.calls.length, 3, 'three pages of at most 3');
    const bad = await aws('wrong'.padEnd(40, 'x'), []);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /SignatureDoesNotMatch/);
  });
});
