import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, verify } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { AgentError } from '../../src/core/errors.js';
import { buildCsr } from '../../src/keys/csr.js';
import { generateKey, openKey } from '../../src/keys/factory.js';
import { parseKeyRef } from '../../src/keys/ref.js';
import { readTss2File, TpmKeyHandle, toolError } from '../../src/keys/tpm.js';
import { decodeTss2Pem, encodeTss2Pem } from '../../src/keys/tpm-tss2.js';
import { type Swtpm, startSwtpm } from '../../src/sandbox/swtpm.js';
import { tempDir } from '../helpers/paths.js';
import { SIGN_ALGORITHMS, SIGN_DATA, SIGN_HASHES } from './sign-cases.js';

/** TpmKeyHandle against a real swtpm (TPM 2.0 simulator) driven by tpm2-tools. */
let tpm: Swtpm;
before(async () => {
  tpm = await startSwtpm(tempDir('swtpm'), { clock: systemClock });
});
after(async () => {
  await tpm?.stop();
});

const code = (c: string, re: RegExp) => (e: unknown) => e instanceof AgentError && e.code === c && re.test(e.message) && !!e.hint;

/** a tpm2-tools program against the test's swtpm */
const tpm2 = (name: string, args: string[]) =>
  new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile(`/usr/bin/${name}`, args, { env: { ...process.env, TPM2TOOLS_TCTI: tpm.tcti } }, (e, _out, stderr) =>
      resolve({ code: e ? 1 : 0, stderr: String(stderr) }),
    ),
  );

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

test('SHA-256, SHA-384 and SHA-512 with EC P-256, EC P-384 and RSA-2048 TPM keys (key files): every signature verifies with its hash', async () => {
  const data = SIGN_DATA;
  for (const algorithm of SIGN_ALGORITHMS) {
    // key files, not handles: swtpm's NV has room for few persistent objects
    const key = await TpmKeyHandle.generate({ tcti: tpm.tcti, keyPath: 'hashes.tpm.pem', algorithm });
    const pub = { key: await key.publicKey(), dsaEncoding: 'der' as const };
    for (const [hash, name] of SIGN_HASHES) {
      const sig = await key.sign(data, hash);
      assert.ok(verify(name, data, pub, sig), `${key.describe()} ${hash}`);
      if (hash !== 'SHA-256') assert.ok(!verify('sha256', data, pub, sig), `${key.describe()} ${hash} is not a SHA-256 signature`);
    }
  }
});

