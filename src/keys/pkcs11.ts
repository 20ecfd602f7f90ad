import { createHash, type KeyObject, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type * as Pkcs11js from 'pkcs11js';
import { AgentError, messageOf } from '../core/errors.js';
import { type Curve, curveOf, digestInfo, ecParams, ecPublicKey, p1363ToDer, rsaPublicKey } from './pkcs11-encoding.js';
import { type Pin, type PinSource, readPin } from './pkcs11-pin.js';
import { formatPkcs11Uri, type Pkcs11Uri, parsePkcs11Uri } from './pkcs11-uri.js';
import { hashName, type KeyAlgorithm, type KeyHandle, type SignHash } from './types.js';

/**
 * Keys on a PKCS#11 token (SoftHSM2, YubiKey PIV through ykcs11/OpenSC, network HSMs). The only importer of
 * `pkcs11js`, a thin maintained binding of the Cryptoki C API: the agent needs a handful of calls (find, generate,
 * sign) and precise control over logins, which a higher layer would hide.
 *
 * One session per token per process, logged in once: a token counts wrong PINs and locks itself, so a failed
 * login is remembered and never retried in this process. A session the token dropped (device unplugged,
 * CKR_SESSION_HANDLE_INVALID) is re-opened once per call, logging in again with the PIN that already worked.
 */

type Binding = typeof Pkcs11js;
type Handle = Buffer;

export interface Pkcs11Options {
  /** path of the PKCS#11 library (key.pkcs11.module) */
  module: string;
  /** RFC 7512 URI selecting token and key object (key.pkcs11.uri, or a stored key.ref) */
  uri: string;
  pin: PinSource;
}

export interface Pkcs11GenerateOptions extends Pkcs11Options {
  algorithm: KeyAlgorithm;
  /** CKA_LABEL of the new object; default the URI's object= */
  label?: string;
}

const COMPONENT = 'pkcs11';

/** p11-kit's proxy module (Debian/Fedora paths): it exposes every token p11-kit is configured for. */
const P11_KIT_PROXY = [
  '/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so',
  '/usr/lib/aarch64-linux-gnu/p11-kit-proxy.so',
  '/usr/lib64/p11-kit-proxy.so',
  '/usr/lib/p11-kit-proxy.so',
];

/** key.pkcs11.module's default: the installed p11-kit proxy (the first path when none is, so the error names it). */
export function defaultPkcs11Module(exists: (p: string) => boolean = existsSync): string {
  return P11_KIT_PROXY.find(exists) ?? P11_KIT_PROXY[0]!;
}

let bindingPromise: Promise<Binding> | undefined;
function loadBinding(): Promise<Binding> {
  // Loaded on first use, so commands that never touch a token never load the native addon.
  bindingPromise ??= import('pkcs11js').then(
    (m) => ((m as { default?: Binding }).default ?? m) as Binding,
    (e) => {
      bindingPromise = undefined;
      throw new AgentError({
        code: 'KEY_PKCS11_BINDING',
        component: COMPONENT,
        message: `the pkcs11js native binding cannot be loaded: ${messageOf(e)}`,
        hint: 'reinstall the agent (npm ci builds pkcs11js; it needs a C++ compiler and the Node headers)',
        cause: e,
      });
    },
  );
  return bindingPromise;
}

/** Name of a CKR_* code for messages, e.g. CKR_PIN_INCORRECT. */
function ckrName(b: Binding, code: number): string {
  for (const [k, v] of Object.entries(b)) if (k.startsWith('CKR_') && v === code) return k;
  return `0x${code.toString(16)}`;
}

function ckr(e: unknown): number | undefined {
  const c = (e as { code?: unknown }).code;
  return typeof c === 'number' && c !== 0 ? c : undefined;
}

class Library {
  private static readonly loaded = new Map<string, Promise<Library>>();
  readonly tokens = new Map<string, Token>();

  private constructor(
    readonly b: Binding,
    readonly p: Pkcs11js.PKCS11,
    readonly module: string,
  ) {}

  static get(module: string): Promise<Library> {
    let l = Library.loaded.get(module);
    if (!l) {
      l = Library.load(module);
      Library.loaded.set(module, l);
      l.catch(() => Library.loaded.delete(module));
    }
    return l;
  }

  private static async load(module: string): Promise<Library> {
    const b = await loadBinding();
    const p = new b.PKCS11();
    try {
      p.load(module);
    } catch (e) {
      throw new AgentError({
        code: 'KEY_PKCS11_MODULE',
        component: COMPONENT,
        message: `cannot load the PKCS#11 module ${module} (key.pkcs11.module): ${messageOf(e)}`,
        hint: 'set key.pkcs11.module to the token library, e.g. /usr/lib/softhsm/libsofthsm2.so, /usr/lib/x86_64-linux-gnu/libykcs11.so or p11-kit-proxy.so',
        cause: e,
      });
    }
    try {
      p.C_Initialize();
    } catch (e) {
      if (ckr(e) !== b.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        throw new AgentError({
          code: 'KEY_PKCS11_INIT',
          component: COMPONENT,
          message: `the PKCS#11 module ${module} failed to initialize: ${messageOf(e)}`,
          hint: 'check the module configuration (for SoftHSM2: SOFTHSM2_CONF and its tokendir)',
          cause: e,
        });
      }
    }
    return new Library(b, p, module);
  }

  token(uri: Pkcs11Uri, pin: PinSource): Token {
    const sel = { token: uri.token, serial: uri.serial, manufacturer: uri.manufacturer, model: uri.model, slotId: uri.slotId };
    const key = JSON.stringify(sel);
    let t = this.tokens.get(key);
    if (!t) {
      t = new Token(this, sel, pin);
      this.tokens.set(key, t);
    } else {
      t.usePinSource(pin);
    }
    return t;
  }
}

type TokenSelector = Pick<Pkcs11Uri, 'token' | 'serial' | 'manufacturer' | 'model' | 'slotId'>;

interface OpenSession {
  handle: Handle;
  slot: Handle;
  label: string;
  mechanisms: Set<number>;
  /** bumped at every (re)open: object handles found in an older session are looked up again */
  generation: number;
}

class Token {
  private session: OpenSession | undefined;
  private generation = 0;
  private pin: Pin | undefined;
  private loginFailure: AgentError | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly lib: Library,
    readonly sel: TokenSelector,
    private pinSource: PinSource,
  ) {}

  /** Until a login has succeeded, the latest caller's PIN source is the one to read (it may have been fixed). */
  usePinSource(src: PinSource): void {
    if (!this.pin) this.pinSource = src;
  }

  describe(): string {
    const parts = Object.entries(this.sel)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${v}`);
    return parts.length ? parts.join(';') : 'the first token';
  }

  /**
   * Runs fn with the open, logged-in session, one call at a time (a PKCS#11 session has one active operation).
   * A dropped session is re-opened and fn retried once.
   */
  run<T>(fn: (s: OpenSession) => Promise<T> | T): Promise<T> {
    const next = this.queue.then(async () => {
      const s = await this.open();
      try {
        return await fn(s);
      } catch (e) {
        if (!this.sessionGone(e)) throw e;
        this.drop();
        return fn(await this.open());
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * fn in a session of its own that does not log in, closed afterwards: public objects only (certificates), for a
   * caller that has no PIN, as RFC 7512 consumers look for certificates before asking for one.
   */
  runPublic<T>(fn: (s: OpenSession) => T): T {
    const { b, p } = this.lib;
    const slot = this.findSlot();
    const label = p.C_GetTokenInfo(slot).label.trim();
    const handle = this.call(() => p.C_OpenSession(slot, b.CKF_SERIAL_SESSION), `opening a session on token ${label}`);
    try {
      return fn({ handle, slot, label, mechanisms: new Set(), generation: 0 });
    } finally {
      p.C_CloseSession(handle);
    }
  }

  /** Ends the session (process shutdown); a later call opens a new one. */
  close(): void {
    this.drop();
  }

  private sessionGone(e: unknown): boolean {
    const b = this.lib.b;
    const c = ckr(e);
    return (
      c === b.CKR_SESSION_HANDLE_INVALID ||
      c === b.CKR_SESSION_CLOSED ||
      c === b.CKR_DEVICE_REMOVED ||
      c === b.CKR_TOKEN_NOT_PRESENT ||
      c === b.CKR_USER_NOT_LOGGED_IN
    );
  }

  private drop(): void {
    if (!this.session) return;
    try {
      this.lib.p.C_CloseSession(this.session.handle);
    } catch {
      // the token may already be gone; the session is dead either way
    }
    this.session = undefined;
  }

  private async open(): Promise<OpenSession> {
    if (this.session) return this.session;
    if (this.loginFailure) throw this.loginFailure;
    const { b, p } = this.lib;
    const slot = this.findSlot();
    const info = p.C_GetTokenInfo(slot);
    const label = info.label.trim();
    const handle = this.call(() => p.C_OpenSession(slot, b.CKF_SERIAL_SESSION | b.CKF_RW_SESSION), `opening a session on token ${label}`);
    try {
      if (info.flags & b.CKF_LOGIN_REQUIRED) await this.login(handle, label, info.flags);
    } catch (e) {
      try {
        p.C_CloseSession(handle);
      } catch {
        // nothing more to undo
      }
      throw e;
    }
    this.session = { handle, slot, label, mechanisms: new Set(p.C_GetMechanismList(slot)), generation: ++this.generation };
    return this.session;
  }

  private findSlot(): Handle {
    const { p } = this.lib;
    const s = this.sel;
    const present = this.call(() => p.C_GetSlotList(true), 'listing token slots')
      .map((slot) => ({ slot, info: p.C_GetTokenInfo(slot) }))
      // SoftHSM always offers one empty slot for a new token: not a candidate
      .filter(({ info }) => (info.flags & this.lib.b.CKF_TOKEN_INITIALIZED) !== 0);
    const matches = present.filter(
      ({ slot, info }) =>
        (s.token === undefined || info.label.trim() === s.token) &&
        (s.serial === undefined || info.serialNumber.trim() === s.serial) &&
        (s.manufacturer === undefined || info.manufacturerID.trim() === s.manufacturer) &&
        (s.model === undefined || info.model.trim() === s.model) &&
        (s.slotId === undefined || Number(slot.readBigUInt64LE(0)) === s.slotId),
    );
    if (matches.length === 0) {
      const labels = present.map(({ info }) => info.label.trim());
      throw new AgentError({
        code: 'KEY_PKCS11_TOKEN_NOT_FOUND',
        component: COMPONENT,
        message: `no token matches ${this.describe()} in ${this.lib.module} (tokens present: ${labels.length ? labels.join(', ') : 'none'})`,
        hint: 'plug the device in, or fix token= in key.pkcs11.uri (pkcs11-tool --module MODULE --list-token-slots shows the labels)',
        details: { module: this.lib.module, tokens: labels },
      });
    }
    if (matches.length > 1) {
      throw new AgentError({
        code: 'KEY_PKCS11_TOKEN_AMBIGUOUS',
        component: COMPONENT,
        message: `${matches.length} tokens match ${this.describe()} in ${this.lib.module}`,
        hint: 'add serial= to key.pkcs11.uri to pick one token',
      });
    }
    return matches[0]!.slot;
  }

  /** One attempt per process: whatever the outcome of a failed login, it is remembered and rethrown. */
  private async login(session: Handle, label: string, flags: number): Promise<void> {
    const { b, p } = this.lib;
    if (flags & b.CKF_USER_PIN_LOCKED) {
      this.loginFailure = pinLocked(label);
      throw this.loginFailure;
    }
    const pin = this.pin ?? (await readPin(this.pinSource));
    if (!pin) {
      throw new AgentError({
        code: 'KEY_PKCS11_PIN_MISSING',
        component: COMPONENT,
        message: `token ${label} needs a PIN and none is configured`,
        hint: 'set key.pkcs11.pinFile to a 0600 file holding the user PIN, or pass the systemd credential pkcs11-pin (LoadCredential=)',
      });
    }
    try {
      p.C_Login(session, b.CKU_USER, pin.value);
    } catch (e) {
      const c = ckr(e);
      if (c === b.CKR_USER_ALREADY_LOGGED_IN) {
        this.pin = pin;
        return;
      }
      this.loginFailure =
        c === b.CKR_PIN_INCORRECT || c === b.CKR_PIN_LEN_RANGE
          ? new AgentError({
              code: 'KEY_PKCS11_PIN_INCORRECT',
              component: COMPONENT,
              message: `token ${label} rejected the PIN from ${pin.from} (${ckrName(b, c)})`,
              hint: 'put the right user PIN in key.pkcs11.pinFile; the agent tries a PIN once per run so that it cannot lock the token, which counts failed attempts',
            })
          : c === b.CKR_PIN_LOCKED
            ? pinLocked(label)
            : new AgentError({
                code: 'KEY_PKCS11_LOGIN',
                component: COMPONENT,
                message: `login to token ${label} with the PIN from ${pin.from} failed: ${c === undefined ? messageOf(e) : ckrName(b, c)}`,
                hint: 'check the token and key.pkcs11.pinFile; the agent does not retry a failed login in the same run',
                cause: e,
              });
      throw this.loginFailure;
    }
    // kept in memory only, for re-opening a dropped session and for CKA_ALWAYS_AUTHENTICATE keys
    this.pin = pin;
  }

  contextLogin(session: Handle): void {
    if (!this.pin) throw new Error('context-specific login before user login');
    this.lib.p.C_Login(session, this.lib.b.CKU_CONTEXT_SPECIFIC, this.pin.value);
  }

  /** Wraps an unexpected Cryptoki failure into a named error; expected codes are handled by the callers. */
  call<T>(fn: () => T, what: string): T {
    try {
      return fn();
    } catch (e) {
      throw this.wrap(e, what);
    }
  }

  wrap(e: unknown, what: string): unknown {
    if (e instanceof AgentError || this.sessionGone(e)) return e;
    const c = ckr(e);
    return new AgentError({
      code: 'KEY_PKCS11_ERROR',
      component: COMPONENT,
      message: `${what} failed: ${c === undefined ? messageOf(e) : ckrName(this.lib.b, c)}`,
      hint: `check the token (${this.describe()}) and the module ${this.lib.module}`,
      cause: e,
    });
  }
}

function pinLocked(label: string): AgentError {
  return new AgentError({
    code: 'KEY_PKCS11_PIN_LOCKED',
    component: COMPONENT,
    message: `the user PIN of token ${label} is locked`,
    hint: 'unblock it with the SO PIN or PUK (pkcs11-tool --init-pin --login --login-type so, ykman piv access unblock-pin), then fix key.pkcs11.pinFile',
  });
}

interface KeyObjectInfo {
  label: string;
  id: Buffer;
  algorithm: KeyAlgorithm;
  publicKey: KeyObject;
  alwaysAuthenticate: boolean;
}

/** A private key object on a token; it never leaves the token, only signatures do. */
export class Pkcs11KeyHandle implements KeyHandle {
  readonly kind = 'pkcs11' as const;
  readonly algorithm: KeyAlgorithm;
  /** a URI selecting exactly this object (token, label, CKA_ID), for key.ref; never with a PIN */
  readonly uri: string;
  private readonly tokenLabel: string;
  private object: { handle: Handle; generation: number } | undefined;

  private constructor(
    private readonly token: Token,
    private readonly info: KeyObjectInfo,
    tokenLabel: string,
  ) {
    this.algorithm = info.algorithm;
    this.uri = formatPkcs11Uri({ token: tokenLabel, object: info.label, id: info.id });
    this.tokenLabel = tokenLabel;
  }

  /** Opens the key the URI selects; KEY_PKCS11_NOT_FOUND when the token has no such private key. */
  static async open(o: Pkcs11Options): Promise<Pkcs11KeyHandle> {
    const uri = parsePkcs11Uri(o.uri);
    if (uri.object === undefined && uri.id === undefined) {
      throw new AgentError({
        code: 'KEY_PKCS11_URI_INVALID',
        component: COMPONENT,
        message: 'key.pkcs11.uri selects no key object (it has neither object= nor id=)',
        hint: 'add object=<key label>, e.g. pkcs11:token=iamra;object=host-key',
      });
    }
    const token = (await Library.get(o.module)).token(uri, o.pin);
    return token.run((s) => {
      const obj = findPrivateKey(token, s, uri);
      return new Pkcs11KeyHandle(token, readKeyInfo(token, s, obj, uri), s.label);
    });
  }

  /**
   * Generates a key pair inside the token: the private half sensitive, never extractable, sign-only; the public
   * half a token object too, so the key can be opened again by label (and by the AWS helper).
   */
  static async generate(o: Pkcs11GenerateOptions): Promise<Pkcs11KeyHandle> {
    const uri = parsePkcs11Uri(o.uri);
    const label = o.label ?? uri.object;
    if (!label) {
      throw new AgentError({
        code: 'KEY_PKCS11_URI_INVALID',
        component: COMPONENT,
        message: 'key.pkcs11.uri has no object= label for the key to generate',
        hint: 'add object=<key label>, e.g. pkcs11:token=iamra;object=host-key',
      });
    }
    const token = (await Library.get(o.module)).token(uri, o.pin);
    const { b, p } = token.lib;
    // A fresh CKA_ID per key: labels may repeat across rotations, the ID makes each version's URI unique.
    const id = randomBytes(8);
    const common = [
      { type: b.CKA_TOKEN, value: true },
      { type: b.CKA_LABEL, value: label },
      { type: b.CKA_ID, value: id },
    ];
    const alg = o.algorithm;
    const mechanism = { mechanism: alg.type === 'ec' ? b.CKM_EC_KEY_PAIR_GEN : b.CKM_RSA_PKCS_KEY_PAIR_GEN };
    const pub =
      alg.type === 'ec'
        ? [{ type: b.CKA_EC_PARAMS, value: ecParams(alg.curve) }]
        : [
            { type: b.CKA_MODULUS_BITS, value: alg.bits },
            { type: b.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
          ];
    const publicTemplate = [
      { type: b.CKA_CLASS, value: b.CKO_PUBLIC_KEY },
      ...common,
      { type: b.CKA_PRIVATE, value: false },
      { type: b.CKA_VERIFY, value: true },
      ...pub,
    ];
    const privateTemplate = [
      { type: b.CKA_CLASS, value: b.CKO_PRIVATE_KEY },
      ...common,
      { type: b.CKA_PRIVATE, value: true },
      { type: b.CKA_SENSITIVE, value: true },
      { type: b.CKA_EXTRACTABLE, value: false },
      { type: b.CKA_SIGN, value: true },
      { type: b.CKA_DECRYPT, value: false },
      { type: b.CKA_DERIVE, value: false },
      { type: b.CKA_UNWRAP, value: false },
    ];
    return token.run(async (s) => {
      try {
        await p.C_GenerateKeyPairAsync(s.handle, mechanism, publicTemplate, privateTemplate);
      } catch (e) {
        throw token.wrap(e, `generating ${describeAlg(alg)} key ${label} on token ${s.label}`);
      }
      const sel: Pkcs11Uri = { object: label, id };
      return new Pkcs11KeyHandle(token, readKeyInfo(token, s, findPrivateKey(token, s, sel), sel), s.label);
    });
  }

  async publicKey(): Promise<KeyObject> {
    return this.info.publicKey;
  }

  sign(data: Uint8Array, hash: SignHash = 'SHA-256'): Promise<Buffer> {
    const { b, p } = this.token.lib;
    return this.token.run(async (s) => {
      const key = this.handleIn(s);
      const signOnce = async (mechanism: number, input: Uint8Array): Promise<Buffer> => {
        p.C_SignInit(s.handle, { mechanism }, key);
        if (this.info.alwaysAuthenticate) this.token.contextLogin(s.handle);
        return p.C_SignAsync(s.handle, Buffer.from(input), Buffer.alloc(1024));
      };
      const digest = () => createHash(hashName(hash)).update(data).digest();
      try {
        if (this.algorithm.type === 'ec') {
          const withHash = { 'SHA-256': b.CKM_ECDSA_SHA256, 'SHA-384': b.CKM_ECDSA_SHA384, 'SHA-512': b.CKM_ECDSA_SHA512 }[hash];
          // SoftHSM 2.6 and many PIV tokens lack CKM_ECDSA_SHA256: hash here, sign the digest with CKM_ECDSA. A digest
          // longer than the curve (SHA-512 on P-256) is cut to its leftmost bits by the token (PKCS#11 2.40, "ECDSA
          // without hashing"), as ECDSA itself does (FIPS 186-5 §6.4.1): the signature is ECDSA with SHA-512.
          const raw = s.mechanisms.has(withHash) ? await signOnce(withHash, data) : await signOnce(b.CKM_ECDSA, digest());
          return p1363ToDer(raw);
        }
        const withHash = { 'SHA-256': b.CKM_SHA256_RSA_PKCS, 'SHA-384': b.CKM_SHA384_RSA_PKCS, 'SHA-512': b.CKM_SHA512_RSA_PKCS }[hash];
        return s.mechanisms.has(withHash) ? await signOnce(withHash, data) : await signOnce(b.CKM_RSA_PKCS, digestInfo(hash, digest()));
      } catch (e) {
        throw this.token.wrap(e, `signing with ${this.describe()}`);
      }
    });
  }

  describe(): string {
    return `pkcs11 token ${this.tokenLabel} object ${this.info.label} (${describeAlg(this.algorithm)})`;
  }

  /** The object handle in the current session, looked up again after a re-open. */
  private handleIn(s: OpenSession): Handle {
    if (this.object?.generation !== s.generation) {
      this.object = { handle: findPrivateKey(this.token, s, { object: this.info.label, id: this.info.id }), generation: s.generation };
    }
    return this.object.handle;
  }
}

/** A certificate object on a token, with what the AWS helper's read-certificate-data prints of it. */
/**
 * Destroys the key pair the URI selects (its private and public objects; the URI must carry object= and id=, so
 * it can only match the one pair a version was made with). Returns how many objects were destroyed.
 */
export async function deletePkcs11Key(o: Pkcs11Options): Promise<number> {
  const uri = parsePkcs11Uri(o.uri);
  if (uri.object === undefined || uri.id === undefined) {
    throw new AgentError({
      code: 'KEY_PKCS11_URI_INVALID',
      component: COMPONENT,
      message: `${o.uri} does not select one key pair (it needs object= and id=)`,
      hint: 'only keys the agent generated (their key.ref carries both) are deleted',
    });
  }
  const token = (await Library.get(o.module)).token(uri, o.pin);
  const { b, p } = token.lib;
  return token.run(async (s) => {
    const objects = [b.CKO_PRIVATE_KEY, b.CKO_PUBLIC_KEY].flatMap((cls) => findObjects(token, s, selectTemplate(b, cls, uri)));
    for (const h of objects) token.call(() => p.C_DestroyObject(s.handle, h), `deleting ${selection(uri)} from token ${s.label}`);
    return objects.length;
  });
}

export interface Pkcs11Certificate {
  der: Buffer;
  label?: string;
  id?: Buffer;
  /** the token and slot it was found in (C_GetTokenInfo, C_GetSlotInfo), trimmed */
  token: { model: string; manufacturer: string; serial: string };
  slot: { description: string; manufacturer: string };
}

/**
 * The certificate objects on the token the URI selects, narrowed by its object= and id= (read-certificate-data):
 * with a PIN configured after logging in (private ones too), else the public ones.
 */
export async function listPkcs11Certificates(o: Pkcs11Options): Promise<Pkcs11Certificate[]> {
  const uri = parsePkcs11Uri(o.uri, '--certificate', 'cert');
  const token = (await Library.get(o.module)).token(uri, o.pin);
  const { b, p } = token.lib;
  const list = (s: OpenSession) => {
    const t = p.C_GetTokenInfo(s.slot);
    const sl = p.C_GetSlotInfo(s.slot);
    const where = {
      token: { model: t.model.trim(), manufacturer: t.manufacturerID.trim(), serial: t.serialNumber.trim() },
      slot: { description: sl.slotDescription.trim(), manufacturer: sl.manufacturerID.trim() },
    };
    return findObjects(token, s, selectTemplate(b, b.CKO_CERTIFICATE, uri)).map((h) => {
      const [value, label, id] = token.call(
        () => p.C_GetAttributeValue(s.handle, h, [{ type: b.CKA_VALUE }, { type: b.CKA_LABEL }, { type: b.CKA_ID }]),
        `reading a certificate on token ${s.label}`,
      );
      const bytes = (a: Pkcs11js.Attribute | undefined) => (Buffer.isBuffer(a?.value) && a.value.length ? a.value : undefined);
      const l = bytes(label);
      const i = bytes(id);
      return { der: bytes(value) ?? Buffer.alloc(0), ...(l ? { label: l.toString('utf8') } : {}), ...(i ? { id: i } : {}), ...where };
    });
  };
  return (await readPin(o.pin)) ? token.run(list) : token.runPublic(list);
}

function describeAlg(a: KeyAlgorithm): string {
  return a.type === 'ec' ? `EC ${a.curve}` : `RSA-${a.bits}`;
}

function findObjects(token: Token, s: OpenSession, template: Pkcs11js.Template): Handle[] {
  const { p } = token.lib;
  return token.call(() => {
    p.C_FindObjectsInit(s.handle, template);
    try {
      return p.C_FindObjects(s.handle, 16);
    } finally {
      p.C_FindObjectsFinal(s.handle);
    }
  }, `searching token ${s.label}`);
}

function selectTemplate(b: Binding, cls: number, sel: Pick<Pkcs11Uri, 'object' | 'id'>): Pkcs11js.Template {
  const t: Pkcs11js.Template = [{ type: b.CKA_CLASS, value: cls }];
  if (sel.object !== undefined) t.push({ type: b.CKA_LABEL, value: sel.object });
  if (sel.id !== undefined) t.push({ type: b.CKA_ID, value: sel.id });
  return t;
}

function selection(sel: Pick<Pkcs11Uri, 'object' | 'id'>): string {
  return [sel.object !== undefined ? `object=${sel.object}` : '', sel.id !== undefined ? `id=${sel.id.toString('hex')}` : ''].filter(Boolean).join(' ');
}

function findPrivateKey(token: Token, s: OpenSession, sel: Pick<Pkcs11Uri, 'object' | 'id'>): Handle {
  const found = findObjects(token, s, selectTemplate(token.lib.b, token.lib.b.CKO_PRIVATE_KEY, sel));
  if (found.length === 0) {
    throw new AgentError({
      code: 'KEY_PKCS11_NOT_FOUND',
      component: COMPONENT,
      message: `token ${s.label} has no private key with ${selection(sel)}`,
      hint: 'check object= in key.pkcs11.uri (pkcs11-tool --module MODULE --login --list-objects --type privkey), or run bootstrap to generate it',
    });
  }
  if (found.length > 1) {
    throw new AgentError({
      code: 'KEY_PKCS11_AMBIGUOUS',
      component: COMPONENT,
      message: `token ${s.label} has ${found.length} private keys with ${selection(sel)}`,
      hint: 'add id=<CKA_ID, percent-encoded> to key.pkcs11.uri to pick one',
    });
  }
  return found[0]!;
}

function ulong(v: Buffer): number {
  return v.length >= 8 ? Number(v.readBigUInt64LE(0)) : v.readUIntLE(0, v.length);
}

function readKeyInfo(token: Token, s: OpenSession, obj: Handle, sel: Pick<Pkcs11Uri, 'object' | 'id'>): KeyObjectInfo {
  const { b, p } = token.lib;
  const attrs = (h: Handle, types: number[]) => {
    const r = token.call(
      () =>
        p.C_GetAttributeValue(
          s.handle,
          h,
          types.map((type) => ({ type })),
        ),
      `reading key attributes on token ${s.label}`,
    );
    return (t: number) => r.find((a) => a.type === t)?.value ?? Buffer.alloc(0);
  };
  const a = attrs(obj, [b.CKA_KEY_TYPE, b.CKA_SIGN, b.CKA_LABEL, b.CKA_ID]);
  const label = a(b.CKA_LABEL).toString('utf8');
  const id = Buffer.from(a(b.CKA_ID));
  const where = `token ${s.label} object ${label || selection(sel)}`;
  if (a(b.CKA_SIGN)[0] !== 1) {
    throw new AgentError({
      code: 'KEY_PKCS11_NO_SIGN',
      component: COMPONENT,
      message: `${where} is not allowed to sign (CKA_SIGN is false)`,
      hint: 'point key.pkcs11.uri at a signing key, or let bootstrap generate one (it sets CKA_SIGN)',
    });
  }
  let alwaysAuthenticate = false;
  try {
    alwaysAuthenticate = attrs(obj, [b.CKA_ALWAYS_AUTHENTICATE])(b.CKA_ALWAYS_AUTHENTICATE)[0] === 1;
  } catch {
    // tokens before PKCS#11 2.20 do not know the attribute: no context-specific login then
  }
  const keyType = ulong(a(b.CKA_KEY_TYPE));
  const pubSel = id.length ? { id } : { object: label };
  const [pub] = findObjects(token, s, selectTemplate(b, b.CKO_PUBLIC_KEY, pubSel));
  const unsupported = (what: string) =>
    new AgentError({ code: 'KEY_UNSUPPORTED', component: COMPONENT, message: `${where}: ${what}`, hint: 'use an EC P-256/P-384 or RSA 2048-4096 key' });
  if (keyType === b.CKK_EC) {
    const params = attrs(obj, [b.CKA_EC_PARAMS])(b.CKA_EC_PARAMS);
    const curve: Curve | undefined = curveOf(params);
    if (!curve) throw unsupported(`unsupported curve (CKA_EC_PARAMS ${params.toString('hex')})`);
    if (!pub) {
      throw new AgentError({
        code: 'KEY_PKCS11_NO_PUBLIC_KEY',
        component: COMPONENT,
        message: `${where} has no public key object with the same ${id.length ? 'CKA_ID' : 'label'}`,
        hint: 'store the public key on the token beside the private key (keys generated on the token have one)',
      });
    }
    return { label, id, algorithm: { type: 'ec', curve }, publicKey: ecPublicKey(curve, attrs(pub, [b.CKA_EC_POINT])(b.CKA_EC_POINT)), alwaysAuthenticate };
  }
  if (keyType === b.CKK_RSA) {
    // RSA private key objects carry the modulus and exponent themselves; the public object is not needed
    const r = attrs(pub ?? obj, [b.CKA_MODULUS, b.CKA_PUBLIC_EXPONENT]);
    const publicKey = rsaPublicKey(r(b.CKA_MODULUS), r(b.CKA_PUBLIC_EXPONENT));
    const bits = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) throw unsupported(`RSA key of ${bits} bits`);
    return { label, id, algorithm: { type: 'rsa', bits }, publicKey, alwaysAuthenticate };
  }
  throw unsupported(`unsupported key type ${keyType}`);
}
