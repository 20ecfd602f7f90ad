import * as x509 from '@peculiar/x509';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileKeyHandle } from '../../src/keys/file.js';
import { repoRoot, tempDir } from '../helpers/paths.js';
import { startSandbox, type CliResult, type E2eSandbox } from '../helpers/sandbox.js';
import { ASSUMED_ROLE, imdsCredentials, sdkCallerIdentity, startServe, type Serve } from './credentials-support.js';

/**
 * The vending commands as a user runs them, against the sandbox (Pebble-issued identity, IAM Roles Anywhere and STS
 * stand-ins), with the real AWS CLI v2 and the real AWS SDK for JavaScript v3 as the consumers.
 */

const AWS = '/usr/bin/aws'; // AWS CLI v2 (Debian awscli); plain `aws` on PATH may be the v1 shim

let sb: E2eSandbox;
let work: string;
let emptyFile: string;

function aws(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(AWS, [...args, '--endpoint-url', sb.info.awsUrl, '--output', 'json'], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, signal: null, stdout, stderr });
    });
  });
}

async function callerArn(r: CliResult): Promise<string> {
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { Arn: string }).Arn;
}

async function createSessionCalls(): Promise<{ status: number; errorCode?: string }[]> {
  return sb.admin('calls?service=rolesanywhere');
}

/** Only what a test names: no AWS_* from the sandbox env, config and credentials files empty. */
function isolatedEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(sb.env)) if (!k.startsWith('AWS_')) env[k] = v;
  return { ...env, AWS_REGION: 'us-east-1', AWS_CONFIG_FILE: emptyFile, AWS_SHARED_CREDENTIALS_FILE: emptyFile, ...extra };
}

