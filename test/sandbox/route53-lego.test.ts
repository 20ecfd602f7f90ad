import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { startPebble, type PebbleInstance } from '../../src/sandbox/pebble.js';
import { startRoute53Sandbox, type Route53Sandbox } from '../../src/sandbox/route53/index.js';
import type { Principal } from '../../src/sandbox/aws/types.js';
import { isLoopbackAddress, lego5Run } from '../helpers/lego5.js';
import { tempDir } from '../helpers/paths.js';

/**
 * lego v5.6.0 (test/peers/lego5) obtains a certificate from Pebble with its `route53` DNS-01 provider, i.e.
 * aws-sdk-go-v2 signing and parsing the Route 53 XML, against the sandbox; without a hosted zone id it finds the zone
 * by its SOA at the sandbox's DNS server and ListHostedZonesByName, and Pebble validates the TXT record at the same
 * server. test/e2e/enrol-lego.test.ts runs lego against `sandbox up` with exactly the policy `policy route53` prints.
 */

const ZONE = 'Z0SANDBOXLEGO0001';

describe('lego v5 (aws-sdk-go-v2) route53 provider against the sandbox', () => {
  let dir: string;
  let sb: Route53Sandbox;
  let pebble: PebbleInstance | undefined;
  let agent: Principal;
  before(async () => {
    dir = tempDir('r53-lego');
    sb = await startRoute53Sandbox({ zones: [{ name: 'example.com', id: ZONE }], insyncDelayMs: 1500 });
    agent = sb.aws.principals.createUser({
      accountId: '111122223333',
      name: 'lego',
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
                  'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['_acme-challenge.lego.example.com'],
                  'route53:ChangeResourceRecordSetsRecordTypes': ['TXT'],
                },
              },
            },
            { Effect: 'Allow', Action: ['route53:ListResourceRecordSets', 'route53:GetChange', 'route53:ListHostedZonesByName'], Resource: '*' },
          ],
        },
      ],
    });
    pebble = await startPebble({ dir: path.join(dir, 'pebble'), dnsServer: `127.0.0.1:${sb.dnsPort}` });
  });
  after(async () => {
    await pebble?.stop();
    await sb?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('issues a certificate through ListHostedZonesByName, ChangeResourceRecordSets and GetChange, on loopback only', async () => {
    const crt = path.join(dir, 'cert.pem');
    const r = await lego5Run({
      dir,
      directoryUrl: pebble!.directoryUrl,
      acmeCaPath: pebble!.tlsCaPemPath,
      dnsServer: `127.0.0.1:${sb.dnsPort}`,
      route53Url: sb.url,
      domains: ['lego.example.com'],
      credentials: agent,
      pollingIntervalMs: 500,
      propagationTimeoutMs: 30_000,
      certPath: crt,
      traceConnects: true,
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 0, `lego failed: ${r.stderr}\ncalls: ${JSON.stringify(sb.aws.calls.map((c) => [c.action, c.status, c.errorCode]))}`);
    assert.match(readFileSync(crt, 'utf8'), /BEGIN CERTIFICATE/);
    const connects = r.connects ?? [];
    assert.ok(connects.length > 0, 'strace saw no connect');
    assert.deepEqual(
      connects.filter((a) => !isLoopbackAddress(a)),
      [],
      connects.join('\n'),
    );
    assert.ok(connects.includes(`inet ${new URL(sb.url).host}`), connects.join(', '));
    const calls = sb.aws.calls.map((c) => `${c.action} ${c.status}${c.errorCode ? ` ${c.errorCode}` : ''}`);
    assert.ok(calls.includes('ListHostedZonesByName 200'), calls.join('\n'));
    assert.equal(calls.filter((c) => c === 'ChangeResourceRecordSets 200').length, 2, 'present and cleanup');
    assert.ok(
      calls.some((c) => c === 'GetChange 200'),
      calls.join('\n'),
    );
    assert.ok(
      calls.every((c) => / 200$/.test(c)),
      calls.join('\n'),
    );
    assert.match(r.stderr, /Server responded with a certificate/);
    // the cleanup was applied: nothing left but SOA and NS
    assert.deepEqual(
      sb.store.listRecords(ZONE).map((r) => r.type),
      ['NS', 'SOA'],
    );
  });
});
