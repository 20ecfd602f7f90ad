import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { systemClock } from '../../src/core/clock.js';
import { memoryLogger } from '../../src/core/logger.js';
import { OUTPUT_LOG_LIMIT, hookEnv, hookWarnings, runAfterRenewHooks, type HookIdentity } from '../../src/renew/hooks.js';
import { StateFile } from '../../src/store/index.js';
import { tempDir } from '../helpers/paths.js';

// Real processes (node, /bin/sh, sleep): what is tested is how the agent runs them, not a fake of spawn.
const dir = tempDir('hooks');
after(() => rmSync(dir, { recursive: true, force: true }));

const v = path.join(dir, 'versions', '0007');
const id: HookIdentity = {
  version: '0007',
  files: {
    cert: path.join(v, 'cert.pem'),
    chain: path.join(v, 'chain.pem'),
    fullchain: path.join(v, 'fullchain.pem'),
    meta: path.join(v, 'meta.json'),
    key: path.join(v, 'key.pem'),
  },
};

/** running, not a zombie: in a container nothing may reap an orphan, and kill(pid, 0) succeeds on a zombie */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

test('a hook gets the new version in IAMRA_AGENT_* and a minimal environment, runs without a shell, and its output is logged at debug', async () => {
  const logger = memoryLogger();
  const out = path.join(dir, 'env.json');
  const script = `require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.env)); console.log('reloaded', process.argv[1]); console.error('note on stderr')`;
  // an argument with shell metacharacters arrives verbatim: there is no shell to interpret it
  const r = await runAfterRenewHooks(
    {
      clock: systemClock,
      logger,
      env: { PATH: process.env.PATH, HOME: '/home/agent', LANG: 'C.UTF-8', IAMRA_AGENT_KEY: '/stale/key.pem', KEEP: 'me', AWS_SECRET_ACCESS_KEY: 'secret!' },
    },
    { commands: [[process.execPath, '-e', script, '$(touch /tmp/x); `id`']], timeoutMs: 10_000, env: ['KEEP'] },
    id,
  );
  assert.equal(r.length, 1);
  assert.deepEqual([r[0]!.ok, r[0]!.exitCode, r[0]!.timedOut], [true, 0, false]);
  const env = JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>;
  assert.equal(env['IAMRA_AGENT_CERT'], id.files.cert);
  assert.equal(env['IAMRA_AGENT_CHAIN'], id.files.chain);
  assert.equal(env['IAMRA_AGENT_FULLCHAIN'], id.files.fullchain);
  assert.equal(env['IAMRA_AGENT_KEY'], id.files.key, 'the stale inherited value is replaced');
  assert.equal(env['IAMRA_AGENT_VERSION'], '0007');
  assert.equal(env['KEEP'], 'me', 'a variable listed in hooks.env is passed');
  assert.equal(env['AWS_SECRET_ACCESS_KEY'], undefined, 'an unlisted variable of the agent is not');
  // issue 12 item 13: the whole environment is documented — nothing else arrives (node adds none of its own)
  assert.deepEqual(Object.keys(env).sort(), [
    'HOME',
    'IAMRA_AGENT_CERT',
    'IAMRA_AGENT_CHAIN',
    'IAMRA_AGENT_FULLCHAIN',
    'IAMRA_AGENT_KEY',
    'IAMRA_AGENT_VERSION',
    'KEEP',
    'LANG',
    'PATH',
  ]);
  const done = logger.entries.find((e) => e.msg === 'after-renew hook done');
  assert.ok(done);
  assert.equal(done.level, 'info');
  assert.equal(done.fields['stdout'], undefined, 'no hook output at info');
  const output = logger.entries.find((e) => e.msg === 'after-renew hook output');
  assert.ok(output);
  assert.equal(output.level, 'debug');
  assert.equal(output.fields['stdout'], 'reloaded $(touch /tmp/x); `id`');
  assert.equal(output.fields['stderr'], 'note on stderr');
  assert.deepEqual(hookWarnings(r), []);
});

test('a chatty hook: its output is cut for the log (OUTPUT_LOG_LIMIT per stream), with the size of the rest', async () => {
  const logger = memoryLogger();
  await runAfterRenewHooks(
    { clock: systemClock, logger, env: { PATH: process.env.PATH } },
    { commands: [[process.execPath, '-e', 'process.stdout.write("x".repeat(10000))']], timeoutMs: 10_000 },
    id,
  );
  const output = logger.entries.find((e) => e.msg === 'after-renew hook output');
  const logged = String(output?.fields['stdout']);
  assert.ok(logged.startsWith('x'.repeat(OUTPUT_LOG_LIMIT)), logged.slice(0, 40));
  assert.match(logged, new RegExp(`^x{${OUTPUT_LOG_LIMIT}}\\[… ${10000 - OUTPUT_LOG_LIMIT} more characters\\]$`));
});

