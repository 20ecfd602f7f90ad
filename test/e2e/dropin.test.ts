/**
 * Drop-in for the AWS credential helper (issue 10, "What must be shown" 3): the same command line, once with the
 * helper binary and once with the agent's (binary swapped), no agent config file at all — credential_process in
 * ~/.aws/config (a file key, a SoftHSM2 token key, a swtpm key by handle), `serve` read by the AWS CLI through IMDSv2, `update --once`
 * read by the AWS CLI from the credentials file; `read-certificate-data` and `sign-string` give the helper's output
 * for a certificate file, a file key and a token key and certificate.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate, verify } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fixedStringToSign } from '../../src/compose/helper-diagnostics.js';
import { helperFlags, livePkcs11Key, serveWith } from '../helpers/aws-helper.js';
import { makeCa, makeLeaf } from '../helpers/pki.js';
import { awsHelperBin, cliPath } from '../helpers/paths.js';
import { cleanEnv, startSandbox, type E2eSandbox } from '../helpers/sandbox.js';
import { runInPty } from '../helpers/pty.js';
import { pkcs11Tool, softhsmModule } from '../helpers/softhsm.js';
import { ASSUMED_ROLE, imdsCredentials, startServe } from './credentials-support.js';

let sb: E2eSandbox;
/** `sandbox up --key pkcs11`: the identity key lives in a SoftHSM2 token */
let hsm: E2eSandbox;
/** `sandbox up --key tpm`: the identity key at a persistent handle of the sandbox's swtpm */
let tpm: E2eSandbox;
before(async () => {
  [sb, hsm, tpm] = await Promise.all([
    startSandbox({ bootstrap: true }),
    startSandbox({ args: ['--key', 'pkcs11'], bootstrap: true }),
    startSandbox({ args: ['--key', 'tpm'], bootstrap: true }),
  ]);
});
after(async () => Promise.all([sb?.stop(), hsm?.stop(), tpm?.stop()]));

const BINARIES = [
  ['AWS credential helper v1.4.0', [awsHelperBin]],
  ['iamra-agent (binary swapped)', [process.execPath, cliPath]],
] as const;

let homes = 0;
function home(s: E2eSandbox): string {
  const dir = path.join(s.dir, `home-${++homes}`);
  mkdirSync(path.join(dir, '.aws'), { recursive: true });
  return dir;
}

/** `aws ARGS` with HOME=home and nothing of the sandbox's agent config or AWS_* settings: the files alone must do. */
function aws(s: E2eSandbox, args: string[], home: string, extra: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    ...cleanEnv(),
    HOME: home,
    AWS_CONFIG_FILE: path.join(home, '.aws', 'config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(home, '.aws', 'credentials'),
    AWS_REGION: 'us-east-1',
    ...extra,
  };
  return new Promise((resolve) => {
    execFile('/usr/bin/aws', [...args, '--endpoint-url', s.info.awsUrl, '--output', 'json'], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? 1 : 0, stdout, stderr });
    });
  });
}

function assertAssumedRole(r: { code: number; stdout: string; stderr: string }): void {
  assert.equal(r.code, 0, r.stderr);
  assert.match((JSON.parse(r.stdout) as { Arn: string }).Arn, ASSUMED_ROLE);
}

