import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as nodeSign, type KeyObject } from 'node:crypto';
import { atomicWriteFile, readTextFile, readTextFileSync } from '../core/fs.js';
import { AgentError } from '../core/errors.js';
import { checkKeyPolicy } from './policy.js';
import { hashName, type KeyAlgorithm, type KeyHandle, type SignHash } from './types.js';

/** A private key in a PKCS#8 PEM file (0600). */
export class FileKeyHandle implements KeyHandle {
  readonly kind = 'file' as const;
  readonly algorithm: KeyAlgorithm;
  private readonly key: KeyObject;
  private readonly source: string;

  constructor(key: KeyObject, source: string) {
    this.key = key;
    this.source = source;
    this.algorithm = checkKeyPolicy(key, source === 'generated' ? 'the generated key' : source);
  }

  static generate(alg: KeyAlgorithm): FileKeyHandle {
    const { privateKey } = alg.type === 'ec' ? generateKeyPairSync('ec', { namedCurve: alg.curve }) : generateKeyPairSync('rsa', { modulusLength: alg.bits });
    return new FileKeyHandle(privateKey, 'generated');
  }

  /** `sync`: read without a thread-pool round trip, for a one-shot process that has nothing to overlap it with */
  static async load(file: string, o: { sync?: boolean } = {}): Promise<FileKeyHandle> {
    const pem = o.sync ? readTextFileSync(file, 'private key') : await readTextFile(file, 'private key');
    let key: KeyObject;
    try {
      key = createPrivateKey(pem);
    } catch (e) {
      throw new AgentError({
        code: 'KEY_INVALID',
        component: 'keys',
        message: `${file} is not a readable private key`,
        hint: 'the file must hold an unencrypted PEM private key',
        cause: e,
      });
    }
    // outside the try: a readable key that breaks the key policy must say so, not "not readable"
    return new FileKeyHandle(key, file);
  }

  async save(file: string): Promise<void> {
    await atomicWriteFile(file, this.pem(), 0o600);
  }

  pem(): string {
    return this.key.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  async publicKey(): Promise<KeyObject> {
    return createPublicKey(this.key);
  }

  async sign(data: Uint8Array, hash: SignHash = 'SHA-256'): Promise<Buffer> {
    return nodeSign(hashName(hash), data, { key: this.key, dsaEncoding: 'der' });
  }

  describe(): string {
    const a = this.algorithm;
    return `file key ${a.type === 'ec' ? a.curve : `RSA-${a.bits}`} (${this.source})`;
  }
}
