import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bareZoneId, decodeTxt, encodeTxt, normName } from '../../../src/dns/route53/index.js';

describe('Route 53 wire formats', () => {
  it('normalizes record names as Route 53 returns them (trailing dot, octal escapes, case)', () => {
    assert.equal(normName('_acme-challenge.Host1.example.com.'), '_acme-challenge.host1.example.com');
    assert.equal(normName('\\052.example.com.'), '*.example.com');
  });
  it('strips the /hostedzone/ prefix of zone ids', () => {
    assert.equal(bareZoneId('/hostedzone/Z123ABC'), 'Z123ABC');
    assert.equal(bareZoneId('Z123ABC'), 'Z123ABC');
  });
  it('quotes a TXT value and reads values written by others (several strings, escapes)', () => {
    const v = 'LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0';
    assert.equal(encodeTxt(v), `"${v}"`);
    assert.equal(decodeTxt(encodeTxt(v)), v);
    assert.equal(decodeTxt('"v=spf1 " "include:example.net"'), 'v=spf1 include:example.net');
    assert.equal(decodeTxt('"say \\"hi\\" \\\\ \\065"'), 'say "hi" \\ 5');
    assert.equal(encodeTxt('a"b\\c'), '"a\\"b\\\\c"');
  });
});
