import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { helperFlags } from '../helpers/aws-helper.js';
import { awsHelperBin, tempDir } from '../helpers/paths.js';
import { type CliResult, type E2eSandbox, startSandbox } from '../helpers/sandbox.js';
import { makeNoSignKey, pkcs11Tool, softhsmModule } from '../helpers/softhsm.js';
import { ASSUMED_ROLE, imdsCredentials, type Serve, startServe } from './credentials-support.js';

/**
 * Issue 7, "What must be shown" 1, 3 and 4, with the built CLI against `sandbox up --key pkcs11` (a SoftHSM2 token
 * in the sandbox dir): the key is generated in the token and never leaves it, every command signs through it,
 * renewal rotates it while `serve` keeps running, the AWS credential helper signs with the same token key, and each
 * fault gives one clear line, exit 1, and leaves the live identity as it was.
 */

const AWS = '/usr/bin/aws'; // AWS CLI v2
/** OpenSC's logging PKCS#11 module: it forwards to $PKCS11SPY and writes every call to $PKCS11SPY_OUTPUT */
const PKCS11_SPY = '/usr/lib/x86_64-linux-gnu/pkcs11-spy.so';

let sb: E2eSandbox;
let work: string;
let pin: string;

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, signal: null, stdout, stderr });
    });
  });
}

/** pkcs11-tool on the sandbox token, logged in (the PIN travels as env:, not argv) */
function tool(args: string[]): Promise<CliResult> {
  return run(pkcs11Tool, ['--module', softhsmModule, '--token-label', 'iamra', '--login', '--pin', 'env:USER_PIN', ...args], { ...sb.env, USER_PIN: pin });
}

async function callerArn(r: CliResult): Promise<string> {
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { Arn: string }).Arn;
}

function aws(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return run(AWS, [...args, '--endpoint-url', sb.info.awsUrl, '--output', 'json'], env);
}

/** Only what a test names: no profile files, no AWS_* from the sandbox env. */
function isolatedEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const empty = path.join(work, 'empty');
  writeFileSync(empty, '');
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(sb.env)) if (!k.startsWith('AWS_')) env[k] = v;
  return { ...env, AWS_REGION: 'us-east-1', AWS_CONFIG_FILE: empty, AWS_SHARED_CREDENTIALS_FILE: empty, ...extra };
}

function live(): { target: string; meta: string; ref: { kind: string; uri: string; module: string }; cert: X509Certificate } {
  const dir = path.join(sb.dir, 'state', 'live');
  return {
    target: readlinkSync(dir),
    meta: readFileSync(path.join(dir, 'meta.json'), 'utf8'),
    ref: JSON.parse(readFileSync(path.join(dir, 'key.ref'), 'utf8')),
    cert: new X509Certificate(readFileSync(path.join(dir, 'cert.pem'))),
  };
}

/** The token's public key object with this label, as pkcs11-tool reads it. */
async function tokenPublicKey(label: string): Promise<KeyObject> {
  const out = path.join(work, `${label}.pub.der`);
  const r = await tool(['--read-object', '--type', 'pubkey', '--label', label, '-o', out]);
  assert.equal(r.code, 0, r.stderr);
  return createPublicKey({ key: readFileSync(out), format: 'der', type: 'spki' });
}

/** The private key objects on the token: label → Access line. */
async function privateKeys(): Promise<Map<string, string>> {
  const r = await tool(['--list-objects', '--type', 'privkey']);
  assert.equal(r.code, 0, r.stderr);
  const keys = new Map<string, string>();
  for (const block of r.stdout.split(/(?=Private Key Object)/)) {
    const label = /label:\s+(\S+)/.exec(block)?.[1];
    if (label) keys.set(label, /Access:\s+(.*)/.exec(block)?.[1] ?? '');
  }
  return keys;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(p) : e.isFile() ? [p] : [];
  });
}

before(async () => {
  sb = await startSandbox({ args: ['--key', 'pkcs11'], bootstrap: true });
  work = tempDir('pkcs11-e2e');
  pin = readFileSync(path.join(sb.dir, 'softhsm', 'pin'), 'utf8').trim();
});
after(async () => {
  await sb?.stop();
});

