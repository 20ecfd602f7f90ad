import { execFile } from 'node:child_process';
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AgentError } from '../core/errors.js';
import { decodeTss2Pem, encodeTss2Pem, type Tss2Key } from './tpm-tss2.js';
import { hashName, type KeyAlgorithm, type KeyHandle, type SignHash } from './types.js';

/**
 * A TPM 2.0 key at a persistent handle, driven through tpm2-tools (there is no well-kept Node TPM library, and
 * hand-written TPM commands are out of the question). Every call passes the TCTI in TPM2TOOLS_TCTI and any key
 * password as `file:` (never on argv). TPMs without a resource manager (swtpm, /dev/tpm0) keep transient objects
 * loaded after each tool, and have few slots: calls are serialized per TCTI and transient objects flushed.
 */

export const DEFAULT_TCTI = 'device:/dev/tpmrm0';
export const DEFAULT_PARENT = '0x81000001';
const COMPONENT = 'tpm';
const TOOLS = '/usr/bin';

export interface TpmOptions {
  /** key.tpm.tcti */
  tcti: string;
  /** persistent handle of the key, e.g. 0x81000010; or `file`: */
  handle?: string;
  /** a TSS2 PRIVATE KEY PEM (key.tpm.keyFile), loaded under its parent for each use; `path` is named in messages */
  file?: { path: string; key: Tss2Key };
  /** key.tpm.authFile: the key's password, when it has one */
  authFile?: string;
  /**
   * key.tpm.pcrs, e.g. "sha256:0,7": the key was made with a PCR policy (and without userWithAuth), so the TPM
   * signs only in a policy session whose PCRs hold the values they had when the key was made
   */
  pcrs?: string;
}

export interface TpmGenerateOptions extends Omit<TpmOptions, 'file'> {
  algorithm: KeyAlgorithm;
  /** without a handle: the name the TSS2 PEM (`pem`) will be stored under, for messages */
  keyPath?: string;
  /** persistent handle of the storage parent (the SRK), created when missing */
  parent?: string;
}

const queues = new Map<string, Promise<unknown>>();

/** One tool call at a time per TPM: swtpm serves one connection, and transient slots are few. */
function serialized<T>(tcti: string, fn: () => Promise<T>): Promise<T> {
  const next = (queues.get(tcti) ?? Promise.resolve()).then(fn);
  queues.set(
    tcti,
    next.catch(() => undefined),
  );
  return next;
}

interface ToolResult {
  code: number;
  stderr: string;
}

function tool(tcti: string, name: string, args: string[]): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    execFile(
      path.join(TOOLS, name),
      args,
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TPM2TOOLS_TCTI: tcti }, timeout: 30_000 },
      (err, _out, stderr) => {
        if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(
            new AgentError({
              code: 'KEY_TPM_TOOLS',
              component: COMPONENT,
              message: `${name} is not installed`,
              hint: 'install tpm2-tools (Debian: apt-get install tpm2-tools)',
            }),
          );
          return;
        }
        resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stderr: String(stderr) });
      },
    );
  });
}

/** What a tool error is about: the TPM and, when known, the key (`where`: "persistent handle 0x…" or the key file). */
interface Subject {
  tcti: string;
  pcrs?: string;
  handle?: string;
  file?: { path: string; key: Tss2Key };
  /** the hash a signature was asked for, when the tool signs */
  hash?: SignHash;
}

/** Runs a tool and turns its failure into one named error; `what` says what the agent was doing. */
async function must(o: Subject, name: string, args: string[], what: string): Promise<void> {
  const r = await tool(o.tcti, name, args);
  if (r.code === 0) return;
  throw toolError(o, r.stderr, what);
}

const where = (o: Subject) => (o.file ? `the key file ${o.file.path}` : `the key at ${o.handle}`);

