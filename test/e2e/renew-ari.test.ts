import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { certId } from '../../src/acme/index.js';
import { startSandbox, type E2eSandbox } from '../helpers/sandbox.js';
import { logLines, readLive, readState, setPebbleRenewalInfo, stateDir } from './renew-support.js';

/**
 * Issue 4, "What must be shown" 2 (and the afterRenew hooks, end to end): the built CLI against the sandbox's Pebble
 * (pinned >= 2.10, which serves ARI and accepts `replaces`). Pebble's window is moved with its management endpoint
 * /set-renewal-info/. The sandbox config uses the classic profile (90 days), so the weekly maxAge (7 d) never makes
 * a fresh certificate due: whatever is due here is due because of ARI.
 */

let sb: E2eSandbox;
let state: string;
let hookOut: string;
let sets: string[];
const H = 3600_000;

before(async () => {
  sb = await startSandbox();
  state = stateDir(sb);
  hookOut = path.join(sb.dir, 'hook-env.txt');
  const hook = path.join(sb.dir, 'after-renew.sh');
  // a hook as an operator writes one: record what the agent told it
  writeFileSync(
    hook,
    `#!/bin/sh\nenv | grep -E '^IAMRA_AGENT_(CERT|CHAIN|FULLCHAIN|KEY|KEY_REF|VERSION)=' | sort > ${hookOut}\necho "hook saw version $IAMRA_AGENT_VERSION"\n`,
    { mode: 0o755 },
  );
  sets = ['--set', `hooks.afterRenew=[[${hook}], [/bin/false]]`, '--log-format', 'json'];
});
after(async () => {
  await sb?.stop();
  if (sb) rmSync(sb.dir, { recursive: true, force: true });
});

async function cli(args: string[]) {
  return sb.cli([...args, ...sets]);
}

