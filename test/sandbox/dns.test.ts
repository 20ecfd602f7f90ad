import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { startAuthoritativeDns, type AuthoritativeDns, type DnsZone } from '../../src/sandbox/dns/server.js';
import { dig } from './dns-helpers.js';

/** The authoritative name server on its own, with a fixed zone, checked with the real dig. */

const SOA = 'ns1.example.com. hostmaster.example.com. 7 7200 900 1209600 300';
const big = Array.from({ length: 12 }, (_, i) => `"${String(i).padStart(2, '0')}${'x'.repeat(60)}"`);

const zones: DnsZone[] = [
  {
    name: 'example.com.',
    records: [
      { name: 'example.com.', type: 'SOA', ttl: 900, values: [SOA] },
      { name: 'example.com.', type: 'NS', ttl: 172800, values: ['ns1.example.com.'] },
      { name: 'example.com.', type: 'MX', ttl: 300, values: ['10 mail.example.com.'] },
      { name: 'example.com.', type: 'CAA', ttl: 300, values: ['0 issue "letsencrypt.org"'] },
      { name: 'www.example.com.', type: 'CNAME', ttl: 60, values: ['web.example.com.'] },
      { name: 'web.example.com.', type: 'AAAA', ttl: 60, values: ['2001:db8::1'] },
      { name: 'out.example.com.', type: 'CNAME', ttl: 60, values: ['elsewhere.example.net.'] },
      { name: '_acme-challenge.deep.sub.example.com.', type: 'TXT', ttl: 60, values: ['"a" "b c"', '"\\"quoted\\""'] },
      { name: '*.wild.example.com.', type: 'TXT', ttl: 60, values: ['"wildcard"'] },
      { name: 'big.example.com.', type: 'TXT', ttl: 60, values: big },
    ],
  },
];

describe('authoritative DNS server', () => {
  let dns: AuthoritativeDns;
  before(async () => {
    dns = await startAuthoritativeDns({ zones: { zones: () => zones } });
  });
  after(async () => {
    await dns?.close();
  });

  it('answers TXT with several character-strings and escapes', async () => {
    const r = await dig(dns.port, '_acme-challenge.deep.sub.example.com', 'TXT');
    assert.equal(r.status, 'NOERROR');
    assert.deepEqual(r.answers.sort(), ['"\\"quoted\\""', '"a" "b c"']);
  });

  it('follows a CNAME inside the zone and stops at one that leaves it', async () => {
    const r = await dig(dns.port, 'www.example.com', 'AAAA', { tcp: true });
    assert.deepEqual(r.answers, ['web.example.com.', '2001:db8::1']);
    const out = await dig(dns.port, 'out.example.com', 'A');
    assert.deepEqual([out.status, out.answers], ['NOERROR', ['elsewhere.example.net.']]);
  });

  it('distinguishes empty non-terminals (NODATA) from missing names (NXDOMAIN) and synthesizes wildcards', async () => {
    const ent = await dig(dns.port, 'sub.example.com', 'A');
    assert.deepEqual([ent.status, ent.answers.length, ent.authority], ['NOERROR', 0, ['SOA']]);
    const nx = await dig(dns.port, 'nothing.example.com', 'A');
    assert.deepEqual([nx.status, nx.authority], ['NXDOMAIN', ['SOA']]);
    assert.match(nx.raw, /example\.com\.\s+300\s+IN\s+SOA/, 'negative TTL is min(SOA TTL, MINIMUM) (RFC 2308)');
    const w = await dig(dns.port, 'anything.wild.example.com', 'TXT');
    assert.deepEqual([w.status, w.answers], ['NOERROR', ['"wildcard"']]);
    assert.match(w.raw, /^anything\.wild\.example\.com\.\s+60\s+IN\s+TXT/m);
  });

  it('serves MX and CAA at the apex', async () => {
    assert.deepEqual((await dig(dns.port, 'example.com', 'MX')).answers, ['10 mail.example.com.']);
    assert.deepEqual((await dig(dns.port, 'example.com', 'CAA')).answers, ['0 issue "letsencrypt.org"']);
  });

  it('truncates over UDP beyond 512 octets without EDNS, and TCP carries the whole answer', async () => {
    const { execFile } = await import('node:child_process');
    const raw = await new Promise<string>((resolve, reject) =>
      execFile('dig', ['@127.0.0.1', '-p', String(dns.port), 'big.example.com', 'TXT', '+noedns', '+ignore', '+time=2', '+tries=1'], (e, out) =>
        e ? reject(e) : resolve(out),
      ),
    );
    assert.match(raw, /;; flags: [a-z ]*\btc\b/);
    const tcp = await dig(dns.port, 'big.example.com', 'TXT', { tcp: true });
    assert.equal(tcp.answers.length, 12);
  });

  it('answers FORMERR to a malformed query and NOTIMP to other opcodes', async () => {
    const sock = dgram.createSocket('udp4');
    try {
      const reply = await new Promise<Buffer>((resolve, reject) => {
        sock.once('message', resolve);
        sock.once('error', reject);
        // a header claiming one question, followed by a truncated name
        sock.send(Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0x05, 0x61]), dns.port, '127.0.0.1');
      });
      assert.equal(reply.readUInt16BE(0), 0x1234);
      assert.equal(reply.readUInt16BE(2) & 0xf, 1);
    } finally {
      sock.close();
    }
    const { execFile } = await import('node:child_process');
    const raw = await new Promise<string>((resolve, reject) =>
      execFile('dig', ['@127.0.0.1', '-p', String(dns.port), 'example.com', 'SOA', '+opcode=status', '+time=2', '+tries=1'], (e, out) =>
        e ? reject(e) : resolve(out),
      ),
    );
    assert.match(raw, /status: NOTIMP/);
  });
});
