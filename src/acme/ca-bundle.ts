import { readTextFile } from '../core/fs.js';
import { readPemCertificates } from '../core/pem.js';

/** acme.caBundle: readable, and holding at least one PEM certificate (a key or a DER file would fail every TLS call). */
export async function readCaBundle(file: string): Promise<string> {
  const pem = await readTextFile(file, 'acme.caBundle');
  readPemCertificates(pem, {
    what: `acme.caBundle ${file}`,
    component: 'config',
    hint: 'acme.caBundle must hold the PEM certificate(s) of the CA that signed the ACME server TLS certificate',
  });
  return pem;
}
