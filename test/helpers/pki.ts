import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { FileKeyHandle } from '../../src/keys/file.js';

/**
 * The tests' one PKI builder, in-process with @peculiar/x509: CAs and leaves with chosen validity, key usage, names
 * and serials (makeCa, makeLeaf), and the ready-made three-level PKI the signer tests use (makePki).
 */
x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const subtle = webcrypto.subtle as unknown as SubtleCrypto;
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface Ca {
  cert: x509.X509Certificate;
  pem: string;
  keys: CryptoKeyPair;
}

/** 16 random bytes, high bit clear so the DER INTEGER stays positive without padding */
const nextSerial = () => '7f' + randomBytes(15).toString('hex');

export async function makeCa(o: { name: string; notBefore: Date; notAfter: Date; issuer?: Ca; serial?: string }): Promise<Ca> {
  const keys = (await subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const ext: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  if (o.issuer) ext.push(await x509.AuthorityKeyIdentifierExtension.create(o.issuer.keys.publicKey));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: o.serial ?? nextSerial(),
    subject: `CN=${o.name}`,
    issuer: o.issuer ? o.issuer.cert.subject : `CN=${o.name}`,
    notBefore: o.notBefore,
    notAfter: o.notAfter,
    publicKey: keys.publicKey,
    signingKey: (o.issuer ?? { keys }).keys.privateKey,
    signingAlgorithm: EC,
    extensions: ext,
  });
  return { cert, pem: cert.toString('pem'), keys };
}

export interface LeafOptions {
  issuer: Ca;
  names: string[];
  /** the subject public key (from a KeyHandle or a file key) */
  publicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  keyUsage?: x509.KeyUsageFlags;
  ca?: boolean;
  /** the issuer's signature hash (SHA-1 to test rejection) */
  hash?: 'SHA-1' | 'SHA-256';
  /** hex; random when unset */
  serial?: string;
}

export async function makeLeaf(o: LeafOptions): Promise<string> {
  const spki = o.publicKey.export({ type: 'spki', format: 'der' });
  const alg =
    o.publicKey.asymmetricKeyType === 'ec'
      ? { name: 'ECDSA', namedCurve: o.publicKey.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'P-384' : 'P-256' }
      : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const publicKey = await subtle.importKey('spki', spki, alg, true, ['verify']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: o.serial ?? nextSerial(),
    subject: `CN=${o.names[0]}`,
    issuer: o.issuer.cert.subject,
    notBefore: o.notBefore,
    notAfter: o.notAfter,
    publicKey,
    signingKey: o.issuer.keys.privateKey,
    signingAlgorithm: { ...EC, hash: o.hash ?? 'SHA-256' },
    extensions: [
      new x509.BasicConstraintsExtension(o.ca ?? false, undefined, true),
      new x509.KeyUsagesExtension(o.keyUsage ?? x509.KeyUsageFlags.digitalSignature, true),
      new x509.SubjectAlternativeNameExtension(o.names.map((n) => ({ type: 'dns' as const, value: n }))),
      await x509.AuthorityKeyIdentifierExtension.create(o.issuer.keys.publicKey),
    ],
  });
  return cert.toString('pem');
}

export const KU = x509.KeyUsageFlags;

export interface TestPki {
  rootPem: string;
  intPem: string;
  leafPem: string;
  leaf: X509Certificate;
  int: X509Certificate;
  root: X509Certificate;
  leafKey: FileKeyHandle;
  /** a key that is not the leaf's */
  otherKey: FileKeyHandle;
}

/** the leaf's serial in makePki: high bit clear, so its DER INTEGER needs no padding */
const PKI_LEAF_SERIAL = '6c8a648800b353455b5520636b775431';

/**
 * Root CA → intermediate CA → leaf for host1.example.com (P-256 file keys; the leaf valid 7 days from now, to the
 * second, as X.509 times are), and one unrelated key.
 */
export async function makePki(): Promise<TestPki> {
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);
  const years = new Date(now.getTime() + 3650 * 86_400_000);
  const root = await makeCa({ name: 'Signer Test Root', notBefore: now, notAfter: years });
  const int = await makeCa({ name: 'Signer Test Intermediate', notBefore: now, notAfter: years, issuer: root, serial: '02' });
  const leafKey = FileKeyHandle.generate({ type: 'ec', curve: 'P-256' });
  const leafPem = await makeLeaf({
    issuer: int,
    names: ['host1.example.com'],
    publicKey: await leafKey.publicKey(),
    notBefore: now,
    notAfter: new Date(now.getTime() + 7 * 86_400_000),
    serial: PKI_LEAF_SERIAL,
  });
  // PEM files end in a newline; the builders' strings do not
  return {
    rootPem: `${root.pem}\n`,
    intPem: `${int.pem}\n`,
    leafPem: `${leafPem}\n`,
    root: new X509Certificate(root.pem),
    int: new X509Certificate(int.pem),
    leaf: new X509Certificate(leafPem),
    leafKey,
    otherKey: FileKeyHandle.generate({ type: 'ec', curve: 'P-256' }),
  };
}