before(async () => {
  sb = await startSandbox();
  work = tempDir('credentials-e2e');
  emptyFile = path.join(work, 'empty');
  writeFileSync(emptyFile, '');
  const r = await sb.cli(['bootstrap']);
  assert.equal(r.code, 0, r.stderr);
});
after(async () => {
  await sb?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('credential-process', () => {
  it('prints exactly the Version 1 document', async () => {
    const r = await sb.cli(['credential-process', '--no-cache']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(doc), ['Version', 'AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration']);
    assert.equal(doc.Version, 1);
    assert.match(String(doc.AccessKeyId), /^ASIA[A-Z0-9]{16}$/);
    assert.match(String(doc.Expiration), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(r.stdout, JSON.stringify(doc), 'stdout holds the document and nothing else');
    // the outcome is recorded in its own file (no state.json lock or fsync on the call's path), and status reports it
    const record = JSON.parse(readFileSync(path.join(sb.dir, 'state', 'create-session.json'), 'utf8')) as { at: string; ok: boolean; expiration?: string };
    assert.equal(record.ok, true);
    assert.equal(new Date(record.expiration!).getTime(), new Date(String(doc.Expiration)).getTime());
    const status = await sb.cli(['status', '--json']);
    const report = JSON.parse(status.stdout) as {
      credentials?: { source: string; ok: boolean; expiration?: string };
      checks: { name: string; status: string }[];
    };
    assert.deepEqual(
      { ...report.credentials, expiration: new Date(report.credentials!.expiration!).getTime() },
      { source: 'state', ok: true, at: record.at, expiration: new Date(String(doc.Expiration)).getTime() },
    );
    assert.equal(report.checks.find((c) => c.name === 'create-session')?.status, 'OK');
  });

  it('AWS CLI v2 and the JS SDK v3 use it as credential_process (profile iamra), one CreateSession for many calls', async () => {
    rmSync(path.join(sb.dir, 'run', 'cache'), { recursive: true, force: true });
    const before = (await createSessionCalls()).length;
    const env = { ...sb.env };
    assert.match(await callerArn(await aws(['sts', 'get-caller-identity', '--profile', 'iamra'], env)), ASSUMED_ROLE);
    assert.match(await callerArn(await aws(['sts', 'get-caller-identity', '--profile', 'iamra'], env)), ASSUMED_ROLE);
    assert.match(await callerArn(await sdkCallerIdentity(sb.info.awsUrl, { ...env, AWS_PROFILE: 'iamra' })), ASSUMED_ROLE);
    assert.equal((await createSessionCalls()).length - before, 1, 'the second and third callers are served from the cache');
    const cacheDir = path.join(sb.dir, 'run', 'cache');
    assert.equal(statSync(cacheDir).mode & 0o777, 0o700);
    const entries = readdirSync(cacheDir);
    assert.equal(entries.length, 1);
    assert.equal(statSync(path.join(cacheDir, entries[0]!)).mode & 0o777, 0o600);

    const nocache = await sb.cli(['credential-process', '--no-cache']);
    assert.equal(nocache.code, 0, nocache.stderr);
    const off = await sb.cli(['credential-process', '--set', 'vend.cache=false']);
    assert.equal(off.code, 0, off.stderr);
    assert.equal((await createSessionCalls()).length - before, 3, '--no-cache and vend.cache=false each made a CreateSession');
  });

  it('--endpoint overrides the configured endpoint', async () => {
    const r = await sb.cli(['credential-process', '--no-cache', '--endpoint', 'http://127.0.0.1:9/']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /cannot reach http:\/\/127\.0\.0\.1:9/);
  });

  it("a recorded line is answered by the hot path alone: none of the CLI's modules load, warm route or cache hit", async () => {
    const trace = path.join(work, 'hot-modules');
    const bin = path.join(repoRoot, 'dist', 'bin');
    const run = (args: string[]) =>
      new Promise<string[]>((resolve, reject) => {
        rmSync(trace, { force: true });
        const nodeArgs = ['--import', path.join(repoRoot, 'dist', 'test', 'helpers', 'module-trace.js'), path.join(bin, 'iamra-agent.js')];
        execFile(
          process.execPath,
          [...nodeArgs, 'credential-process', ...args],
          { env: { ...sb.env, IAMRA_TEST_MODULE_TRACE: trace } },
          (err, stdout, stderr) => {
            if (err) return reject(new Error(`${err.message}: ${stderr}`));
            assert.equal((JSON.parse(stdout) as { Version: number }).Version, 1);
            resolve(readFileSync(trace, 'utf8').split('\n').filter(Boolean));
          },
        );
      });
    // The first run of each line records its route (or an earlier test did); the second is the hot path's. The trace
    // sees what goes through the ES module loader: the CLI (dist/bin/lib/*.mjs) would; the hot path is required.
    for (const args of [['--no-cache'], []]) {
      const first = await run(args);
      const hot = await run(args);
      const files = (urls: string[]) => urls.filter((u) => u.startsWith('file:')).map((u) => path.relative(bin, new URL(u).pathname));
      assert.deepEqual(files(hot), ['iamra-agent.js'], `${args.join(' ')}: the bin alone through the ES module loader`);
      if (first.length > 1)
        assert.ok(
          files(first).some((f) => f.startsWith('lib/')),
          'a first call runs the CLI (the trace sees it)',
        );
    }
  });

  it('the warm route writes its V8 code cache once, beside the routes, uses it, and replaces a damaged one', async () => {
    const runtime = path.join(work, 'code-cache-runtime');
    mkdirSync(runtime, { mode: 0o700 });
    const env = { ...sb.env, XDG_RUNTIME_DIR: runtime };
    const cacheDir = path.join(runtime, 'iamra-agent', 'code-cache');
    const call = async () => {
      const r = await sb.cli(['credential-process', '--no-cache'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { Version: number }).Version, 1);
    };
    await call(); // records the route (the full CLI): no warm route ran yet
    assert.ok(!readdirSync(path.join(runtime, 'iamra-agent')).includes('code-cache'));
    await call(); // the warm route: compiles, answers, then writes the cache
    const files = readdirSync(cacheDir);
    assert.equal(files.length, 1);
    assert.match(files[0]!, /^warm-[0-9a-f]{16}-[0-9a-f]{32}-v\d+\.\d+\.\d+\.v8$/);
    const file = path.join(cacheDir, files[0]!);
    assert.equal(statSync(cacheDir).mode & 0o777, 0o700);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const written = statSync(file);
    await call(); // uses it: not rewritten
    assert.equal(statSync(file).ino, written.ino);
    const damaged = readFileSync(file);
    damaged[damaged.length >> 1]! ^= 0xff;
    writeFileSync(file, damaged);
    await call(); // a damaged cache is not used (the answer is still right) and is written anew
    assert.notEqual(statSync(file).ino, written.ino);
    assert.notDeepEqual(readFileSync(file), damaged);
  });
});

describe('update', () => {
  it('writes a credentials file that AWS CLI v2 and the JS SDK v3 use', async () => {
    const file = path.join(work, 'aws-credentials');
    writeFileSync(file, '[other]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = keep-me\n');
    const r = await sb.cli(['update', '--once', '--file', file, '--profile', 'iamra-file']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const text = readFileSync(file, 'utf8');
    assert.match(text, /^\[other\]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = keep-me\n/);
    assert.match(text, /\[iamra-file\]\naws_access_key_id = ASIA/);
    const env = isolatedEnv({ AWS_SHARED_CREDENTIALS_FILE: file });
    assert.match(await callerArn(await aws(['sts', 'get-caller-identity', '--profile', 'iamra-file'], env)), ASSUMED_ROLE);
    assert.match(await callerArn(await sdkCallerIdentity(sb.info.awsUrl, { ...env, AWS_PROFILE: 'iamra-file' })), ASSUMED_ROLE);
  });
});

describe('bad input is refused before any network call', () => {
  const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

  /** A state dir whose live version is the sandbox's, with `change` applied to its files. */
  function brokenState(name: string, change: (versionDir: string) => void | Promise<void>): Promise<string> {
    return (async () => {
      const dir = path.join(work, name);
      const version = path.join(dir, 'versions', '0001');
      mkdirSync(path.dirname(version), { recursive: true, mode: 0o700 });
      cpSync(path.join(sb.dir, 'state', 'live') + '/', version, { recursive: true, dereference: true });
      symlinkSync('versions/0001', path.join(dir, 'live'));
      await change(version);
      return dir;
    })();
  }

  async function expiredLeaf(dir: string): Promise<void> {
    const subtle = webcrypto.subtle;
    const caKeys = (await subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
    const now = Date.now();
    const ca = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'CN=Expired Test CA',
      notBefore: new Date(now - 30 * 86400e3),
      notAfter: new Date(now + 30 * 86400e3),
      keys: caKeys,
      signingAlgorithm: EC,
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
    });
    const key = FileKeyHandle.generate({ type: 'ec', curve: 'P-256' });
    const spki = (await key.publicKey()).export({ type: 'spki', format: 'der' });
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: '0a0b0c',
      subject: 'CN=agent.example.com',
      issuer: ca.subject,
      notBefore: new Date(now - 10 * 86400e3),
      notAfter: new Date(now - 86400e3),
      publicKey: await subtle.importKey('spki', spki, EC, true, ['verify']),
      signingKey: caKeys.privateKey,
      signingAlgorithm: EC,
      extensions: [new x509.BasicConstraintsExtension(false, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
    });
    writeFileSync(path.join(dir, 'cert.pem'), leaf.toString('pem') + '\n');
    writeFileSync(path.join(dir, 'chain.pem'), ca.toString('pem') + '\n');
    writeFileSync(path.join(dir, 'key.pem'), key.pem(), { mode: 0o600 });
  }

  const cases: { name: string; args: () => Promise<string[]>; error: RegExp }[] = [
    {
      name: 'a key that does not match the certificate',
      args: async () => [
        '--set',
        `state.dir=${await brokenState('mismatch', (v) => writeFileSync(path.join(v, 'key.pem'), FileKeyHandle.generate({ type: 'ec', curve: 'P-256' }).pem(), { mode: 0o600 }))}`,
      ],
      error:
        /^iamra-agent: credentials: no valid AWS credentials: rolesanywhere: the .*key.* does not match the certificate CN=agent\.example\.com.*; the certificate was issued for another key/,
    },
    {
      name: 'an expired certificate',
      args: async () => ['--set', `state.dir=${await brokenState('expired', expiredLeaf)}`],
      error:
        /^iamra-agent: credentials: no valid AWS credentials: rolesanywhere: the certificate CN=agent\.example\.com expired at .*; renew it: iamra-agent renew --force/,
    },
    {
      name: 'a chain that does not link',
      args: async () => ['--set', `state.dir=${await brokenState('chain', (v) => cpSync(path.join(sb.dir, 'pebble-roots.pem'), path.join(v, 'chain.pem')))}`],
      error:
        /^iamra-agent: credentials: no valid AWS credentials: rolesanywhere: the certificate CN=agent\.example\.com .* is not signed by the next certificate/,
    },
    {
      name: 'a malformed role ARN',
      args: async () => ['--role-arn', 'arn:aws:iam::1111:role/x'],
      error:
        /^iamra-agent: config: --role-arn: role ARN "arn:aws:iam::1111:role\/x" is malformed: account "1111" is not 12 digits; expected the form arn:aws:iam::123456789012:role\/<name>; fix the command-line value/,
    },
    {
      name: 'a profile in another region than the trust anchor',
      args: async () => ['--profile-arn', sb.info.profileArn.replace(':us-east-1:', ':eu-west-1:')],
      error:
        /^iamra-agent: config: rolesAnywhere with --profile-arn: the profile is in eu-west-1 but the trust anchor is in us-east-1; use a profile and a trust anchor created in the same region; fix the command-line value/,
    },
  ];

  for (const c of cases) {
    it(`${c.name}: exit 1, one clear line, no CreateSession`, async () => {
      const before = (await createSessionCalls()).length;
      const r = await sb.cli(['credential-process', '--no-cache', '--log-level', 'error', ...(await c.args())]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, '');
      const lines = r.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('iamra-agent:'));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, c.error);
      assert.equal((await createSessionCalls()).length, before, 'the sandbox saw no CreateSession');
    });
  }
});

describe('serve', () => {
  let serve: Serve;
  let containerToken: string;
  before(async () => {
    containerToken = 'container-token-' + Date.now().toString(36);
    const tokenFile = path.join(work, 'container-token');
    writeFileSync(tokenFile, containerToken + '\n', { mode: 0o600 });
    serve = await startServe(['--listen', '127.0.0.1:0', '--set', `vend.serve.containerTokenFile=${tokenFile}`], sb.env);
  });
  after(async () => {
    await serve?.stop();
  });

  it('AWS CLI v2 and the JS SDK v3 get credentials through AWS_EC2_METADATA_SERVICE_ENDPOINT', async () => {
    assert.match(serve.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const env = isolatedEnv({ AWS_EC2_METADATA_SERVICE_ENDPOINT: serve.url });
    assert.match(await callerArn(await aws(['sts', 'get-caller-identity'], env)), ASSUMED_ROLE);
    assert.match(await callerArn(await sdkCallerIdentity(sb.info.awsUrl, env)), ASSUMED_ROLE);
  });

  it('the container-credentials endpoint serves AWS CLI v2 and the JS SDK v3 (IMDS disabled)', async () => {
    const env = isolatedEnv({
      AWS_CONTAINER_CREDENTIALS_FULL_URI: new URL('/v1/credentials', serve.url).href,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: containerToken,
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    assert.match(await callerArn(await aws(['sts', 'get-caller-identity'], env)), ASSUMED_ROLE);
    assert.match(await callerArn(await sdkCallerIdentity(sb.info.awsUrl, env)), ASSUMED_ROLE);
    const wrong = await fetch(new URL('/v1/credentials', serve.url), { headers: { Authorization: 'nope' } });
    assert.equal(wrong.status, 403);
  });

  it('IMDSv2 security: no token 401, unknown token 401, X-Forwarded-For 400', async () => {
    const creds = new URL('/latest/meta-data/iam/security-credentials/iamra-agent-sandbox', serve.url);
    assert.equal((await fetch(creds)).status, 401);
    assert.equal((await fetch(creds, { headers: { 'X-aws-ec2-metadata-token': 'made-up' } })).status, 401);
    const t = await fetch(new URL('/latest/api/token', serve.url), { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } });
    const token = await t.text();
    assert.equal((await fetch(creds, { headers: { 'X-aws-ec2-metadata-token': token } })).status, 200);
    assert.equal((await fetch(creds, { headers: { 'X-aws-ec2-metadata-token': token, 'X-Forwarded-For': '203.0.113.7' } })).status, 400);
    const proxiedToken = await fetch(new URL('/latest/api/token', serve.url), {
      method: 'PUT',
      headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60', 'X-Forwarded-For': '203.0.113.7' },
    });
    assert.equal(proxiedToken.status, 400);
  });

  it('a unix socket is created 0660 and serves the same protocol; the serving process loads no CLI-only module', async () => {
    const socket = path.join(sb.dir, 'run', 'imds.sock');
    const trace = path.join(work, 'serve-modules');
    // the module graph as tsc emits it (dist/src): each module is its own URL there, whatever the package bundles
    const s = await startServe(
      ['--socket', socket],
      { ...sb.env, IAMRA_TEST_MODULE_TRACE: trace },
      {
        nodeArgs: ['--import', path.join(repoRoot, 'dist', 'test', 'helpers', 'module-trace.js')],
        entry: path.join(repoRoot, 'dist', 'src', 'main.js'),
      },
    );
    try {
      assert.equal(s.socket, socket);
      assert.ok(statSync(socket).isSocket());
      assert.equal(statSync(socket).mode & 0o777, 0o660);
      const request = (method: string, p: string, headers: Record<string, string>) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = http.request({ socketPath: socket, method, path: p, headers }, (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          });
          req.on('error', reject);
          req.end();
        });
      const token = await request('PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '30' });
      assert.equal(token.status, 200);
      const c = await request('GET', '/latest/meta-data/iam/security-credentials/iamra-agent-sandbox', { 'X-aws-ec2-metadata-token': token.body });
      assert.equal(c.status, 200, c.body);
      assert.equal((JSON.parse(c.body) as { Code: string }).Code, 'Success');
      // serve plans in a child with the full CLI (cli/serve-front.ts); the process that serves, after its first
      // CreateSession and requests, has loaded none of the CLI's parsing and logging libraries
      const loaded = readFileSync(trace, 'utf8').split('\n');
      assert.ok(
        loaded.some((u) => u.endsWith('/vend/imds/routes.js')),
        'the trace saw the server modules',
      );
      const cliOnly = loaded.filter((u) => /\/node_modules\/(yargs|zod|yaml|winston)\//.test(u));
      assert.deepEqual(cliOnly, []);
    } finally {
      assert.equal(await s.stop(), 0);
    }
  });

  it('renewal is picked up live: after bootstrap --force the next credentials come from the new certificate', async () => {
    const first = await imdsCredentials(serve.url);
    assert.equal(first.status, 200, first.text);
    const oldSerial = readFileSync(path.join(sb.dir, 'state', 'live', 'meta.json'), 'utf8');
    const renewed = await sb.cli(['bootstrap', '--force', '--json']);
    assert.equal(renewed.code, 0, renewed.stderr);
    const { serial, version } = JSON.parse(renewed.stdout) as { serial: string; version: string };
    assert.notEqual(JSON.parse(oldSerial).serial, serial);

    // The watcher reloads within moments of the switch; poll briefly rather than sleep a fixed time.
    let next = first;
    for (let i = 0; i < 50 && next.json?.AccessKeyId === first.json?.AccessKeyId; i++) {
      await new Promise((r) => setTimeout(r, 100));
      next = await imdsCredentials(serve.url);
    }
    assert.equal(next.status, 200, next.text);
    assert.notEqual(next.json?.AccessKeyId, first.json?.AccessKeyId, 'new credentials after the identity changed');
    assert.equal(serve.child.exitCode, null, 'serve was not restarted');
    assert.match(serve.log(), new RegExp(`"message":"identity reloaded".*"version":"${version}"`));

    const events = (
      await sb.admin<{
        events: {
          additionalEventData: { x509CertificateSerialNumber?: string };
          responseElements: { credentialSet: { credentials: { accessKeyId: string } }[] } | null;
        }[];
      }>('rolesanywhere/events')
    ).events;
    const issuing = events.find((e) => e.responseElements?.credentialSet[0]?.credentials.accessKeyId === next.json?.AccessKeyId);
    assert.ok(issuing, 'the sandbox issued the new credentials');
    assert.equal(BigInt('0x' + issuing.additionalEventData.x509CertificateSerialNumber), BigInt('0x' + serial), 'signed with the new certificate');
    const arn = await callerArn(await aws(['sts', 'get-caller-identity'], isolatedEnv({ AWS_EC2_METADATA_SERVICE_ENDPOINT: serve.url })));
    assert.equal(BigInt('0x' + arn.split('/').pop()), BigInt('0x' + serial), 'the session is named after the new certificate serial');
  });
});
