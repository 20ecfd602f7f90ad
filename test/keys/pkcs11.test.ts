import assert from 'node:assert/strict';
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { AgentError } from '../../src/core/errors.js';
import { buildCsr } from '../../src/keys/csr.js';
import { Pkcs11KeyHandle } from '../../src/keys/pkcs11.js';
import { tempDir } from '../helpers/paths.js';
import { makeNoSignKey, type SoftHsm, softHsm, softhsmModule } from '../helpers/softhsm.js';
import { SIGN_ALGORITHMS, SIGN_DATA } from './sign-cases.js';

/**
 * Pkcs11KeyHandle against a real SoftHSM2 token in a temp dir. SoftHSM reads SOFTHSM2_CONF once, at C_Initialize,
 * so this process points it at the private store before the first open; every test uses its own token label.
 */
const dir = tempDir('pkcs11');
const hsm: SoftHsm = softHsm(dir);
process.env.SOFTHSM2_CONF = hsm.conf;
const PIN = '4711';
let pinFile: string;
let systemdPinFile: string;

const code = (c: string) => (e: unknown) => {
  assert.ok(e instanceof AgentError, `expected AgentError ${c}, got ${String(e)}`);
  assert.equal(e.code, c, e.message);
  return true;
};

function verifies(pub: KeyObject, data: Buffer, sig: Buffer, hash = 'sha256'): boolean {
  return verify(hash, data, { key: pub, dsaEncoding: 'der' }, sig);
}

// SoftHSM sees only the tokens that exist when the library initializes, so every token is made up front.
before(() => {
  pinFile = hsm.initToken('unit', PIN);
  systemdPinFile = hsm.initToken('systemd', '2468');
  hsm.initToken('wrongpin', '1111');
  hsm.initToken('pinfiles', '3333');
});

