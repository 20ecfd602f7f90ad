import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, verify } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { runCli } from '../../src/cli/index.js';
import { fixedStringToSign } from '../../src/compose/helper-diagnostics.js';
import type { CliDeps } from '../../src/cli/context.js';
import { fixedClock } from '../../src/core/clock.js';
import { AgentError } from '../../src/core/errors.js';
import type { Logger } from '../../src/core/logger.js';

/**
 * The CLI entry in-process with deps that record what a command reached: loading the config (and building a
 * logger) is the first thing every command body does, so a usage error must stop before either happens.
 */
function harness() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const reached: string[] = [];
  const deps: CliDeps = {
    io: { stdout, stderr, env: {}, isTTY: false },
    clock: fixedClock('2026-12-01T00:00:00Z'),
    makeLogger: () => {
      reached.push('logger');
      const logger: Logger = { error() {}, warn() {}, info() {}, debug() {}, child: () => logger };
      return logger;
    },
    loadConfig: async () => {
      reached.push('config');
      throw new AgentError({ code: 'CONFIG_UNREADABLE', component: 'config', message: 'the test stops here' });
    },
    selfCommand: [process.execPath, 'main.js'],
    signal: new AbortController().signal,
  };
  return { deps, reached, out: () => out, err: () => err };
}

async function usageFailure(argv: string[], code: number, message: RegExp) {
  const h = harness();
  const rc = await runCli(argv, h.deps);
  assert.equal(rc, code, `exit code of ${argv.join(' ')}; stderr: ${h.err()}`);
  assert.deepEqual(h.reached, [], `${argv.join(' ')} must not start the command`);
  assert.equal(h.out(), '', 'nothing on stdout');
  const lines = h.err().trimEnd().split('\n');
  assert.equal(lines.length, 2, `one line and the usage hint: ${h.err()}`);
  assert.match(lines[0]!, message);
  assert.match(lines[1]!, /^Run 'iamra-agent .*--help' for usage\.$/);
  return h;
}

test('a command with valid arguments does reach its body (the harness sees action)', async () => {
  const h = harness();
  assert.equal(await runCli(['credential-process', '--config', '/nowhere.yaml'], h.deps), 1);
  assert.ok(h.reached.includes('config'));
  assert.match(h.err(), /the test stops here/);
});

test('credential-process --bogus prints nothing on stdout and exits 1', async () => {
  const h = await usageFailure(['credential-process', '--bogus'], 1, /^iamra-agent: Unknown argument: bogus$/);
  assert.match(h.err(), /iamra-agent credential-process --help/);
});

test('serve with a bad or unknown option does not serve', async () => {
  await usageFailure(['serve', '--port', 'abc'], 1, /option --port needs a number, got "abc"/);
  await usageFailure(['serve', '--port', '29911', '--listen', '127.0.0.1:1'], 1, /mutually exclusive/);
  await usageFailure(['serve', '--bogus', '--port', '29911'], 1, /Unknown argument: bogus/);
  await usageFailure(['serve', '--hop-limit', '300'], 1, /--hop-limit must be an integer 1-255, got 300/);
});

