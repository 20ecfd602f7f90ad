import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, promises as fsp, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixedClock, systemClock } from '../../src/core/clock.js';
import { AgentError, formatError } from '../../src/core/errors.js';
import { memoryLogger } from '../../src/core/logger.js';
import { FileKeyHandle } from '../../src/keys/file.js';
import { IdentityStore, StateFile, bump, type StageMaterial } from '../../src/store/index.js';
import { tempDir } from '../helpers/paths.js';
import { makeCa, makeLeaf, type Ca } from '../helpers/pki.js';

const CHILD = 'IAMRA_STORE_TEST_CHILD';
const NAMES = ['host1.example.test', 'alt.example.test'];
const T0 = new Date('2026-11-20T00:00:00Z');
const deps = () => ({ clock: fixedClock('2026-11-22T12:00:00Z'), logger: memoryLogger() });

async function material(ca: Ca, o: { keyRef?: boolean } = {}): Promise<StageMaterial & { keyPem?: string }> {
  const key = FileKeyHandle.generate({ type: 'ec', curve: 'P-256' });
  const certPem = await makeLeaf({
    issuer: ca,
    names: NAMES,
    publicKey: await key.publicKey(),
    notBefore: T0,
    notAfter: new Date(T0.getTime() + 160 * 3600_000),
  });
  const base = {
    certPem,
    chainPem: ca.pem,
    fullchainPem: certPem + ca.pem,
    meta: { names: NAMES, profile: 'shortlived', keyAlgorithm: 'ec-p256', orderUrl: 'https://127.0.0.1/order/1' },
  };
  if (o.keyRef) {
    const spki = (await key.publicKey()).export({ type: 'spki', format: 'der' });
    return { ...base, keyRef: { source: 'csr', csrFile: '/etc/iamra-agent/host.csr', publicKeySha256: 'x' + spki.length } };
  }
  return { ...base, keyPem: key.pem() };
}

const mode = async (p: string) => (await fsp.stat(p)).mode & 0o777;

// ---- child processes: a reader of `live`, and a lock holder ----
interface ReaderArgs {
  role: 'reader';
  dir: string;
  stop: string;
}
interface LockerArgs {
  role: 'locker';
  dir: string;
  waitMs: number;
  holdMs: number;
  /** when set, hold until this file exists (then holdMs is ignored): immune to slow process start under load */
  releaseWhen?: string;
}

async function reader(a: ReaderArgs): Promise<void> {
  const store = await IdentityStore.open(a.dir, { clock: systemClock, logger: memoryLogger() }, { readOnly: true });
  const errors: string[] = [];
  let reads = 0;
  const serials = new Set<string>();
  while (!existsSync(a.stop)) {
    try {
      // the consistent way: resolve live once, read every file of that version
      const id = await store.live();
      if (!id?.files.key) throw new Error('no live identity');
      const keyPem = await fsp.readFile(id.files.key, 'utf8');
      const certSpki = id.certificate.publicKey.export({ type: 'spki', format: 'der' });
      const keySpki = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
      if (!certSpki.equals(keySpki)) throw new Error(`version ${id.version}: cert and key do not match`);
      serials.add(id.serial);
      // the naive way (a program reading live/cert.pem and live/key.pem): both always present and whole
      new X509Certificate(await fsp.readFile(path.join(a.dir, 'live', 'cert.pem'), 'utf8'));
      createPrivateKey(await fsp.readFile(path.join(a.dir, 'live', 'key.pem'), 'utf8'));
      reads++;
      if (reads === 1) process.stdout.write('READY\n');
    } catch (e) {
      errors.push(formatError(e));
      if (reads === 0) process.stdout.write('READY\n');
      reads++;
    }
  }
  process.stdout.write(JSON.stringify({ reads, errors: errors.slice(0, 5), errorCount: errors.length, serials: serials.size }) + '\n');
}

