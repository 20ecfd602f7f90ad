import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { E2eSandbox } from '../helpers/sandbox.js';
import { assertNoTxt, dnsUserCredentials, enrolSandbox, grantPrintedPolicy } from '../helpers/enrol.js';
import { interceptingProxy, legoRun, type InterceptingProxy } from '../helpers/lego.js';

/**
 * Issue 2, "What must be shown" 4 (interop) against the same `sandbox up` the agent uses: lego's route53 provider
 * (aws-sdk-go v1) completes an order from the sandbox's Pebble through the Route 53 stand-in, with the agent's DNS
 * key limited to exactly what `policy route53` printed. lego v5 (AWS_ENDPOINT_URL_ROUTE_53) cannot be installed here
 * — the Go module proxy refuses it — so this is Debian's lego 4.9.1 through the intercepting proxy of
 * test/helpers/lego.ts (test/sandbox/route53-lego.test.ts covers its zone lookup by name).
 */

describe('lego 4.9.1 route53 provider against `sandbox up`', () => {
  let sb: E2eSandbox;
  let proxy: InterceptingProxy;
  before(async () => {
    sb = await enrolSandbox();
    proxy = await interceptingProxy(sb.dir, new URL(sb.info.awsUrl));
  });
  after(async () => {
    await proxy?.close();
    await sb?.stop();
  });

  it('issues a certificate chaining to the sandbox Pebble root, within the printed policy, leaving no TXT', async () => {
    await grantPrintedPolicy(sb, sb.info.name);
    await sb.admin('reset-calls', {});
    const dir = path.join(sb.dir, 'lego-home');
    mkdirSync(dir);
    const r = await legoRun({
      dir,
      directoryUrl: sb.info.directoryUrl,
      acmeCaPath: path.join(sb.dir, 'pebble', 'tls-ca.pem'),
      proxy,
      dnsServer: sb.info.dnsServer,
      domain: sb.info.name,
      credentials: dnsUserCredentials(sb),
      hostedZoneId: sb.info.zoneId,
      pollingIntervalSec: 1,
    });
    assert.equal(r.code, 0, r.stderr);
    const crt = path.join(dir, 'lego', 'certificates', `${sb.info.name}.crt`);
    // lego's .crt is the full chain: leaf first, then Pebble's intermediate
    assert.match(execFileSync('openssl', ['verify', '-CAfile', path.join(sb.dir, 'pebble-roots.pem'), '-untrusted', crt, crt], { encoding: 'utf8' }), /: OK/);
    assert.ok(
      proxy.hosts.every((h) => h === 'route53.amazonaws.com:443'),
      proxy.hosts.join(','),
    );
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
