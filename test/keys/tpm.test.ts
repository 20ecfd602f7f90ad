import assert from 'node:assert/strict';
import { verify } from 'node:crypto';
import { after, before, test } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { AgentError } from '../../src/core/errors.js';
import { buildCsr } from '../../src/keys/csr.js';
import { TpmKeyHandle } from '../../src/keys/tpm.js';
import { type Swtpm, startSwtpm } from '../../src/sandbox/swtpm.js';
import { tempDir } from '../helpers/paths.js';

/** TpmKeyHandle against a real swtpm (TPM 2.0 simulator) driven by tpm2-tools. */
let tpm: Swtpm;
before(async () => {
  tpm = await startSwtpm(tempDir('swtpm'), { clock: systemClock });
});
after(async () => {
  await tpm?.stop();
});

const code = (c: string, re: RegExp) => (e: unknown) => e instanceof AgentError && e.code === c && re.test(e.message) && !!e.hint;

test('generates an EC P-256 key inside the TPM at a persistent handle; signatures verify; reopening finds it', async () => {
  const key = await TpmKeyHandle.generate({ tcti: tpm.tcti, handle: '0x81000010', algorithm: { type: 'ec', curve: 'P-256' } });
  assert.deepEqual(key.algorithm, { type: 'ec', curve: 'P-256' });
  assert.equal(key.describe(), 'tpm handle 0x81000010 (EC P-256)');
  const data = Buffer.from('canonical request');
  const sig = await key.sign(data);
  assert.ok(verify('sha256', data, { key: await key.publicKey(), dsaEncoding: 'der' }, sig));
  const again = await TpmKeyHandle.open({ tcti: tpm.tcti, handle: '0x81000010' });
  assert.ok((await again.publicKey()).equals(await key.publicKey()));
  // concurrent signatures are serialized onto swtpm's single connection
  const sigs = await Promise.all([1, 2, 3, 4].map((i) => again.sign(Buffer.from(`r${i}`))));
  for (const [i, s] of sigs.entries()) assert.ok(verify('sha256', Buffer.from(`r${i + 1}`), { key: await key.publicKey(), dsaEncoding: 'der' }, s));
  const x509 = await import('@peculiar/x509');
  assert.ok(await new x509.Pkcs10CertificateRequest(await buildCsr(again, ['tpm.example.com'])).verify());
});

test('RSA-2048 in the TPM', async () => {
  const key = await TpmKeyHandle.generate({ tcti: tpm.tcti, handle: '0x81000011', algorithm: { type: 'rsa', bits: 2048 } });
  const data = Buffer.from('x');
  assert.ok(verify('sha256', data, await key.publicKey(), await key.sign(data)));
});

test('faults: no key at the handle, TPM unreachable', async () => {
  await assert.rejects(
    TpmKeyHandle.open({ tcti: tpm.tcti, handle: '0x81000099' }),
    code('KEY_TPM_NOT_FOUND', /no key at persistent handle 0x81000099 \(key\.tpm\.handle\)/),
  );
  await assert.rejects(
    TpmKeyHandle.open({ tcti: 'swtpm:host=127.0.0.1,port=1', handle: '0x81000010' }),
    code('KEY_TPM_UNREACHABLE', /the TPM at swtpm:host=127\.0\.0\.1,port=1 \(key\.tpm\.tcti\) cannot be reached/),
  );
});
