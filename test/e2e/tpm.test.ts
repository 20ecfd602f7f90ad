import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { helperFlags } from '../helpers/aws-helper.js';
import { awsHelperBin, cliPath, tempDir } from '../helpers/paths.js';
import { runInPty } from '../helpers/pty.js';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { type CliResult, type E2eSandbox, startSandbox } from '../helpers/sandbox.js';
import { decodeTss2Pem } from '../../src/keys/tpm-tss2.js';
import { ASSUMED_ROLE, type ImdsReply, imdsCredentials, startServe } from './credentials-support.js';

/**
 * Issue 7, "What must be shown" 2 (persistent-handle keys and TSS2 PEM key files) and 4 (TPM absent), with the
 * built CLI against `sandbox up --key tpm` (swtpm in the sandbox dir, driven through tpm2-tools). The key-file
 * identity is a second agent config (its own state directory) on the same sandbox and TPM: one swtpm per file.
 */

const AWS = '/usr/bin/aws';
let sb: E2eSandbox;
let work: string;

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 60_000, encoding: 'buffer' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, signal: null, stdout: stdout.toString('latin1'), stderr: stderr.toString() });
    });
  });
}

async function callerArn(r: CliResult): Promise<string> {
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { Arn: string }).Arn;
}

const aws = (args: string[], env: NodeJS.ProcessEnv) => run(AWS, [...args, '--endpoint-url', sb.info.awsUrl, '--output', 'json'], env);
const tpm2 = (name: string, args: string[]) => run(`/usr/bin/${name}`, args, sb.env);
const liveDir = () => path.join(sb.dir, 'state', 'live');

/** A second identity on the same sandbox and TPM: key.tpm.keyFile instead of the handle, its own state and AWS config. */
interface FileIdentity {
  env: NodeJS.ProcessEnv;
  state: string;
}

function fileIdentity(): FileIdentity {
  const cfg = parseYaml(readFileSync(sb.env.IAMRA_AGENT_CONFIG!, 'utf8')) as {
    key: { tpm: Record<string, string> };
    state: { dir: string; runtimeDir: string };
  };
  const state = path.join(sb.dir, 'state-tss2');
  cfg.key.tpm = { tcti: sb.env.TPM2TOOLS_TCTI!, keyFile: 'key.tpm.pem' };
  cfg.state = { dir: state, runtimeDir: path.join(sb.dir, 'run-tss2') };
  const dir = path.join(work, 'tss2');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const yaml = path.join(dir, 'agent.yaml');
  writeFileSync(yaml, toYaml(cfg), { mode: 0o600 });
  const awsConfig = path.join(dir, 'aws-config');
  writeFileSync(awsConfig, `[profile iamra]\ncredential_process = ${process.execPath} ${cliPath} --config ${yaml} credential-process\nregion = us-east-1\n`);
  return { env: { ...sb.env, IAMRA_AGENT_CONFIG: yaml, AWS_CONFIG_FILE: awsConfig }, state };
}

/** The public key of a TSS2 PEM as the TPM itself reports it after loading it under its parent. */
async function tss2PublicKey(file: string): Promise<KeyObject> {
  const dir = tempDir('tss2-pub');
  const key = decodeTss2Pem(readFileSync(file, 'utf8'), file);
  writeFileSync(path.join(dir, 'k.pub'), key.pub);
  writeFileSync(path.join(dir, 'k.priv'), key.priv);
  try {
    const load = await tpm2('tpm2_load', [
      '-Q',
      '-C',
      key.parent,
      '-u',
      path.join(dir, 'k.pub'),
      '-r',
      path.join(dir, 'k.priv'),
      '-c',
      path.join(dir, 'k.ctx'),
    ]);
    assert.equal(load.code, 0, load.stderr);
    const r = await tpm2('tpm2_readpublic', ['-Q', '-c', path.join(dir, 'k.ctx'), '-f', 'der', '-o', path.join(dir, 'pub.der')]);
    assert.equal(r.code, 0, r.stderr);
  } finally {
    await tpm2('tpm2_flushcontext', ['-t']);
  }
  return createPublicKey({ key: readFileSync(path.join(dir, 'pub.der')), format: 'der', type: 'spki' });
}

function isolatedEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const empty = path.join(work, 'empty');
  writeFileSync(empty, '');
  const env = Object.fromEntries(Object.entries(sb.env).filter(([k]) => !k.startsWith('AWS_')));
  return { ...env, AWS_REGION: 'us-east-1', AWS_CONFIG_FILE: empty, AWS_SHARED_CREDENTIALS_FILE: empty, ...extra };
}