test('SHA-512 the TPM cannot give: an RSA key whose scheme fixes SHA-256, a hash the TPM lacks; each KEY_TPM_HASH with a hint', async () => {
  // made by tpm2-tools with rsassa-sha256 in its scheme, under the storage key the agent's keys use
  await TpmKeyHandle.generate({ tcti: tpm.tcti, keyPath: 'parent.tpm.pem', algorithm: { type: 'ec', curve: 'P-256' } });
  const dir = tempDir('tpm-fixed-scheme');
  const [pub, priv] = [path.join(dir, 'k.pub'), path.join(dir, 'k.priv')];
  const attrs = 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign|noda';
  const made = await tpm2('tpm2_create', ['-Q', '-C', '0x81000001', '-G', 'rsa2048:rsassa-sha256', '-a', attrs, '-u', pub, '-r', priv]);
  assert.equal(made.code, 0, made.stderr);
  await tpm2('tpm2_flushcontext', ['-t']);
  const file = { path: 'fixed.tpm.pem', key: { parent: '0x81000001', emptyAuth: true, pub: readFileSync(pub), priv: readFileSync(priv) } };
  const key = await TpmKeyHandle.open({ tcti: tpm.tcti, file });
  const data = Buffer.from('x');
  assert.ok(verify('sha256', data, await key.publicKey(), await key.sign(data)));
  await assert.rejects(
    key.sign(data, 'SHA-512'),
    (e: unknown) =>
      code('KEY_TPM_HASH', /^the key file fixed\.tpm\.pem signs with SHA-256 only \(its signing scheme fixes the hash\), not SHA-512$/)(e) &&
      /sign-string --digest SHA256/.test((e as AgentError).hint ?? ''),
  );

  // swtpm has SHA-512; it lacks SM3, so its answer to SM3 is the TPM_RC_HASH a TPM without SHA-512 gives
  const rsa = await TpmKeyHandle.generate({ tcti: tpm.tcti, handle: '0x81000013', algorithm: { type: 'rsa', bits: 2048 } });
  const digest = path.join(dir, 'digest');
  writeFileSync(digest, createHash('sha256').update(data).digest());
  const r = await tpm2('tpm2_sign', ['-c', '0x81000013', '-g', 'sm3_256', '-s', 'rsassa', '-f', 'plain', '-d', '-o', path.join(dir, 'sig'), digest]);
  await tpm2('tpm2_flushcontext', ['-t']);
  assert.equal(r.code, 1);
  assert.ok(
    code(
      'KEY_TPM_HASH',
      /^the TPM at .* cannot sign with SHA-512 \(the key at 0x81000013\): it does not implement that hash$/,
    )(toolError({ tcti: tpm.tcti, handle: '0x81000013', hash: 'SHA-512' }, r.stderr, 'signing')),
    r.stderr,
  );
  // the agent's own RSA keys fix no hash: SHA-512 signs
  assert.ok(verify('sha512', data, await rsa.publicKey(), await rsa.sign(data, 'SHA-512')));
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

test('a key file: created under the parent, returned as a TSS2 PEM, loaded for each signature; a second TPM cannot load it', async () => {
  const key = await TpmKeyHandle.generate({ tcti: tpm.tcti, keyPath: 'key.tpm.pem', algorithm: { type: 'ec', curve: 'P-256' } });
  assert.equal(key.describe(), 'tpm key file key.tpm.pem under 0x81000001 (EC P-256)');
  const pem = key.pem!;
  assert.match(pem, /^-----BEGIN TSS2 PRIVATE KEY-----\n/);
  const parsed = decodeTss2Pem(pem, 'key.tpm.pem');
  assert.equal(parsed.parent, '0x81000001');
  assert.equal(parsed.emptyAuth, true, 'a key without a password says so (the AWS helper and the tpm2 provider then ask for none)');
  assert.equal(encodeTss2Pem(parsed), pem);

  const file = path.join(tempDir('tpm-file'), 'key.tpm.pem');
  writeFileSync(file, pem, { mode: 0o600 });
  const opened = await TpmKeyHandle.open({ tcti: tpm.tcti, file: await readTss2File(file) });
  assert.ok((await opened.publicKey()).equals(await key.publicKey()));
  const data = Buffer.from('canonical request');
  const sigs = await Promise.all([opened.sign(data), opened.sign(data)]);
  for (const s of sigs) assert.ok(verify('sha256', data, { key: await key.publicKey(), dsaEncoding: 'der' }, s));

  const other = await startSwtpm(tempDir('swtpm-other'), { clock: systemClock });
  try {
    // the other TPM has its own storage key at the same handle (another seed): the blob does not load there
    await TpmKeyHandle.generate({ tcti: other.tcti, handle: '0x81000010', algorithm: { type: 'ec', curve: 'P-256' } });
    await assert.rejects(
      TpmKeyHandle.open({ tcti: other.tcti, file: await readTss2File(file) }),
      code('KEY_TPM_FOREIGN', /refuses to load .*key\.tpm\.pem: it was made by another TPM or under another storage key than 0x81000001/),
    );
  } finally {
    await other.stop();
  }
});

test('TSS2 PEM: bad input is named', async () => {
  assert.throws(
    () => decodeTss2Pem('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', 'f.pem'),
    code('KEY_TPM_FILE_INVALID', /^f\.pem .*no TSS2 PRIVATE KEY PEM block/),
  );
  assert.throws(
    () => decodeTss2Pem('-----BEGIN TSS2 PRIVATE KEY-----\nMAA=\n-----END TSS2 PRIVATE KEY-----\n', 'f.pem'),
    code('KEY_TPM_FILE_INVALID', /does not parse/),
  );
  const good = { parent: '0x81000001', emptyAuth: true, pub: Buffer.from([0, 1, 9]), priv: Buffer.from([0, 2, 1, 2]) };
  assert.deepEqual(decodeTss2Pem(encodeTss2Pem(good), 'f.pem'), good);
  assert.throws(
    () => decodeTss2Pem(encodeTss2Pem({ ...good, pub: Buffer.from([0, 5, 1]) }), 'f.pem'),
    code('KEY_TPM_FILE_INVALID', /public blob has a wrong length/),
  );
  assert.throws(
    () => decodeTss2Pem(encodeTss2Pem({ ...good, parent: '0x40000001' }), 'f.pem'),
    code('KEY_TPM_FILE_INVALID', /parent is not a persistent handle/),
  );
  await assert.rejects(
    readTss2File('/nonexistent/key.tpm.pem'),
    code('KEY_TPM_FILE_MISSING', /cannot read the TPM key file \/nonexistent\/key\.tpm\.pem: ENOENT/),
  );
});

test('key.tpm.pcrs: a key bound to PCRs signs in that state only; extending a PCR gives one clear error, resetting it restores signing', async () => {
  const pcrs = 'sha256:0,7,16';
  const key = await TpmKeyHandle.generate({ tcti: tpm.tcti, handle: '0x81000012', pcrs, algorithm: { type: 'ec', curve: 'P-256' } });
  assert.equal(key.describe(), 'tpm handle 0x81000012 (EC P-256, PCR policy sha256:0,7,16)');
  const data = Buffer.from('canonical request');
  assert.ok(verify('sha256', data, { key: await key.publicKey(), dsaEncoding: 'der' }, await key.sign(data)));
  const pcrTool = (name: string, args: string[]) =>
    new Promise<void>((resolve, reject) =>
      execFile(`/usr/bin/${name}`, args, { env: { ...process.env, TPM2TOOLS_TCTI: tpm.tcti } }, (e) => (e ? reject(e) : resolve())),
    );
  // PCR 16 is the resettable debug PCR: extending it stands in for a changed boot measurement
  await pcrTool('tpm2_pcrextend', [`16:sha256=${'01'.repeat(32)}`]);
  await assert.rejects(
    key.sign(data),
    code('KEY_TPM_PCR', /^the TPM refuses to use the key at 0x81000012: PCRs sha256:0,7,16 \(key\.tpm\.pcrs\) no longer hold the values the key was bound to$/),
  );
  // no userWithAuth: the empty password does not get around the policy
  await assert.rejects(
    TpmKeyHandle.open({ tcti: tpm.tcti, handle: '0x81000012' }).then((k) => k.sign(data)),
    code('KEY_TPM_POLICY_REQUIRED', /^the key at 0x81000012 can only be used through its policy/),
  );
  await pcrTool('tpm2_pcrreset', ['16']);
  assert.ok(verify('sha256', data, { key: await key.publicKey(), dsaEncoding: 'der' }, await key.sign(data)));

  // through the key factory: the stored ref records the binding, and the key opened from it uses the policy
  const made = await generateKey({
    kind: 'tpm',
    algorithm: 'ec-p256',
    settings: { tcti: tpm.tcti, keyFile: 'key.tpm.pem', parent: '0x81000001', pcrs },
    fresh: true,
  });
  assert.equal(made.ref.kind === 'tpm' && made.ref.pcrs, pcrs);
  const dir = tempDir('tpm-pcr-version');
  writeFileSync(path.join(dir, 'key.tpm.pem'), made.files!['key.tpm.pem']!, { mode: 0o600 });
  const reopened = await openKey(parseKeyRef(JSON.parse(JSON.stringify(made.ref)), 'meta.json'), { dir });
  assert.ok(verify('sha256', data, { key: await made.handle.publicKey(), dsaEncoding: 'der' }, await reopened.sign(data)));
  await pcrTool('tpm2_pcrextend', [`16:sha256=${'02'.repeat(32)}`]);
  await assert.rejects(reopened.sign(data), code('KEY_TPM_PCR', /the key file .*key\.tpm\.pem: PCRs sha256:0,7,16 \(key\.tpm\.pcrs\) no longer hold/));
  await pcrTool('tpm2_pcrreset', ['16']);
});
