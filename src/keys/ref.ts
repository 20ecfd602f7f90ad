import { AgentError } from '../core/errors.js';

/**
 * Where a version's private key lives, written to meta.json (`key`) and, for keys the store does not hold, to
 * key.ref. Read back with validation: a damaged or foreign meta.json/key.ref gives a named error, never a key
 * opened from the wrong place. A new key type adds one member here and one case in factory.ts.
 */
export type KeyRef = FileKeyRef | Pkcs11KeyRef | TpmKeyRef | ExternalKeyRef;

/** A PKCS#8 PEM file in the version directory, by name (the state directory may move, so never an absolute path). */
export interface FileKeyRef {
  kind: 'file';
  path: string;
}

/** An object on a PKCS#11 token, selected by an RFC 7512 URI (never with a PIN in it). */
export interface Pkcs11KeyRef {
  kind: 'pkcs11';
  uri: string;
  /** the PKCS#11 library; default chosen when the key is opened */
  module?: string;
}

/** A TPM 2.0 key: a persistent handle, or a TSS2 PRIVATE KEY PEM (relative to the version directory) under a parent. */
export interface TpmKeyRef {
  kind: 'tpm';
  handle?: string;
  keyFile?: string;
  parent?: string;
  tcti?: string;
  /** the PCR selection the key's policy is bound to (key.tpm.pcrs when it was made), e.g. sha256:0,7 */
  pcrs?: string;
}

/** A key the agent cannot use (key.source csr): only the SHA-256 of its SubjectPublicKeyInfo is known. */
export interface ExternalKeyRef {
  kind: 'external';
  /** kept for readers of key.ref from before `kind` existed */
  source: 'csr';
  csrFile?: string;
  publicKeySha256?: string;
}

export type KeyKind = KeyRef['kind'];

export const KEY_FILE_NAME = 'key.pem';

const HANDLE = /^0x81[0-9a-fA-F]{6}$/;
/** one bank and PCR indices 0-23, as tpm2_policypcr -l takes them */
const PCRS = /^(sha1|sha256|sha384|sha512):([0-9]|1[0-9]|2[0-3])(,([0-9]|1[0-9]|2[0-3]))*$/;

/** A field's rule: a problem message, or undefined when the value is fine. */
type Check = (v: string) => string | undefined;

const FILE_IN_VERSION: Check = (p) => (/^[^/\\]+$/.test(p) && p !== '.' && p !== '..' ? undefined : 'must be a file name in the version directory');
const NON_EMPTY: Check = (v) => (v === '' ? 'must not be empty' : undefined);
const handle =
  (example: string): Check =>
  (v) =>
    HANDLE.test(v) ? undefined : `must be a persistent handle such as ${example}`;

/**
 * Each kind's fields (string-valued; `required` or optional) and a rule over the whole reference. Checked by hand,
 * not with the config's zod: this runs in every process that opens a key, `serve` included, which must not keep
 * zod's ~100 modules resident for one small record. No other field is accepted.
 */
const SHAPES: Record<KeyKind, { fields: Record<string, { required: boolean; check: Check }>; whole?: (r: Record<string, unknown>) => string | undefined }> = {
  file: { fields: { path: { required: true, check: FILE_IN_VERSION } } },
  pkcs11: {
    fields: {
      uri: {
        required: true,
        check: (u) =>
          !u.startsWith('pkcs11:')
            ? 'must be an RFC 7512 pkcs11: URI'
            : /[;?&]pin-(value|source)=/i.test(u)
              ? 'must not carry a PIN (pin-value/pin-source); the PIN comes from key.pkcs11.pinFile'
              : undefined,
      },
      module: { required: false, check: NON_EMPTY },
    },
  },
  tpm: {
    fields: {
      handle: { required: false, check: handle('0x81000010') },
      keyFile: { required: false, check: FILE_IN_VERSION },
      parent: { required: false, check: handle('0x81000001') },
      tcti: { required: false, check: NON_EMPTY },
      pcrs: { required: false, check: (v) => (PCRS.test(v) ? undefined : 'must be a PCR selection such as sha256:0,7') },
    },
    whole: (r) => ((r.handle === undefined) !== (r.keyFile === undefined) ? undefined : 'needs exactly one of handle and keyFile'),
  },
  external: {
    fields: {
      source: { required: true, check: (v) => (v === 'csr' ? undefined : 'must be "csr"') },
      csrFile: { required: false, check: NON_EMPTY },
      publicKeySha256: { required: false, check: (v) => (/^[0-9a-fA-F]{64}$/.test(v) ? undefined : 'must be 64 hex digits') },
    },
  },
};