function run(bin: readonly string[], args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(bin[0]!, [...bin.slice(1), ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** stdout as bytes (sign-string --format bin) */
function runRaw(bin: readonly string[], args: string[], env: NodeJS.ProcessEnv): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(bin[0]!, [...bin.slice(1), ...args], { env, timeout: 60_000, encoding: 'buffer' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${bin.join(' ')} ${args.join(' ')}: ${stderr.toString()}`));
      else resolve(stdout);
    });
  });
}

describe('the same ~/.aws/config credential_process line with the AWS credential helper and with the agent', () => {
  for (const [name, bin] of BINARIES) {
    it(`${name}: aws sts get-caller-identity succeeds without any agent config file`, async () => {
      const h = home(sb);
      const line = [...bin, 'credential-process', ...helperFlags(sb)].join(' ');
      writeFileSync(path.join(h, '.aws', 'config'), `[profile app]\ncredential_process = ${line}\nregion = us-east-1\n`);
      assertAssumedRole(await aws(sb, ['sts', 'get-caller-identity', '--profile', 'app'], h));
    });
  }
});

describe('serve with the helper flags: the AWS CLI reads IMDSv2 from either binary', () => {
  for (const [name, bin] of BINARIES) {
    it(`${name}: serve --port P … answers aws sts get-caller-identity through AWS_EC2_METADATA_SERVICE_ENDPOINT`, async () => {
      const serve = await serveWith(bin, helperFlags(sb), cleanEnv());
      try {
        const h = home(sb);
        assertAssumedRole(await aws(sb, ['sts', 'get-caller-identity'], h, { AWS_EC2_METADATA_SERVICE_ENDPOINT: serve.url }));
      } finally {
        await serve.stop();
      }
    });
  }
});

describe('update --once --profile with the helper flags: the profile in ~/.aws/credentials', () => {
  for (const [name, bin] of BINARIES) {
    it(`${name}: writes [app] in $HOME/.aws/credentials (0600) and the AWS CLI signs with it`, async () => {
      const h = home(sb);
      const env = { ...cleanEnv(), HOME: h };
      const r = await run(bin, ['update', '--once', '--profile', 'app', ...helperFlags(sb)], env);
      assert.equal(r.code, 0, r.stderr);
      const file = path.join(h, '.aws', 'credentials');
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assertAssumedRole(await aws(sb, ['sts', 'get-caller-identity', '--profile', 'app'], h));
    });
  }
});

describe('a PKCS#11 key (SoftHSM2): the helper line with the PIN moved out of the URI', () => {
  const hsmEnv = (extra: NodeJS.ProcessEnv = {}) => ({ SOFTHSM2_CONF: hsm.env.SOFTHSM2_CONF, ...extra });

  it('AWS credential helper v1.4.0: credential_process with pkcs11:…?pin-value= (its only non-interactive PIN)', async () => {
    const h = home(hsm);
    const line = [awsHelperBin, 'credential-process', ...helperFlags(hsm, { pkcs11: livePkcs11Key(hsm) })].join(' ');
    writeFileSync(path.join(h, '.aws', 'config'), `[profile app]\ncredential_process = ${line}\nregion = us-east-1\n`);
    assertAssumedRole(await aws(hsm, ['sts', 'get-caller-identity', '--profile', 'app'], h, hsmEnv()));
  });

  it('iamra-agent: the same line (binary swapped) is refused, naming the file-based PIN options, the PIN not echoed', async () => {
    const key = livePkcs11Key(hsm);
    const r = await run([process.execPath, cliPath], ['credential-process', ...helperFlags(hsm, { pkcs11: key })], { ...cleanEnv(), ...hsmEnv() });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /pin-value.*--pin-file FILE.*pkcs11-pin/);
    assert.ok(!r.stderr.includes(key.pin), 'the PIN is not echoed');
  });

  it('iamra-agent: the line without pin-value, the PIN from the systemd credential pkcs11-pin ($CREDENTIALS_DIRECTORY)', async () => {
    const h = home(hsm);
    const line = [process.execPath, cliPath, 'credential-process', ...helperFlags(hsm, { pkcs11: { uri: livePkcs11Key(hsm).uri } })].join(' ');
    writeFileSync(path.join(h, '.aws', 'config'), `[profile app]\ncredential_process = ${line}\nregion = us-east-1\n`);
    // what LoadCredential=pkcs11-pin:FILE gives the service: a directory holding the PIN as the file pkcs11-pin
    const creds = path.join(hsm.dir, 'credentials');
    mkdirSync(creds, { recursive: true, mode: 0o700 });
    writeFileSync(path.join(creds, 'pkcs11-pin'), livePkcs11Key(hsm).pin, { mode: 0o600 });
    assertAssumedRole(await aws(hsm, ['sts', 'get-caller-identity', '--profile', 'app'], h, hsmEnv({ CREDENTIALS_DIRECTORY: creds })));
  });
});

const AGENT = [process.execPath, cliPath] as const;

/** Each sign-string output decoded to the signature bytes: json is the hex in a JSON string, text the hex, bin raw. */
function signature(format: string, out: Buffer): Buffer {
  if (format === 'bin') return out;
  const hex = format === 'json' ? (JSON.parse(out.toString()) as string) : out.toString();
  assert.match(hex, /^[0-9a-f]+$/, `${format}: ${out.toString()}`);
  return Buffer.from(hex, 'hex');
}

/** ECDSA is randomized: both signatures are checked with the certificate's public key, not compared. */
function assertSigned(cert: X509Certificate, digest: string, sig: Buffer, who: string): void {
  const hash = digest.toLowerCase();
  assert.ok(verify(hash, fixedStringToSign(cert.publicKey), cert.publicKey, sig), `${who}: the signature verifies with the certificate's key (${hash})`);
}

describe("read-certificate-data and sign-string: the helper's output, file key and certificate", () => {
  const live = () => path.join(sb.dir, 'state', 'live');

  it('read-certificate-data --certificate FILE prints the same bytes as the helper', async () => {
    const args = ['read-certificate-data', '--certificate', path.join(live(), 'cert.pem')];
    const [h, a] = await Promise.all([run([awsHelperBin], args, cleanEnv()), run(AGENT, args, cleanEnv())]);
    assert.equal(h.code, 0, h.stderr);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, h.stdout);
    assert.equal((JSON.parse(a.stdout) as { keyType: string }).keyType, 'EC');
  });

  for (const format of ['json', 'text', 'bin']) {
    for (const digest of ['SHA256', 'SHA384', 'SHA512']) {
      it(`sign-string --format ${format} --digest ${digest}: both signatures verify with the certificate key`, async () => {
        const cert = new X509Certificate(readFileSync(path.join(live(), 'cert.pem')));
        // the helper needs --certificate beside a file key; the agent checks it belongs to the key
        const args = [
          'sign-string',
          '--certificate',
          path.join(live(), 'cert.pem'),
          '--private-key',
          path.join(live(), 'key.pem'),
          '--format',
          format,
          '--digest',
          digest,
        ];
        const [h, a] = await Promise.all([runRaw([awsHelperBin], args, cleanEnv()), runRaw(AGENT, args, cleanEnv())]);
        assertSigned(cert, digest, signature(format, h), 'helper');
        assertSigned(cert, digest, signature(format, a), 'agent');
      });
    }
  }
});

describe('read-certificate-data and sign-string with an RSA file key (PKCS#1 in the fixed string)', () => {
  let dir: string;
  before(async () => {
    dir = path.join(sb.dir, 'rsa');
    mkdirSync(dir, { recursive: true });
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const now = Date.now();
    const ca = await makeCa({ name: 'RSA Test CA', notBefore: new Date(now - 60_000), notAfter: new Date(now + 3_600_000) });
    const leaf = await makeLeaf({ issuer: ca, names: ['rsa.example.com'], publicKey, notBefore: new Date(now - 60_000), notAfter: new Date(now + 3_600_000) });
    writeFileSync(path.join(dir, 'cert.pem'), leaf);
    writeFileSync(path.join(dir, 'key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  });

  it('read-certificate-data: the same bytes as the helper (keyType RSA)', async () => {
    const args = ['read-certificate-data', '--certificate', path.join(dir, 'cert.pem')];
    const [h, a] = await Promise.all([run([awsHelperBin], args, cleanEnv()), run(AGENT, args, cleanEnv())]);
    assert.equal(h.code, 0, h.stderr);
    assert.equal(a.stdout, h.stdout);
    assert.deepEqual((JSON.parse(a.stdout) as { supportedAlgorithms: string[] }).supportedAlgorithms, ['RSASHA256', 'RSASHA384', 'RSASHA512']);
  });

  for (const digest of ['SHA256', 'SHA384', 'SHA512']) {
    it(`sign-string --digest ${digest}: both RSA signatures verify with the certificate key, byte for byte the same`, async () => {
      const cert = new X509Certificate(readFileSync(path.join(dir, 'cert.pem')));
      const args = [
        'sign-string',
        '--certificate',
        path.join(dir, 'cert.pem'),
        '--private-key',
        path.join(dir, 'key.pem'),
        '--format',
        'bin',
        '--digest',
        digest,
      ];
      const [h, a] = await Promise.all([runRaw([awsHelperBin], args, cleanEnv()), runRaw(AGENT, args, cleanEnv())]);
      assertSigned(cert, digest, h, 'helper');
      assertSigned(cert, digest, a, 'agent');
      // RSASSA-PKCS1-v1_5 is deterministic: the same key over the same string gives the same bytes
      assert.deepEqual(a, h);
    });
  }
});

describe('read-certificate-data and sign-string with a SoftHSM2 token key and certificate', () => {
  const live = () => path.join(hsm.dir, 'state', 'live');
  const pinFile = () => path.join(hsm.dir, 'softhsm', 'pin');
  const env = () => ({ ...cleanEnv(), SOFTHSM2_CONF: hsm.env.SOFTHSM2_CONF });

  before(() => {
    // the certificate beside its key in the token, as a PIV card holds it (the PIN travels as env:, not argv)
    const der = path.join(hsm.dir, 'cert.der');
    writeFileSync(der, new X509Certificate(readFileSync(path.join(live(), 'cert.pem'))).raw);
    const pinArgs = ['--login', '--pin', 'env:USER_PIN'];
    const objectArgs = ['--write-object', der, '--type', 'cert', '--label', 'host-cert', '--id', '01'];
    execFileSync(pkcs11Tool, ['--module', softhsmModule, '--token-label', 'iamra', ...pinArgs, ...objectArgs], {
      env: { ...env(), USER_PIN: livePkcs11Key(hsm).pin },
      stdio: 'ignore',
    });
  });

  /** the URI's attributes sorted: Go prints them in map order, which changes from run to run */
  const normalized = (out: string) => out.replace(/URI: pkcs11:(\S+)/g, (_, attrs: string) => `URI: ${attrs.split(';').sort().join(';')}`);

  it('read-certificate-data --certificate pkcs11:token=iamra lists the same identity as the helper', async () => {
    const { pin } = livePkcs11Key(hsm);
    const lib = ['--pkcs11-lib', softhsmModule];
    const [h, a] = await Promise.all([
      run([awsHelperBin], ['read-certificate-data', '--certificate', `pkcs11:token=iamra?pin-value=${pin}`, ...lib], env()),
      run(AGENT, ['read-certificate-data', '--certificate', 'pkcs11:token=iamra', ...lib, '--pin-file', pinFile()], env()),
    ]);
    assert.equal(h.code, 0, h.stderr);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /^Matching identities\n1\) [0-9a-f]{40} "CN=agent\.example\.com"\n\tURI: pkcs11:.*;object=host-cert;type=cert\n$/);
    assert.equal(normalized(a.stdout), normalized(h.stdout));
  });

  it('read-certificate-data without a PIN lists the public certificate objects, as the helper does', async () => {
    const args = ['read-certificate-data', '--certificate', 'pkcs11:token=iamra;object=host-cert', '--pkcs11-lib', softhsmModule];
    const [h, a] = await Promise.all([run([awsHelperBin], args, env()), run(AGENT, args, env())]);
    assert.equal(h.code, 0, h.stderr);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /^Matching identities\n1\) /);
    assert.equal(normalized(a.stdout), normalized(h.stdout));
  });

  it('read-certificate-data with a URI that matches no certificate: "No matching identities" from both', async () => {
    const { pin } = livePkcs11Key(hsm);
    const lib = ['--pkcs11-lib', softhsmModule];
    const [h, a] = await Promise.all([
      run([awsHelperBin], ['read-certificate-data', '--certificate', `pkcs11:token=iamra;object=none?pin-value=${pin}`, ...lib], env()),
      run(AGENT, ['read-certificate-data', '--certificate', 'pkcs11:token=iamra;object=none', ...lib, '--pin-file', pinFile()], env()),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, h.stdout);
    assert.equal(a.stdout, 'No matching identities\n');
  });

  for (const digest of ['SHA256', 'SHA512']) {
    it(`sign-string --digest ${digest} with the token key: both signatures verify with the certificate key`, async () => {
      const cert = new X509Certificate(readFileSync(path.join(live(), 'cert.pem')));
      const key = livePkcs11Key(hsm);
      // the certificate from the token too: without one the helper signs the text alone, not the key digest
      const certUri = 'pkcs11:token=iamra;object=host-cert;type=cert';
      const common = ['sign-string', '--pkcs11-lib', softhsmModule, '--format', 'text', '--digest', digest];
      const [h, a] = await Promise.all([
        runRaw([awsHelperBin], [...common, '--private-key', `${key.uri}?pin-value=${key.pin}`, '--certificate', `${certUri}?pin-value=${key.pin}`], env()),
        runRaw(AGENT, [...common, '--private-key', key.uri, '--certificate', certUri, '--pin-file', pinFile()], env()),
      ]);
      assertSigned(cert, digest, signature('text', h), 'helper');
      assertSigned(cert, digest, signature('text', a), 'agent');
    });
  }
});

// The helper's credential_process is not run on the TPM key here: v1.4.0 opens /dev/tty before every TPM signature
// (test/e2e/tpm.test.ts runs it on a pty), which a credential_process child of the AWS CLI does not have; its
// sign-string runs on a pty below. The agent takes its handle:0x… form through $TPM2TOOLS_TCTI.
describe('a TPM key (swtpm) at a persistent handle: --private-key handle:0x… --no-tpm-key-password', () => {
  const live = () => path.join(tpm.dir, 'state', 'live');
  const handle = () => `handle:${(JSON.parse(readFileSync(path.join(live(), 'key.ref'), 'utf8')) as { handle: string }).handle}`;
  const tcti = () => ({ TPM2TOOLS_TCTI: tpm.env.TPM2TOOLS_TCTI });

  it('iamra-agent: a credential_process line with the TPM handle gets the role for the AWS CLI', async () => {
    const h = home(tpm);
    const flags = helperFlags(tpm).map((a, i, all) => (all[i - 1] === '--private-key' ? handle() : a));
    const line = [...AGENT, 'credential-process', ...flags, '--no-tpm-key-password'].join(' ');
    writeFileSync(path.join(h, '.aws', 'config'), `[profile app]\ncredential_process = ${line}\nregion = us-east-1\n`);
    assertAssumedRole(await aws(tpm, ['sts', 'get-caller-identity', '--profile', 'app'], h, tcti()));
  });

  it('iamra-agent: sign-string with the TPM handle verifies with the certificate key', async () => {
    const cert = new X509Certificate(readFileSync(path.join(live(), 'cert.pem')));
    const args = ['sign-string', '--private-key', handle(), '--no-tpm-key-password', '--certificate', path.join(live(), 'cert.pem'), '--format', 'json'];
    const out = await runRaw(AGENT, args, { ...cleanEnv(), ...tcti() });
    assertSigned(cert, 'SHA256', signature('json', out), 'agent');
  });

  it('sign-string --digest SHA512 with the TPM handle: the agent and the helper (on a pty, the TPM at $TPM_DEVICE) both verify', async () => {
    const cert = new X509Certificate(readFileSync(path.join(live(), 'cert.pem')));
    const args = ['sign-string', '--private-key', handle(), '--no-tpm-key-password', '--certificate', path.join(live(), 'cert.pem'), '--format', 'json'];
    const sha512 = [...args, '--digest', 'SHA512'];
    assertSigned(cert, 'SHA512', signature('json', await runRaw(AGENT, sha512, { ...cleanEnv(), ...tcti() })), 'agent');
    const h = await runInPty(awsHelperBin, sha512, { ...cleanEnv(), TPM_DEVICE: tpm.env.TPM_DEVICE });
    assert.equal(h.code, 0, h.output);
    assertSigned(cert, 'SHA512', signature('json', Buffer.from(h.output.trim())), 'helper');
  });
});

describe('serve takes the helper flags --port and --hop-limit (with a config file too)', () => {
  it('serve --port 0 --hop-limit 2 listens on 127.0.0.1 and vends credentials', async () => {
    const serve = await startServe(['--port', '0', '--hop-limit', '2'], sb.env);
    try {
      assert.match(serve.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      const r = await imdsCredentials(serve.url);
      assert.equal(r.status, 200, r.text);
      assert.match(r.json?.AccessKeyId ?? '', /^ASIA/);
    } finally {
      await serve.stop();
    }
  });
});
