import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { systemClock } from '../../src/core/clock.js';
import { AgentError } from '../../src/core/errors.js';
import { memoryLogger } from '../../src/core/logger.js';
import { createRoute53Provider, type Route53Credentials } from '../../src/dns/index.js';
import { route53Policy } from '../../src/policy/index.js';
import { enrolSandbox, txtRecords } from '../helpers/enrol.js';
import { helperFlags } from '../helpers/aws-helper.js';
import { awsHelperBin } from '../helpers/paths.js';
import type { E2eSandbox } from '../helpers/sandbox.js';

/**
 * Issue 9, "What must be shown" 2: two identities enrolled against the same sandbox share its fleet DNS role
 * (`sandbox up` creates it with exactly `policy route53 --fleet` and `policy trust --role dns`). Each host's session
 * comes from the AWS IAM Roles Anywhere credential helper v1.4.0 (an independent CreateSession signer) with the
 * host's live certificate and key; the sandbox evaluates the role's policy with its real IAM evaluator, the record
 * name resolved from the session's `x509Subject/CN` principal tag.
 */

const run = promisify(execFile);
const A = 'a.example.com';
const B = 'b.example.com';
const VALUE = 'LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0';

interface Call {
  service: string;
  action: string;
  status: number;
  errorCode?: string;
  principalArn?: string;
}

describe('one fleet DNS role: each host writes only its own challenge record', () => {
  let sb: E2eSandbox;
  const stateOf = (host: string) => path.join(sb.dir, host === A ? 'state' : `state-${host}`);

  /** the fleet-role session of a host, from the AWS credential helper with the host's live identity */
  async function fleetSession(host: string): Promise<Route53Credentials & { arn: string }> {
    const { stdout } = await run(awsHelperBin, ['credential-process', ...helperFlags(sb, { stateDir: stateOf(host), roleArn: sb.info.dnsRoleArn })]);
    const c = JSON.parse(stdout) as { AccessKeyId: string; SecretAccessKey: string; SessionToken: string };
    const principals = await sb.admin<{ accessKeyId: string; arn: string }[]>('principals');
    const arn = principals.find((p) => p.accessKeyId === c.AccessKeyId)?.arn ?? '';
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, arn };
  }

  const provider = (credentials: Route53Credentials) =>
    createRoute53Provider(
      { clock: systemClock, logger: memoryLogger() },
      {
        hostedZoneId: sb.info.zoneId,
        region: 'us-east-1',
        endpoint: sb.info.awsUrl,
        credentials,
        ttl: 10,
        resolvers: [sb.info.dnsServer],
        propagationTimeoutMs: 30_000,
        pollIntervalMs: 200,
      },
    );

  before(async () => {
    sb = await enrolSandbox({ name: A });
    // the bootstrap key may write both hosts' records (two per-host statements in one policy)
    await sb.admin('principals/policies', {
      accessKeyId: sb.info.dnsUser.accessKeyId,
      policies: [route53Policy({ zoneId: sb.info.zoneId, names: [A, B] })],
    });
    const a = await sb.cli(['bootstrap']);
    assert.equal(a.code, 0, a.stderr);
    const b = await sb.cli([
      'bootstrap',
      '--set',
      `identity.name=${B}`,
      '--set',
      `state.dir=${stateOf(B)}`,
      '--set',
      `state.runtimeDir=${path.join(sb.dir, `run-${B}`)}`,
    ]);
    assert.equal(b.code, 0, b.stderr);
  });
  after(async () => {
    await sb?.stop();
  });

  it('the sandbox fleet role holds exactly what `policy route53 --fleet` and `policy trust --role dns` print', async () => {
    const printed = async (args: string[]) => {
      const r = await sb.cli(['policy', ...args]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as unknown;
    };
    const spec = JSON.parse(readFileSync(path.join(sb.dir, 'iamra.json'), 'utf8')) as {
      roles: { name: string; trustPolicy: unknown; permissionPolicies: unknown[] }[];
      profiles: { roleArns: string[] }[];
    };
    const role = spec.roles.find((r) => r.name === 'iamra-agent-fleet-dns');
    assert.ok(role, 'sandbox up created the fleet DNS role');
    assert.deepEqual(role.permissionPolicies, [await printed(['route53', '--fleet', '--zone-id', sb.info.zoneId])]);
    assert.deepEqual(role.trustPolicy, await printed(['trust', '--role', 'dns', '--from-config', '--domain', sb.info.zone]));
    assert.ok(
      spec.profiles.some((p) => p.roleArns.includes(sb.info.dnsRoleArn)),
      'the profile lists it',
    );
  });

  it("a's fleet-role session cannot write _acme-challenge.b.example.com: AccessDenied naming the record, nothing written", async () => {
    const a = await fleetSession(A);
    assert.match(a.arn, /^arn:aws:sts::\d{12}:assumed-role\/iamra-agent-fleet-dns\//);
    await sb.admin('reset-calls', {});

    await assert.rejects(provider(a).present(`_acme-challenge.${B}`, VALUE), (e: unknown) => {
      assert.ok(e instanceof AgentError, String(e));
      assert.equal(e.code, 'ROUTE53_ACCESS_DENIED');
      assert.match(e.message, /AccessDenied/);
      assert.match(e.message, /_acme-challenge\.b\.example\.com/);
      return true;
    });
    assert.deepEqual(await txtRecords(sb), [], 'nothing written');

    const calls = await sb.admin<Call[]>('calls?service=route53');
    const changes = calls.filter((c) => c.action === 'ChangeResourceRecordSets');
    assert.deepEqual(
      changes.map((c) => [c.status, c.errorCode, c.principalArn]),
      [[403, 'AccessDenied', a.arn]],
      'the one write was refused, for the assumed-role session',
    );
  });

  it('each host writes and removes its own record with its own fleet-role session', async () => {
    for (const host of [A, B]) {
      const s = await fleetSession(host);
      const p = provider(s);
      // present() resolves only once the value is INSYNC and served by the zone's nameserver
      await p.present(`_acme-challenge.${host}`, VALUE);
      const records = await txtRecords(sb);
      assert.deepEqual(
        records.map((r) => r.name.replace(/\.$/, '')),
        [`_acme-challenge.${host}`],
      );
      await p.cleanup(`_acme-challenge.${host}`, VALUE);
      assert.deepEqual(await txtRecords(sb), []);
    }
  });

  it("the AWS CLI with b's session is refused a's record too (an independent client, the same policy)", async () => {
    const b = await fleetSession(B);
    const batch = JSON.stringify({
      Changes: [{ Action: 'UPSERT', ResourceRecordSet: { Name: `_acme-challenge.${A}`, Type: 'TXT', TTL: 10, ResourceRecords: [{ Value: `"${VALUE}"` }] } }],
    });
    const r = await run(
      '/usr/bin/aws',
      ['route53', 'change-resource-record-sets', '--endpoint-url', sb.info.awsUrl, '--hosted-zone-id', sb.info.zoneId, '--change-batch', batch],
      {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: sb.dir,
          AWS_ACCESS_KEY_ID: b.accessKeyId,
          AWS_SECRET_ACCESS_KEY: b.secretAccessKey,
          AWS_SESSION_TOKEN: b.sessionToken ?? '',
          AWS_REGION: 'us-east-1',
          AWS_CONFIG_FILE: '/dev/null',
          AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
        },
      },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /AccessDenied/);
    assert.match(r.stderr, /assumed-role\/iamra-agent-fleet-dns\//);
    assert.deepEqual(await txtRecords(sb), [], 'nothing written');
  });
});