async function locker(a: LockerArgs): Promise<void> {
  const store = await IdentityStore.open(a.dir, { clock: systemClock, logger: memoryLogger() });
  try {
    const lock = await store.lock({ waitMs: a.waitMs });
    process.stdout.write(`HELD ${Date.now()}\n`);
    if (a.releaseWhen) while (!existsSync(a.releaseWhen)) await new Promise((r) => setTimeout(r, 20));
    else await new Promise((r) => setTimeout(r, a.holdMs));
    process.stdout.write(`RELEASING ${Date.now()}\n`);
    await lock.release();
  } catch (e) {
    process.stdout.write(`ERROR ${(e as AgentError).code}\n`);
  }
}

if (process.env[CHILD]) {
  const a = JSON.parse(process.env[CHILD]) as ReaderArgs | LockerArgs;
  await (a.role === 'reader' ? reader(a) : locker(a));
} else {
  const self = fileURLToPath(import.meta.url);
  function run(a: ReaderArgs | LockerArgs, onLine?: (l: string) => void): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const p = spawn(process.execPath, [...process.execArgv, self], {
        env: { ...process.env, [CHILD]: JSON.stringify(a) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const lines: string[] = [];
      let buf = '';
      p.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const l = buf.slice(0, i);
          buf = buf.slice(i + 1);
          lines.push(l);
          onLine?.(l);
        }
      });
      p.on('error', reject);
      p.on('close', (code) => (code === 0 ? resolve(lines) : reject(new Error(`child exited ${code}: ${lines.join(' | ')}`))));
    });
  }

  let ca: Ca;
  test.before(async () => {
    ca = await makeCa({ name: 'store test CA', notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2036-01-01T00:00:00Z') });
  });

  test('stage, activate, live, rollback and prune; private modes; relative live link', async (t) => {
    const dir = path.join(tempDir('store'), 'state');
    t.after(() => rmSync(path.dirname(dir), { recursive: true, force: true }));
    const d = deps();
    const store = await IdentityStore.open(dir, d);
    assert.equal(await mode(dir), 0o700);
    assert.equal(await mode(store.versionsDir), 0o700);
    assert.equal(await store.live(), undefined);

    const m1 = await material(ca);
    const v1 = await store.stage(m1);
    assert.equal(v1.version, '0001');
    assert.equal(await store.live(), undefined, 'staging does not activate');
    assert.equal(await mode(v1.dir), 0o700);
    for (const f of ['cert.pem', 'chain.pem', 'fullchain.pem', 'key.pem', 'meta.json']) assert.equal(await mode(path.join(v1.dir, f)), 0o600, f);
    assert.deepEqual(Object.keys(v1.files).sort(), ['cert', 'chain', 'fullchain', 'key', 'meta']);
    await store.activate(v1);
    assert.equal(await fsp.readlink(store.livePath), 'versions/0001');

    const live1 = await store.live();
    assert.ok(live1);
    assert.equal(live1.version, '0001');
    assert.equal(live1.certPem, m1.certPem);
    assert.equal(live1.fullchainPem, m1.fullchainPem);
    assert.equal(live1.files.key, path.join(v1.dir, 'key.pem'));
    assert.equal(await fsp.readFile(live1.files.key!, 'utf8'), m1.keyPem);
    assert.deepEqual(live1.meta.names, NAMES);
    assert.equal(live1.meta.profile, 'shortlived');
    assert.equal(live1.meta.serial, live1.serial);
    assert.equal(live1.meta.notBefore, T0.toISOString());
    assert.equal(live1.notAfter.toISOString(), new Date(T0.getTime() + 160 * 3600_000).toISOString());
    assert.equal(live1.meta.issuer, 'CN=store test CA');
    assert.equal(live1.meta.createdAt, '2026-11-22T12:00:00.000Z', 'createdAt comes from the clock');

    const staged = [v1];
    for (let i = 2; i <= 5; i++) {
      const v = await store.stage(await material(ca));
      assert.equal(v.version, `000${i}`);
      await store.activate(v);
      staged.push(v);
    }
    assert.equal((await store.live())?.version, '0005');
    const back = await store.rollback();
    assert.equal(back.version, '0004');
    assert.equal((await store.live())?.version, '0004');
    assert.equal(await fsp.readlink(store.livePath), 'versions/0004');

    // keep 1: the newest (0005), live (0004) and the previous one (0003) survive
    assert.deepEqual(await store.prune(1), ['0001', '0002']);
    assert.deepEqual(
      (await store.versions()).map((v) => [v.version, v.live]),
      [
        ['0003', false],
        ['0004', true],
        ['0005', false],
      ],
    );
    assert.equal((await store.rollback()).version, '0003');
    await assert.rejects(store.rollback(), (e: unknown) => e instanceof AgentError && e.code === 'STORE_NO_PREVIOUS');
    // numbering continues after the highest, whatever is live
    assert.equal((await store.stage(await material(ca))).version, '0006');
    assert.ok(d.logger.entries.some((e) => e.msg === 'identity rolled back'));
    // nothing but the store's own entries in the state dir
    assert.deepEqual((await fsp.readdir(dir)).sort(), ['live', 'versions']);
  });

  test('external key: key.ref instead of key.pem; stage rejects both or neither; a bad certificate', async (t) => {
    const dir = tempDir('store');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const store = await IdentityStore.open(dir, deps());
    const m = await material(ca, { keyRef: true });
    const v = await store.stage(m);
    assert.deepEqual(Object.keys(v.files).sort(), ['cert', 'chain', 'fullchain', 'keyRef', 'meta']);
    assert.equal(await mode(v.files.keyRef!), 0o600);
    await store.activate(v);
    const id = await store.live();
    assert.deepEqual(id?.keyRef, m.keyRef);
    assert.equal(id?.files.key, undefined);
    await assert.rejects(store.stage({ ...m, keyPem: 'x' }), (e: unknown) => e instanceof AgentError && e.code === 'STORE_STAGE_KEY');
    await assert.rejects(store.stage({ ...m, keyRef: undefined }), (e: unknown) => e instanceof AgentError && e.code === 'STORE_STAGE_KEY');
    await assert.rejects(store.stage({ ...m, certPem: 'not a cert' }), (e: unknown) => e instanceof AgentError && e.code === 'STORE_STAGE_CERT');
    await assert.rejects(store.activate('0009'), (e: unknown) => e instanceof AgentError && e.code === 'STORE_VERSION_MISSING');
    await assert.rejects(store.activate('../x'), (e: unknown) => e instanceof AgentError && e.code === 'STORE_BAD_VERSION');
    assert.deepEqual(
      (await store.versions()).map((x) => x.version),
      ['0001'],
      'failed stages leave nothing behind',
    );
    assert.deepEqual((await fsp.readdir(store.versionsDir)).sort(), ['0001']);
  });

  test('live is never missing or torn: a reader process during 200 activations', async (t) => {
    const dir = tempDir('store');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const store = await IdentityStore.open(dir, { clock: systemClock, logger: memoryLogger() });
    const versions = [];
    for (let i = 0; i < 3; i++) versions.push(await store.stage(await material(ca)));
    await store.activate(versions[0]!);
    const stop = path.join(dir, 'stop');
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    const child = run({ role: 'reader', dir, stop }, (l) => l === 'READY' && ready());
    await isReady;
    const started = process.hrtime.bigint();
    for (let i = 1; i <= 200; i++) {
      await store.activate(versions[i % 3]!);
      await new Promise((r) => setTimeout(r, 1)); // let the reader interleave even on a loaded machine
    }
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    writeFileSync(stop, '');
    const lines = await child;
    const result = JSON.parse(lines.at(-1)!) as { reads: number; errors: string[]; errorCount: number; serials: number };
    t.diagnostic(`200 activations in ${ms.toFixed(0)} ms; reader made ${result.reads} consistent reads and saw ${result.serials} versions`);
    assert.deepEqual(result.errors, []);
    assert.equal(result.errorCount, 0);
    assert.ok(result.reads >= 10, `reader made only ${result.reads} reads`);
    assert.ok(result.serials >= 2, 'the reader saw the switches');
    assert.deepEqual((await fsp.readdir(dir)).sort(), ['live', 'stop', 'versions'], 'no temporary links left');
  });

  test('an incomplete version is invisible; leftovers older than the newest version are removed on open', async (t) => {
    const dir = tempDir('store');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const d = deps();
    let store = await IdentityStore.open(dir, d);
    // a crash while staging: the temp dir has some files, no meta.json, and was never renamed
    const crashed = path.join(store.versionsDir, '.tmp-deadbeef0001');
    await fsp.mkdir(crashed, { mode: 0o700 });
    await fsp.writeFile(path.join(crashed, 'cert.pem'), '-----BEGIN CERT');
    const old = new Date(Date.now() - 3600_000);
    await fsp.utimes(crashed, old, old);
    // a crash mid-prune and mid-activate
    const halfDeleted = path.join(store.versionsDir, '.del-0000-abcd');
    await fsp.mkdir(halfDeleted);
    await fsp.utimes(halfDeleted, old, old);
    const liveTmp = path.join(dir, '.live-0123456789ab');
    await fsp.symlink('versions/0001', liveTmp);
    await fsp.lutimes(liveTmp, old, old);
    assert.deepEqual(await store.versions(), []);
    assert.equal(await store.live(), undefined);
    const v = await store.stage(await material(ca));
    assert.equal(v.version, '0001', 'the temp dir takes no number');
    // a temp dir newer than the newest version may be another run's stage in progress: kept
    const inProgress = path.join(store.versionsDir, '.tmp-inprogress');
    await fsp.mkdir(inProgress);
    const future = new Date(Date.now() + 3600_000);
    await fsp.utimes(inProgress, future, future);
    store = await IdentityStore.open(dir, d);
    assert.deepEqual((await fsp.readdir(store.versionsDir)).sort(), ['.tmp-inprogress', '0001']);
    assert.deepEqual((await fsp.readdir(dir)).sort(), ['versions']);
    assert.equal(d.logger.entries.filter((e) => e.msg === 'leftover of an interrupted run removed').length, 3);
  });

  test('a one-shot reader (synchronous reads) reads what the asynchronous one does, and fails the same way', async (t) => {
    const dir = tempDir('store');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const store = await IdentityStore.open(dir, deps());
    const v = await store.stage(await material(ca));
    await store.activate(v);
    const readers = [await IdentityStore.open(dir, deps(), { readOnly: true }), await IdentityStore.open(dir, deps(), { readOnly: true, oneShot: true })];
    const view = (id: Awaited<ReturnType<IdentityStore['live']>>) => {
      const { certificate, ...rest } = id!;
      return { ...rest, der: Buffer.from(certificate.raw).toString('base64') };
    };
    const [a, b] = await Promise.all(readers.map((r) => r.live()));
    assert.deepEqual(view(b), view(a));
    assert.ok(view(a).files.key, 'key.pem is seen');
    const outcome = async (r: IdentityStore) =>
      r.live().then(
        (id): { ok: boolean; key?: boolean; code?: string; message?: string } => ({ ok: true, key: id?.files.key !== undefined }),
        (e: unknown) => ({ ok: false, code: (e as AgentError).code, message: (e as AgentError).message }),
      );
    const damages: [string, () => Promise<void>][] = [
      ['no key.pem', () => fsp.rm(v.files.key!)],
      ['chain.pem missing', () => fsp.rm(v.files.chain)],
      ['meta.json corrupt', () => fsp.writeFile(v.files.chain, ca.pem).then(() => fsp.writeFile(v.files.meta, '{oops'))],
      ['live not a link', () => fsp.rm(path.join(dir, 'live')).then(() => fsp.mkdir(path.join(dir, 'live')))],
    ];
    for (const [name, damage] of damages) {
      await damage();
      const [async, sync] = await Promise.all(readers.map(outcome));
      assert.deepEqual(sync, async, name);
    }
    assert.equal((await outcome(readers[1]!)).code, 'STORE_LIVE_NOT_LINK');
  });

  test('a version directory missing a file is reported, not half-read', async (t) => {
    const dir = tempDir('store');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const store = await IdentityStore.open(dir, deps());
    const v = await store.stage(await material(ca));
    await store.activate(v);
    await fsp.rm(v.files.chain);
    await assert.rejects(store.live(), (e: unknown) => e instanceof AgentError && e.code === 'STORE_VERSION_MISSING' && e.message.includes('chain.pem'));
    await fsp.writeFile(v.files.chain, ca.pem);
    await fsp.writeFile(v.files.meta, '{oops');
    await assert.rejects(store.live(), (e: unknown) => e instanceof AgentError && e.code === 'STORE_VERSION_CORRUPT');
  });

  test('an unwritable state dir is STATE_DIR_UNWRITABLE naming the path, with a hint', async (t) => {
    const base = tempDir('store');
    t.after(() => rmSync(base, { recursive: true, force: true }));
    // a path through a regular file
    const file = path.join(base, 'file');
    await fsp.writeFile(file, '');
    const check = (p: string) => (e: unknown) => {
      assert.ok(e instanceof AgentError);
      assert.equal(e.code, 'STATE_DIR_UNWRITABLE');
      assert.ok(e.message.includes(p), e.message);
      assert.ok(e.hint?.includes(p), e.hint);
      assert.ok(!formatError(e).includes('    at '), 'no stack in the user-facing line');
      return true;
    };
    await assert.rejects(IdentityStore.open(path.join(file, 'state'), deps()), check(path.join(file, 'state')));
    // an existing directory the agent user does not own (as root, drop the effective uid to nobody for the attempt)
    const owned = path.join(base, 'owned');
    await fsp.mkdir(owned, { mode: 0o755 });
    await fsp.mkdir(path.join(owned, 'versions'), { mode: 0o755 });
    const asRoot = process.geteuid?.() === 0;
    if (asRoot) process.seteuid!(65534);
    else await fsp.chmod(owned, 0o555);
    try {
      await assert.rejects(IdentityStore.open(owned, deps()), check(owned));
    } finally {
      if (asRoot) process.seteuid!(0);
      else await fsp.chmod(owned, 0o755);
    }
    // a reader may open it read-only
    const ro = await IdentityStore.open(owned, deps(), { readOnly: true });
    assert.equal(await ro.live(), undefined);
    await assert.rejects(ro.stage(await material(ca)), (e: unknown) => e instanceof AgentError && e.code === 'STORE_READ_ONLY');
  });

  test('issue 12 item 2/7: a corrupt meta.json, key.ref, cert.pem or chain.pem is named, without its bytes or parser text', async (t) => {
    const dir = tempDir('store');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const store = await IdentityStore.open(dir, deps());
    const v = await store.stage(await material(ca));
    await store.activate(v);
    const cases: [string, string | Buffer, RegExp][] = [
      ['meta.json', Buffer.from([0x7b, 0x00, 0x1b, 0x5b, 0x32, 0x4a, 0xff, 0xfe]), /meta\.json is not a JSON object \(it holds binary data\)/],
      ['meta.json', '[1, 2]', /meta\.json is not a JSON object$/],
      ['meta.json', '{"names": 3}', /meta\.json has no list of names/],
      ['cert.pem', 'garbage', /cert\.pem is not a PEM certificate/],
      ['chain.pem', 'this chain was overwritten', /chain\.pem is damaged: holds no PEM certificate/],
      ['chain.pem', ca.pem.slice(0, 120), /chain\.pem is damaged: is truncated/],
    ];
    for (const [file, bytes, want] of cases) {
      const f = path.join(v.dir, file);
      const good = await fsp.readFile(f);
      writeFileSync(f, bytes);
      await assert.rejects(store.live(), (e: unknown) => {
        assert.ok(e instanceof AgentError);
        assert.equal(e.code, 'STORE_VERSION_CORRUPT');
        assert.ok(e.message.startsWith(`version ${v.version}: ${f} `), e.message);
        assert.match(e.message, want);
        // biome-ignore lint/suspicious/noControlCharactersInRegex: no raw bytes may reach the terminal
        assert.doesNotMatch(formatError(e), /[\u0000-\u0008\u001b\ufffd]|Unexpected token|in JSON at position|error:[0-9A-F]{8}/);
        return true;
      });
      writeFileSync(f, good);
    }
    assert.equal((await store.live())?.version, v.version, 'restored');
  });

  test('issue 12 item 14: a pre-existing state.dir wider than 0700 is refused with the fix, and its mode is left alone', async (t) => {
    const base = tempDir('store');
    t.after(() => rmSync(base, { recursive: true, force: true }));
    const shared = path.join(base, 'shared');
    await fsp.mkdir(shared);
    await fsp.chmod(shared, 0o1777);
    await assert.rejects(IdentityStore.open(shared, deps()), (e: unknown) => {
      assert.ok(e instanceof AgentError);
      assert.equal(e.code, 'DIR_NOT_PRIVATE');
      assert.match(e.message, new RegExp(`^state\\.dir ${shared} has mode 1777, wider than 0700: other users can write it`));
      assert.match(e.hint ?? '', new RegExp(`chmod 0700 ${shared}.*point the setting at a directory of its own`));
      return true;
    });
    assert.equal((await fsp.stat(shared)).mode & 0o7777, 0o1777, 'never silently chmodded');
    const readable = path.join(base, 'readable');
    await fsp.mkdir(readable);
    await fsp.chmod(readable, 0o755);
    await assert.rejects(IdentityStore.open(readable, deps()), /has mode 0755, wider than 0700: other users can read it/);
    // a directory it creates itself, or one that is already private, is fine
    await fsp.chmod(readable, 0o700);
    await IdentityStore.open(readable, deps());
    await IdentityStore.open(path.join(base, 'new', 'state'), deps());
  });

  test('lock(): exclusive across two processes; a waiter gets it when the holder releases', async (t) => {
    const dir = tempDir('store');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    let held!: () => void;
    const isHeld = new Promise<void>((r) => (held = r));
    const go = path.join(dir, 'release-now');
    const a = run({ role: 'locker', dir, waitMs: 0, holdMs: 0, releaseWhen: go }, (l) => l.startsWith('HELD') && held());
    await isHeld;
    const bDone = run({ role: 'locker', dir, waitMs: 0, holdMs: 0 });
    const cDone = run({ role: 'locker', dir, waitMs: 60_000, holdMs: 0 });
    const b = await bDone; // refused while a holds it, however slowly b started
    await new Promise((r) => setTimeout(r, 300)); // c is polling by now (or starts polling right after)
    writeFileSync(go, '');
    const [linesA, c] = await Promise.all([a, cDone]);
    assert.deepEqual(b, ['ERROR LOCKED']);
    const releasedAt = Number(linesA.find((l) => l.startsWith('RELEASING'))!.split(' ')[1]);
    const cHeldAt = Number(c.find((l) => l.startsWith('HELD'))!.split(' ')[1]);
    assert.ok(cHeldAt >= releasedAt, `the waiter held the lock at ${cHeldAt}, before the holder released at ${releasedAt}`);
    assert.equal(existsSync(path.join(dir, '.lock')), false);
  });

  test('state.json: empty default, atomic private update, concurrent updates all land, corrupt file set aside', async (t) => {
    const dir = tempDir('store');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const d = deps();
    const state = new StateFile(dir, d);
    assert.deepEqual(await state.read(), { pendingTxt: [], counters: {} });
    await state.update((s) => {
      s.pendingTxt.push({ fqdn: '_acme-challenge.host1.example.test', value: 'abc', zoneId: 'Z1', createdAt: '2026-11-22T12:00:00.000Z' });
      s.ari = { windowStart: '2026-11-23T00:00:00.000Z', windowEnd: '2026-11-23T03:00:00.000Z', checkedAt: '2026-11-22T12:00:00.000Z' };
    });
    assert.equal(await mode(state.file), 0o600);
    await Promise.all(Array.from({ length: 20 }, () => state.update((s) => bump(s, 'renewals'))));
    const s = await state.read();
    assert.equal(s.counters.renewals, 20);
    assert.equal(s.pendingTxt[0]?.value, 'abc');
    assert.equal(s.ari?.windowEnd, '2026-11-23T03:00:00.000Z');
    await state.update((x) => ({ ...x, pendingTxt: [], lastRenewal: { at: '2026-11-22T12:00:00.000Z', ok: true, serial: 'AB' } }));
    assert.deepEqual((await state.read()).pendingTxt, []);
    assert.equal((await state.read()).lastRenewal?.serial, 'AB');
    await fsp.writeFile(state.file, '{"pendingTxt": [');
    assert.deepEqual(await state.read(), { pendingTxt: [], counters: {} });
    assert.ok(existsSync(`${state.file}.corrupt`));
    assert.ok(d.logger.entries.some((e) => e.level === 'warn' && e.msg.startsWith('state file unreadable')));
    assert.deepEqual((await fsp.readdir(dir)).sort(), ['state.json.corrupt']);
  });

  test('the CreateSession record: its own file (no lock, state.json untouched), the newer of it and state.json read back, a damaged one ignored', async (t) => {
    const dir = tempDir('store');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const d = deps();
    const state = new StateFile(dir, d);
    const reader = new StateFile(dir, d, { readOnly: true });
    const first = { at: '2026-11-22T12:00:00.000Z', ok: true, expiration: '2026-11-22T13:00:00.000Z' };
    await state.recordCreateSession(first, { sync: true });
    assert.deepEqual(await fsp.readdir(dir), ['create-session.json'], 'no state.json, no lock, no temporary file');
    assert.equal(await mode(state.recordFile), 0o600);
    assert.deepEqual((await reader.read()).lastCreateSession, first);
    const failed = { at: '2026-11-22T12:05:00.000Z', ok: false, error: 'AccessDeniedException: untrusted certificate' };
    await state.recordCreateSession(failed);
    assert.deepEqual((await reader.read()).lastCreateSession, failed, 'the last writer wins');
    // 20 writers at once: one whole record is left, never a mix or a part
    await Promise.all(Array.from({ length: 20 }, (_, i) => state.recordCreateSession({ ...first, at: `2026-11-22T12:10:${String(i).padStart(2, '0')}.000Z` })));
    assert.match((await reader.read()).lastCreateSession!.at, /^2026-11-22T12:10:\d\d\.000Z$/);
    assert.deepEqual((await fsp.readdir(dir)).sort(), ['create-session.json']);

    // state.json's own record (an agent before the record file wrote it there) counts when it is the newer one
    const older = { at: '2026-11-22T11:00:00.000Z', ok: true };
    const newer = { at: '2026-11-22T14:00:00.000Z', ok: false, error: 'x' };
    await state.update((s) => {
      s.lastCreateSession = older;
    });
    assert.match((await reader.read()).lastCreateSession!.at, /^2026-11-22T12:10/);
    await state.update((s) => {
      s.lastCreateSession = newer;
    });
    assert.deepEqual((await reader.read()).lastCreateSession, newer);

    // a damaged record is no record (a hint, not state): status still reads state.json
    for (const bad of ['', '{"at": "yesterday", "ok": true}', '{"at": "2026-11-22T15:00:00.000Z"}', 'null', '{"at": "2026-11-22']) {
      await fsp.writeFile(state.recordFile, bad, { mode: 0o600 });
      assert.deepEqual((await reader.read()).lastCreateSession, newer, JSON.stringify(bad));
    }
    await fsp.rm(state.file);
    assert.equal((await reader.read()).lastCreateSession, undefined);
  });

  test('state.json read-only (status): a corrupt file is an error naming it and what is wrong, and stays put', async (t) => {
    const dir = tempDir('store');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const d = deps();
    const reader = new StateFile(dir, d, { readOnly: true });
    for (const [text, problem] of [
      [Buffer.from([0x7b, 0x00, 0x1b, 0xff]), 'is not a JSON object (it holds binary data)'],
      ['{"pendingTxt": [', 'is not a JSON object (not JSON, or cut off)'],
      ['[1, 2]', 'is not a JSON object'],
      ['{"lastCheck": 5}', 'has a lastCheck that is not an object'],
      ['{"pendingTxt": "x"}', 'has a pendingTxt that is not a list'],
    ] as const) {
      await fsp.writeFile(reader.file, text);
      await assert.rejects(reader.read(), (e: AgentError) => e.code === 'STATE_CORRUPT' && e.message === `${reader.file} ${problem}`);
      assert.deepEqual(await fsp.readdir(dir), ['state.json'], 'nothing moved or added');
    }
    // the same wrong type is corrupt for a writer too: set aside, not half used
    assert.deepEqual(await new StateFile(dir, d).read(), { pendingTxt: [], counters: {} });
    assert.deepEqual(await fsp.readdir(dir), ['state.json.corrupt']);
  });
}
