import { AsnConvert, AsnIntegerArrayBufferConverter, AsnProp, AsnPropTypes } from '@peculiar/asn1-schema';
import { AgentError } from '../core/errors.js';

/**
 * The `TSS2 PRIVATE KEY` PEM (draft-bottomley-tpm2-keys, "loadable key"): the TPM's encrypted private blob and its
 * public area, wrapped under the parent they load into. This is the file the AWS credential helper, the tpm2 OpenSSL
 * provider and the tpm2 engine read. It is written here rather than with tpm2_encodeobject: tpm2-tools 5.4
 * (Debian 12) writes `emptyAuth FALSE` for a key without a password (and TRUE with `-p`), which makes the AWS
 * helper ask for a password the key does not have.
 */

export const TSS2_PEM_LABEL = 'TSS2 PRIVATE KEY';
const OID_LOADABLE_KEY = '2.23.133.10.1.3';

class TssPrivKey {
  type = OID_LOADABLE_KEY;
  emptyAuth?: boolean;
  /** policy [1], secret [2] and authPolicy [3] are never made by the agent: refused on read */
  policy?: ArrayBuffer;
  secret?: ArrayBuffer;
  authPolicy?: ArrayBuffer;
  /** a persistent handle (0x81…) does not fit asn1js's signed 32-bit number: kept as the DER integer's bytes */
  parent = new ArrayBuffer(0);
  /** TPM2B_PUBLIC, with its 2-byte size, exactly as tpm2_create -u writes it */
  pubkey = new ArrayBuffer(0);
  /** TPM2B_PRIVATE, with its 2-byte size (tpm2_create -r) */
  privkey = new ArrayBuffer(0);
}
// the schema, applied without decorator syntax (the build does not enable experimentalDecorators)
const fields: [keyof TssPrivKey, Parameters<typeof AsnProp>[0]][] = [
  ['type', { type: AsnPropTypes.ObjectIdentifier }],
  ['emptyAuth', { type: AsnPropTypes.Boolean, context: 0, optional: true }],
  ['policy', { type: AsnPropTypes.Any, context: 1, optional: true }],
  ['secret', { type: AsnPropTypes.Any, context: 2, optional: true }],
  ['authPolicy', { type: AsnPropTypes.Any, context: 3, optional: true }],
  ['parent', { type: AsnPropTypes.Integer, converter: AsnIntegerArrayBufferConverter }],
  ['pubkey', { type: AsnPropTypes.OctetString }],
  ['privkey', { type: AsnPropTypes.OctetString }],
];
for (const [name, o] of fields) AsnProp(o)(TssPrivKey.prototype, name);

export interface Tss2Key {
  /** the parent's handle, e.g. 0x81000001 */
  parent: string;
  emptyAuth: boolean;
  /** TPM2B_PUBLIC */
  pub: Buffer;
  /** TPM2B_PRIVATE */
  priv: Buffer;
}

function handleBytes(handle: string): ArrayBuffer {
  const n = Number.parseInt(handle, 16);
  const b = Buffer.alloc(5);
  b.writeUInt32BE(n, 1); // leading zero: DER INTEGER is signed, and 0x81… is positive
  return new Uint8Array(b).buffer;
}

function handleOf(bytes: ArrayBuffer): number {
  const b = Buffer.from(bytes);
  if (b.length === 0 || b.length > 5 || (b.length === 5 && b[0] !== 0) || (b[0]! & 0x80 && b.length < 5)) return -1;
  return b.readUIntBE(0, b.length);
}

export function encodeTss2Pem(k: Tss2Key): string {
  const v = new TssPrivKey();
  if (k.emptyAuth) v.emptyAuth = true; // DEFAULT FALSE: absent unless true
  v.parent = handleBytes(k.parent);
  v.pubkey = new Uint8Array(k.pub).buffer;
  v.privkey = new Uint8Array(k.priv).buffer;
  const b64 = Buffer.from(AsnConvert.serialize(v)).toString('base64');
  return `-----BEGIN ${TSS2_PEM_LABEL}-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END ${TSS2_PEM_LABEL}-----\n`;
}

/** Parses a TSS2 PEM; `where` (the file, or the config field) is named in every error. */
export function decodeTss2Pem(pem: string, where: string): Tss2Key {
  const bad = (why: string) =>
    new AgentError({
      code: 'KEY_TPM_FILE_INVALID',
      component: 'tpm',
      message: `${where} is not a usable TSS2 PRIVATE KEY: ${why}`,
      hint: 'point key.tpm.keyFile at a TSS2 PEM made for this TPM (or a file name, for bootstrap to create the key)',
    });
  const m = new RegExp(`-----BEGIN ${TSS2_PEM_LABEL}-----([A-Za-z0-9+/=\\s]+)-----END ${TSS2_PEM_LABEL}-----`).exec(pem);
  if (!m) throw bad(`no ${TSS2_PEM_LABEL} PEM block`);
  let v: TssPrivKey;
  try {
    v = AsnConvert.parse(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'), TssPrivKey);
  } catch {
    throw bad('its ASN.1 does not parse');
  }
  if (v.type !== OID_LOADABLE_KEY) throw bad(`type ${v.type} is not a loadable key (${OID_LOADABLE_KEY})`);
  if (v.policy !== undefined || v.authPolicy !== undefined) throw bad('it carries a TPM policy, which the agent does not support yet');
  if (v.secret !== undefined) throw bad('it is an imported key with a secret, which the agent does not support');
  const parent = handleOf(v.parent);
  if (parent >>> 24 !== 0x81) throw bad('its parent is not a persistent handle (0x81…)');
  const pub = Buffer.from(v.pubkey);
  const priv = Buffer.from(v.privkey);
  for (const [b, name] of [
    [pub, 'public'],
    [priv, 'private'],
  ] as const) {
    if (b.length < 2 || b.readUInt16BE(0) !== b.length - 2) throw bad(`its ${name} blob has a wrong length`);
  }
  return { parent: `0x${parent.toString(16).padStart(8, '0')}`, emptyAuth: v.emptyAuth === true, pub, priv };
}
