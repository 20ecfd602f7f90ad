import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startSandbox, type E2eSandbox } from '../helpers/sandbox.js';
import { liveProblem, logLines, readLive, readState, startCli, stateDir, type Running } from './renew-support.js';

/**
 * Issue 4, "What must be shown" 6: two `renew --force` runs at once never interleave. The run lock (state.dir/.lock)
 * makes the second wait (state.lockTimeout, default 10 min) or, with lockTimeout 0, fail with LOCKED; either way the
 * versions directory and state.json come out as if the runs had been one after the other.
 */

let sb: E2eSandbox;
let state: string;
before(async () => {
  sb = await startSandbox({ args: ['--insync-delay', '100'], bootstrap: true });
  state = stateDir(sb);
});
after(async () => {
  await sb?.stop();
});

const versions = () =>
  readdirSync(path.join(state, 'versions'))
    .filter((n) => /^\d{4}$/.test(n))
    .sort();

/** [first log line after taking the lock, last log line of the run] as instants */
function span(r: Running): { start: number; end: number; version: string } {
  const logs = logLines(r.stderr());
  const start = logs.find((l) => l.message === 'renewing');
  const end = logs.find((l) => l.message === 'identity live');
  assert.ok(start && end, `a complete run:\n${r.stderr()}`);
  return { start: Date.parse(start.timestamp), end: Date.parse(end.timestamp), version: String(end['version']) };
}

async function until(r: Running, message: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (logLines(r.stderr()).some((l) => l.message === message)) return;
    await delay(50);
  }
  throw new Error(`never logged "${message}":\n${r.stderr()}`);
}

test('started together: one holds the lock, the other waits, then renews after it; nothing interleaves', async () => {
  const before = versions();
  const renewalsBefore = readState(state).counters['renewals'] ?? 0;
  const a = startCli(sb, ['renew', '--force', '--json', '--log-format', 'json']);
  const b = startCli(sb, ['renew', '--force', '--json', '--log-format', 'json']);
  const [ra, rb] = await Promise.all([a.done, b.done]);
  assert.equal(ra.code, 0, a.stderr());
  assert.equal(rb.code, 0, b.stderr());
  const [sa, sbb] = [span(a), span(b)];
  const [first, second] = sa.start <= sbb.start ? [sa, sbb] : [sbb, sa];
  assert.ok(
    second.start >= first.end,
    `the second run began (${new Date(second.start).toISOString()}) before the first went live (${new Date(first.end).toISOString()})`,
  );
  assert.equal(Number(second.version), Number(first.version) + 1, 'consecutive versions');
  const after = versions();
  assert.deepEqual(
    after.filter((v) => !before.includes(v)),
    [first.version, second.version],
  );
  assert.equal(readLive(state).version, second.version);
  assert.equal(liveProblem(state), undefined);
  const st = readState(state);
  assert.equal(st.counters['renewals'], renewalsBefore + 2);
  assert.deepEqual([st.lastRenewal?.ok, st.lastRenewal?.serial?.toUpperCase()], [true, readLive(state).serial]);
  assert.deepEqual(st.pendingTxt, []);
});

test('lockTimeout 0: the second run fails LOCKED (exit 1) without touching versions or lastRenewal', async () => {
  const before = versions();
  const renewalsBefore = readState(state).counters['renewals'] ?? 0;
  const a = startCli(sb, ['renew', '--force', '--log-format', 'json', '--set', 'state.lockTimeout=0']);
  // Start the second only once the first holds the lock, and keep the first stopped (SIGSTOP: alive, lock held)
  // until the second is done, so the outcome depends neither on start-up times nor on how loaded the machine is.
  await until(a, 'renewing');
  a.child.kill('SIGSTOP');
  let rb: { code: number | null };
  const b = startCli(sb, ['renew', '--force', '--log-format', 'json', '--set', 'state.lockTimeout=0']);
  try {
    rb = await b.done;
  } finally {
    a.child.kill('SIGCONT');
  }
  assert.equal(rb.code, 1, b.stdout() + b.stderr());
  assert.match(b.stderr(), /^iamra-agent: lock: another iamra-agent run \(pid \d+\) holds .*\.lock/m);
  assert.ok(!logLines(b.stderr()).some((l) => l.message === 'requesting certificate'), 'the refused run never started an order');
  const ra = await a.done;
  assert.equal(ra.code, 0, a.stderr());
  assert.equal(versions().filter((v) => !before.includes(v)).length, 1);
  const st = readState(state);
  assert.equal(st.counters['renewals'], renewalsBefore + 1);
  assert.equal(st.counters['renewal_failures'] ?? 0, 0, 'LOCKED is not a failed renewal');
  assert.deepEqual([st.lastRenewal?.ok, st.lastRenewal?.serial?.toUpperCase()], [true, readLive(state).serial]);
  assert.equal(liveProblem(state), undefined);
});