/** A tool's failure (its stderr) as one named error; exported for the tests, which feed it a real TPM's answers. */
export function toolError(o: Subject, stderr: string, what: string): AgentError {
  if (/Could not load tcti|Cannot connect|Failed to connect|No such file or directory.*tpm/i.test(stderr)) {
    return new AgentError({
      code: 'KEY_TPM_UNREACHABLE',
      component: COMPONENT,
      message: `the TPM at ${o.tcti} (key.tpm.tcti) cannot be reached while ${what}`,
      hint: 'check that the TPM (or swtpm) is there and that the agent user may open it (group tss for /dev/tpmrm0)',
    });
  }
  if (/0x18b|handle is not correct/i.test(stderr)) {
    return o.file
      ? new AgentError({
          code: 'KEY_TPM_NOT_FOUND',
          component: COMPONENT,
          message: `the TPM at ${o.tcti} has no storage key at ${o.file.key.parent}, the parent of ${o.file.path} (key.tpm.parent)`,
          hint: 'the key file belongs to a TPM whose storage key was removed (tpm2_clear?): run iamra-agent renew --force to make a new key',
        })
      : new AgentError({
          code: 'KEY_TPM_NOT_FOUND',
          component: COMPONENT,
          message: `the TPM at ${o.tcti} has no key at persistent handle ${o.handle} (key.tpm.handle)`,
          hint: 'run bootstrap to create it, or fix key.tpm.handle (tpm2_getcap handles-persistent lists them)',
        });
  }
  if (o.file && /0x1df|0x19f|integrity|0x1d5|0x1c4/i.test(stderr) && /load/i.test(what)) {
    return new AgentError({
      code: 'KEY_TPM_FOREIGN',
      component: COMPONENT,
      message: `the TPM at ${o.tcti} refuses to load ${o.file.path}: it was made by another TPM or under another storage key than ${o.file.key.parent}`,
      hint: 'a TSS2 key file only works on the TPM that made it: point key.tpm.tcti at that TPM, or run iamra-agent renew --force to make a new key',
    });
  }
  if (o.pcrs && /0x99d|policy check failed/i.test(stderr)) {
    return new AgentError({
      code: 'KEY_TPM_PCR',
      component: COMPONENT,
      message: `the TPM refuses to use ${where(o)}: PCRs ${o.pcrs} (key.tpm.pcrs) no longer hold the values the key was bound to`,
      hint: 'the measured boot state changed (firmware, boot loader, Secure Boot settings): if the change is expected, make a new key in the new state (iamra-agent renew --force with a key file, or a new key.tpm.handle)',
    });
  }
  if (/0x12f|authValue or authPolicy is not available/i.test(stderr)) {
    return new AgentError({
      code: 'KEY_TPM_POLICY_REQUIRED',
      component: COMPONENT,
      message: `${where(o)} can only be used through its policy (it was made with a PCR policy), and none was given`,
      hint: 'the key reference lost its pcrs: re-enrol (iamra-agent renew --force) with key.tpm.pcrs set',
    });
  }
  // tpm2_sign reads the key's public area first and refuses a hash other than the one its scheme fixes (rsassa-sha256)
  const fixed = o.hash && /object only supports signature hash alg sha(\d+)/.exec(stderr)?.[1];
  if (fixed) {
    return new AgentError({
      code: 'KEY_TPM_HASH',
      component: COMPONENT,
      message: `${where(o)} signs with SHA-${fixed} only (its signing scheme fixes the hash), not ${o.hash}`,
      hint: `sign with SHA-${fixed} (sign-string --digest SHA${fixed}), or use a key made without a fixed scheme (tpm2_create -G rsa2048:null, as the agent makes its RSA keys)`,
    });
  }
  // TPM_RC_HASH: not every TPM implements SHA-512
  if (o.hash && /hash algorithm not supported/i.test(stderr)) {
    return new AgentError({
      code: 'KEY_TPM_HASH',
      component: COMPONENT,
      message: `the TPM at ${o.tcti} cannot sign with ${o.hash} (${where(o)}): it does not implement that hash`,
      hint: 'sign with SHA-256 (sign-string --digest SHA256); tpm2_getcap algorithms lists the hashes this TPM has',
    });
  }
  if (/authoriz|0x98e|0x9a2/i.test(stderr)) {
    return new AgentError({
      code: 'KEY_TPM_AUTH',
      component: COMPONENT,
      message: `the TPM refused the password of ${where(o)} while ${what}`,
      hint: 'put the key password in key.tpm.authFile (or remove it when the key has none); the TPM counts failures (dictionary-attack lockout)',
    });
  }
  const last = stderr.trim().split('\n').filter(Boolean).pop() ?? 'no message';
  return new AgentError({ code: 'KEY_TPM_ERROR', component: COMPONENT, message: `${what} failed: ${last}`, hint: `check the TPM at ${o.tcti}` });
}

