import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FileKeyHandle } from '../../src/keys/file.js';
import { tempDir } from '../helpers/paths.js';

export const TA = 'arn:aws:rolesanywhere:eu-west-1:123456789012:trust-anchor/11111111-2222-3333-4444-555555555555';
export const PROFILE = 'arn:aws:rolesanywhere:eu-west-1:123456789012:profile/66666666-7777-8888-9999-000000000000';
export const ROLE = 'arn:aws:iam::123456789012:role/iamra-agent';

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

/**
 * A three-level PKI made by the real openssl CLI: root CA → intermediate CA → leaf (P-256, 7 days, valid from
 * now). The temporary directory is removed before returning.
 */
export async function makePki(): Promise<TestPki> {
  const dir = tempDir('signer-pki');
  try {
    const f = (n: string) => path.join(dir, n);
    const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const k of ['root', 'int', 'leaf', 'other']) ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f(`${k}.key`));
    ssl('req', '-x509', '-new', '-key', f('root.key'), '-subj', '/CN=Signer Test Root', '-days', '3650', '-out', f('root.pem'));
    writeFileSync(f('ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
    writeFileSync(f('leaf.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n');
    const issue = (name: string, subject: string, ca: string, days: string, ext: string, serial: string) => {
      ssl('req', '-new', '-key', f(`${name}.key`), '-subj', subject, '-out', f(`${name}.csr`));
      ssl(
        'x509',
        '-req',
        '-in',
        f(`${name}.csr`),
        '-CA',
        f(`${ca}.pem`),
        '-CAkey',
        f(`${ca}.key`),
        '-set_serial',
        serial,
        '-days',
        days,
        '-extfile',
        f(ext),
        '-out',
        f(`${name}.pem`),
      );
    };
    issue('int', '/CN=Signer Test Intermediate', 'root', '3650', 'ca.ext', '2');
    issue('leaf', '/CN=host1.example.com', 'int', '7', 'leaf.ext', '0x6c8a648800b353455b5520636b775431');
    const read = (n: string) => readFileSync(f(n), 'utf8');
    return {
      rootPem: read('root.pem'),
      intPem: read('int.pem'),
      leafPem: read('leaf.pem'),
      root: new X509Certificate(read('root.pem')),
      int: new X509Certificate(read('int.pem')),
      leaf: new X509Certificate(read('leaf.pem')),
      leafKey: await FileKeyHandle.load(f('leaf.key')),
      otherKey: await FileKeyHandle.load(f('other.key')),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
