/**
 * The AWS credential helper's diagnostic commands, with its output byte for byte where it is deterministic:
 * `read-certificate-data` (a PEM file → one JSON object; a pkcs11: URI → the matching certificate objects) and
 * `sign-string` (signs the helper's fixed test string, which binds the public key, so a hardware key can be checked
 * without a CreateSession). Go prints a PKCS#11 URI's attributes in map order; here they come in the order the
 * helper adds them.
 */
import { createHash, type KeyObject, X509Certificate } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { AgentError } from '../core/errors.js';
import type { KeyHandle, SignHash } from '../keys/types.js';
import { dropInKey, type DropInFlags, pinSource, refuseArgvSecrets } from './dropin.js';

const fail = (message: string, hint: string) => new AgentError({ code: 'DROPIN_INVALID', component: 'cli', message, hint });

async function readCertificate(file: string): Promise<X509Certificate> {
  let pem: string;
  try {
    pem = await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw new AgentError({
      code: 'FILE_UNREADABLE',
      component: 'cli',
      message: `--certificate ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      hint: 'check the path and its permissions',
      cause: e,
    });
  }
  // the helper reads the first CERTIFICATE block
  const block = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
  try {
    if (block) return new X509Certificate(block);
  } catch {
    // reported below, as the helper does: not a certificate
  }
  throw fail(`--certificate ${file} holds no PEM certificate`, 'pass the leaf certificate (-----BEGIN CERTIFICATE-----)');
}

function keyType(k: KeyObject): string {
  return k.asymmetricKeyType === 'ec' ? 'EC' : k.asymmetricKeyType === 'rsa' ? 'RSA' : '';
}

/** `read-certificate-data --certificate FILE`: the helper's CertificateData JSON, without a trailing newline. */
export async function certificateData(file: string): Promise<string> {
  const cert = await readCertificate(file);
  const type = keyType(cert.publicKey);
  return JSON.stringify({
    keyType: type,
    certificateData: cert.raw.toString('base64'),
    serialNumber: BigInt(`0x${cert.serialNumber}`).toString(),
    supportedAlgorithms: ['SHA256', 'SHA384', 'SHA512'].map((h) => `${type}${h}`),
  });
}

/** Go's pkix.Name.String(): the RDNs last to first, comma-separated. */
function goSubject(cert: X509Certificate): string {
  return cert.subject.split('\n').reverse().join(',');
}

/** github.com/stefanberger/go-pkcs11uri's escaping: RFC 7512 path characters kept, the rest %XX (id always). */
function uriEscape(v: Buffer | string, all: boolean): string {
  const bytes = Buffer.isBuffer(v) ? v : Buffer.from(v, 'utf8');
  let out = '';
  for (const c of bytes) {
    const ch = String.fromCharCode(c);
    out += !all && /[A-Za-z0-9&\-._~:[\]@!$'()*+,=]/.test(ch) ? ch : `%${c.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

async function tokenCertificateObjects(f: Pick<DropInFlags, 'certificate' | 'pkcs11Lib' | 'pinFile'>, env: NodeJS.ProcessEnv) {
  refuseArgvSecrets({ certificate: f.certificate });
  const { listPkcs11Certificates, defaultPkcs11Module } = await import('../keys/pkcs11.js');
  return listPkcs11Certificates({ module: f.pkcs11Lib ?? defaultPkcs11Module(), uri: f.certificate, pin: pinSource(f, env) });
}

/** The one certificate a pkcs11: URI selects. */
async function tokenCertificate(f: Pick<DropInFlags, 'certificate' | 'pkcs11Lib' | 'pinFile'>, env: NodeJS.ProcessEnv): Promise<X509Certificate> {
  const found = await tokenCertificateObjects(f, env);
  if (found.length !== 1) {
    throw fail(
      `--certificate ${f.certificate} matches ${found.length} certificates on the token`,
      'narrow it with object= or id= (read-certificate-data lists them)',
    );
  }
  return new X509Certificate(found[0]!.der);
}

/**
 * `read-certificate-data --certificate pkcs11:…`: "Matching identities", then per certificate its SHA-1
 * fingerprint, subject and a URI selecting it (or "No matching identities").
 */
export async function tokenCertificates(f: Pick<DropInFlags, 'certificate' | 'pkcs11Lib' | 'pinFile'>, env: NodeJS.ProcessEnv): Promise<string> {
  const found = await tokenCertificateObjects(f, env);
  if (found.length === 0) return 'No matching identities\n';
  const lines = ['Matching identities'];
  found.forEach((c, i) => {
    const cert = new X509Certificate(c.der);
    const attrs: [string, string][] = [
      ['model', uriEscape(c.token.model, false)],
      ['manufacturer', uriEscape(c.token.manufacturer, false)],
      ['serial', uriEscape(c.token.serial, false)],
      ['slot-description', uriEscape(c.slot.description, false)],
      ['slot-manufacturer', uriEscape(c.slot.manufacturer, false)],
      ...(c.id ? [['id', uriEscape(c.id, true)] as [string, string]] : []),
      ...(c.label !== undefined ? [['object', uriEscape(c.label, false)] as [string, string]] : []),
      ['type', 'cert'],
    ];
    lines.push(`${i + 1}) ${createHash('sha1').update(cert.raw).digest('hex')} "${goSubject(cert)}"`);
    lines.push(`\tURI: pkcs11:${attrs.map(([k, v]) => `${k}=${v}`).join(';')}`);
  });
  return `${lines.join('\n')}\n`;
}

/**
 * The helper's fixed test string (SIGN_STRING_TEST_VERSION 1): the text, "1", then SHA-256("IAM RA" || the public
 * key: an EC point uncompressed, an RSA key as PKCS#1), so a signature proves which key made it.
 */
export function fixedStringToSign(pub: KeyObject): Buffer {
  let keyBytes: Buffer;
  if (pub.asymmetricKeyType === 'ec') {
    const spki = pub.export({ type: 'spki', format: 'der' });
    const jwk = pub.export({ format: 'jwk' });
    const size = Buffer.from(jwk.x!, 'base64url').length;
    keyBytes = spki.subarray(spki.length - (1 + 2 * size));
  } else {
    keyBytes = pub.export({ type: 'pkcs1', format: 'der' });
  }
  const suffix = createHash('sha256')
    .update(Buffer.concat([Buffer.from('IAM RA'), keyBytes]))
    .digest();
  return Buffer.concat([Buffer.from('AWS Roles Anywhere Credential Helper Signing Test1'), suffix]);
}

export type SignFormat = 'json' | 'text' | 'bin';
export type SignDigest = 'SHA256' | 'SHA384' | 'SHA512';
const SIGN_HASH: Record<SignDigest, SignHash> = { SHA256: 'SHA-256', SHA384: 'SHA-384', SHA512: 'SHA-512' };

/** `sign-string`: the signature of the fixed string, as hex in a JSON string, plain hex, or raw bytes. */
export async function signString(
  f: Pick<DropInFlags, 'privateKey' | 'pkcs11Lib' | 'pinFile' | 'tpmKeyPassword'> & { certificate?: string },
  env: NodeJS.ProcessEnv,
  o: { digest: SignDigest; format: SignFormat },
): Promise<Buffer> {
  refuseArgvSecrets(f);
  if (f.privateKey === undefined) throw fail('sign-string needs --private-key (a file, a pkcs11: URI or handle:0x…)', 'e.g. --private-key /etc/pki/host.key');
  const key: KeyHandle = await dropInKey(f, env);
  const pub = await key.publicKey();
  // The helper needs the certificate to sign with a file key (and without one a token key's signature covers the
  // text alone, not the key digest); here it is a check that certificate and key belong together.
  if (f.certificate !== undefined) {
    const cert = f.certificate.startsWith('pkcs11:') ? await tokenCertificate({ ...f, certificate: f.certificate }, env) : await readCertificate(f.certificate);
    if (!cert.publicKey.export({ type: 'spki', format: 'der' }).equals(pub.export({ type: 'spki', format: 'der' }))) {
      throw fail(
        `--certificate ${f.certificate} is not the certificate of ${key.describe()}`,
        'pass the certificate issued for this key, or leave --certificate out',
      );
    }
  }
  const sig = await key.sign(fixedStringToSign(pub), SIGN_HASH[o.digest]);
  const hex = sig.toString('hex');
  return o.format === 'bin' ? sig : Buffer.from(o.format === 'json' ? JSON.stringify(hex) : hex);
}
