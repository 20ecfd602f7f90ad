import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as x509 from '@peculiar/x509';
import { generateKeyPairSync, webcrypto } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { formatError, isAgentError } from '../../src/core/errors.js';
import { checkExternalCsr } from '../../src/keys/csr.js';
import { FileKeyHandle } from '../../src/keys/file.js';
import { KEY_POLICY, checkKeyPolicy } from '../../src/keys/policy.js';
import { tempDir } from '../helpers/paths.js';

/**
 * Issue 12 item 4: one key policy (RSA 2048-8192, EC P-256/P-384) for key.pem files, external CSRs and generated
 * keys, refused with the reason — a 1024-bit RSA CSR used to be enrolled while the same key in key.pem was "not a
 * readable private key".
 */

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const NAME = 'host1.example.test';

async function rsaCsr(bits: number): Promise<string> {
  const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: bits };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${NAME}`,
    keys,
    signingAlgorithm: alg,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: NAME }])],
  });
  return csr.toString('pem');
}

function policyError(e: unknown, what: RegExp): true {
  assert.ok(isAgentError(e), String(e));
  assert.equal(e.code, 'KEY_POLICY');
  const line = formatError(e);
  assert.match(line, what);
  assert.ok(line.includes(KEY_POLICY), line);
  assert.match(line, /NIST SP 800-131A/, 'the reason');
  return true;
}

test('a 1024-bit RSA key is refused the same way in key.pem and in an external CSR, with the reason', async (t) => {
  const dir = tempDir('keypolicy');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'key.pem');
  writeFileSync(file, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await assert.rejects(FileKeyHandle.load(file), (e) => policyError(e, new RegExp(`${file} is an RSA key of 1024 bits`)));
  await assert.rejects(FileKeyHandle.load(file, { sync: true }), (e) => policyError(e, new RegExp(`${file} is an RSA key of 1024 bits`)));
  // a missing file: the same error read either way
  const missing = path.join(dir, 'missing.pem');
  const unreadable = (e: unknown) => isAgentError(e) && e.code === 'FILE_UNREADABLE' && e.message === `cannot read private key ${missing}: ENOENT`;
  await assert.rejects(FileKeyHandle.load(missing), unreadable);
  await assert.rejects(FileKeyHandle.load(missing, { sync: true }), unreadable);
  await assert.rejects(checkExternalCsr(await rsaCsr(1024), '/etc/host.csr', [NAME]), (e) =>
    policyError(e, /the CSR in \/etc\/host\.csr is an RSA key of 1024 bits/),
  );
  // the accepted sizes pass in both places
  assert.equal((await checkExternalCsr(await rsaCsr(2048), '/etc/host.csr', [NAME])).names.length, 2);
  writeFileSync(file, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  assert.deepEqual((await FileKeyHandle.load(file)).algorithm, { type: 'rsa', bits: 2048 });
});

test('other curves and key types are refused, each with its reason; P-256, P-384 and generated keys pass', () => {
  assert.throws(() => checkKeyPolicy(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey, 'k.pem'), /k\.pem is an EC key on curve secp256k1/);
  assert.throws(() => checkKeyPolicy(generateKeyPairSync('ed25519').publicKey, 'k.pem'), /k\.pem is a ed25519 key.*RSA or ECDSA only/);
  assert.deepEqual(checkKeyPolicy(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey, 'k'), { type: 'ec', curve: 'P-384' });
  assert.deepEqual(FileKeyHandle.generate({ type: 'ec', curve: 'P-256' }).algorithm, { type: 'ec', curve: 'P-256' });
});
