import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto, type KeyObject } from 'node:crypto';

/** Test PKI made in-process with @peculiar/x509: CAs and leaves with chosen validity, key usage and names. */
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

export async function makeCa(o: { name: string; notBefore: Date; notAfter: Date; issuer?: Ca }): Promise<Ca> {
  const keys = (await subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const ext: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  if (o.issuer) ext.push(await x509.AuthorityKeyIdentifierExtension.create(o.issuer.keys.publicKey));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: nextSerial(),
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
}

export async function makeLeaf(o: LeafOptions): Promise<string> {
  const spki = o.publicKey.export({ type: 'spki', format: 'der' });
  const alg =
    o.publicKey.asymmetricKeyType === 'ec'
      ? { name: 'ECDSA', namedCurve: o.publicKey.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'P-384' : 'P-256' }
      : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const publicKey = await subtle.importKey('spki', spki, alg, true, ['verify']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: nextSerial(),
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
