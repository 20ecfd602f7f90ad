import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { formatError, isAgentError } from '../../src/core/errors.js';
import { readPemCertificates } from '../../src/core/pem.js';
import { parseCertificates } from '../../src/signer/index.js';
import { makeCa, type Ca } from '../helpers/pki.js';

/**
 * Issue 12 items 2 and 7: a certificate file that holds no usable certificate is named, with what is wrong and what
 * to do, and never with OpenSSL's own text (error:0480006C:PEM routines::no start line) or the file's bytes.
 */

let ca: Ca;
before(async () => {
  ca = await makeCa({ name: 'PEM Test CA', notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2036-01-01T00:00:00Z') });
});

const src = { what: 'trust.anchors[0] /etc/ca.pem', component: 'config', hint: 'list the CA certificate' };

function refused(text: string, pattern: RegExp, o: { allowEmpty?: boolean } = {}): void {
  assert.throws(
    () => readPemCertificates(text, { ...src, ...o }),
    (e: unknown) => {
      assert.ok(isAgentError(e));
      assert.equal(e.code, 'PEM_INVALID');
      const line = formatError(e);
      assert.ok(line.startsWith('config: trust.anchors[0] /etc/ca.pem '), line);
      assert.match(line, pattern);
      assert.match(line, /list the CA certificate/);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is that no control character reaches the user
      assert.doesNotMatch(line, /error:[0-9A-F]{8}|routines|asn1|\\x00|[\u0000-\u0008]/);
      return true;
    },
  );
}

test('each kind of unusable certificate file gets its own message naming the file', () => {
  const body = ca.pem.split('\n');
  const der = Buffer.from(ca.cert.rawData).toString('latin1');
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  refused('', /is empty/);
  refused('  \n\n', /is empty/);
  refused(der, /is not PEM text \(it holds binary data\).*openssl x509 -inform der/);
  refused(key, /holds a PRIVATE KEY but no CERTIFICATE/);
  refused('-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n', /holds a CERTIFICATE REQUEST but no CERTIFICATE/);
  refused('hello, I am not a certificate\n', /holds no PEM certificate/);
  refused(body.slice(0, 4).join('\n'), /is truncated \(no -----END CERTIFICATE----- line\)/);
  refused([body[0], body[1]!.replace(/^.{10}/, 'AAAAAAAAAA'), ...body.slice(2)].join('\n'), /is not a valid X\.509 certificate \(damaged base64 or DER\)/);
  refused(ca.pem + body.slice(0, 3).join('\n'), /certificate #2 is truncated/);
});

test('good files: one certificate, a bundle with comments; empty allowed only where it means "none" (chain.pem)', () => {
  assert.equal(readPemCertificates(ca.pem, src).length, 1);
  assert.equal(readPemCertificates(`# the test CA\n${ca.pem}\n# again\n${ca.pem}`, src).length, 2);
  assert.deepEqual(readPemCertificates('', { ...src, allowEmpty: true }), []);
  refused('garbage', /holds no PEM certificate/, { allowEmpty: true });
});

test('issue 12 item 7: the signer refuses a corrupt chain.pem locally (CERT_INVALID), naming it, instead of sending no chain', () => {
  assert.throws(
    () => parseCertificates('this chain was overwritten\n', '/var/lib/iamra-agent/live/chain.pem'),
    (e: unknown) => {
      assert.ok(isAgentError(e));
      assert.equal(e.code, 'CERT_INVALID');
      assert.match(e.message, /^\/var\/lib\/iamra-agent\/live\/chain\.pem holds no PEM certificate/);
      return true;
    },
  );
  assert.throws(() => parseCertificates(ca.pem.slice(0, 200), 'chain.pem'), /chain\.pem is truncated/);
});