/** The problems of `value` as a KeyRef (`field: message`), and the reference itself (only its known fields). */
function checkKeyRef(value: unknown): { ref: KeyRef } | { problems: string[] } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { problems: ['key: must be an object with a kind'] };
  const v = value as Record<string, unknown>;
  const kind = v.kind;
  if (typeof kind !== 'string' || !Object.hasOwn(SHAPES, kind)) return { problems: [`kind: must be one of ${Object.keys(SHAPES).join(', ')}`] };
  const shape = SHAPES[kind as KeyKind];
  const problems: string[] = [];
  const ref: Record<string, unknown> = { kind };
  for (const [name, rule] of Object.entries(shape.fields)) {
    const f = v[name];
    if (f === undefined) {
      if (rule.required) problems.push(`${name}: required`);
      continue;
    }
    const problem = typeof f === 'string' ? rule.check(f) : 'must be a string';
    if (problem) problems.push(`${name}: ${problem}`);
    else ref[name] = f;
  }
  for (const name of Object.keys(v)) if (name !== 'kind' && !Object.hasOwn(shape.fields, name)) problems.push(`key: unknown field "${name}"`);
  if (problems.length === 0 && shape.whole) {
    const problem = shape.whole(ref);
    if (problem) problems.push(`key: ${problem}`);
  }
  return problems.length ? { problems } : { ref: ref as unknown as KeyRef };
}

/** Validates a KeyRef read from `where` (a meta.json or key.ref path); KEY_REF_INVALID names the file and the field. */
export function parseKeyRef(value: unknown, where: string): KeyRef {
  const r = checkKeyRef(value);
  if ('ref' in r) return r.ref;
  const { problems } = r;
  throw new AgentError({
    code: 'KEY_REF_INVALID',
    component: 'keys',
    message: `${where} does not name a usable key (${problems.join('; ')})`,
    hint: 'the version was damaged or written by another tool: roll back (iamra-agent rollback) or re-enrol (iamra-agent renew --force)',
    details: { file: where, problems },
  });
}

/** What of a stored version the key reference is read from (IdentityStore's Identity has this shape). */
export interface StoredKeyView {
  files: { meta: string; key?: string; keyRef?: string };
  meta: Record<string, unknown>;
  /** key.ref, parsed as JSON by the store */
  keyRef?: unknown;
}

/**
 * The version's KeyRef: meta.json `key` when present; otherwise derived as versions written before it existed
 * were laid out (key.pem → file; key.ref with source csr → external). Undefined when the version has no key at all.
 */
export function storedKeyRef(v: StoredKeyView): KeyRef | undefined {
  if (v.meta['key'] !== undefined) {
    const ref = parseKeyRef(v.meta['key'], `${v.files.meta} (key)`);
    // the store saw no key.pem: the version has lost its key (reported as missing, not as unreadable)
    return ref.kind === 'file' && ref.path === KEY_FILE_NAME && !v.files.key ? undefined : ref;
  }
  if (v.keyRef !== undefined) {
    const where = v.files.keyRef ?? 'key.ref';
    const legacy = typeof v.keyRef === 'object' && v.keyRef !== null && !Array.isArray(v.keyRef) && !('kind' in v.keyRef);
    return parseKeyRef(legacy ? { kind: 'external', ...v.keyRef } : v.keyRef, where);
  }
  if (v.files.key) return { kind: 'file', path: KEY_FILE_NAME };
  return undefined;
}

/** Safe to log: where the key lives, never key material. */
export function describeKeyRef(ref: KeyRef): string {
  switch (ref.kind) {
    case 'file':
      return `file key ${ref.path}`;
    case 'pkcs11':
      return `pkcs11 key ${ref.uri}`;
    case 'tpm':
      return ref.handle ? `tpm handle ${ref.handle}` : `tpm key file ${ref.keyFile}`;
    case 'external':
      return `external key (${ref.source})`;
  }
}
