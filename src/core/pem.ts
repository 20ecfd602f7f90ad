import { X509Certificate } from 'node:crypto';
import { AgentError } from './errors.js';
import { binaryOffset } from './text.js';

/**
 * PEM text (RFC 7468) without a parser library: splitting a bundle into its certificate blocks and wrapping DER.
 * Text between blocks (comments, `openssl x509 -text` output) is ignored, as RFC 7468 §2 allows.
 */

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every CERTIFICATE block of a PEM text, in order, each ending in a newline (so they concatenate back to PEM). */
export function pemCertificates(pem: string): string[] {
  return pem.match(CERTIFICATE_BLOCK)?.map((b) => `${b}\n`) ?? [];
}

/** DER bytes as one PEM block: base64 in lines of 64 characters (RFC 7468 §2), ending in a newline. */
export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  return `-----BEGIN ${label}-----\n${(b64.match(/.{1,64}/g) ?? []).join('\n')}\n-----END ${label}-----\n`;
}

/**
 * Strict reading of PEM certificate files (trust anchors, the CA bundle, chain.pem, cert.pem). Each failure says
 * which file, what is wrong with it (empty, binary/DER, a key or CSR instead of a certificate, a truncated or
 * damaged block) and what to do — never the bare OpenSSL text (`error:0480006C:PEM routines::no start line`),
 * which stays in `cause` for debugging.
 */

export interface PemSource {
  /** how the file is named in messages, e.g. `trust anchor /etc/iamra-agent/ca.pem` or `acme.caBundle /x.pem` */
  what: string;
  /** the component reporting (config, verify, rolesanywhere, …) */
  component: string;
  /** what to do about it, appended after the specific advice */
  hint: string;
  /** an empty (or all-whitespace) text is allowed and gives no certificate (chain.pem of a leaf issued by a root) */
  allowEmpty?: boolean;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)(-----END \1-----|$)/g;

/** Labels of every PEM block in the text, in order (`CERTIFICATE`, `PRIVATE KEY`, `CERTIFICATE REQUEST`, …). */
export function pemLabels(text: string): string[] {
  return [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].map((m) => m[1]!);
}

function fail(src: PemSource, message: string, hint: string, cause?: unknown): AgentError {
  return new AgentError({
    code: 'PEM_INVALID',
    component: src.component,
    message: `${src.what} ${message}`,
    hint: `${hint}; ${src.hint}`,
    details: { file: src.what },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Every certificate of a PEM text, parsed; throws PEM_INVALID naming the file on anything else. */
export function readPemCertificates(text: string, src: PemSource): X509Certificate[] {
  if (binaryOffset(text) !== undefined) {
    throw fail(src, 'is not PEM text (it holds binary data)', 'a DER certificate can be converted with openssl x509 -inform der -in FILE -out FILE.pem');
  }
  const blocks = [...text.matchAll(BLOCK)];
  const certs = blocks.filter((b) => b[1] === 'CERTIFICATE');
  if (certs.length === 0) {
    if (blocks.length) {
      throw fail(src, `holds a ${blocks.map((b) => b[1]).join(', ')} but no CERTIFICATE`, 'give the PEM certificate(s) (-----BEGIN CERTIFICATE-----)');
    }
    if (!text.trim()) {
      if (src.allowEmpty) return [];
      throw fail(src, 'is empty', 'put the PEM certificate(s) in it');
    }
    throw fail(src, 'holds no PEM certificate (no -----BEGIN CERTIFICATE----- line)', 'give the PEM certificate(s), not DER or another format');
  }
  return certs.map((b, i) => {
    const n = certs.length > 1 ? ` certificate #${i + 1}` : '';
    if (!b[3]) throw fail(src, `${n ? `${n.trim()} ` : ''}is truncated (no -----END CERTIFICATE----- line)`, 'the file was cut short: copy it again');
    try {
      return new X509Certificate(b[0]);
    } catch (e) {
      throw fail(src, `${n ? `${n.trim()} ` : ''}is not a valid X.509 certificate (damaged base64 or DER)`, 'the file is corrupt: copy it again', e);
    }
  });
}
