import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fsp, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireLock } from '../../src/core/lock.js';
import { systemClock, fixedClock } from '../../src/core/clock.js';
import { AgentError } from '../../src/core/errors.js';
import { tempDir } from '../helpers/paths.js';

/** A PID above any pid_max, so kill(pid, 0) reports ESRCH: the owner of a lock left by a crash. */
const DEAD_PID = 0x7ffffffe;
const CHILD = 'IAMRA_LOCK_TEST_CHILD';

interface ChildArgs {
  file: string;
  marker: string;
  rounds: number;
  crashEvery: number;
}

/**
 * Child mode: take the lock `rounds` times; inside, create `marker` exclusively (a second holder would find it).
 * Every `crashEvery`-th round the holder "dies": its lock is atomically replaced by one naming a dead PID instead of
 * being released, so the other children race to take over a stale lock.
 */
async function child(a: ChildArgs): Promise<void> {
  for (let i = 1; i <= a.rounds; i++) {
    const lock = await acquireLock(a.file, { clock: systemClock, waitMs: 60_000, pollMs: 1 });
    try {
      await fsp.writeFile(a.marker, String(process.pid), { flag: 'wx' });
    } catch (e) {
      process.stdout.write(`VIOLATION ${(e as NodeJS.ErrnoException).code}\n`);
      process.exit(2);
    }
    await new Promise((r) => setImmediate(r));
    await fsp.rm(a.marker);
    if (i % a.crashEvery === 0) {
      const tmp = `${a.file}.crash.${process.pid}`;
      await fsp.writeFile(tmp, String(DEAD_PID));
      await fsp.rename(tmp, a.file);
    } else {
      await lock.release();
    }
  }
  process.stdout.write('DONE\n');
}

if (process.env[CHILD]) {
  await child(JSON.parse(process.env[CHILD]) as ChildArgs);
} else {
  const self = fileURLToPath(import.meta.url);

  function run(a: ChildArgs): Promise<{ code: number | null; out: string }> {
    return new Promise((resolve, reject) => {
      const p = spawn(process.execPath, [...process.execArgv, self], {
        env: { ...process.env, [CHILD]: JSON.stringify(a) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.on('error', reject);
      p.on('close', (code) => resolve({ code, out }));
    });
  }

  test('lock: three processes racing, with frequent stale-lock takeovers, never hold it together', async (t) => {
    const dir = tempDir('lock');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const a = { file: path.join(dir, '.lock'), marker: path.join(dir, 'inside'), rounds: 150, crashEvery: 2 };
    const results = await Promise.all([run(a), run(a), run(a)]);
    for (const r of results) {
      assert.equal(r.out.trim(), 'DONE');
      assert.equal(r.code, 0);
    }
    // nothing left behind but (possibly) the last stale lock
    const left = (await fsp.readdir(dir)).filter((f) => f !== '.lock');
    assert.deepEqual(left, []);
  });

  test('lock: a live holder makes the second acquirer fail with LOCKED after waitMs; release frees it', async (t) => {
    const dir = tempDir('lock');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, '.lock');
    const first = await acquireLock(file, { clock: systemClock, waitMs: 0 });
    assert.equal((await fsp.readFile(file, 'utf8')).trim(), String(process.pid));
    assert.equal((await fsp.stat(file)).mode & 0o777, 0o600);
    const clock = fixedClock('2026-11-22T00:00:00Z');
    await assert.rejects(
      acquireLock(file, { clock, waitMs: 1000, pollMs: 250 }),
      (e: unknown) => e instanceof AgentError && e.code === 'LOCKED' && e.message.includes(String(process.pid)),
    );
    assert.equal(clock.now().toISOString(), '2026-11-22T00:00:01.000Z', 'waited the whole waitMs through the clock');
    await first.release();
    const second = await acquireLock(file, { clock, waitMs: 0 });
    await second.release();
    await assert.rejects(fsp.stat(file), { code: 'ENOENT' });
  });

  test('lock: stale locks are taken over (dead PID, our own PID left by an earlier process, garbage)', async (t) => {
    const dir = tempDir('lock');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, '.lock');
    for (const content of [String(DEAD_PID), String(process.pid), '', 'not a pid']) {
      await fsp.writeFile(file, content);
      const l = await acquireLock(file, { clock: systemClock, waitMs: 0 });
      assert.equal(await fsp.readFile(file, 'utf8'), String(process.pid));
      await l.release();
    }
  });

  test('lock: a takeover guard left by a contender that died is itself taken over', async (t) => {
    const dir = tempDir('lock');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, '.lock');
    await fsp.writeFile(file, String(DEAD_PID));
    const ino = (await fsp.stat(file)).ino;
    await fsp.writeFile(`${file}.takeover-${ino}-${DEAD_PID}`, String(DEAD_PID));
    const l = await acquireLock(file, { clock: systemClock, waitMs: 0 });
    await l.release();
    assert.deepEqual(await fsp.readdir(dir), []);
  });

  test('lock: an unwritable directory is LOCK_FAILED naming the file', async () => {
    const file = '/proc/iamra-no-such-dir/.lock';
    await assert.rejects(
      acquireLock(file, { clock: systemClock, waitMs: 0 }),
      (e: unknown) => e instanceof AgentError && e.code === 'LOCK_FAILED' && e.message.includes(file) && !!e.hint,
    );
  });
}
