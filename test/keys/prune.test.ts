import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, test } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { memoryLogger } from '../../src/core/logger.js';
import { generateKey } from '../../src/keys/factory.js';
import { pruneVersions } from '../../src/keys/prune.js';
import type { KeyRef } from '../../src/keys/ref.js';
import { type Swtpm, startSwtpm } from '../../src/sandbox/swtpm.js';
import { IdentityStore } from '../../src/store/index.js';
import { tempDir } from '../helpers/paths.js';
import { makeCa, makeLeaf, type Ca } from '../helpers/pki.js';
import { softHsm, softhsmModule } from '../helpers/softhsm.js';

/**
 * Pruning versions deletes the hardware keys only they named (issue 7): rotated token objects in SoftHSM2 and
 * persistent handles in swtpm, never the configured key, nor one a kept version still names.
 */
const hsm = softHsm(tempDir('prune-hsm'));
process.env.SOFTHSM2_CONF = hsm.conf;
let pinFile: string;
let tpm: Swtpm;
let ca: Ca;
const T0 = new Date('2026-11-20T00:00:00Z');

before(async () => {
  pinFile = hsm.initToken('iamra', '2580');
  tpm = await startSwtpm(tempDir('prune-swtpm'), { clock: systemClock });
  ca = await makeCa({ name: 'prune CA', notBefore: T0, notAfter: new Date(T0.getTime() + 365 * 86400_000) });
});
after(async () => {
  await tpm?.stop();
});

/** a store whose versions name `refs` in order, the last one live */
async function storeWith(refs: KeyRef[]): Promise<IdentityStore> {
  const store = await IdentityStore.open(tempDir('prune-store'), { clock: systemClock, logger: memoryLogger() });
  for (const ref of refs) {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const certPem = await makeLeaf({ issuer: ca, names: ['h.example.test'], publicKey, notBefore: T0, notAfter: new Date(T0.getTime() + 7 * 86400_000) });
    const v = await store.stage({
      certPem,
      chainPem: ca.pem,
      fullchainPem: certPem + ca.pem,
      keyRef: { ...ref },
      meta: { names: ['h.example.test'], key: ref },
    });
    await store.activate(v);
  }
  return store;
}

const tpm2 = (args: string[]) =>
  new Promise<string>((resolve, reject) =>
    execFile('/usr/bin/tpm2_getcap', args, { env: { ...process.env, TPM2TOOLS_TCTI: tpm.tcti } }, (e, out) => (e ? reject(e) : resolve(out))),
  );

test('rotated token objects of pruned versions are deleted; the configured object and those of kept versions stay', async () => {
  const uri = 'pkcs11:token=iamra;object=host-key';
  const settings = { module: softhsmModule, pin: { pinFile } };
  const keys = [await generateKey({ kind: 'pkcs11', algorithm: 'ec-p256', uri, settings, fresh: false })];
  for (let i = 0; i < 3; i++) keys.push(await generateKey({ kind: 'pkcs11', algorithm: 'ec-p256', uri, settings, fresh: true }));
  const store = await storeWith(keys.map((k) => k.ref));
  const logger = memoryLogger();
  // keep 2: versions 1 (the configured host-key) and 2 (a rotated one) go
  assert.deepEqual(await pruneVersions(store, 2, { logger, pkcs11: { uri, ...settings } }), ['0001', '0002']);
  const labels = (hsm.tool(['--token-label', 'iamra', '--list-objects', '--type', 'privkey'], '2580').match(/label:\s+\S+/g) ?? []).map(
    (l) => l.split(/\s+/)[1],
  );
  const label = (k: (typeof keys)[number]) => /object=([^;]+)/.exec((k.ref as { uri: string }).uri)![1]!;
  assert.deepEqual(labels.sort(), ['host-key', label(keys[2]!), label(keys[3]!)].sort());
  const pubs = hsm.tool(['--token-label', 'iamra', '--list-objects', '--type', 'pubkey']);
  assert.doesNotMatch(pubs, new RegExp(label(keys[1]!)), 'its public object went too');
  assert.deepEqual(
    logger.entries.filter((e) => e.msg === 'the key of a pruned version was deleted').map((e) => e.fields.version),
    ['0002'],
  );
});

test('persistent TPM keys of pruned versions are evicted unless a kept version or the config names them', async () => {
  const handles = ['0x81000020', '0x81000021', '0x81000021', '0x81000010', '0x81000010'];
  for (const h of new Set(handles))
    await generateKey({ kind: 'tpm', algorithm: 'ec-p256', settings: { tcti: tpm.tcti, handle: h, parent: '0x81000001' }, fresh: false });
  const refs: KeyRef[] = handles.map((handle) => ({ kind: 'tpm', handle, parent: '0x81000001', tcti: tpm.tcti }));
  // an old version with the configured handle too, so that pruning it must not evict the live key
  const store = await storeWith([{ kind: 'tpm', handle: '0x81000010', parent: '0x81000001', tcti: tpm.tcti }, ...refs]);
  const removed = await pruneVersions(store, 3, { logger: memoryLogger(), tpm: { tcti: tpm.tcti, handle: '0x81000010', parent: '0x81000001' } });
  assert.deepEqual(removed, ['0001', '0002', '0003']);
  const after = await tpm2(['handles-persistent']);
  assert.doesNotMatch(after, /0x81000020/, 'named only by a pruned version: evicted');
  assert.match(after, /0x81000021/, 'version 0004 still names it');
  assert.match(after, /0x81000010/);
  assert.match(after, /0x81000001/, 'the storage key stays');
});
