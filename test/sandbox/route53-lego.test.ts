import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startPebble, type PebbleInstance } from '../../src/sandbox/pebble.js';
import { startRoute53Sandbox, type Route53Sandbox } from '../../src/sandbox/route53/index.js';
import type { Principal } from '../../src/sandbox/aws/types.js';
import { interceptingProxy, LEGO, type InterceptingProxy } from '../helpers/lego.js';
import { tempDir } from '../helpers/paths.js';

/**
 * lego 4.9.1 (Debian) obtains a certificate from Pebble with its built-in `route53` DNS-01 provider, i.e. aws-sdk-go
 * v1 signing and parsing the Route 53 XML, against the sandbox; Pebble validates the TXT record at the sandbox's
 * authoritative DNS server, reaching the sandbox through the intercepting HTTPS proxy of test/helpers/lego.ts.
 * test/e2e/enrol-lego.test.ts runs lego against `sandbox up` with exactly the policy `policy route53` prints.
 */

const run = promisify(execFile);
const ZONE = 'Z0SANDBOXLEGO0001';

describe('lego (aws-sdk-go v1) route53 provider against the sandbox', () => {
  let dir: string;
  let sb: Route53Sandbox;
  let pebble: PebbleInstance | undefined;
  let proxy: InterceptingProxy | undefined;
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
    proxy = await interceptingProxy(dir, new URL(sb.url));
    writeFileSync(path.join(dir, 'aws-config'), '');
  });
  after(async () => {
    await proxy?.close();
    await pebble?.stop();
    await sb?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('issues a certificate through ListHostedZonesByName, ChangeResourceRecordSets and GetChange', async () => {
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      HTTPS_PROXY: proxy!.url,
      AWS_CA_BUNDLE: proxy!.caPath,
      AWS_ACCESS_KEY_ID: agent.accessKeyId,
      AWS_SECRET_ACCESS_KEY: agent.secretAccessKey,
      AWS_REGION: 'us-east-1',
      AWS_CONFIG_FILE: path.join(dir, 'aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'aws-config'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_POLLING_INTERVAL: '1',
      AWS_PROPAGATION_TIMEOUT: '30',
      LEGO_CA_CERTIFICATES: pebble!.tlsCaPemPath,
    };
    const args = [
      '--server',
      pebble!.directoryUrl,
      '--path',
      path.join(dir, 'lego'),
      '--accept-tos',
      '--email',
      'sandbox@example.com',
      '--key-type',
      'ec256',
      '--domains',
      'lego.example.com',
    ];
    args.push('--dns', 'route53', '--dns.resolvers', `127.0.0.1:${sb.dnsPort}`, '--dns.disable-cp', 'run');
    let out: { stdout: string; stderr: string };
    try {
      out = await run(LEGO, args, { env, cwd: dir, timeout: 60_000 });
    } catch (e) {
      const x = e as { stderr?: string };
      assert.fail(`lego failed: ${x.stderr ?? String(e)}\ncalls: ${JSON.stringify(sb.aws.calls.map((c) => [c.action, c.status, c.errorCode]))}`);
    }
    assert.match(readFileSync(path.join(dir, 'lego', 'certificates', 'lego.example.com.crt'), 'utf8'), /BEGIN CERTIFICATE/);
    assert.ok(
      proxy!.hosts.every((h) => h === 'route53.amazonaws.com:443'),
      proxy!.hosts.join(','),
    );
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
    assert.match(out.stderr, /Server responded with a certificate/);
    // the cleanup was applied: nothing left but SOA and NS
    assert.deepEqual(
      sb.store.listRecords(ZONE).map((r) => r.type),
      ['NS', 'SOA'],
    );
  });
});
