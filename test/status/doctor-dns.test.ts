import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { createRoute53Client, mayListHostedZones } from '../../src/dns/index.js';
import { route53Policy } from '../../src/policy/index.js';
import { startAuthoritativeDns, type AuthoritativeDns } from '../../src/sandbox/dns/server.js';
import { startRoute53Sandbox, type Route53Sandbox } from '../../src/sandbox/route53/index.js';
import { judgeDelegation, viewFrom } from '../../src/status/doctor-dns.js';

/**
 * doctor's delegation and credential-scope checks against the sandbox's real Route 53 stand-in and its
 * authoritative DNS server, in-process on loopback (the machine's resolver is never asked).
 */

const ACCOUNT = '111122223333';
const ZONE_ID = 'Z0DOCTOR0EXAMPLE0001';
const RECORD = '_acme-challenge.host1.example.com';
const NS = ['ns-1.awsdns-sandbox.invalid', 'ns-2.awsdns-sandbox.invalid', 'ns-3.awsdns-sandbox.invalid', 'ns-4.awsdns-sandbox.invalid'];

describe('doctor: the delegation seen from the configured servers', () => {
  let sb: Route53Sandbox;
  let other: AuthoritativeDns;
  before(async () => {
    sb = await startRoute53Sandbox({ zones: [{ name: 'example.com', id: ZONE_ID }], ratePerSec: 0 });
    // another copy of the zone with another NS set: what a stale delegation to an old hosted zone looks like
    const soa = 'ns-9.elsewhere.invalid. hostmaster.example.com. 1 7200 900 1209600 86400';
    other = await startAuthoritativeDns({
      zones: {
        zones: () => [
          {
            name: 'example.com.',
            records: [
              { name: 'example.com.', type: 'SOA', ttl: 900, values: [soa] },
              { name: 'example.com.', type: 'NS', ttl: 900, values: ['ns-9.elsewhere.invalid.'] },
            ],
          },
        ],
      },
    });
  });
  after(async () => {
    await sb?.close();
    await other?.close();
  });
  const server = () => ({ host: '127.0.0.1', port: sb.dnsPort });

  it('the authoritative server: zone apex and NS set, OK', async () => {
    const v = await viewFrom(RECORD, server(), 2000);
    assert.deepEqual(v, { server: `127.0.0.1:${sb.dnsPort}`, apex: 'example.com', ns: NS });
    assert.deepEqual(judgeDelegation(RECORD, [v, v], 'dns.resolvers'), {
      status: 'OK',
      evidence: `zone example.com NS ${NS.join(', ')}, served authoritatively by 127.0.0.1:${sb.dnsPort}, 127.0.0.1:${sb.dnsPort} (dns.resolvers)`,
      fix: '',
    });
  });

  it('a server that is not authoritative for the name FAILs naming it and the answer', async () => {
    const v = await viewFrom('_acme-challenge.host1.example.org', server(), 2000);
    assert.equal(v.problem, 'not authoritative for _acme-challenge.host1.example.org (REFUSED, AA clear, no SOA)');
    const r = judgeDelegation('_acme-challenge.host1.example.org', [v], 'dns.resolvers');
    assert.equal(r.status, 'FAIL');
    assert.match(r.fix, /dns\.resolvers.*registrar/);
  });

  it('an unreachable server FAILs as unreachable', async () => {
    // a bound UDP socket that never answers: the query times out
    const mute = dgram.createSocket('udp4');
    await new Promise<void>((r) => mute.bind(0, '127.0.0.1', r));
    try {
      const v = await viewFrom(RECORD, { host: '127.0.0.1', port: mute.address().port }, 300);
      assert.match(v.problem ?? '', /^unreachable: no UDP answer from 127\.0\.0\.1:\d+ within 300 ms$/);
      assert.equal(judgeDelegation(RECORD, [v], 'dns.resolvers').status, 'FAIL');
    } finally {
      mute.close();
    }
  });

  it('servers serving different NS sets for the zone FAIL as disagreeing; no servers at all FAIL', async () => {
    const views = [await viewFrom(RECORD, server(), 2000), await viewFrom(RECORD, { host: '127.0.0.1', port: other.port }, 2000)];
    const r = judgeDelegation(RECORD, views, 'dns.resolvers');
    assert.equal(r.status, 'FAIL');
    assert.match(
      r.evidence,
      /^the servers disagree: .* says zone example\.com NS ns-1\.awsdns-sandbox\.invalid.*; .* says zone example\.com NS ns-9\.elsewhere\.invalid$/,
    );
    assert.equal(judgeDelegation(RECORD, [], 'dns.resolvers').status, 'FAIL');
  });

  it('mayListHostedZones: true for credentials that may list zones, false for the zone-scoped policy', async () => {
    const withZone = sb.aws.principals.createUser({
      accountId: ACCOUNT,
      name: 'scoped',
      policies: [route53Policy({ zoneId: ZONE_ID, names: ['host1.example.com'] })],
    });
    const wide = sb.aws.principals.createUser({ accountId: ACCOUNT, name: 'wide', policies: [route53Policy({ names: ['host1.example.com'] })] });
    const client = (u: typeof wide) =>
      createRoute53Client({ region: 'us-east-1', endpoint: sb.url, credentials: { accessKeyId: u.accessKeyId, secretAccessKey: u.secretAccessKey } });
    assert.equal(await mayListHostedZones(client(withZone), { clock: systemClock }), false);
    assert.equal(await mayListHostedZones(client(wide), { clock: systemClock }), true);
    // any other failure is not an answer: it is the caller's to report
    const nobody = createRoute53Client({ region: 'us-east-1', endpoint: sb.url, credentials: { accessKeyId: 'AKIANOBODY0000000000', secretAccessKey: 'x' } });
    await assert.rejects(mayListHostedZones(nobody, { clock: systemClock }));
  });
});