async function withTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'iamra-tpm-'));
  try {
    return await fn(dir);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

const flush = (tcti: string) => tool(tcti, 'tpm2_flushcontext', ['-t']);

/**
 * Runs `fn` with a context naming the key for tpm2-tools: the persistent handle, or the key file loaded under its
 * parent into a transient object (flushed by the caller's flush). `dir` is a private temporary directory.
 */
async function keyContext(o: Subject, dir: string): Promise<string> {
  if (!o.file) return o.handle!;
  const pub = path.join(dir, 'key.pub');
  const priv = path.join(dir, 'key.priv');
  const ctx = path.join(dir, 'key.ctx');
  await fsp.writeFile(pub, o.file.key.pub, { mode: 0o600 });
  await fsp.writeFile(priv, o.file.key.priv, { mode: 0o600 });
  await must(o, 'tpm2_load', ['-Q', '-C', o.file.key.parent, '-u', pub, '-r', priv, '-c', ctx], `loading ${o.file.path}`);
  return ctx;
}

async function readPublic(o: Subject): Promise<KeyObject> {
  return withTemp(async (dir) => {
    const out = path.join(dir, 'pub.der');
    try {
      const ctx = await keyContext(o, dir);
      await must(o, 'tpm2_readpublic', ['-Q', '-c', ctx, '-f', 'der', '-o', out], `reading the public key of ${where(o)}`);
    } finally {
      await flush(o.tcti);
    }
    return createPublicKey({ key: await fsp.readFile(out), format: 'der', type: 'spki' });
  });
}

function algorithmOf(pub: KeyObject, where: string): KeyAlgorithm {
  const d = pub.asymmetricKeyDetails ?? {};
  if (pub.asymmetricKeyType === 'ec' && (d.namedCurve === 'prime256v1' || d.namedCurve === 'secp384r1'))
    return { type: 'ec', curve: d.namedCurve === 'prime256v1' ? 'P-256' : 'P-384' };
  if (pub.asymmetricKeyType === 'rsa' && (d.modulusLength ?? 0) >= 2048) return { type: 'rsa', bits: d.modulusLength! };
  throw new AgentError({ code: 'KEY_UNSUPPORTED', component: COMPONENT, message: `${where}: unsupported key`, hint: 'use an EC P-256/P-384 or RSA 2048+ key' });
}

/** Reads a TSS2 PEM key file (mode checked like every private file: it is useless off this TPM, but still a key). */
export async function readTss2File(file: string): Promise<{ path: string; key: Tss2Key; pem: string }> {
  let pem: string;
  try {
    pem = await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw new AgentError({
      code: 'KEY_TPM_FILE_MISSING',
      component: COMPONENT,
      message: `cannot read the TPM key file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      hint: 'the version directory lost its key file: roll back (iamra-agent rollback) or run iamra-agent renew --force',
    });
  }
  return { path: file, key: decodeTss2Pem(pem, file), pem };
}

/**
 * What the TPM is given to sign `data` with `hash`. ECDSA signs the digest cut to the curve's size (FIPS 186-5
 * §6.4.1; a shorter one is the same number zero-padded), so an EC key gets that and the hash of the curve's size,
 * the one its scheme fixes (ecdsa-sha256 on P-256): every hash then works, and the TPM never computes SHA-512
 * itself. The AWS helper does the same. RSASSA's DigestInfo names the hash, so there the TPM must sign with it.
 */
function tpmDigest(alg: KeyAlgorithm, hash: SignHash, data: Uint8Array): { digest: Buffer; tpmHash: string } {
  const digest = createHash(hashName(hash)).update(data).digest();
  if (alg.type === 'rsa') return { digest, tpmHash: hashName(hash) };
  const size = alg.curve === 'P-256' ? 32 : 48;
  return {
    digest: digest.length >= size ? digest.subarray(0, size) : Buffer.concat([Buffer.alloc(size - digest.length), digest]),
    tpmHash: size === 32 ? 'sha256' : 'sha384',
  };
}

export class TpmKeyHandle implements KeyHandle {
  readonly kind = 'tpm' as const;
  readonly algorithm: KeyAlgorithm;

  private constructor(
    private readonly o: TpmOptions,
    private readonly pub: KeyObject,
    /** the TSS2 PEM of a key-file key, for the version directory */
    readonly pem?: string,
  ) {
    this.algorithm = algorithmOf(pub, this.describeWhere());
  }

  /** Opens the key at o.handle, or o.file (loading it under its parent: a key file of another TPM fails here). */
  static async open(o: TpmOptions): Promise<TpmKeyHandle> {
    return serialized(o.tcti, async () => new TpmKeyHandle(o, await readPublic(o)));
  }

  /**
   * Creates a signing key inside the TPM (fixedTPM, fixedParent, sensitiveDataOrigin: it was born there and cannot
   * leave) under the storage parent, and makes it persistent at `handle`, or (no handle) returns it as a TSS2 PEM
   * (`pem`) to be stored as o.file.path. The parent (an ECC P-256 SRK) is created and persisted first when the TPM
   * has none.
   */
  static async generate(o: TpmGenerateOptions): Promise<TpmKeyHandle> {
    const parent = o.parent ?? DEFAULT_PARENT;
    const keyPath = o.keyPath ?? 'the new key file';
    return serialized(o.tcti, () =>
      withTemp(async (dir) => {
        const f = (n: string) => path.join(dir, n);
        let file: { path: string; key: Tss2Key } | undefined;
        try {
          if ((await tool(o.tcti, 'tpm2_readpublic', ['-Q', '-c', parent])).code !== 0) {
            await must(
              o,
              'tpm2_createprimary',
              ['-Q', '-C', 'o', '-g', 'sha256', '-G', 'ecc256:null:aes128cfb', '-c', f('primary.ctx')],
              'creating the storage key',
            );
            await must(o, 'tpm2_evictcontrol', ['-Q', '-C', 'o', '-c', f('primary.ctx'), parent], `persisting the storage key at ${parent}`);
            await flush(o.tcti);
          }
          const a = o.algorithm;
          // RSA: no scheme in the key (null), so each signature names its hash (SHA-256, -384 or -512: RSASSA's DigestInfo
          // carries it); ECDSA keys keep the curve's hash, which sign() works with whatever hash was asked for
          const alg = a.type === 'ec' ? `ecc${a.curve === 'P-256' ? 256 : 384}:ecdsa-sha${a.curve === 'P-256' ? 256 : 384}` : `rsa${a.bits}:null`;
          const auth = o.authFile ? ['-p', `file:${o.authFile}`] : [];
          let policy: string[] = [];
          if (o.pcrs) {
            // a trial session computes the policy digest over the PCRs' current values
            await must(o, 'tpm2_startauthsession', ['-S', f('trial.ctx')], 'starting a trial session');
            try {
              await must(o, 'tpm2_policypcr', ['-Q', '-S', f('trial.ctx'), '-l', o.pcrs, '-L', f('policy.digest')], `computing the PCR policy over ${o.pcrs}`);
            } finally {
              await tool(o.tcti, 'tpm2_flushcontext', [f('trial.ctx')]);
            }
            policy = ['-L', f('policy.digest')];
          }
          // with a PCR policy, no userWithAuth: the key's (empty) password alone must not be enough to use it
          const attrs = `fixedtpm|fixedparent|sensitivedataorigin${o.pcrs ? '' : '|userwithauth'}|sign${o.authFile ? '' : '|noda'}`;
          await must(
            o,
            'tpm2_create',
            ['-Q', '-C', parent, '-G', alg, '-a', attrs, ...auth, ...policy, '-u', f('key.pub'), '-r', f('key.priv')],
            'creating the key',
          );
          await flush(o.tcti);
          if (o.handle) {
            await must(o, 'tpm2_load', ['-Q', '-C', parent, '-u', f('key.pub'), '-r', f('key.priv'), '-c', f('key.ctx')], 'loading the key');
            await must(o, 'tpm2_evictcontrol', ['-Q', '-C', 'o', '-c', f('key.ctx'), o.handle], `persisting the key at ${o.handle}`);
          } else {
            file = { path: keyPath, key: { parent, emptyAuth: !o.authFile, pub: await fsp.readFile(f('key.pub')), priv: await fsp.readFile(f('key.priv')) } };
          }
        } finally {
          await flush(o.tcti);
        }
        const opened: TpmOptions = {
          tcti: o.tcti,
          ...(o.authFile ? { authFile: o.authFile } : {}),
          ...(o.pcrs ? { pcrs: o.pcrs } : {}),
          ...(file ? { file } : { handle: o.handle! }),
        };
        return new TpmKeyHandle(opened, await readPublic(opened), file ? encodeTss2Pem(file.key) : undefined);
      }),
    );
  }

  async publicKey(): Promise<KeyObject> {
    return this.pub;
  }

  sign(data: Uint8Array, hash: SignHash = 'SHA-256'): Promise<Buffer> {
    const o = this.o;
    const { digest: toSign, tpmHash } = tpmDigest(this.algorithm, hash, data);
    return serialized(o.tcti, () =>
      withTemp(async (dir) => {
        const digest = path.join(dir, 'digest');
        const sig = path.join(dir, 'sig');
        await fsp.writeFile(digest, toSign);
        const scheme = this.algorithm.type === 'ec' ? 'ecdsa' : 'rsassa';
        let auth = o.authFile ? ['-p', `file:${o.authFile}`] : [];
        const session = path.join(dir, 'session.ctx');
        try {
          const ctx = await keyContext(o, dir);
          if (o.pcrs) {
            await must(o, 'tpm2_startauthsession', ['--policy-session', '-S', session], 'starting a policy session');
            await must(o, 'tpm2_policypcr', ['-Q', '-S', session, '-l', o.pcrs], `satisfying the PCR policy over ${o.pcrs}`);
            auth = ['-p', `session:${session}`];
          }
          // -d: the input is a digest made here; -f plain: DER ECDSA-Sig-Value (RSA: the raw signature)
          await must(
            { ...o, hash },
            'tpm2_sign',
            ['-c', ctx, ...auth, '-g', tpmHash, '-s', scheme, '-f', 'plain', '-d', '-o', sig, digest],
            `signing with ${this.describeWhere()}`,
          );
        } finally {
          if (o.pcrs) await tool(o.tcti, 'tpm2_flushcontext', [session]);
          await flush(o.tcti);
        }
        return fsp.readFile(sig);
      }),
    );
  }

  private describeWhere(): string {
    return this.o.file ? `tpm key file ${this.o.file.path} under ${this.o.file.key.parent}` : `tpm handle ${this.o.handle}`;
  }

  describe(): string {
    const a = this.algorithm;
    return `${this.describeWhere()} (${a.type === 'ec' ? `EC ${a.curve}` : `RSA-${a.bits}`}${this.o.pcrs ? `, PCR policy ${this.o.pcrs}` : ''})`;
  }
}

/** Evicts the persistent key at `handle` (tpm2_evictcontrol under the owner hierarchy); false when none is there. */
export async function evictTpmKey(o: { tcti: string; handle: string }): Promise<boolean> {
  return serialized(o.tcti, async () => {
    if ((await tool(o.tcti, 'tpm2_readpublic', ['-Q', '-c', o.handle])).code !== 0) return false;
    try {
      await must(o, 'tpm2_evictcontrol', ['-Q', '-C', 'o', '-c', o.handle], `evicting the key at ${o.handle}`);
    } finally {
      await flush(o.tcti);
    }
    return true;
  });
}