test('an external key: no IAMRA_AGENT_KEY, IAMRA_AGENT_KEY_REF instead', () => {
  const { key: _k, ...rest } = id.files;
  const env = hookEnv({ IAMRA_AGENT_KEY: '/old' }, { version: '0001', files: { ...rest, keyRef: path.join(v, 'key.ref') } });
  assert.equal(env['IAMRA_AGENT_KEY'], undefined);
  assert.equal(env['IAMRA_AGENT_KEY_REF'], path.join(v, 'key.ref'));
});

test('a hook that outlives hooks.timeout is killed with its whole process group; the next hook still runs', async () => {
  const logger = memoryLogger();
  const pidFile = path.join(dir, 'grandchild.pid');
  const marker = path.join(dir, 'second-ran');
  const t0 = Date.now();
  const r = await runAfterRenewHooks(
    { clock: systemClock, logger, env: { PATH: process.env.PATH } },
    {
      commands: [
        // the hook starts a grandchild (sleep) and waits: killing only the hook would leave the sleep behind
        ['/bin/sh', '-c', `sleep 30 & echo $! > ${pidFile}; wait`],
        [process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`],
      ],
      timeoutMs: 400,
      killGraceMs: 300,
    },
    id,
  );
  const elapsed = Date.now() - t0;
  assert.equal(r[0]!.ok, false);
  assert.equal(r[0]!.timedOut, true);
  assert.match(r[0]!.error ?? '', /timed out after 400 ms/);
  assert.equal(r[1]!.ok, true, 'a timed-out hook does not stop the others');
  assert.ok(existsSync(marker));
  assert.ok(elapsed < 5000, `took ${elapsed} ms`);
  const grandchild = Number(readFileSync(pidFile, 'utf8'));
  // SIGTERM went to the group; give the kernel a moment to reap
  for (let i = 0; i < 50 && alive(grandchild); i++) await delay(20);
  assert.equal(alive(grandchild), false, `grandchild ${grandchild} still running`);
  assert.ok(logger.entries.some((e) => e.msg === 'after-renew hook timed out; killing its process group'));
});

test('failing hooks are reported (result, log, warning line, state counter), never thrown', async () => {
  const logger = memoryLogger();
  mkdirSync(path.join(dir, 'state'), { mode: 0o700 });
  const state = new StateFile(path.join(dir, 'state'), { clock: systemClock, logger });
  const r = await runAfterRenewHooks(
    { clock: systemClock, logger, state, env: { PATH: process.env.PATH } },
    {
      commands: [[process.execPath, '-e', 'console.error("cannot reload"); process.exit(3)'], [path.join(dir, 'no-such-hook')], ['/bin/true']],
      timeoutMs: 10_000,
    },
    id,
  );
  assert.deepEqual(
    r.map((x) => [x.ok, x.exitCode]),
    [
      [false, 3],
      [false, null],
      [true, 0],
    ],
  );
  assert.equal(r[0]!.error, 'exited with status 3');
  assert.match(r[1]!.error ?? '', /^cannot start: .*ENOENT/);
  const failed = logger.entries.filter((e) => e.msg === 'after-renew hook failed');
  assert.equal(failed.length, 2);
  const output = logger.entries.filter((e) => e.msg === 'after-renew hook output');
  assert.equal(output[0]!.fields['stderr'], 'cannot reload');
  const warnings = hookWarnings(r);
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /^warning: after-renew hook .* failed: exited with status 3 \(not fatal/);
  assert.equal((await state.read()).counters['hook_failures'], 2);

  // counted across runs
  await runAfterRenewHooks({ clock: systemClock, logger, state, env: {} }, { commands: [['/bin/false']], timeoutMs: 10_000 }, id);
  assert.equal((await state.read()).counters['hook_failures'], 3);
});

test('no hooks configured: nothing runs, nothing is recorded', async () => {
  const logger = memoryLogger();
  const state = new StateFile(path.join(dir, 'state-none'), { clock: systemClock, logger });
  assert.deepEqual(await runAfterRenewHooks({ clock: systemClock, logger, state, env: {} }, { commands: [], timeoutMs: 1000 }, id), []);
  assert.equal(existsSync(state.file), false);
  assert.deepEqual(logger.entries, []);
});