describe('Pkcs11KeyHandle on SoftHSM2', () => {
  test('generates an EC P-256 key in the token: sensitive, never extractable, signs verifiable DER ECDSA', async () => {
    const key = await Pkcs11KeyHandle.generate({
      module: softhsmModule,
      uri: 'pkcs11:token=unit;object=host-key',
      pin: { pinFile },
      algorithm: { type: 'ec', curve: 'P-256' },
    });
    assert.deepEqual(key.algorithm, { type: 'ec', curve: 'P-256' });
    assert.match(key.uri, /^pkcs11:token=unit;object=host-key;id=(%[0-9a-f]{2}){8}$/);
    assert.equal(key.describe(), 'pkcs11 token unit object host-key (EC P-256)');
    const data = Buffer.from('GET\n/\n\nhost:rolesanywhere.amazonaws.com\n');
    const sig = await key.sign(data);
    assert.equal(sig[0], 0x30, 'DER SEQUENCE');
    assert.ok(verifies(await key.publicKey(), data, sig));
    assert.ok(!verifies(await key.publicKey(), Buffer.from('other'), sig));

    // the operator's view of the token (OpenSC pkcs11-tool) agrees: a private key that never leaves it
    const listing = hsm.tool(['--token-label', 'unit', '--list-objects', '--type', 'privkey'], PIN);
    assert.match(listing, /label:\s+host-key/);
    assert.match(listing, /Access:\s+sensitive, always sensitive, never extractable, local/);
    assert.match(listing, /Usage:\s+sign\n/);
    // and its public key is the one the handle reports
    const der = path.join(dir, 'host-key.pub.der');
    hsm.tool(['--token-label', 'unit', '--read-object', '--type', 'pubkey', '--label', 'host-key', '-o', der]);
    const fromTool = createPublicKey({ key: readFileSync(der), format: 'der', type: 'spki' });
    assert.ok(fromTool.equals(await key.publicKey()));
  });

  test('opens by URI a key made by pkcs11-tool and signs with it (EC P-384 with SHA-384, RSA-2048)', async () => {
    hsm.tool(['--token-label', 'unit', '--keypairgen', '--key-type', 'EC:secp384r1', '--label', 'ec384', '--id', 'a1'], PIN);
    hsm.tool(['--token-label', 'unit', '--keypairgen', '--key-type', 'rsa:2048', '--label', 'rsa2048', '--id', 'a2'], PIN);
    const ec = await Pkcs11KeyHandle.open({ module: softhsmModule, uri: 'pkcs11:token=unit;object=ec384', pin: { pinFile } });
    assert.deepEqual(ec.algorithm, { type: 'ec', curve: 'P-384' });
    assert.equal(ec.uri, 'pkcs11:token=unit;object=ec384;id=%a1');
    const data = Buffer.from('payload');
    assert.ok(verifies(await ec.publicKey(), data, await ec.sign(data, 'SHA-384'), 'sha384'));
    // selecting by CKA_ID alone works as well
    const rsa = await Pkcs11KeyHandle.open({ module: softhsmModule, uri: 'pkcs11:token=unit;id=%A2;type=private', pin: { pinFile } });
    assert.deepEqual(rsa.algorithm, { type: 'rsa', bits: 2048 });
    const sig = await rsa.sign(data);
    assert.equal(sig.length, 256);
    assert.ok(verify('sha256', data, await rsa.publicKey(), sig));
  });

  test('SHA-512 with EC P-256, EC P-384 and RSA-2048 token keys: each signature verifies with sha512 (CKM_ECDSA over the digest, RSA PKCS#1 v1.5)', async () => {
    const data = SIGN_DATA;
    for (const [i, algorithm] of SIGN_ALGORITHMS.entries()) {
      const key = await Pkcs11KeyHandle.generate({ module: softhsmModule, uri: `pkcs11:token=unit;object=sha512-${i}`, pin: { pinFile }, algorithm });
      const pub = await key.publicKey();
      const sig = await key.sign(data, 'SHA-512');
      assert.ok(verifies(pub, data, sig, 'sha512'), key.describe());
      assert.ok(!verifies(pub, data, sig, 'sha256'), `${key.describe()}: not a SHA-256 signature`);
      // RSASSA-PKCS1-v1_5 is deterministic: the same input gives the same bytes
      if (algorithm.type === 'rsa') assert.deepEqual(await key.sign(data, 'SHA-512'), sig);
    }
  });

  test('the CSR built through the token verifies and carries the token key', async () => {
    const key = await Pkcs11KeyHandle.generate({
      module: softhsmModule,
      uri: 'pkcs11:token=unit;object=csr-key',
      pin: { pinFile },
      algorithm: { type: 'rsa', bits: 2048 },
    });
    const pem = await buildCsr(key, ['host1.example.com']);
    const x509 = await import('@peculiar/x509');
    const csr = new x509.Pkcs10CertificateRequest(pem);
    assert.ok(await csr.verify());
    const spki = Buffer.from(csr.publicKey.rawData);
    assert.ok(createPublicKey({ key: spki, format: 'der', type: 'spki' }).equals(await key.publicKey()));
  });

  test('concurrent signatures share the one session without clashing', async () => {
    const key = await Pkcs11KeyHandle.open({ module: softhsmModule, uri: 'pkcs11:token=unit;object=host-key', pin: { pinFile } });
    const pub = await key.publicKey();
    const inputs = Array.from({ length: 8 }, (_, i) => Buffer.from(`request ${i}`));
    const sigs = await Promise.all(inputs.map((d) => key.sign(d)));
    for (const [i, s] of sigs.entries()) assert.ok(verifies(pub, inputs[i]!, s));
  });

  test('the PIN can come from the systemd credential pkcs11-pin', async () => {
    const creds = path.join(dir, 'credentials');
    mkdirSync(creds, { mode: 0o700 });
    writeFileSync(path.join(creds, 'pkcs11-pin'), readFileSync(systemdPinFile), { mode: 0o400 });
    const key = await Pkcs11KeyHandle.generate({
      module: softhsmModule,
      uri: 'pkcs11:token=systemd;object=k',
      pin: { credentialsDirectory: creds },
      algorithm: { type: 'ec', curve: 'P-256' },
    });
    assert.ok(verifies(await key.publicKey(), Buffer.from('x'), await key.sign(Buffer.from('x'))));
  });
});

