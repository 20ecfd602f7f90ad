import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type CredentialRoute, DEFAULT_CONFIG_FILE, eligibleOptions, fastCredentialProcess, routesDir } from '../../src/cli/fast-credentials.js';
import { DEFAULT_CONFIG_PATH, validateConfig } from '../../src/config/load.js';
import { fixedClock } from '../../src/core/clock.js';
import { formatCredentialProcess, writeCache } from '../../src/vend/process.js';
import { F_EC_CERT, F_RSA_CERT } from '../signer/fixtures.js';
import { fakeCreds } from '../vend/fixtures.js';

const NOW = new Date('2026-12-01T12:00:00Z');
const ROLE = 'arn:aws:iam::111122223333:role/app';
const PROFILE = 'arn:aws:rolesanywhere:us-east-1:111122223333:profile/p';
const fingerprint = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');

/** A host as the full path leaves it after one credential-process: config, live cert, a cache entry. */
function host() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cli-fast-'));
  const config = path.join(dir, 'agent.yaml');
  writeFileSync(config, 'state:\n  dir: /somewhere\n');
  const certFile = path.join(dir, 'cert.pem');
  writeFileSync(certFile, F_EC_CERT);
  const selfFile = path.join(dir, 'main.js');
  writeFileSync(selfFile, '// the build');
  const xdg = path.join(dir, 'xdg');
  mkdirSync(xdg, { mode: 0o700 });
  const route: CredentialRoute = {
    config: validateConfig({ identity: { name: 'host1.example.com' }, state: { dir: '/somewhere' } }, config),
    cache: { cacheDir: path.join(dir, 'run', 'cache'), certFile, key: { roleArn: ROLE, profileArn: PROFILE }, refreshBeforeMs: 300_000 },
  };
  const env: NodeJS.ProcessEnv = { HOME: dir, XDG_RUNTIME_DIR: xdg, IAMRA_AGENT_CONFIG: config };
  const input = (o: { argv?: string[]; env?: NodeJS.ProcessEnv; now?: Date } = {}) => ({
    argv: o.argv ?? ['credential-process'],
    env: o.env ?? env,
    clock: fixedClock(o.now ?? NOW),
    selfFile,
  });
  const creds = fakeCreds(new Date(NOW.getTime() + 3600_000));
  const cache = () =>
    writeCache(
      { dir: route.cache!.cacheDir, key: { ...route.cache!.key, certFingerprint: fingerprint(F_EC_CERT) }, refreshBeforeMs: 300_000, clock: fixedClock(NOW) },
      creds,
    );
  /** the full path's part: it misses, derives the route, and hands it over */
  const prime = async (i = input()) => {
    const first = await fastCredentialProcess(i);
    assert.equal(first.output, undefined);
    assert.ok(first.remember, 'an eligible line gets a remember function');
    await first.remember(route);
  };
  return { dir, config, route, certFile, selfFile, xdg, env, input, creds, cache, prime, done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('a plain credential-process line is eligible; anything the fast parser does not know goes to the full CLI', () => {
  assert.deepEqual(eligibleOptions(['credential-process']), new Map());
  assert.deepEqual(eligibleOptions(['credential-process', '--no-cache']), new Map([['no-cache', 'true']]));
  assert.deepEqual(
    eligibleOptions(['--config', '/etc/a.yaml', 'credential-process', '--role-arn=arn:x', '--log-level', 'warn']),
    new Map([
      ['config', '/etc/a.yaml'],
      ['role-arn', 'arn:x'],
      ['log-level', 'warn'],
    ]),
  );
  for (const argv of [
    [],
    ['serve'],
    ['credential-process', '--no-cache=false'],
    ['credential-process', '--no-cache', '--no-cache'],
    ['credential-process', '--set', 'vend.cache=false'],
    ['credential-process', '--help'],
    ['credential-process', '--version'],
    ['credential-process', '--bogus'],
    ['credential-process', '--log-level', 'debug'],
    ['credential-process', '--role-arn'],
    ['credential-process', '--role-arn', '--log-level', 'warn'],
    ['credential-process', '--role-arn', 'a', '--role-arn', 'b'],
    ['credential-process', 'extra'],
    ['credential-process', 'credential-process'],
  ]) {
    assert.equal(eligibleOptions(argv), undefined, argv.join(' '));
  }
});

test('after the full path recorded the route, the cache answers without it, byte for byte the same document', async (t) => {
  const h = host();
  t.after(h.done);
  await h.cache();
  await h.prime();
  const hit = await fastCredentialProcess(h.input());
  assert.equal(hit.output, formatCredentialProcess(h.creds));
  assert.equal(hit.remember, undefined);
  // the route is private and holds no secret
  const dir = routesDir(h.env);
  assert.equal(dir, path.join(h.xdg, 'iamra-agent', 'routes'));
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  const [name] = readdirSync(dir);
  assert.equal(statSync(path.join(dir, name!)).mode & 0o777, 0o600);
  const text = readFileSync(path.join(dir, name!), 'utf8');
  for (const secret of [h.creds.secretAccessKey, h.creds.sessionToken, h.creds.accessKeyId]) assert.ok(!text.includes(secret));
});

test('no credentials near or past expiry: within vend.refreshBefore of the end the warm route runs (a CreateSession)', async (t) => {
  const h = host();
  t.after(h.done);
  await h.cache();
  await h.prime();
  assert.ok((await fastCredentialProcess(h.input({ now: new Date(NOW.getTime() + 3600_000 - 300_001) }))).output);
  for (const late of [3600_000 - 300_000, 3600_000, 2 * 3600_000]) {
    const r = await fastCredentialProcess(h.input({ now: new Date(NOW.getTime() + late) }));
    assert.equal(r.output, undefined, `${late} ms after issue`);
    assert.ok(r.warm, 'the composition asks for new credentials');
  }
});

test('any change to what the full path derived from misses: config bytes, IAMRA_AGENT_* env, command line, the build, the certificate', async (t) => {
  const h = host();
  t.after(h.done);
  await h.cache();
  await h.prime();
  const miss = async (i: ReturnType<typeof h.input>, why: string) => assert.equal((await fastCredentialProcess(i)).output, undefined, why);
  await miss(h.input({ env: { ...h.env, IAMRA_AGENT_VEND__REFRESH_BEFORE: '50m' } }), 'an env override');
  await miss(h.input({ argv: ['credential-process', '--role-arn', 'arn:aws:iam::111122223333:role/other'] }), 'another role on the command line');
  await miss(h.input({ env: { ...h.env, IAMRA_AGENT_CONFIG: path.join(h.dir, 'other.yaml') } }), 'another (absent) config file');
  assert.ok((await fastCredentialProcess(h.input())).output, 'still a hit before the files change');

  writeFileSync(h.certFile, F_RSA_CERT); // a renewal: the cache key's fingerprint changes
  await miss(h.input(), 'a renewed certificate');
  writeFileSync(h.certFile, F_EC_CERT);
  assert.ok((await fastCredentialProcess(h.input())).output);

  utimesSync(h.selfFile, new Date(), new Date('2020-01-01T00:00:00Z')); // an upgraded agent
  await miss(h.input(), 'another build');
  await h.prime();
  writeFileSync(h.config, 'state:\n  dir: /elsewhere\n');
  await miss(h.input(), 'edited config');
});

test('a damaged route or cache is a miss, never an error', async (t) => {
  const h = host();
  t.after(h.done);
  await h.cache();
  await h.prime();
  const dir = routesDir(h.env);
  const [name] = readdirSync(dir);
  for (const damaged of ['{"v":2,"config":{},"cache":{"cacheDir":7}}', '{"v":1,"cacheDir":"/x"}', '{"v":2,"config":[]}', '{"v":2', '']) {
    writeFileSync(path.join(dir, name!), damaged);
    const r = await fastCredentialProcess(h.input());
    assert.equal(r.output, undefined, damaged);
    assert.equal(r.warm, undefined, `${damaged}: not warm either, the full CLI runs`);
    assert.ok(r.remember);
  }
  // a route others can read or write is not followed (it names the config: the key and the endpoint)
  await fastCredentialProcess(h.input()).then((r) => r.remember!(h.route));
  assert.ok((await fastCredentialProcess(h.input())).output, 'the private route is followed (a cache hit)');
  for (const mode of [0o644, 0o620, 0o604]) {
    chmodSync(path.join(dir, name!), mode);
    const r = await fastCredentialProcess(h.input());
    assert.equal(r.output, undefined, mode.toString(8));
    assert.equal(r.warm, undefined, `mode ${mode.toString(8)}: not followed`);
    assert.ok(r.remember, 'the full CLI runs (and rewrites it 0600)');
  }
  await fastCredentialProcess(h.input()).then((r) =>
    r.remember!({ ...h.route, cache: { ...h.route.cache!, certFile: path.join(h.dir, 'gone.pem'), refreshBeforeMs: 0 } }),
  );
  assert.equal(statSync(path.join(dir, name!)).mode & 0o777, 0o600, 'rewritten private');
  const gone = await fastCredentialProcess(h.input());
  assert.equal(gone.output, undefined, 'the live certificate is gone');
  assert.deepEqual(gone.warm?.route.config, h.route.config, 'the composition reads it again and reports what is wrong');
});

test("a route without a cache answer is warm: the recorded config, validated by the full path, with this line's options", async (t) => {
  const h = host();
  t.after(h.done);
  await h.prime();
  const stale = await fastCredentialProcess(h.input());
  assert.equal(stale.output, undefined, 'nothing cached yet');
  assert.equal(stale.remember, undefined, 'the route is already recorded');
  assert.deepEqual(stale.warm, { route: JSON.parse(JSON.stringify(h.route)), options: new Map() });
  assert.deepEqual(stale.warm.route.config, h.route.config, 'the config survives its JSON round trip unchanged');

  await h.cache();
  const argv = ['credential-process', '--no-cache', '--log-level', 'warn'];
  await h.prime(h.input({ argv }));
  const noCache = await fastCredentialProcess(h.input({ argv }));
  assert.equal(noCache.output, undefined, '--no-cache never reads the cache');
  assert.deepEqual(
    noCache.warm?.options,
    new Map([
      ['no-cache', 'true'],
      ['log-level', 'warn'],
    ]),
  );

  // a line without the cache (--no-cache, vend.cache: false) records the config alone
  const plain = ['credential-process', '--log-format', 'json'];
  await fastCredentialProcess(h.input({ argv: plain })).then((r) => r.remember!({ config: h.route.config }));
  const configOnly = await fastCredentialProcess(h.input({ argv: plain }));
  assert.equal(configOnly.output, undefined);
  assert.deepEqual(configOnly.warm?.route, { config: h.route.config });
});

test("routes live per user: $XDG_RUNTIME_DIR, else $XDG_CACHE_HOME, else ~/.cache; the default config path is the loader's", () => {
  assert.equal(routesDir({ XDG_RUNTIME_DIR: '/run/user/1000', HOME: '/home/u' }), '/run/user/1000/iamra-agent/routes');
  assert.equal(routesDir({ XDG_CACHE_HOME: '/home/u/.c', HOME: '/home/u' }), '/home/u/.c/iamra-agent/routes');
  assert.equal(routesDir({ XDG_RUNTIME_DIR: 'relative', HOME: '/home/u' }), '/home/u/.cache/iamra-agent/routes');
  assert.equal(DEFAULT_CONFIG_FILE, DEFAULT_CONFIG_PATH);
});
