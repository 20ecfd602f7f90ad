import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import { AgentError } from '../../src/core/errors.js';
import { memoryLogger } from '../../src/core/logger.js';
import { accountDirFor, certId, certIdFromParts, chooseProfile, resolveDirectoryUrl, retryAfterMs } from '../../src/acme/index.js';
import { clampAriRetryAfterSec as clampRetryAfterSec } from '../../src/core/retry.js';

// RFC 9773 §4.1 example: AKI keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4,
// serial 00:87:65:43:21 (high bit set, so DER keeps the leading zero) → aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE
const RFC_AKI = '69885b6b87464041e1b37b847ba0ae2cde01c8d4';
const RFC_CERT_ID = 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE';

async function certWith(serialHex: string, akiHex: string): Promise<string> {
  const crypto = webcrypto as unknown as Crypto;
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await crypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serialHex,
      subject: 'CN=ari.example.com',
      issuer: 'CN=issuer',
      notBefore: new Date('2025-01-01T00:00:00Z'),
      notAfter: new Date('2025-04-01T00:00:00Z'),
      publicKey: keys.publicKey,
      signingKey: keys.privateKey,
      signingAlgorithm: alg,
      extensions: [new x509.AuthorityKeyIdentifierExtension(akiHex)],
    },
    crypto,
  );
  return cert.toString('pem');
}

describe('ARI CertID (RFC 9773 §4.1)', () => {
  it('matches the RFC example from its parts', () => {
    assert.equal(certIdFromParts(Buffer.from(RFC_AKI, 'hex'), Buffer.from('0087654321', 'hex')), RFC_CERT_ID);
  });

  it('matches the RFC example from a certificate carrying that AKI and serial (the leading 0x00 is kept)', async () => {
    assert.equal(certId(await certWith('0087654321', RFC_AKI)), RFC_CERT_ID);
  });

  it('does not invent a leading zero for a serial whose high bit is clear', async () => {
    assert.equal(certId(await certWith('7f01', RFC_AKI)).split('.')[1], Buffer.from('7f01', 'hex').toString('base64url'));
  });

  it('a certificate without AKI is a clear error', async () => {
    const crypto = webcrypto as unknown as Crypto;
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = (await crypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
    const self = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=x', keys, signingAlgorithm: alg }, crypto);
    assert.throws(
      () => certId(self.toString('pem')),
      (e: unknown) => e instanceof AgentError && e.code === 'ACME_ARI_NO_AKI',
    );
  });

  it('clamps Retry-After to 1 minute … 1 day and parses both Retry-After forms', () => {
    assert.equal(clampRetryAfterSec(5), 60);
    assert.equal(clampRetryAfterSec(3 * 86400), 86400);
    assert.equal(clampRetryAfterSec(21600), 21600);
    const now = new Date('2026-11-22T10:00:00Z');
    assert.equal(retryAfterMs('120', now), 120_000);
    assert.equal(retryAfterMs('Sun, 22 Nov 2026 10:05:00 GMT', now), 300_000);
    assert.equal(retryAfterMs('soon', now), undefined);
    assert.equal(retryAfterMs(undefined, now), undefined);
  });
});

describe('directory aliases and profiles', () => {
  it('resolves aliases; production warns that AWS rejects public-CA trust anchors', () => {
    const logger = memoryLogger();
    assert.equal(resolveDirectoryUrl(undefined, logger), 'https://acme-staging-v02.api.letsencrypt.org/directory');
    assert.equal(resolveDirectoryUrl('letsencrypt-staging', logger), 'https://acme-staging-v02.api.letsencrypt.org/directory');
    assert.equal(logger.entries.length, 0);
    assert.equal(resolveDirectoryUrl('letsencrypt', logger), 'https://acme-v02.api.letsencrypt.org/directory');
    assert.equal(logger.entries[0]?.level, 'warn');
    assert.match(logger.entries[0]!.msg, /public-CA/);
    assert.equal(resolveDirectoryUrl('https://127.0.0.1:14000/dir', logger), 'https://127.0.0.1:14000/dir');
    assert.throws(
      () => resolveDirectoryUrl('http://ca.example/dir', logger),
      (e: unknown) => e instanceof AgentError && e.code === 'ACME_DIRECTORY_INVALID',
    );
  });

  it('keeps one account directory per CA host', () => {
    assert.equal(
      accountDirFor('/var/lib/iamra-agent', 'https://acme-staging-v02.api.letsencrypt.org/directory'),
      '/var/lib/iamra-agent/account/acme-staging-v02.api.letsencrypt.org',
    );
    assert.equal(accountDirFor('/s', 'https://127.0.0.1:14000/dir'), '/s/account/127.0.0.1_14000');
  });

  it('a profile asked of a directory without meta.profiles is a clear error', () => {
    const dir = { newNonce: 'n', newAccount: 'a', newOrder: 'o', meta: {} };
    assert.throws(
      () => chooseProfile(dir, 'shortlived', 'https://ca.example/dir'),
      (e: unknown) => e instanceof AgentError && e.code === 'ACME_PROFILES_UNSUPPORTED' && /advertises no profiles/.test(e.message),
    );
    assert.equal(chooseProfile(dir, undefined, 'https://ca.example/dir'), undefined);
    assert.equal(chooseProfile({ ...dir, meta: { profiles: { classic: 'c' } } }, 'classic', 'x'), 'classic');
  });
});