/** polls serve (bounded) until it hands out other credentials than `first`: its watcher reloads after a renewal */
async function nextCredentials(url: string, first: ImdsReply): Promise<ImdsReply> {
  let next = first;
  for (let i = 0; i < 50 && next.json?.AccessKeyId === first.json?.AccessKeyId; i++) {
    await new Promise((res) => setTimeout(res, 100));
    next = await imdsCredentials(url);
  }
  return next;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(p) : e.isFile() ? [p] : [];
  });
}

before(async () => {
  sb = await startSandbox({ args: ['--key', 'tpm'], bootstrap: true });
  work = tempDir('tpm-e2e');
});
after(async () => {
  await sb?.stop();
});

describe('2. bootstrap, vending and renewal with the key in a TPM (swtpm) at a persistent handle', () => {
  it('bootstrap created the key inside the TPM (fixedTPM, fixedParent, sensitiveDataOrigin) and no key file', async () => {
    const handles = await tpm2('tpm2_getcap', ['handles-persistent']);
    assert.equal(handles.code, 0, handles.stderr);
    assert.match(handles.stdout, /0x81000010/);
    assert.match(handles.stdout, /0x81000001/, 'the storage parent was created too');
    const pub = await tpm2('tpm2_readpublic', ['-c', '0x81000010']);
    assert.equal(pub.code, 0, pub.stderr);
    for (const attr of ['fixedtpm', 'fixedparent', 'sensitivedataorigin', 'sign']) assert.match(pub.stdout, new RegExp(`\\b${attr}\\b`));
    await tpm2('tpm2_flushcontext', ['-t']);
    const state = filesUnder(path.join(sb.dir, 'state'));
    assert.deepEqual(
      state.filter((f) => path.basename(f) === 'key.pem'),
      [],
    );
    assert.deepEqual(JSON.parse(readFileSync(path.join(liveDir(), 'key.ref'), 'utf8')), {
      kind: 'tpm',
      handle: '0x81000010',
      parent: '0x81000001',
      tcti: sb.env.TPM2TOOLS_TCTI,
    });
  });

  it("the certificate carries the TPM key's public key, and status proves possession", async () => {
    const der = path.join(work, 'tpm-pub.der');
    const r = await tpm2('tpm2_readpublic', ['-Q', '-c', '0x81000010', '-f', 'der', '-o', der]);
    assert.equal(r.code, 0, r.stderr);
    await tpm2('tpm2_flushcontext', ['-t']);
    const cert = new X509Certificate(readFileSync(path.join(liveDir(), 'cert.pem')));
    assert.ok(cert.publicKey.equals(createPublicKey({ key: readFileSync(der), format: 'der', type: 'spki' })));
    const status = await sb.cli(['status']);
    // other checks may warn about the sandbox's setup (its static Route 53 key); the key check is what counts here
    assert.notEqual(status.code, 2, status.stdout + status.stderr);
    assert.match(status.stdout, /key\s+OK\s+tpm handle 0x81000010 \(EC P-256\) matches the certificate/);
  });

  it('credential-process and serve give credentials AWS CLI v2 accepts; renew --force keeps the persistent key and serve follows', async () => {
    assert.match(await callerArn(await aws(['sts', 'get-caller-identity', '--profile', 'iamra'], sb.env)), ASSUMED_ROLE);
    const serve = await startServe(['--listen', '127.0.0.1:0'], sb.env);
    try {
      const first = await imdsCredentials(serve.url);
      assert.equal(first.status, 200, first.text);
      const before = readlinkSync(liveDir());
      const oldKey = new X509Certificate(readFileSync(path.join(liveDir(), 'cert.pem'))).publicKey;
      const r = await sb.cli(['renew', '--force']);
      assert.equal(r.code, 0, r.stderr);
      assert.notEqual(readlinkSync(liveDir()), before);
      const cert = new X509Certificate(readFileSync(path.join(liveDir(), 'cert.pem')));
      assert.ok(cert.publicKey.equals(oldKey), 'a persistent TPM key is kept across renewals');
      const next = await nextCredentials(serve.url, first);
      assert.notEqual(next.json?.AccessKeyId, first.json?.AccessKeyId);
      assert.equal(serve.child.exitCode, null);
      // only the IMDS endpoint: no profile files, no AWS_* from the sandbox env
      const env = Object.fromEntries(Object.entries(sb.env).filter(([k]) => !k.startsWith('AWS_')));
      const imdsOnly = {
        ...env,
        AWS_REGION: 'us-east-1',
        AWS_CONFIG_FILE: '/dev/null',
        AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
        AWS_EC2_METADATA_SERVICE_ENDPOINT: serve.url,
      };
      const arn = await callerArn(await aws(['sts', 'get-caller-identity'], imdsOnly));
      assert.equal(BigInt(`0x${arn.split('/').pop()}`), BigInt(`0x${cert.serialNumber}`));
    } finally {
      await serve.stop();
    }
  });
});

