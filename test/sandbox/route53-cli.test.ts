import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startRoute53Sandbox, type Route53Sandbox } from '../../src/sandbox/route53/index.js';
import type { Principal } from '../../src/sandbox/aws/types.js';
import { awsCli } from '../helpers/aws-cli.js';
import { tempDir } from '../helpers/paths.js';
import { dig } from './dns-helpers.js';

/**
 * AWS CLI v2 (botocore's REST-XML parser and SigV4 signer) against the Route 53 stand-in. /usr/bin/aws is the v2
 * CLI; the `aws` on PATH is a v1 shim and is never used. Keys travel in the environment, never on argv.
 */

const ZONE = 'Z0SANDBOXCLI00001';

describe('Route 53 sandbox with AWS CLI v2', () => {
  let sb: Route53Sandbox;
  let dir: string;
  let user: Principal;

  before(async () => {
    dir = tempDir('r53-cli');
    writeFileSync(path.join(dir, 'config'), '');
    writeFileSync(path.join(dir, 'credentials'), '');
    sb = await startRoute53Sandbox({ zones: [{ name: 'example.com', id: ZONE }], ratePerSec: 0 });
    user = sb.aws.principals.createUser({
      accountId: '111122223333',
      name: 'cli',
      policies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'route53:*', Resource: '*' }] }],
    });
  });
  after(async () => {
    await sb?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const aws = (args: string[], secret = user.secretAccessKey) =>
    awsCli(args, { endpoint: sb.url, home: dir, accessKeyId: user.accessKeyId, secretAccessKey: secret });

  it('lists hosted zones by name', async () => {
    const r = await aws(['route53', 'list-hosted-zones-by-name', '--dns-name', 'example.com']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      HostedZones: { Id: string; Name: string; Config: { PrivateZone: boolean }; ResourceRecordSetCount: number }[];
      DNSName: string;
      IsTruncated: boolean;
      MaxItems: string;
    };
    assert.deepEqual(
      out.HostedZones.map((z) => [z.Id, z.Name, z.Config.PrivateZone, z.ResourceRecordSetCount]),
      [[`/hostedzone/${ZONE}`, 'example.com.', false, 2]],
    );
    assert.equal(out.DNSName, 'example.com');
    assert.equal(out.IsTruncated, false);
    assert.equal(out.MaxItems, '100');
  });

  it('changes a TXT record from a change-batch file and follows it to INSYNC', async () => {
    const batch = path.join(dir, 'batch.json');
    writeFileSync(
      batch,
      JSON.stringify({
        Changes: [
          {
            Action: 'UPSERT',
            ResourceRecordSet: { Name: '_acme-challenge.cli.example.com', Type: 'TXT', TTL: 30, ResourceRecords: [{ Value: '"from-cli"' }] },
          },
        ],
      }),
    );
    const r = await aws(['route53', 'change-resource-record-sets', '--hosted-zone-id', ZONE, '--change-batch', `file://${batch}`]);
    assert.equal(r.code, 0, r.stderr);
    const info = (JSON.parse(r.stdout) as { ChangeInfo: { Id: string; Status: string; SubmittedAt: string } }).ChangeInfo;
    assert.equal(info.Status, 'PENDING');
    assert.ok(!Number.isNaN(Date.parse(info.SubmittedAt)));
    const g = await aws(['route53', 'get-change', '--id', info.Id]);
    assert.equal(g.code, 0, g.stderr);
    assert.equal((JSON.parse(g.stdout) as { ChangeInfo: { Status: string } }).ChangeInfo.Status, 'INSYNC');
    assert.deepEqual((await dig(sb.dnsPort, '_acme-challenge.cli.example.com', 'TXT')).answers, ['"from-cli"']);
    const l = await aws(['route53', 'list-resource-record-sets', '--hosted-zone-id', ZONE]);
    assert.equal(l.code, 0, l.stderr);
    assert.deepEqual(
      (JSON.parse(l.stdout) as { ResourceRecordSets: { Name: string; Type: string }[] }).ResourceRecordSets.map((x) => `${x.Name} ${x.Type}`),
      ['example.com. NS', 'example.com. SOA', '_acme-challenge.cli.example.com. TXT'],
    );
  });

  it('reports SignatureDoesNotMatch for a wrong secret', async () => {
    const r = await aws(['route53', 'list-hosted-zones-by-name'], 'wrong-secret');
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /\(SignatureDoesNotMatch\) when calling the ListHostedZonesByName operation( \(reached max retries: 0\))?: The request signature we calculated does not match/,
    );
  });
});
