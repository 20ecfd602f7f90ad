import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AgentError } from '../../src/core/errors.js';
import { FileKeyHandle } from '../../src/keys/file.js';
import { checkIdentity, verifyIdentity, type VerifyCheck, type VerifyInput } from '../../src/renew/verify.js';
import { KU, makeCa, makeLeaf, type Ca, type LeafOptions } from '../helpers/pki.js';

const H = 3600_000;
const NAMES = ['host1.example.test', 'www.host1.example.test'];
const notBefore = new Date('2026-11-20T00:00:00Z');
const notAfter = new Date(notBefore.getTime() + 160 * H);
const now = new Date(notBefore.getTime() + 24 * H);
const ec = () => FileKeyHandle.generate({ type: 'ec', curve: 'P-256' });

let root: Ca;
let inter: Ca;
let other: Ca;
let impostor: Ca;
test.before(async () => {
  const years = { notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2031-01-01T00:00:00Z') };
  root = await makeCa({ name: 'Test Root', ...years });
  inter = await makeCa({ name: 'Test Intermediate', ...years, issuer: root });
  other = await makeCa({ name: 'Other Root', ...years });
  impostor = await makeCa({ name: 'Test Root', ...years }); // same name as root, another key
});

async function input(o: Partial<LeafOptions> & { key?: FileKeyHandle } = {}, i: Partial<VerifyInput> = {}): Promise<VerifyInput> {
  const key = o.key ?? ec();
  const certPem = await makeLeaf({ issuer: inter, names: NAMES, publicKey: await key.publicKey(), notBefore, notAfter, ...o });
  return { certPem, chainPem: inter.pem, key, names: NAMES, anchorsPem: [root.pem], now, ...i };
}

async function failedChecks(i: VerifyInput): Promise<VerifyCheck[]> {
  return (await checkIdentity(i)).failures.map((f) => f.check);
}

test('a good identity verifies: chain to the root, key possession, names, validity', async () => {
  const i = await input();
  const v = await verifyIdentity(i);
  assert.deepEqual(v.path, [`CN=${NAMES[0]}`, 'CN=Test Intermediate', 'CN=Test Root']);
  assert.equal(v.notAfter.toISOString(), notAfter.toISOString());
  // names compare as a set, case-insensitively
  await verifyIdentity({ ...i, names: ['WWW.host1.example.test', 'host1.example.test'] });
  // the intermediate itself as the trust anchor
  assert.deepEqual((await verifyIdentity({ ...i, anchorsPem: [inter.pem] })).path, [`CN=${NAMES[0]}`, 'CN=Test Intermediate']);
  // the root included in the chain, chain order reversed, several anchors in one PEM bundle
  await verifyIdentity({ ...i, chainPem: root.pem + inter.pem, anchorsPem: [other.pem + root.pem] });
});

test('external key: SPKI comparison instead of a signature', async () => {
  const key = ec();
  const i = await input({ key });
  const publicKeyDer = (await key.publicKey()).export({ type: 'spki', format: 'der' });
  await verifyIdentity({ ...i, key: { publicKeyDer } });
  const otherDer = (await ec().publicKey()).export({ type: 'spki', format: 'der' });
  assert.deepEqual(await failedChecks({ ...i, key: { publicKeyDer: otherDer } }), ['key']);
});

test('RSA key handle: PKCS#1 v1.5 proof of possession', async () => {
  const key = FileKeyHandle.generate({ type: 'rsa', bits: 2048 });
  await verifyIdentity(await input({ key }));
});

test('wrong trust anchor: unrelated root, or a root with the same name and another key', async () => {
  const i = await input();
  const r = await checkIdentity({ ...i, anchorsPem: [other.pem] });
  assert.deepEqual(
    r.failures.map((f) => f.check),
    ['chain'],
  );
  assert.match(r.failures[0]!.message, /no issuer "CN=Test Root" for "CN=Test Intermediate"/);
  const imp = await checkIdentity({ ...i, anchorsPem: [impostor.pem] });
  assert.deepEqual(
    imp.failures.map((f) => f.check),
    ['chain'],
  );
  assert.match(imp.failures[0]!.message, /signature does not verify/);
  assert.deepEqual(await failedChecks({ ...i, chainPem: '' }), ['chain'], 'missing intermediate');
  assert.deepEqual(await failedChecks({ ...i, anchorsPem: [] }), ['chain', 'chain']);
});

test('key mismatch: the handle holds another key', async () => {
  const i = await input();
  const e = await verifyIdentity({ ...i, key: ec() }).then(
    () => undefined,
    (x: unknown) => x,
  );
  assert.ok(e instanceof AgentError);
  assert.equal(e.code, 'IDENTITY_INVALID');
  assert.match(e.message, /key: the certificate's public key does not match file key P-256/);
  assert.match(e.hint ?? '', /issued for another key/);
});

test('names mismatch: missing, extra or different names', async () => {
  const i = await input();
  assert.deepEqual(await failedChecks({ ...i, names: [NAMES[0]!] }), ['names']);
  assert.deepEqual(await failedChecks({ ...i, names: [...NAMES, 'api.host1.example.test'] }), ['names']);
  const r = await checkIdentity({ ...i, names: ['host2.example.test'] });
  assert.match(r.failures[0]!.message, /names host1\.example\.test, www\.host1\.example\.test but the identity is host2\.example\.test/);
});

test('expired or not yet valid, and an expired intermediate', async () => {
  const i = await input();
  const expired = await checkIdentity({ ...i, now: new Date(notAfter.getTime() + 1000) });
  assert.deepEqual(
    expired.failures.map((f) => [f.check, f.role]),
    [['validity', 'leaf']],
  );
  assert.match(expired.failures[0]!.message, /^expired at 2026-11-26T16:00:00.000Z/);
  assert.deepEqual(await failedChecks({ ...i, now: new Date(notBefore.getTime() - 1000) }), ['validity']);
  const oldInter = await makeCa({
    name: 'Old Intermediate',
    notBefore: new Date('2025-01-01T00:00:00Z'),
    notAfter: new Date('2026-11-21T00:00:00Z'),
    issuer: root,
  });
  const key = ec();
  const certPem = await makeLeaf({ issuer: oldInter, names: NAMES, publicKey: await key.publicKey(), notBefore, notAfter });
  const r = await checkIdentity({ ...i, certPem, chainPem: oldInter.pem, key, now: new Date('2026-11-22T00:00:00Z') });
  assert.deepEqual(
    r.failures.map((f) => [f.check, f.role]),
    [['validity', 'chain']],
  );
  assert.match(r.failures[0]!.message, /chain certificate "CN=Old Intermediate" expired/);
});

test('keyUsage without digitalSignature, and a CA leaf', async () => {
  assert.deepEqual(await failedChecks(await input({ keyUsage: KU.keyEncipherment })), ['key-usage']);
  assert.deepEqual(await failedChecks(await input({ ca: true })), ['basic-constraints']);
});

test('a SHA-1 signature is rejected', async () => {
  const r = await checkIdentity(await input({ hash: 'SHA-1' }));
  assert.deepEqual(
    r.failures.map((f) => f.check),
    ['signature-algorithm'],
  );
  assert.match(r.failures[0]!.message, /signed with ECDSA with SHA-1/);
});

test('several failures are reported together, in one AgentError with details', async () => {
  const i = await input({ keyUsage: KU.keyEncipherment });
  const e = await verifyIdentity({ ...i, key: ec(), names: ['x.example.test'], anchorsPem: [other.pem], now: new Date(notAfter.getTime() + H) }).then(
    () => undefined,
    (x: unknown) => x,
  );
  assert.ok(e instanceof AgentError);
  const checks = (e.details!.failures as { check: string }[]).map((f) => f.check).sort();
  assert.deepEqual(checks, ['chain', 'key', 'key-usage', 'names', 'validity']);
  for (const c of checks) assert.ok(e.message.includes(`${c}: `), c);
  assert.ok(e.message.includes(e.details?.serial as string));
});

test('unparseable input is a parse failure, not an exception', async () => {
  const i = await input();
  assert.deepEqual(await failedChecks({ ...i, certPem: 'garbage' }), ['parse']);
  await assert.rejects(
    verifyIdentity({ ...i, certPem: 'garbage' }),
    (e: unknown) => e instanceof AgentError && e.code === 'IDENTITY_INVALID' && /parse: /.test(e.message),
  );
});
