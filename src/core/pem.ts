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
