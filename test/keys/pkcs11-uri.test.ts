import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgentError } from '../../src/core/errors.js';
import { formatPkcs11Uri, parsePkcs11Uri } from '../../src/keys/pkcs11-uri.js';

const fails = (uri: string, code: string, re: RegExp) =>
  assert.throws(
    () => parsePkcs11Uri(uri),
    (e: unknown) => e instanceof AgentError && e.code === code && re.test(e.message),
  );

test('RFC 7512 examples parse into token and object selectors', () => {
  // RFC 7512 §3: examples of PKCS#11 URIs
  assert.deepEqual(
    parsePkcs11Uri('pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=private'),
    {
      token: 'The Software PKCS#11 Softtoken',
      manufacturer: 'Snake Oil, Inc.',
      model: '1.0',
      object: 'my-certificate',
      type: 'private',
    },
  );
  assert.deepEqual(parsePkcs11Uri('pkcs11:object=my-sign-key;type=private?module-name=mypkcs11'), {
    object: 'my-sign-key',
    type: 'private',
    moduleName: 'mypkcs11',
  });
  assert.deepEqual(parsePkcs11Uri('pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.;serial=;x-vendor=1'), {
    token: 'Software PKCS#11 softtoken',
    manufacturer: 'Snake Oil, Inc.',
    serial: '',
  });
  assert.deepEqual(parsePkcs11Uri('pkcs11:id=%01%A2;slot-id=3'), { id: Buffer.from([1, 0xa2]), slotId: 3 });
  assert.deepEqual(parsePkcs11Uri('pkcs11:object=%E5%B0%8F%E9%8D%B5;token=t'), { object: '小鍵', token: 't' });
  assert.deepEqual(parsePkcs11Uri('pkcs11:object=小鍵'), { object: '小鍵' });
});

test('a PIN in the URI is refused, and never repeated in the error', () => {
  for (const uri of [
    'pkcs11:token=t;object=k?pin-value=123456',
    'pkcs11:token=t;pin-value=123456;object=k',
    'pkcs11:token=t?module-path=/x.so&pin-value=123456',
  ]) {
    assert.throws(
      () => parsePkcs11Uri(uri),
      (e: unknown) =>
        e instanceof AgentError && e.code === 'KEY_PKCS11_PIN_IN_URI' && !e.message.includes('123456') && /key\.pkcs11\.pinFile/.test(e.hint ?? ''),
    );
  }
  fails('pkcs11:token=t?pin-source=file:/etc/pin', 'KEY_PKCS11_PIN_IN_URI', /pin-source=/);
});

test('malformed URIs name the field and the problem', () => {
  fails('token=t;object=k', 'KEY_PKCS11_URI_INVALID', /^key\.pkcs11\.uri: must start with pkcs11:/);
  fails('pkcs11:token=t;objekt=k', 'KEY_PKCS11_URI_INVALID', /unknown attribute "objekt"/);
  fails('pkcs11:token=a;token=b', 'KEY_PKCS11_URI_INVALID', /token appears twice/);
  fails('pkcs11:object=%zz', 'KEY_PKCS11_URI_INVALID', /object has a bad percent-escape/);
  fails('pkcs11:token', 'KEY_PKCS11_URI_INVALID', /no name=value form/);
  fails('pkcs11:object=k;type=cert', 'KEY_PKCS11_URI_INVALID', /type=cert does not select a private key/);
  // read-certificate-data looks for certificates: there type=cert is right and type=private is not
  assert.equal(parsePkcs11Uri('pkcs11:token=t;object=c;type=cert', '--certificate', 'cert').type, 'cert');
  assert.throws(() => parsePkcs11Uri('pkcs11:token=t;type=private', '--certificate', 'cert'), /--certificate: type=private does not select a certificate/);
  fails('pkcs11:slot-id=one', 'KEY_PKCS11_URI_INVALID', /slot-id must be a decimal number/);
});

test('formatted URIs escape what must be escaped and read back the same', () => {
  const uri = formatPkcs11Uri({ token: 'my token;1', object: 'host-key/2', id: Buffer.from([0, 0xff]) });
  assert.equal(uri, 'pkcs11:token=my%20token%3b1;object=host-key%2f2;id=%00%ff');
  assert.deepEqual(parsePkcs11Uri(uri), { token: 'my token;1', object: 'host-key/2', id: Buffer.from([0, 0xff]) });
});