describe('1. bootstrap, vending and renewal with the key in a SoftHSM2 token', () => {
  let serve: Serve | undefined;
  after(async () => {
    await serve?.stop();
  });

  it('bootstrap generated the key in the token: sensitive, not extractable, and no key file anywhere', async () => {
    const keys = await privateKeys();
    assert.deepEqual([...keys.keys()], ['host-key']);
    const access = keys.get('host-key')!;
    assert.match(access, /\bsensitive\b/);
    assert.match(access, /never extractable/);
    // pkcs11-tool lists "extractable" among the access flags exactly when CKA_EXTRACTABLE is true
    assert.doesNotMatch(access.replace('never extractable', ''), /extractable/);

    const state = filesUnder(path.join(sb.dir, 'state'));
    assert.deepEqual(
      state.filter((f) => path.basename(f) === 'key.pem'),
      [],
    );
    // the only private key on disk is the ACME account's (state/account), which signs ACME requests, not identities
    for (const f of state.filter((f) => !f.includes(`${path.sep}account${path.sep}`))) assert.doesNotMatch(readFileSync(f, 'utf8'), /PRIVATE KEY/, f);
    assert.equal(statSync(path.join(sb.dir, 'softhsm', 'pin')).mode & 0o777, 0o600);
  });

  it("the certificate (issued for the CSR the token signed) carries the token's public key", async () => {
    const l = live();
    assert.equal(l.ref.kind, 'pkcs11');
    assert.match(l.ref.uri, /^pkcs11:token=iamra;object=host-key;id=(%[0-9a-f]{2}){8}$/);
    assert.ok(l.cert.publicKey.equals(await tokenPublicKey('host-key')));
    const status = await sb.cli(['status']);
    // other checks may warn about the sandbox's setup (its static Route 53 key); the key check is what counts here
    assert.notEqual(status.code, 2, status.stdout + status.stderr);
    assert.match(status.stdout, /key\s+OK\s+pkcs11 token iamra object host-key \(EC P-256\) matches the certificate/);
  });

  it('credential-process, serve and update give credentials that AWS CLI v2 accepts', async () => {
    assert.match(await callerArn(await aws(['sts', 'get-caller-identity', '--profile', 'iamra'], sb.env)), ASSUMED_ROLE);

    serve = await startServe(['--listen', '127.0.0.1:0'], sb.env);
    assert.match(await callerArn(await aws(['sts', 'get-caller-identity'], isolatedEnv({ AWS_EC2_METADATA_SERVICE_ENDPOINT: serve.url }))), ASSUMED_ROLE);

    const file = path.join(work, 'aws-credentials');
    const u = await sb.cli(['update', '--once', '--file', file, '--profile', 'iamra-file']);
    assert.equal(u.code, 0, u.stderr);
    assert.match(
      await callerArn(await aws(['sts', 'get-caller-identity', '--profile', 'iamra-file'], isolatedEnv({ AWS_SHARED_CREDENTIALS_FILE: file }))),
      ASSUMED_ROLE,
    );
  });

  it('renew --force rotates the key in the token, and the running serve signs with the new one without a restart', async () => {
    assert.ok(serve, 'serve runs from the previous test');
    const before = live();
    const first = await imdsCredentials(serve.url);
    assert.equal(first.status, 200, first.text);

    const r = await sb.cli(['renew', '--force', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const after = live();
    assert.notEqual(after.target, before.target);
    assert.notEqual(after.ref.uri, before.ref.uri);
    const label = /object=([^;]+)/.exec(after.ref.uri)![1]!;
    assert.match(label, /^host-key-[0-9a-f]{8}$/);
    const keys = await privateKeys();
    assert.deepEqual([...keys.keys()].sort(), ['host-key', label].sort(), 'a new object; the old one stays while its version is kept');
    assert.match(keys.get(label)!, /never extractable/);
    const rotated = await tokenPublicKey(label);
    assert.ok(after.cert.publicKey.equals(rotated));
    assert.ok(!rotated.equals(before.cert.publicKey));

    // the watcher reloads within moments of the switch: poll with a bound rather than sleep
    let next = first;
    for (let i = 0; i < 50 && next.json?.AccessKeyId === first.json?.AccessKeyId; i++) {
      await new Promise((res) => setTimeout(res, 100));
      next = await imdsCredentials(serve.url);
    }
    assert.equal(next.status, 200, next.text);
    assert.notEqual(next.json?.AccessKeyId, first.json?.AccessKeyId);
    assert.equal(serve.child.exitCode, null, 'serve was not restarted');
    const version = path.basename(after.target);
    assert.match(serve.log(), new RegExp(`"message":"identity reloaded".*"version":"${version}"`));
    const arn = await callerArn(await aws(['sts', 'get-caller-identity'], isolatedEnv({ AWS_EC2_METADATA_SERVICE_ENDPOINT: serve.url })));
    assert.equal(BigInt(`0x${arn.split('/').pop()}`), BigInt(`0x${after.cert.serialNumber}`), 'the session comes from the new certificate');
  });
});

describe('3. oracle: the AWS credential helper signs with the same token key', () => {
  it('rolesanywhere-credential-helper credential-process with the live key.ref URI gets credentials the AWS CLI accepts', async () => {
    const l = live();
    // the peer takes the PIN only as a URI query attribute; this is the sandbox's throwaway PIN, in a test
    const r = await run(awsHelperBin, ['credential-process', ...helperFlags(sb, { pkcs11: { uri: l.ref.uri, pin } })], sb.env);
    assert.equal(r.code, 0, r.stderr);
    const c = JSON.parse(r.stdout) as { AccessKeyId: string; SecretAccessKey: string; SessionToken: string };
    const env = isolatedEnv({ AWS_ACCESS_KEY_ID: c.AccessKeyId, AWS_SECRET_ACCESS_KEY: c.SecretAccessKey, AWS_SESSION_TOKEN: c.SessionToken });
    const arn = await callerArn(await aws(['sts', 'get-caller-identity'], env));
    assert.match(arn, ASSUMED_ROLE);
    assert.equal(BigInt(`0x${arn.split('/').pop()}`), BigInt(`0x${l.cert.serialNumber}`));
  });
});

describe('4. faults: one clear line, exit 1, the live identity untouched', () => {
  let untouched: ReturnType<typeof live>;
  before(() => {
    untouched = live();
  });
  const assertUntouched = () => {
    const now = live();
    assert.equal(now.target, untouched.target);
    assert.equal(now.meta, untouched.meta);
  };
  const oneLine = (r: CliResult, code: number, re: RegExp) => {
    assert.equal(r.code, code, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, re);
    assert.ok(!r.stderr.includes(pin), 'the PIN never appears');
  };

  it('a wrong PIN names key.pkcs11.pinFile, and the token sees exactly one login (pkcs11-spy)', async () => {
    const bad = path.join(work, 'bad-pin');
    writeFileSync(bad, '00000000\n', { mode: 0o600 });
    const spyLog = path.join(work, 'spy.log');
    const r = await sb.cli(
      ['credential-process', '--no-cache', '--log-format', 'text', '--set', `key.pkcs11.pinFile=${bad}`, '--set', `key.pkcs11.module=${PKCS11_SPY}`],
      {
        PKCS11SPY: softhsmModule,
        PKCS11SPY_OUTPUT: spyLog,
      },
    );
    oneLine(r, 1, /key\.pkcs11\.pinFile \(.*bad-pin\) \(CKR_PIN_INCORRECT\).*key\.pkcs11\.pinFile/);
    assert.equal(readFileSync(spyLog, 'utf8').match(/\bC_Login\b/g)?.length, 1, 'no second login attempt in the run');

    const renew = await sb.cli(['renew', '--force', '--log-format', 'text', '--set', `key.pkcs11.pinFile=${bad}`]);
    assert.equal(renew.code, 1, renew.stderr);
    assert.match(renew.stderr, /rejected the PIN from key\.pkcs11\.pinFile/);
    assertUntouched();
  });

  it('the token absent (its store gone from SOFTHSM2_CONF): credential-process fails, status is CRITICAL with a hint', async () => {
    const empty = path.join(work, 'no-tokens');
    mkdirSync(empty, { mode: 0o700 });
    const conf = path.join(work, 'softhsm2-empty.conf');
    writeFileSync(conf, `directories.tokendir = ${empty}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    const absent = { SOFTHSM2_CONF: conf };
    const r = await sb.cli(['credential-process', '--no-cache', '--log-format', 'text'], absent);
    oneLine(r, 1, /^iamra-agent: pkcs11: no token matches token=iamra in .*libsofthsm2\.so \(tokens present: none\); plug the device in/);
    const status = await sb.cli(['status'], absent);
    assert.equal(status.code, 2, status.stdout + status.stderr);
    assert.match(status.stdout, /key\s+CRITICAL\s+.*no token matches token=iamra/);
    assertUntouched();
  });

  it('an object label that is not on the token', async () => {
    // a copy of the live version whose key reference names a label the token does not have
    const state = path.join(work, 'state-missing-label');
    const version = path.join(state, 'versions', '0001');
    cpSync(path.join(sb.dir, 'state', 'live') + '/', version, { recursive: true, dereference: true });
    symlinkSync('versions/0001', path.join(state, 'live'));
    const ref = { kind: 'pkcs11', uri: 'pkcs11:token=iamra;object=missing' };
    const meta = JSON.parse(readFileSync(path.join(version, 'meta.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(path.join(version, 'meta.json'), JSON.stringify({ ...meta, key: ref }), { mode: 0o600 });
    writeFileSync(path.join(version, 'key.ref'), JSON.stringify(ref), { mode: 0o600 });
    const r = await sb.cli(['credential-process', '--no-cache', '--log-format', 'text', '--set', `state.dir=${state}`]);
    oneLine(r, 1, /^iamra-agent: pkcs11: token iamra has no private key with object=missing; check object= in key\.pkcs11\.uri/);
    assertUntouched();
  });

  it('a PIN in the URI is refused as a config error that does not repeat it', async () => {
    const r = await sb.cli(['bootstrap', '--force', '--log-format', 'text'], {
      IAMRA_AGENT_KEY__PKCS11__URI: `pkcs11:token=iamra;object=host-key?pin-value=${pin}`,
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /key\.pkcs11\.uri: must not carry a PIN \(pin-value\/pin-source\); put the PIN in key\.pkcs11\.pinFile/);
    assert.ok(!r.stderr.includes(pin));
    assertUntouched();
  });

  it('a key without CKA_SIGN', async () => {
    process.env.SOFTHSM2_CONF = sb.env.SOFTHSM2_CONF;
    makeNoSignKey('iamra', pin, 'nosign');
    const r = await sb.cli(['bootstrap', '--force', '--log-format', 'text', '--set', 'key.pkcs11.uri=pkcs11:token=iamra;object=nosign']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /pkcs11: token iamra object nosign is not allowed to sign \(CKA_SIGN is false\); point key\.pkcs11\.uri at a signing key/);
    assertUntouched();
  });
});