describe('2. the same with a TSS2 PEM key file (key.tpm.keyFile) under the storage key', () => {
  let id: FileIdentity;
  const liveOf = () => path.join(id.state, 'live');
  const cliAs = (args: string[]) => run(process.execPath, [cliPath, ...args], id.env);

  before(() => {
    id = fileIdentity();
  });

  it('bootstrap creates the key in the TPM and writes it as a 0600 TSS2 PEM into the version; no persistent handle, no key.pem', async () => {
    const handlesBefore = (await tpm2('tpm2_getcap', ['handles-persistent'])).stdout;
    const r = await cliAs(['bootstrap']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(readFileSync(path.join(liveOf(), 'key.ref'), 'utf8')), {
      kind: 'tpm',
      parent: '0x81000001',
      tcti: sb.env.TPM2TOOLS_TCTI,
      keyFile: 'key.tpm.pem',
    });
    const file = path.join(liveOf(), 'key.tpm.pem');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.match(readFileSync(file, 'utf8'), /^-----BEGIN TSS2 PRIVATE KEY-----\n/);
    assert.deepEqual(
      filesUnder(id.state).filter((f) => path.basename(f) === 'key.pem'),
      [],
    );
    assert.equal((await tpm2('tpm2_getcap', ['handles-persistent'])).stdout, handlesBefore, 'the key lives in the file, not at a handle');
    const cert = new X509Certificate(readFileSync(path.join(liveOf(), 'cert.pem')));
    assert.ok(cert.publicKey.equals(await tss2PublicKey(file)), 'the certificate carries the key the TPM loads from the file');
    const status = await cliAs(['status']);
    assert.notEqual(status.code, 2, status.stdout + status.stderr);
    assert.match(status.stdout, /key\s+OK\s+tpm key file \S+\/versions\/\d+\/key\.tpm\.pem under 0x81000001 \(EC P-256\) matches the certificate/);
  });

  it('credential-process, serve and update give credentials AWS CLI v2 accepts; renew --force makes a new key file and serve follows', async () => {
    assert.match(await callerArn(await aws(['sts', 'get-caller-identity', '--profile', 'iamra'], id.env)), ASSUMED_ROLE);
    const creds = path.join(work, 'tss2', 'aws-credentials');
    const u = await cliAs(['update', '--once', '--file', creds, '--profile', 'iamra-file']);
    assert.equal(u.code, 0, u.stderr);
    assert.match(
      await callerArn(await aws(['sts', 'get-caller-identity', '--profile', 'iamra-file'], isolatedEnv({ AWS_SHARED_CREDENTIALS_FILE: creds }))),
      ASSUMED_ROLE,
    );
    const serve = await startServe(['--listen', '127.0.0.1:0'], id.env);
    try {
      const first = await imdsCredentials(serve.url);
      assert.equal(first.status, 200, first.text);
      const before = readlinkSync(liveOf());
      const oldPem = readFileSync(path.join(liveOf(), 'key.tpm.pem'), 'utf8');
      const oldKey = new X509Certificate(readFileSync(path.join(liveOf(), 'cert.pem'))).publicKey;
      const r = await cliAs(['renew', '--force']);
      assert.equal(r.code, 0, r.stderr);
      assert.notEqual(readlinkSync(liveOf()), before);
      const file = path.join(liveOf(), 'key.tpm.pem');
      assert.notEqual(readFileSync(file, 'utf8'), oldPem, 'key.rotateOnRenew: a new key file per version');
      const cert = new X509Certificate(readFileSync(path.join(liveOf(), 'cert.pem')));
      assert.ok(!cert.publicKey.equals(oldKey));
      const next = await nextCredentials(serve.url, first);
      assert.equal(next.status, 200, next.text);
      assert.notEqual(next.json?.AccessKeyId, first.json?.AccessKeyId);
      assert.equal(serve.child.exitCode, null, 'serve was not restarted');
      // only now, with serve idle: swtpm has no resource manager, and two processes' transient objects fill its 3 slots
      assert.ok(cert.publicKey.equals(await tss2PublicKey(file)));
      const arn = await callerArn(await aws(['sts', 'get-caller-identity'], isolatedEnv({ AWS_EC2_METADATA_SERVICE_ENDPOINT: serve.url })));
      assert.equal(BigInt(`0x${arn.split('/').pop()}`), BigInt(`0x${cert.serialNumber}`), 'the session comes from the new certificate and key');
    } finally {
      await serve.stop();
    }
  });
});

