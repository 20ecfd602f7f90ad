import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, verify as cryptoVerify } from 'node:crypto';
import { promises as fsp, rmSync } from 'node:fs';
import path from 'node:path';
import { fixedClock } from '../../src/core/clock.js';
import { AgentError } from '../../src/core/errors.js';
import { memoryLogger } from '../../src/core/logger.js';
import { generateKey, isKeyHandle, openKey, openStoredKey, reuseKey, type VersionKey } from '../../src/keys/factory.js';
import { parseKeyRef, storedKeyRef, type KeyRef } from '../../src/keys/ref.js';
import { IdentityStore, type Identity } from '../../src/store/index.js';
import { tempDir } from '../helpers/paths.js';
import { makeCa, makeLeaf, type Ca } from '../helpers/pki.js';

/**
 * The key factory against a real identity store: what enrolment writes (key.pem or key.ref, and meta.json `key`)
 * comes back as the same KeyRef and opens as the same key; versions written before meta.json had `key` still open;
 * damaged or foreign key references fail with KEY_REF_INVALID naming the file.
 */

const NAMES = ['host1.example.test'];
const T0 = new Date('2026-11-20T00:00:00Z');
let ca: Ca;
const dirs: string[] = [];
before(async () => {
  ca = await makeCa({ name: 'Keys Test CA', notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2031-01-01T00:00:00Z') });
});
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function openStore(): Promise<IdentityStore> {
  const dir = tempDir('iamra-keys-');
  dirs.push(dir);
  return IdentityStore.open(dir, { clock: fixedClock('2026-11-22T12:00:00Z'), logger: memoryLogger() });
}

/** Stages a version the way enrol() does and reads it back. */
async function stageWith(store: IdentityStore, k: VersionKey, o: { metaKey?: boolean } = {}): Promise<Identity> {
  const certPem = await makeLeaf({
    issuer: ca,
    names: NAMES,
    publicKey: await k.handle.publicKey(),
    notBefore: T0,
    notAfter: new Date(T0.getTime() + 160 * 3600_000),
  });
  const v = await store.stage({
    certPem,
    chainPem: ca.pem,
    fullchainPem: certPem + ca.pem,
    ...(k.keyPem !== undefined ? { keyPem: k.keyPem } : { keyRef: { ...k.ref } }),
    meta: { names: NAMES, keySource: 'file', ...(o.metaKey === false ? {} : { key: k.ref }) },
  });
  return store.read(v.version);
}

const spkiOf = async (k: { publicKey(): Promise<import('node:crypto').KeyObject> }) => (await k.publicKey()).export({ type: 'spki', format: 'der' });

function isCode(code: string, ...inMessage: (string | RegExp)[]) {
  return (e: unknown) => {
    assert.ok(e instanceof AgentError, `expected an AgentError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.ok(e.hint, 'every AgentError has a hint');
    for (const m of inMessage) assert.match(e.message, typeof m === 'string' ? new RegExp(m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : m);
    return true;
  };
}

test('file key round trip: generateKey → key.pem + meta.json key → storedKeyRef → openStoredKey signs as the same key', async () => {
  const store = await openStore();
  for (const algorithm of ['ec-p256', 'ec-p384', 'rsa-2048'] as const) {
    const k = await generateKey({ kind: 'file', algorithm });
    assert.deepEqual(k.ref, { kind: 'file', path: 'key.pem' });
    assert.match(k.keyPem!, /^-----BEGIN PRIVATE KEY-----/);
    const id = await stageWith(store, k);
    const meta = JSON.parse(await fsp.readFile(id.files.meta, 'utf8'));
    assert.deepEqual(meta.key, { kind: 'file', path: 'key.pem' }, 'the KeyRef is written to meta.json');
    assert.deepEqual(storedKeyRef(id), k.ref);
    const opened = await openStoredKey(id);
    assert.equal(opened.kind, 'file');
    assert.ok((await spkiOf(opened)).equals(await spkiOf(k.handle)), `${algorithm}: the same key comes back`);
    // a one-shot process (credential-process) reads key.pem synchronously: the same key
    assert.ok((await spkiOf(await openStoredKey(id, { oneShot: true }))).equals(await spkiOf(k.handle)), `${algorithm}: the same key, read synchronously`);
    const sig = await opened.sign(Buffer.from('x'));
    assert.ok(cryptoVerify('sha256', Buffer.from('x'), { key: await k.handle.publicKey(), dsaEncoding: 'der' }, sig));
    assert.equal(isKeyHandle(opened), true);
  }
});

test('reuseKey carries the live file key into the next version unchanged (key.rotateOnRenew: false)', async () => {
  const store = await openStore();
  const k = await generateKey({ kind: 'file', algorithm: 'ec-p256' });
  const id = await stageWith(store, k);
  const again = await reuseKey(storedKeyRef(id)!, { dir: id.dir });
  assert.deepEqual(again.ref, k.ref);
  assert.equal(again.keyPem, k.keyPem);
  const next = await stageWith(store, again);
  assert.notEqual(next.version, id.version);
  assert.ok((await spkiOf(await openStoredKey(next))).equals(await spkiOf(k.handle)));
});

test('external key round trip: key.ref + meta.json key → external ref; opening it says KEY_EXTERNAL', async () => {
  const store = await openStore();
  const file = await generateKey({ kind: 'file', algorithm: 'ec-p256' });
  const sha = createHash('sha256')
    .update(await spkiOf(file.handle))
    .digest('hex');
  const ref: KeyRef = { kind: 'external', source: 'csr', csrFile: '/etc/iamra-agent/host.csr', publicKeySha256: sha };
  const id = await stageWith(store, { handle: file.handle, ref });
  assert.equal(id.files.key, undefined);
  assert.deepEqual(JSON.parse(await fsp.readFile(id.files.keyRef!, 'utf8')), ref);
  assert.deepEqual(storedKeyRef(id), ref);
  await assert.rejects(openStoredKey(id), isCode('KEY_EXTERNAL', '(csr)'));
  assert.equal(isKeyHandle({ publicKeyDer: new Uint8Array(await spkiOf(file.handle)) }), false);
});

test('versions written before meta.json had `key` still open: key.pem → file, key.ref {source: csr} → external', async () => {
  const store = await openStore();
  const k = await generateKey({ kind: 'file', algorithm: 'ec-p256' });
  const id = await stageWith(store, k, { metaKey: false });
  assert.equal(JSON.parse(await fsp.readFile(id.files.meta, 'utf8')).key, undefined);
  assert.deepEqual(storedKeyRef(id), { kind: 'file', path: 'key.pem' });
  assert.ok((await spkiOf(await openStoredKey(id))).equals(await spkiOf(k.handle)));

  const legacy = { source: 'csr', csrFile: '/etc/host.csr', publicKeySha256: 'ab'.repeat(32) };
  const ext = await store.stage({
    certPem: id.certPem,
    chainPem: id.chainPem,
    fullchainPem: id.fullchainPem,
    keyRef: legacy,
    meta: { names: NAMES, keySource: 'csr' },
  });
  assert.deepEqual(storedKeyRef(await store.read(ext.version)), { kind: 'external', ...legacy });
});

test('a version without any key: storedKeyRef undefined, openStoredKey KEY_MISSING naming the version', async () => {
  const store = await openStore();
  const k = await generateKey({ kind: 'file', algorithm: 'ec-p256' });
  const id = await stageWith(store, k);
  await fsp.rm(id.files.key!);
  const lost = await store.read(id.version);
  assert.equal(storedKeyRef(lost), undefined);
  await assert.rejects(openStoredKey(lost), isCode('KEY_MISSING', `version ${id.version}`, 'neither key.pem nor key.ref'));
});

test('bad meta.json key or key.ref contents give KEY_REF_INVALID naming the file and the field', async () => {
  const store = await openStore();
  const k = await generateKey({ kind: 'file', algorithm: 'ec-p256' });
  const id = await stageWith(store, k);
  const meta = JSON.parse(await fsp.readFile(id.files.meta, 'utf8'));
  const withMetaKey = (key: unknown): Identity => ({ ...id, meta: { ...meta, key } });
  const cases: [unknown, RegExp][] = [
    [{ kind: 'floppy' }, /kind/],
    ['key.pem', /key/],
    [{ kind: 'file' }, /path/],
    [{ kind: 'file', path: '../../etc/shadow' }, /path: must be a file name in the version directory/],
    [{ kind: 'file', path: '/etc/shadow' }, /path: must be a file name/],
    [{ kind: 'file', path: 'key.pem', extra: 1 }, /extra/],
    [{ kind: 'pkcs11', uri: 'slot=1' }, /uri: must be an RFC 7512 pkcs11: URI/],
    [{ kind: 'pkcs11', uri: 'pkcs11:token=iamra;object=host-key?pin-value=1234' }, /uri: must not carry a PIN/],
    [{ kind: 'tpm', handle: '0x81000010', keyFile: 'key.tss2' }, /exactly one of handle and keyFile/],
    [{ kind: 'tpm' }, /exactly one of handle and keyFile/],
    [{ kind: 'tpm', handle: '81000010' }, /handle: must be a persistent handle/],
    [{ kind: 'external', source: 'csr', publicKeySha256: 'xyz' }, /publicKeySha256: must be 64 hex digits/],
  ];
  for (const [key, field] of cases) {
    assert.throws(() => storedKeyRef(withMetaKey(key)), isCode('KEY_REF_INVALID', `${id.files.meta} (key)`, field), JSON.stringify(key));
  }
  // the same rules for a key.ref file (no `key` in meta.json), with the key.ref path named
  const { key: _k, ...noKey } = meta;
  const keyRefPath = path.join(id.dir, 'key.ref');
  const withKeyRef = (keyRef: unknown): Identity => ({ ...id, meta: noKey, files: { ...id.files, keyRef: keyRefPath }, keyRef: keyRef as Identity['keyRef'] });
  for (const [keyRef, field] of [
    [{ source: 'tpm', handle: '0x81000010' }, /source/],
    ['pkcs11:token=x', /key/],
    [[], /key/],
    [{ kind: 'pkcs11', uri: 'pkcs11:object=k;pin-value=1' }, /must not carry a PIN/],
  ] as [unknown, RegExp][]) {
    assert.throws(() => storedKeyRef(withKeyRef(keyRef)), isCode('KEY_REF_INVALID', keyRefPath, field), JSON.stringify(keyRef));
  }
  // a damaged meta.json key on disk: the error reaches whoever opens the version's key
  await fsp.chmod(id.files.meta, 0o600);
  await fsp.writeFile(id.files.meta, JSON.stringify({ ...meta, key: { kind: 'file', path: '..' } }));
  await assert.rejects(openStoredKey(await store.read(id.version)), isCode('KEY_REF_INVALID', id.files.meta));
});

test('valid pkcs11 and tpm refs parse; a TSS2 PEM key file is read from the version directory, and a path is refused', async () => {
  // opening and generating pkcs11 keys: test/keys/pkcs11-factory.test.ts (SoftHSM2); tpm handle keys: test/keys/tpm.test.ts (swtpm)
  assert.deepEqual(parseKeyRef({ kind: 'pkcs11', uri: 'pkcs11:token=iamra;object=host-key', module: '/usr/lib/softhsm/libsofthsm2.so' }, 'test'), {
    kind: 'pkcs11',
    uri: 'pkcs11:token=iamra;object=host-key',
    module: '/usr/lib/softhsm/libsofthsm2.so',
  });
  assert.deepEqual(parseKeyRef({ kind: 'tpm', handle: '0x81000010', tcti: 'swtpm:host=127.0.0.1,port=2321' }, 'test'), {
    kind: 'tpm',
    handle: '0x81000010',
    tcti: 'swtpm:host=127.0.0.1,port=2321',
  });
  const pem = parseKeyRef({ kind: 'tpm', keyFile: 'key.tss2', parent: '0x81000001' }, 'test');
  assert.deepEqual(pem, { kind: 'tpm', keyFile: 'key.tss2', parent: '0x81000001' });
  await assert.rejects(openKey(pem, { dir: '/nonexistent' }), isCode('KEY_TPM_FILE_MISSING', '/nonexistent/key.tss2'));
  assert.throws(() => parseKeyRef({ kind: 'tpm', keyFile: '../key.tss2' }, 'test'), isCode('KEY_REF_INVALID', 'test', /keyFile: must be a file name/));
});
