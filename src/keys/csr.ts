import * as x509 from '@peculiar/x509';
import { createPublicKey, webcrypto } from 'node:crypto';
import { AgentError } from '../core/errors.js';
import { checkKeyPolicy } from './policy.js';
import type { KeyHandle } from './types.js';
import { keyHandleCrypto } from './webcrypto.js';

/** A PKCS#10 CSR for the identity: CN = first name, SAN = all names. Signed through the KeyHandle only. */
export async function buildCsr(key: KeyHandle, names: string[]): Promise<string> {
  const { crypto, keys, signingAlgorithm } = await keyHandleCrypto(key);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      name: [{ CN: [names[0]!] }],
      keys,
      signingAlgorithm,
      extensions: [new x509.SubjectAlternativeNameExtension(names.map((n) => ({ type: 'dns' as const, value: n })))],
    },
    crypto,
  );
  return csr.toString('pem');
}

export interface CsrInfo {
  names: string[];
  publicKeyDer: Buffer;
}

/**
 * External CSR mode (key made by `ykman piv certificates request`, a TPM, openssl): the CSR must be well formed,
 * its self-signature must verify, and its names must equal the identity, so we never enrol someone else's name.
 */
export async function checkExternalCsr(pem: string, file: string, expected: string[]): Promise<CsrInfo> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch (e) {
    throw new AgentError({
      code: 'CSR_INVALID',
      component: 'csr',
      message: `${file} is not a PEM certificate request`,
      hint: 'key.csrFile must hold a PKCS#10 CSR (-----BEGIN CERTIFICATE REQUEST-----)',
      cause: e,
    });
  }
  let ok = false;
  try {
    ok = await csr.verify(webcrypto as unknown as Crypto);
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new AgentError({
      code: 'CSR_BAD_SIGNATURE',
      component: 'csr',
      message: `${file}: the CSR self-signature does not verify`,
      hint: 'the CSR was altered or signed with another key; make it again',
    });
  }
  const names = csrNames(csr);
  const want = [...new Set(expected)].sort();
  const got = [...new Set(names)].sort();
  if (want.join(',') !== got.join(',')) {
    throw new AgentError({
      code: 'CSR_NAME_MISMATCH',
      component: 'csr',
      message: `${file} names ${got.join(', ') || '(none)'} but the identity is ${want.join(', ')}`,
      hint: 'make the CSR with CN and SANs equal to identity.name and identity.extraNames',
    });
  }
  const publicKey = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  checkKeyPolicy(publicKey, `the CSR in ${file}`);
  const publicKeyDer = publicKey.export({ type: 'spki', format: 'der' });
  return { names, publicKeyDer };
}

function csrNames(csr: x509.Pkcs10CertificateRequest): string[] {
  const names: string[] = [];
  const cn = csr.subjectName.getField('CN');
  names.push(...cn);
  // CSR extensions come back generic; re-parse the SAN from its raw bytes.
  const raw = csr.getExtension('2.5.29.17');
  const san = raw ? new x509.SubjectAlternativeNameExtension(raw.rawData) : undefined;
  for (const n of san?.names.items ?? []) if (n.type === 'dns') names.push(n.value);
  return names;
}
