import assert from 'node:assert/strict';
import { verify } from 'node:crypto';
import { before, test } from 'node:test';
import { generateKey, openKey } from '../../src/keys/factory.js';
import { parseKeyRef } from '../../src/keys/ref.js';
import { tempDir } from '../helpers/paths.js';
import { softHsm, softhsmModule } from '../helpers/softhsm.js';

/** The key factory's pkcs11 case on a SoftHSM2 token: bootstrap reuses the labelled key, rotation makes new ones. */
const hsm = softHsm(tempDir('pkcs11-factory'));
process.env.SOFTHSM2_CONF = hsm.conf;
let pinFile: string;
before(() => {
  pinFile = hsm.initToken('iamra', '2580');
});

const spec = (fresh: boolean) =>
  ({ kind: 'pkcs11', algorithm: 'ec-p256', uri: 'pkcs11:token=iamra;object=host-key', settings: { module: softhsmModule, pin: { pinFile } }, fresh }) as const;

test('bootstrap generates the labelled key once and then uses it; rotation adds a new object; refs reopen the same key', async () => {
  const first = await generateKey(spec(false));
  assert.equal(first.keyPem, undefined, 'a token key has no PEM for the store');
  assert.equal(first.ref.kind, 'pkcs11');
  const again = await generateKey(spec(false));
  assert.deepEqual(again.ref, first.ref, 'the key with the configured label is used, not a second one');
  assert.ok((await again.handle.publicKey()).equals(await first.handle.publicKey()));

  const rotated = await generateKey(spec(true));
  assert.notDeepEqual(rotated.ref, first.ref);
  assert.match(rotated.handle.describe(), /^pkcs11 token iamra object host-key-[0-9a-f]{8} \(EC P-256\)$/);
  assert.ok(!(await rotated.handle.publicKey()).equals(await first.handle.publicKey()));

  // meta.json round trip: the stored ref validates and opens the same token object
  const ref = parseKeyRef(JSON.parse(JSON.stringify(rotated.ref)), 'meta.json');
  const reopened = await openKey(ref, { dir: '/nonexistent', pkcs11: { pin: { pinFile } } });
  const data = Buffer.from('canonical request');
  assert.ok(verify('sha256', data, { key: await rotated.handle.publicKey(), dsaEncoding: 'der' }, await reopened.sign(data)));
  assert.equal(hsm.tool(['--token-label', 'iamra', '--list-objects', '--type', 'pubkey']).match(/label:\s+host-key/g)?.length, 2);
});
