import { certificateAttributes, serialHex, subjectCommonName, type CertificateField, type ParsedCertificate } from './certs.js';
import type { AttributeMapping } from './registry.js';

/**
 * How IAM Roles Anywhere turns the leaf certificate into session attributes (iamra-protocol §2.5): principal tags
 * `x509Subject/<RDN>`, `x509Issuer/<RDN>`, `x509SAN/DNS|URI|Name/<RDN>` filtered by the profile's attribute
 * mappings, and the source identity.
 */

/**
 * STS session tag values: letters, digits, spaces and `_ . : / = + - @`, at most 256 characters (STS Tag.Value
 * pattern `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`). The real service fails the whole CreateSession when a mapped attribute
 * does not fit, e.g. Let's Encrypt staging issuers `(STAGING) …` with `(`, `)` and `'`.
 */
const TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const TAG_VALUE_MAX = 256;

const FIELD_LABEL: Record<CertificateField, string> = { x509Subject: 'Subject', x509Issuer: 'Issuer', x509SAN: 'SAN' };

export type SessionTagsResult =
  | { ok: true; tags: Record<string, string> }
  | { ok: false; message: string; failed: Partial<Record<CertificateField, string[]>> };

export function mapSessionTags(leaf: ParsedCertificate, mappings: AttributeMapping[]): SessionTagsResult {
  const attributes = certificateAttributes(leaf);
  const tags: Record<string, string> = {};
  const failed: Partial<Record<CertificateField, string[]>> = {};
  for (const m of mappings) {
    const specifiers = new Set(m.mappingRules.map((r) => r.specifier));
    for (const [key, value] of attributes[m.certificateField]) {
      if (!specifiers.has('*') && !specifiers.has(key)) continue;
      if (!TAG_VALUE.test(value) || value.length > TAG_VALUE_MAX) {
        const list = failed[m.certificateField] ?? [];
        list.push(key);
        failed[m.certificateField] = list;
      } else tags[`${m.certificateField}/${key}`] = value;
    }
  }
  const bad = (Object.keys(failed) as CertificateField[]).map((f) => `${FIELD_LABEL[f]}: [${failed[f]!.join(', ')}]`);
  if (bad.length) return { ok: false, message: `Some attributes failed to be mapped into session tags. ${bad.join(' ')}`, failed };
  return { ok: true, tags };
}

/** `CN=<cn>` when the CN has at most 61 characters, "" for 62–64, `ID=<hex serial>` without a CN (§2.5). */
export function sourceIdentity(leaf: ParsedCertificate): string {
  const cn = subjectCommonName(leaf);
  if (cn === undefined) return `ID=${serialHex(leaf.serial)}`;
  return cn.length <= 61 ? `CN=${cn}` : '';
}
