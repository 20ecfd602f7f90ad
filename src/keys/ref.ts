import { z } from 'zod';
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

const refSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('file'),
      path: z
        .string()
        .regex(/^[^/\\]+$/, 'must be a file name in the version directory')
        .refine((p) => p !== '.' && p !== '..', 'must be a file name in the version directory'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('pkcs11'),
      uri: z
        .string()
        .startsWith('pkcs11:', 'must be an RFC 7512 pkcs11: URI')
        .refine((u) => !/[;?&]pin-(value|source)=/i.test(u), 'must not carry a PIN (pin-value/pin-source); the PIN comes from key.pkcs11.pinFile'),
      module: z.string().min(1).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('tpm'),
      handle: z.string().regex(HANDLE, 'must be a persistent handle such as 0x81000010').optional(),
      keyFile: z
        .string()
        .regex(/^[^/\\]+$/, 'must be a file name in the version directory')
        .refine((p) => p !== '.' && p !== '..', 'must be a file name in the version directory')
        .optional(),
      parent: z.string().regex(HANDLE, 'must be a persistent handle such as 0x81000001').optional(),
      tcti: z.string().min(1).optional(),
    })
    .strict()
    .refine((r) => (r.handle === undefined) !== (r.keyFile === undefined), 'needs exactly one of handle and keyFile'),
  z
    .object({
      kind: z.literal('external'),
      source: z.literal('csr'),
      csrFile: z.string().min(1).optional(),
      publicKeySha256: z
        .string()
        .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits')
        .optional(),
    })
    .strict(),
]);

/** Validates a KeyRef read from `where` (a meta.json or key.ref path); KEY_REF_INVALID names the file and the field. */
export function parseKeyRef(value: unknown, where: string): KeyRef {
  const r = refSchema.safeParse(value);
  if (r.success) return r.data as KeyRef;
  const problems = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : 'key'}: ${i.message}`);
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
