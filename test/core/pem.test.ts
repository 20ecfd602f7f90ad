import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { pemCertificates, toPem } from '../../src/core/pem.js';
import { F_RSA_CERT } from '../signer/fixtures.js';

describe('core/pem', () => {
  it('splits a bundle into its CERTIFICATE blocks, ignoring text around them (RFC 7468 §2)', () => {
    const one = pemCertificates(F_RSA_CERT);
    assert.equal(one.length, 1);
    const bundle = `subject=CN=leaf\n${F_RSA_CERT}\nsome explanatory text\n${F_RSA_CERT.trimEnd()}`;
    const blocks = pemCertificates(bundle);
    assert.equal(blocks.length, 2);
    for (const b of blocks) {
      assert.match(b, /^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/);
      assert.equal(new X509Certificate(b).fingerprint256, new X509Certificate(F_RSA_CERT).fingerprint256);
    }
    assert.equal(blocks.join(''), `${one[0]}${one[0]}`);
    assert.deepEqual(pemCertificates('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'), []);
    assert.deepEqual(pemCertificates(''), []);
  });

  it('wraps DER in 64-character base64 lines that openssl/Node read back byte for byte', () => {
    const der = new X509Certificate(F_RSA_CERT).raw;
    const pem = toPem('CERTIFICATE', der);
    const lines = pem.trimEnd().split('\n');
    assert.equal(lines[0], '-----BEGIN CERTIFICATE-----');
    assert.equal(lines.at(-1), '-----END CERTIFICATE-----');
    assert.ok(lines.slice(1, -2).every((l) => l.length === 64));
    assert.ok(lines.at(-2)!.length <= 64);
    assert.deepEqual(new X509Certificate(pem).raw, der);
    // RFC 4648 §10 vector inside a block: "foobar" → Zm9vYmFy
    assert.equal(toPem('X', new TextEncoder().encode('foobar')), '-----BEGIN X-----\nZm9vYmFy\n-----END X-----\n');
    // a view into a larger buffer encodes only its own bytes
    assert.equal(toPem('X', new Uint8Array([0, 102, 111, 111, 0]).subarray(1, 4)), '-----BEGIN X-----\nZm9v\n-----END X-----\n');
  });
});