describe('Pkcs11KeyHandle faults: one clear error each', () => {
  test('a wrong PIN names key.pkcs11.pinFile and is tried once per run: a later open does not log in again', async () => {
    const bad = path.join(dir, 'bad.pin');
    writeFileSync(bad, '9999\n', { mode: 0o600 });
    const opts = { module: softhsmModule, uri: 'pkcs11:token=wrongpin;object=k', pin: { pinFile: bad } };
    let first: unknown;
    await assert.rejects(
      Pkcs11KeyHandle.open(opts).catch((e) => {
        first = e;
        throw e;
      }),
      (e: unknown) => {
        code('KEY_PKCS11_PIN_INCORRECT')(e);
        const a = e as AgentError;
        assert.match(a.message, /token wrongpin rejected the PIN from key\.pkcs11\.pinFile \(.*bad\.pin\) \(CKR_PIN_INCORRECT\)/);
        assert.match(a.hint ?? '', /key\.pkcs11\.pinFile/);
        assert.ok(!a.message.includes('9999'), 'the PIN never appears in an error');
        return true;
      },
    );
    // the same failure comes back without a second C_Login, even once the file holds the right PIN
    writeFileSync(bad, '1111\n');
    await assert.rejects(Pkcs11KeyHandle.open(opts), (e) => e === first);
  });

  test('a token that is not there lists the tokens present', async () => {
    await assert.rejects(Pkcs11KeyHandle.open({ module: softhsmModule, uri: 'pkcs11:token=nope;object=k', pin: { pinFile } }), (e: unknown) => {
      code('KEY_PKCS11_TOKEN_NOT_FOUND')(e);
      assert.match((e as AgentError).message, /no token matches token=nope in .*libsofthsm2\.so \(tokens present: .*unit/);
      return true;
    });
  });

  test('an object label that is not on the token', async () => {
    await assert.rejects(Pkcs11KeyHandle.open({ module: softhsmModule, uri: 'pkcs11:token=unit;object=missing', pin: { pinFile } }), (e: unknown) => {
      code('KEY_PKCS11_NOT_FOUND')(e);
      assert.equal((e as AgentError).message, 'token unit has no private key with object=missing');
      return true;
    });
  });

  test('a PIN in the URI is refused before the token is touched, without echoing it', async () => {
    for (const uri of ['pkcs11:token=unit;object=host-key?pin-value=4711', 'pkcs11:token=unit;object=host-key;pin-value=4711']) {
      await assert.rejects(Pkcs11KeyHandle.open({ module: '/nonexistent/module.so', uri, pin: {} }), (e: unknown) => {
        code('KEY_PKCS11_PIN_IN_URI')(e);
        const a = e as AgentError;
        assert.ok(!a.message.includes('4711') && !a.hint?.includes('4711'));
        assert.match(a.hint ?? '', /key\.pkcs11\.pinFile/);
        return true;
      });
    }
  });

  test('a key without CKA_SIGN', async () => {
    makeNoSignKey('unit', PIN, 'nosign');
    await assert.rejects(Pkcs11KeyHandle.open({ module: softhsmModule, uri: 'pkcs11:token=unit;object=nosign', pin: { pinFile } }), (e: unknown) => {
      code('KEY_PKCS11_NO_SIGN')(e);
      assert.equal((e as AgentError).message, 'token unit object nosign is not allowed to sign (CKA_SIGN is false)');
      return true;
    });
  });

  test('a PIN file readable by others, an empty one, a missing one, no PIN at all', async () => {
    const open = (pin: { pinFile?: string }) => Pkcs11KeyHandle.open({ module: softhsmModule, uri: 'pkcs11:token=pinfiles;object=k', pin });
    const wide = path.join(dir, 'wide.pin');
    writeFileSync(wide, '3333\n');
    chmodSync(wide, 0o644);
    await assert.rejects(
      open({ pinFile: wide }),
      (e: unknown) => code('KEY_PKCS11_PIN_FILE')(e) && /readable by group or others \(mode 644\)/.test((e as AgentError).message),
    );
    const empty = path.join(dir, 'empty.pin');
    writeFileSync(empty, '\n', { mode: 0o600 });
    await assert.rejects(
      open({ pinFile: empty }),
      (e: unknown) => code('KEY_PKCS11_PIN_FILE')(e) && /key\.pkcs11\.pinFile \(.*empty\.pin\) is empty/.test((e as AgentError).message),
    );
    await assert.rejects(
      open({ pinFile: path.join(dir, 'absent.pin') }),
      (e: unknown) => code('KEY_PKCS11_PIN_FILE')(e) && /cannot be read: ENOENT/.test((e as AgentError).message),
    );
    await assert.rejects(open({}), code('KEY_PKCS11_PIN_MISSING'));
  });

  test('a module that does not load names key.pkcs11.module', async () => {
    await assert.rejects(
      Pkcs11KeyHandle.open({ module: path.join(dir, 'no-such-module.so'), uri: 'pkcs11:token=unit;object=host-key', pin: { pinFile } }),
      (e: unknown) => code('KEY_PKCS11_MODULE')(e) && /\(key\.pkcs11\.module\)/.test((e as AgentError).message),
    );
  });
});