test('update --bogus --once writes no file', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cli-strict-'));
  try {
    const file = path.join(dir, 'credentials');
    await usageFailure(['update', '--bogus', '--once', '--file', file], 1, /Unknown argument: bogus/);
    assert.equal(existsSync(file), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing value stops the command: --listen at the end of the line, --set without a value', async () => {
  await usageFailure(['serve', '--listen'], 1, /option --listen needs a value/);
  await usageFailure(['credential-process', '--set'], 1, /option --set needs a value/);
  await usageFailure(['credential-process', '--role-arn', '--no-cache'], 1, /option --role-arn needs a value/);
});

test('a bad value stops the command, on one line', async () => {
  await usageFailure(['--log-level', 'loud', 'credential-process'], 1, /Invalid values: Argument: log-level, Given: "loud"/);
});

test('usage errors keep each command its own error exit code', async () => {
  await usageFailure(['status', '--bogus'], 3, /Unknown argument: bogus/); // Nagios UNKNOWN
  await usageFailure(['renew', '--needed', '--bogus'], 255, /Unknown argument: bogus/); // ExecCondition= "broken", not "not due"
  await usageFailure(['renew', '--bogus'], 1, /Unknown argument: bogus/);
  await usageFailure(['bootstrap', '--bogus'], 1, /Unknown argument: bogus/);
});

test('an unknown command names the word and the guess', async () => {
  await usageFailure(['stauts'], 1, /Unknown command: stauts\. Did you mean status\?/);
  await usageFailure([], 1, /name a command/);
});

for (const command of ['credential-process', 'serve', 'update']) {
  test(`drop-in ${command}: secrets on argv are refused naming the file-based option, before any file is read or config loaded`, async () => {
    const base = [command, '--certificate', '/nonexistent/cert.pem', '--trust-anchor-arn', 'a', '--profile-arn', 'b', '--role-arn', 'c'];
    const refused = async (extra: string[], message: RegExp) => {
      const h = harness();
      assert.equal(await runCli([...base, ...extra], h.deps), 1);
      assert.equal(h.out(), '');
      assert.ok(!h.reached.includes('config'), 'no config file is read in drop-in mode');
      assert.match(h.err(), message);
      assert.doesNotMatch(h.err(), /1234|s3cret/, 'the secret is not echoed');
    };
    await refused(['--private-key', '/k.pem', '--tpm-key-password', 's3cret'], /--tpm-key-password puts a secret on the command line.*0600 file/);
    await refused(['--private-key', 'pkcs11:token=t;object=k;pin-value=1234'], /pin-value.*--pin-file FILE/);
    await refused(
      ['--private-key', '/k.pem', '--no-verify-ssl', '--endpoint', 'https://rolesanywhere.us-east-1.amazonaws.com'],
      /--no-verify-ssl is refused for https:\/\/rolesanywhere/,
    );
    await refused(['--private-key', '/k.pem', '--no-verify-ssl'], /--no-verify-ssl is refused for the region's public endpoint/);
    await refused([], /--certificate needs --private-key/);
    await refused(['--private-key', 'handle:81000001'], /handle:81000001 is not a TPM persistent handle/);
  });
}

test('helper identity flags without --certificate are usage errors (the config file names the identity)', async () => {
  await usageFailure(['serve', '--private-key', '/k.pem', '--port', '29911'], 1, /--private-key describes a drop-in identity and needs --certificate/);
  await usageFailure(['update', '--once', '--role-arn', 'arn:aws:iam::111122223333:role/r'], 1, /--role-arn describes a drop-in identity/);
  await usageFailure(
    ['credential-process', '--region', 'us-east-1', '--session-duration', '900'],
    1,
    /--region, --session-duration describe a drop-in identity/,
  );
  await usageFailure(['credential-process', '--no-verify-ssl'], 1, /--no-verify-ssl describes a drop-in identity/);
  await usageFailure(['serve', '--certificate', '/c.pem', '--listen', '127.0.0.1:1'], 1, /--listen and --socket need a config file/);
});

test("the helper's certificate-store flags are usage errors naming the file and token options (the helper cannot use a store on Linux either)", async () => {
  const instead =
    /in the Windows or macOS certificate store, which the agent does not read.*--certificate FILE.*--private-key \(a PEM file, a pkcs11: URI or handle:0x…\)/;
  for (const command of ['credential-process', 'serve', 'update']) {
    const arns = ['--trust-anchor-arn', 'a', '--profile-arn', 'b', '--role-arn', 'c'];
    await usageFailure(
      [command, '--cert-selector', 'Key=x509Subject,Value=CN=host1', ...arns],
      1,
      new RegExp(`^iamra-agent: --cert-selector names a certificate ${instead.source}`),
    );
    await usageFailure(
      [command, '--cert-selector', 'Key=x509Serial,Value=01', '--system-store-name', 'MY', ...arns],
      1,
      new RegExp(`--cert-selector and --system-store-name name a certificate ${instead.source}`),
    );
    await usageFailure(
      [command, '--certificate', '/c.pem', '--system-store-name', 'MY'],
      1,
      new RegExp(`--system-store-name names a certificate ${instead.source}`),
    );
  }
});

test('credential-process still takes the ARNs as overrides of a config file', async () => {
  const h = harness();
  assert.equal(await runCli(['credential-process', '--role-arn', 'arn:aws:iam::111122223333:role/r'], h.deps), 1);
  assert.ok(h.reached.includes('config'));
});

test('drop-in: a loopback --endpoint with --no-verify-ssl passes the checks (and then fails on the missing file)', async () => {
  const h = harness();
  const argv = [
    'credential-process',
    '--certificate',
    '/nonexistent/cert.pem',
    '--private-key',
    '/nonexistent/k.pem',
    '--trust-anchor-arn',
    'arn:aws:rolesanywhere:us-east-1:111122223333:trust-anchor/8154f3aa-a106-4dd7-abfe-46a34473c070',
    '--profile-arn',
    'arn:aws:rolesanywhere:us-east-1:111122223333:profile/7a5d580c-c0d4-460c-aea1-b7769fb57355',
    '--role-arn',
    'arn:aws:iam::111122223333:role/r',
    '--endpoint',
    'http://127.0.0.1:1',
    '--no-verify-ssl',
  ];
  assert.equal(await runCli(argv, h.deps), 1);
  assert.match(h.err(), /--certificate \/nonexistent\/cert\.pem: ENOENT/);
  assert.equal(h.out(), '');
});

test('read-certificate-data and sign-string: usage errors and secrets on argv stop them before any file or token is read', async () => {
  await usageFailure(['read-certificate-data'], 1, /Missing required argument: certificate/);
  await usageFailure(['sign-string', '--private-key', '/k.pem', '--digest', 'MD5'], 1, /Invalid values:.*digest/);
  await usageFailure(['sign-string', '--private-key', '/k.pem', '--format', 'pem'], 1, /Invalid values:.*format/);
  const refused = async (argv: string[], message: RegExp) => {
    const h = harness();
    assert.equal(await runCli(argv, h.deps), 1);
    assert.equal(h.out(), '');
    assert.deepEqual(h.reached, ['logger'], 'no config file is read');
    assert.match(h.err(), message);
    assert.doesNotMatch(h.err(), /1234|s3cret/, 'the secret is not echoed');
  };
  await refused(['sign-string', '--private-key', 'handle:0x81000001', '--tpm-key-password', 's3cret'], /--tpm-key-password puts a secret.*key\.tpm\.authFile/);
  await refused(['sign-string', '--private-key', 'pkcs11:token=t;object=k?pin-value=1234'], /--private-key carries a PIN.*--pin-file FILE/);
  await refused(['read-certificate-data', '--certificate', 'pkcs11:token=t?pin-value=1234'], /--certificate carries a PIN.*--pin-file FILE/);
});

test('sign-string --digest SHA512 signs the fixed string with a file key (EC P-256, RSA-2048): the hex verifies with sha512', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cli-sign-'));
  try {
    for (const [name, { privateKey, publicKey }] of [
      ['ec', generateKeyPairSync('ec', { namedCurve: 'P-256' })],
      ['rsa', generateKeyPairSync('rsa', { modulusLength: 2048 })],
    ] as const) {
      const file = path.join(dir, `${name}.pem`);
      writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      const h = harness();
      assert.equal(await runCli(['sign-string', '--private-key', file, '--digest', 'SHA512', '--format', 'text'], h.deps), 0, h.err());
      assert.match(h.out(), /^[0-9a-f]+$/);
      const sig = Buffer.from(h.out(), 'hex');
      assert.ok(verify('sha512', fixedStringToSign(publicKey), { key: publicKey, dsaEncoding: 'der' }, sig), name);
      assert.ok(!verify('sha256', fixedStringToSign(publicKey), { key: publicKey, dsaEncoding: 'der' }, sig), `${name}: not SHA-256`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