describe('3. oracle: the AWS credential helper v1.4.0 signs with the same TPM keys', () => {
  /** the helper's credential-process flags for an identity, its --private-key replaced by `key` */
  const flagsWith = (stateDir: string, key: string) => {
    const f = helperFlags(sb, { stateDir });
    f[f.indexOf('--private-key') + 1] = key;
    return f;
  };

  async function assertAccepted(output: string, certFile: string): Promise<void> {
    const json = output.slice(output.indexOf('{'), output.lastIndexOf('}') + 1);
    const c = JSON.parse(json) as { AccessKeyId: string; SecretAccessKey: string; SessionToken: string };
    const arn = await callerArn(
      await aws(
        ['sts', 'get-caller-identity'],
        isolatedEnv({ AWS_ACCESS_KEY_ID: c.AccessKeyId, AWS_SECRET_ACCESS_KEY: c.SecretAccessKey, AWS_SESSION_TOKEN: c.SessionToken }),
      ),
    );
    assert.equal(BigInt(`0x${arn.split('/').pop()}`), BigInt(`0x${new X509Certificate(readFileSync(certFile)).serialNumber}`));
  }

  it('--private-key handle:0x81000010 --no-tpm-key-password, with the sandbox TPM at $TPM_DEVICE (a unix socket)', async () => {
    assert.ok(sb.env.TPM_DEVICE && statSync(sb.env.TPM_DEVICE).isSocket(), 'sandbox up --key tpm exports TPM_DEVICE');
    const args = ['credential-process', ...flagsWith(path.join(sb.dir, 'state'), 'handle:0x81000010'), '--no-tpm-key-password'];
    // the exact failure without a terminal (the helper opens /dev/tty before it signs; test/helpers/pty.ts)
    const bare = await run(awsHelperBin, args, sb.env);
    assert.equal(bare.code, 1);
    assert.match(bare.stderr, /could not sign unable to read your TPM key password/);
    const r = await runInPty(awsHelperBin, args, sb.env);
    assert.equal(r.code, 0, r.output);
    await assertAccepted(r.output, path.join(liveDir(), 'cert.pem'));
  });

  it("--private-key <the live version's TSS2 PEM>: the helper reads the agent's file (emptyAuth) and loads it under the SRK", async () => {
    const state = path.join(sb.dir, 'state-tss2');
    const live = path.join(state, 'live');
    const r = await runInPty(awsHelperBin, ['credential-process', ...flagsWith(state, path.join(live, 'key.tpm.pem'))], sb.env);
    assert.equal(r.code, 0, r.output);
    assert.doesNotMatch(r.output, /password/i, 'no prompt: the file says the key has no password');
    await assertAccepted(r.output, path.join(live, 'cert.pem'));
  });
});

describe('4. the TPM absent', () => {
  it('credential-process fails with one line naming key.tpm.tcti; status is CRITICAL; the live identity is untouched', async () => {
    const target = readlinkSync(liveDir());
    const meta = readFileSync(path.join(liveDir(), 'meta.json'), 'utf8');
    const gone = ['--set', 'key.tpm.tcti=swtpm:host=127.0.0.1,port=1'];
    const r = await sb.cli(['credential-process', '--no-cache', '--log-format', 'text', ...gone]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.deepEqual(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^iamra-agent: tpm: the TPM at swtpm:host=127\.0\.0\.1,port=1 \(key\.tpm\.tcti\) cannot be reached/);
    const status = await sb.cli(['status', ...gone]);
    assert.equal(status.code, 2, status.stdout + status.stderr);
    assert.match(status.stdout, /key\s+CRITICAL\s+.*cannot be reached/);
    assert.equal(readlinkSync(liveDir()), target);
    assert.equal(readFileSync(path.join(liveDir(), 'meta.json'), 'utf8'), meta);
  });
});
