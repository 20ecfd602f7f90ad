import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { E2eSandbox } from '../helpers/sandbox.js';
import { assertNoTxt, dnsUserCredentials, enrolSandbox, grantPrintedPolicy } from '../helpers/enrol.js';
import { isLoopbackAddress, lego5Run } from '../helpers/lego5.js';

/**
 * Issue 2, "What must be shown" 4 and issue 10 (interop with lego v5) against the same `sandbox up` the agent uses:
 * lego v5.6.0's route53 provider (aws-sdk-go-v2, test/peers/lego5) completes an order from the sandbox's Pebble
 * through the Route 53 stand-in (AWS_ENDPOINT_URL_ROUTE_53), with the agent's DNS key limited to exactly what
 * `policy route53` printed, and connects to nothing but loopback (test/sandbox/route53-lego.test.ts covers its zone
 * lookup by name).
 */

describe('lego v5 route53 provider against `sandbox up`', () => {
  let sb: E2eSandbox;
  before(async () => {
    sb = await enrolSandbox();
  });
  after(async () => {
    await sb?.stop();
  });

  it('issues a certificate chaining to the sandbox Pebble root, within the printed policy, on loopback only, leaving no TXT', async () => {
    await grantPrintedPolicy(sb, sb.info.name);
    await sb.admin('reset-calls', {});
    const dir = path.join(sb.dir, 'lego-home');
    mkdirSync(dir);
    const crt = path.join(dir, 'cert.pem');
    const r = await lego5Run({
      dir,
      directoryUrl: sb.info.directoryUrl,
      acmeCaPath: path.join(sb.dir, 'pebble', 'tls-ca.pem'),
      dnsServer: sb.info.dnsServer,
      route53Url: sb.info.awsUrl,
      domains: [sb.info.name],
      credentials: dnsUserCredentials(sb),
      hostedZoneId: sb.info.zoneId,
      pollingIntervalMs: 200,
      certPath: crt,
      traceConnects: true,
    });
    assert.equal(r.code, 0, r.stderr);
    // the bundle is the full chain: leaf first, then Pebble's intermediate
    assert.match(execFileSync('openssl', ['verify', '-CAfile', path.join(sb.dir, 'pebble-roots.pem'), '-untrusted', crt, crt], { encoding: 'utf8' }), /: OK/);
    assert.match(
      execFileSync('openssl', ['x509', '-in', crt, '-noout', '-ext', 'subjectAltName'], { encoding: 'utf8' }),
      new RegExp(`DNS:${sb.info.name.replace(/\./g, '\\.')}`),
    );
    // every socket lego opened went to loopback: the ACME server, the AWS front and the sandbox's DNS, never the host's resolver
    const connects = r.connects ?? [];
    assert.ok(connects.length > 0, 'strace saw no connect');
    assert.deepEqual(
      connects.filter((a) => !isLoopbackAddress(a)),
      [],
      connects.join('\n'),
    );
    for (const target of [new URL(sb.info.awsUrl).host, sb.info.dnsServer, new URL(sb.info.directoryUrl).host]) {
      assert.ok(connects.includes(`inet ${target}`), `no connection to ${target}: ${connects.join(', ')}`);
    }
    const calls = await sb.admin<{ action: string; status: number; principalArn?: string }[]>('calls?service=route53');
    assert.ok(calls.filter((c) => c.action === 'ChangeResourceRecordSets').length === 2, JSON.stringify(calls));
    for (const c of calls) {
      assert.ok(['ListResourceRecordSets', 'ChangeResourceRecordSets', 'GetChange'].includes(c.action), c.action);
      assert.equal(c.status, 200, JSON.stringify(c));
      assert.equal(c.principalArn, sb.info.dnsUser.arn);
    }
    await assertNoTxt(sb);
  });
});