test('ARI: window ahead → nothing to do (exit 0, JSON not-due) and --needed says 1; window passed → renewed at once with replaces, --needed says 0', async () => {
  // before any identity: due (so the timer's renew enrols one); an unreadable config is an error (255), which
  // systemd's ExecCondition= treats as a failure rather than "skip"
  const none = await cli(['renew', '--needed', '--json']);
  assert.equal(none.code, 0, none.stderr);
  assert.deepEqual(JSON.parse(none.stdout), { due: true, reason: 'no-identity' });
  const broken = await sb.cli(['renew', '--needed', '--config', path.join(sb.dir, 'missing.yaml')]);
  assert.equal(broken.code, 255);
  assert.match(broken.stderr, /^iamra-agent: config: cannot read .*missing\.yaml: ENOENT/m);

  const boot = await cli(['bootstrap', '--json']);
  assert.equal(boot.code, 0, boot.stderr);
  const v1 = readLive(state);
  const now = Date.now();

  // 1. The window two days ahead (earlier than maxAge's day 7, so ARI is what decides).
  const ahead = { start: new Date(now + 48 * H), end: new Date(now + 72 * H) };
  await setPebbleRenewalInfo(sb, v1.certPem, ahead);
  const needed = await cli(['renew', '--needed', '--json']);
  assert.equal(needed.code, 1, `not due → 1\n${needed.stderr}`);
  const nd = JSON.parse(needed.stdout);
  assert.deepEqual(
    [nd.due, nd.reason, nd.ari.windowStart, nd.ari.windowEnd, nd.ari.cached],
    [false, 'ari-window', ahead.start.toISOString(), ahead.end.toISOString(), false],
  );
  assert.ok(Date.parse(nd.renewAt) >= ahead.start.getTime() && Date.parse(nd.renewAt) < ahead.end.getTime(), 'renewAt inside the window');

  const idle = await cli(['renew', '--json']);
  assert.equal(idle.code, 0, idle.stderr);
  const r0 = JSON.parse(idle.stdout);
  assert.equal(r0.action, 'not-due');
  assert.equal(r0.decision.renewAt, nd.renewAt, '--needed and renew reach the same instant');
  assert.equal(r0.decision.ari.cached, true, 'Retry-After not reached: the stored answer is used, ARI is not asked again');
  assert.equal(readLive(state).serial, v1.serial, 'nothing changed');
  const text = await cli(['renew']);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /^not due: renew at \S+ \(ari-window; ARI window /);

  // 2. The window moved into the past (an incident). The agent asked less than Retry-After (6 h, Pebble's default)
  // ago, so RFC 9773 says: do not ask yet. --needed still answers from the stored window.
  await setPebbleRenewalInfo(sb, v1.certPem, { start: new Date(now - 2 * H), end: new Date(now - 1 * H) });
  const stillCached = await cli(['renew', '--needed', '--json']);
  assert.equal(stillCached.code, 1, 'Retry-After honoured: the moved window is not seen yet');
  assert.equal(JSON.parse(stillCached.stdout).ari.cached, true);
  const st = readState(state);
  assert.equal(st.ari?.certId, certId(v1.certPem));
  assert.ok(Math.abs(Date.parse(st.ari!.retryAfter!) - Date.parse(st.ari!.checkedAt) - 6 * H) < 1000, 'Retry-After stored (6 h)');

  // Six hours cannot pass in a test and the CLI reads the wall clock: let them pass in state.json instead.
  const s = JSON.parse(readFileSync(path.join(state, 'state.json'), 'utf8'));
  s.ari.retryAfter = new Date(now - 1000).toISOString();
  writeFileSync(path.join(state, 'state.json'), JSON.stringify(s));

  const due = await cli(['renew', '--needed', '--json']);
  assert.equal(due.code, 0, `due → 0\n${due.stderr}`);
  assert.deepEqual([JSON.parse(due.stdout).due, JSON.parse(due.stdout).reason], [true, 'ari-window-passed']);

  const renewed = await cli(['renew', '--json']);
  assert.equal(renewed.code, 0, renewed.stderr);
  const r1 = JSON.parse(renewed.stdout);
  assert.equal(r1.action, 'renewed');
  assert.equal(r1.decision.reason, 'ari-window-passed');
  assert.equal(r1.forced, false);
  assert.equal(r1.replaces, certId(v1.certPem));
  const v2 = readLive(state);
  assert.notEqual(v2.serial, v1.serial);
  assert.equal(v2.version, r1.version);
  assert.equal(v2.meta['replaces'], certId(v1.certPem));

  // The CA's side: Pebble logs that the new order replaces the old one (it names orders by their id).
  const orderId = (u: unknown) => String(u).split('/').pop();
  const pebbleLog = readFileSync(path.join(sb.dir, 'pebble', 'pebble.log'), 'utf8');
  assert.match(pebbleLog, new RegExp(`order "${orderId(v2.meta['orderUrl'])}" is a replacement of "${orderId(v1.meta['orderUrl'])}"`));
  // and the agent's log says it sent replaces in newOrder
  assert.ok(logLines(renewed.stderr).some((l) => l.message === 'acme order created' && l['replaces'] === certId(v1.certPem)));

  // 3. The new certificate has its own ARI answer (the stored one was about v1): fresh, not due.
  const after = await cli(['renew', '--needed', '--json']);
  assert.equal(after.code, 1, after.stderr);
  assert.equal(JSON.parse(after.stdout).ari.cached, false);
  assert.equal(readState(state).ari?.certId, certId(v2.certPem));
});

test('hooks.afterRenew ran after bootstrap and after the renewal with the new version in env; the failing hook was reported, not fatal', async () => {
  const st = readState(state);
  const live = readLive(state);
  const env = readFileSync(hookOut, 'utf8');
  // the last hook run (the renewal) saw the live version's files
  assert.equal(
    env,
    [
      `IAMRA_AGENT_CERT=${live.dir}/cert.pem`,
      `IAMRA_AGENT_CHAIN=${live.dir}/chain.pem`,
      `IAMRA_AGENT_FULLCHAIN=${live.dir}/fullchain.pem`,
      `IAMRA_AGENT_KEY=${live.dir}/key.pem`,
      `IAMRA_AGENT_VERSION=${live.version}`,
      '',
    ].join('\n'),
  );
  // /bin/false failed after bootstrap and after the renewal; both runs still exited 0 and went live
  assert.equal(st.counters['hook_failures'], 2);
  assert.equal(st.lastRenewal?.ok, true);
  const r = await cli(['renew', '--force', '--log-level', 'debug']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^renewed: version \d{4}, serial [0-9a-f]+/m);
  assert.match(r.stdout, /^warning: after-renew hook \["\/bin\/false"\] failed: exited with status 1 \(not fatal/m);
  const done = logLines(r.stderr).find((l) => l.message === 'after-renew hook output');
  assert.equal(done?.['level'], 'debug', 'hook output only at debug (issue 12 item 13)');
  assert.equal(done?.['stdout'], `hook saw version ${readLive(state).version}`, 'hook output captured in the log');
  assert.equal(readState(state).counters['hook_failures'], 3);
});
