import { AgentError } from '../core/errors.js';

/**
 * RFC 7512 PKCS#11 URIs: `pkcs11:` path attributes separated by `;`, then an optional `?` query whose attributes
 * are separated by `&`; values are percent-encoded. The agent selects a token and one key object with them and
 * refuses a PIN inside (`pin-value=`, also `pin-source=`): a URI ends up in configs, meta.json and logs, a PIN
 * must not (it comes from key.pkcs11.pinFile or the systemd credential `pkcs11-pin`).
 */
export interface Pkcs11Uri {
  token?: string;
  manufacturer?: string;
  serial?: string;
  model?: string;
  slotId?: number;
  /** CKA_LABEL of the key object */
  object?: string;
  /** CKA_ID of the key object */
  id?: Buffer;
  type?: 'private' | 'public' | 'cert' | 'secret-key' | 'data';
  modulePath?: string;
  moduleName?: string;
}

const PATH_ATTRS = new Set([
  'token',
  'manufacturer',
  'serial',
  'model',
  'library-manufacturer',
  'library-description',
  'library-version',
  'object',
  'type',
  'id',
  'slot-description',
  'slot-manufacturer',
  'slot-id',
]);
const QUERY_ATTRS = new Set(['pin-source', 'pin-value', 'module-name', 'module-path']);
const TYPES = new Set(['private', 'public', 'cert', 'secret-key', 'data']);

/**
 * `field` is the config path the URI came from, so every error names it; `selects` is the object class the caller
 * looks for (a key, or a certificate for read-certificate-data), which a type= attribute must agree with.
 */
export function parsePkcs11Uri(uri: string, field = 'key.pkcs11.uri', selects: 'private' | 'cert' = 'private'): Pkcs11Uri {
  const bad = (what: string, hint = 'write it as pkcs11:token=<token label>;object=<key label> (RFC 7512)') =>
    new AgentError({ code: 'KEY_PKCS11_URI_INVALID', component: 'pkcs11', message: `${field}: ${what}`, hint });
  // The PIN check runs before anything that could echo the URI back: an error message must never carry a PIN.
  if (/(^|[;?&:])pin-value=/i.test(uri)) {
    throw new AgentError({
      code: 'KEY_PKCS11_PIN_IN_URI',
      component: 'pkcs11',
      message: `${field} carries a PIN (pin-value=); the agent does not read PINs from URIs, which end up in configs and logs`,
      hint: 'remove pin-value from the URI and put the PIN in the file named by key.pkcs11.pinFile (mode 0600) or the systemd credential pkcs11-pin',
    });
  }
  if (!uri.startsWith('pkcs11:')) throw bad('must start with pkcs11:');
  const rest = uri.slice('pkcs11:'.length);
  const q = rest.indexOf('?');
  const pathPart = q < 0 ? rest : rest.slice(0, q);
  const queryPart = q < 0 ? '' : rest.slice(q + 1);
  const attrs = new Map<string, string>();
  const take = (part: string, sep: string, known: Set<string>) => {
    for (const pair of part.split(sep)) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      if (eq <= 0) throw bad(`attribute ${JSON.stringify(pair)} has no name=value form`);
      const name = pair.slice(0, eq).toLowerCase();
      if (!known.has(name) && !name.startsWith('x-')) throw bad(`unknown attribute ${JSON.stringify(name)}`);
      if (attrs.has(name)) throw bad(`attribute ${name} appears twice`);
      attrs.set(name, pair.slice(eq + 1));
    }
  };
  take(pathPart, ';', PATH_ATTRS);
  take(queryPart, '&', QUERY_ATTRS);
  if (attrs.has('pin-source')) {
    throw new AgentError({
      code: 'KEY_PKCS11_PIN_IN_URI',
      component: 'pkcs11',
      message: `${field} names a PIN source (pin-source=); the agent takes the PIN only from key.pkcs11.pinFile`,
      hint: 'remove pin-source from the URI and set key.pkcs11.pinFile (mode 0600) or the systemd credential pkcs11-pin',
    });
  }
  const text = (name: string): string | undefined => {
    const v = attrs.get(name);
    return v === undefined ? undefined : decode(v, name, bad).toString('utf8');
  };
  const out: Pkcs11Uri = {};
  for (const [name, key] of [
    ['token', 'token'],
    ['manufacturer', 'manufacturer'],
    ['serial', 'serial'],
    ['model', 'model'],
    ['object', 'object'],
    ['module-path', 'modulePath'],
    ['module-name', 'moduleName'],
  ] as const) {
    const v = text(name);
    if (v !== undefined) out[key] = v;
  }
  const id = attrs.get('id');
  if (id !== undefined) out.id = decode(id, 'id', bad);
  const slot = text('slot-id');
  if (slot !== undefined) {
    if (!/^\d+$/.test(slot)) throw bad('slot-id must be a decimal number');
    out.slotId = Number(slot);
  }
  const type = text('type');
  if (type !== undefined) {
    if (!TYPES.has(type)) throw bad(`type=${type} is not one of private, public, cert, secret-key, data`);
    if (type !== selects) {
      throw bad(`type=${type} does not select a ${selects === 'private' ? 'private key' : 'certificate'}`, `leave type out or write type=${selects}`);
    }
    out.type = type;
  }
  return out;
}

/** A URI that selects exactly one key object: token label, object label and CKA_ID. */
export function formatPkcs11Uri(parts: { token: string; object: string; id?: Uint8Array }): string {
  const attrs = [`token=${encode(Buffer.from(parts.token))}`, `object=${encode(Buffer.from(parts.object))}`];
  if (parts.id?.length) attrs.push(`id=${[...parts.id].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`);
  return `pkcs11:${attrs.join(';')}`;
}

/** Percent-decoding to bytes (CKA_ID is binary, labels are UTF-8). */
function decode(v: string, name: string, bad: (what: string) => AgentError): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < v.length; ) {
    if (v[i] === '%') {
      const hex = v.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw bad(`${name} has a bad percent-escape`);
      bytes.push(Number.parseInt(hex, 16));
      i += 3;
    } else {
      const ch = String.fromCodePoint(v.codePointAt(i)!);
      bytes.push(...Buffer.from(ch, 'utf8'));
      i += ch.length;
    }
  }
  return Buffer.from(bytes);
}

/** RFC 7512 pchar minus what separates attributes: unreserved characters stay, everything else is escaped. */
function encode(b: Buffer): string {
  return [...b]
    .map((c) => (/[A-Za-z0-9\-._~:[\]@!$'()*+,=]/.test(String.fromCharCode(c)) && c < 0x80 ? String.fromCharCode(c) : `%${c.toString(16).padStart(2, '0')}`))
    .join('');
}
