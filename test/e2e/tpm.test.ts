import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '../helpers/paths.js';
import { type CliResult, type E2eSandbox, startSandbox } from '../helpers/sandbox.js';
import { ASSUMED_ROLE, imdsCredentials, startServe } from './credentials-support.js';

/**
 * Issue 7, "What must be shown" 2 (persistent-handle keys) and 4 (TPM absent), with the built CLI against
 * `sandbox up --key tpm` (swtpm in the sandbox dir, driven through tpm2-tools).
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
      let next = first;
      for (let i = 0; i < 50 && next.json?.AccessKeyId === first.json?.AccessKeyId; i++) {
        await new Promise((res) => setTimeout(res, 100));
        next = await imdsCredentials(serve.url);
      }
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
