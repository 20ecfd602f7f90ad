import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { cliPath, tempDir } from '../helpers/paths.js';

// The units as an operator installs them: written by the built CLI, ExecStart pointing at a real executable
// (systemd-analyze verify refuses a missing binary).
const dir = tempDir('units');
const out = execFileSync(process.execPath, [cliPath, 'install-units', '--dir', dir, '--bin', cliPath], { encoding: 'utf8' });
const services = readdirSync(dir).filter((n) => n.endsWith('.service'));

test('install-units writes every unit with the real binary path', () => {
  assert.deepEqual(services.sort(), ['iamra-agent-bootstrap.service', 'iamra-agent-renew.service', 'iamra-agent-serve.service']);
  assert.match(out, /iamra-agent-renew\.timer/);
  for (const s of services) {
    const text = readFileSync(path.join(dir, s), 'utf8');
    assert.ok(text.includes(`ExecStart=${cliPath}`), s);
    assert.ok(!text.includes('/usr/local/bin/iamra-agent'), s);
  }
});

test('systemd-analyze verify prints nothing for the units', () => {
  const files = readdirSync(dir)
    .filter((n) => /\.(service|timer)$/.test(n))
    .map((n) => path.join(dir, n));
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...files], { encoding: 'utf8' });
  // verify exits 0 on mere warnings, so any output at all is a failure
  assert.equal(r.status, 0, r.stderr);
  assert.equal((r.stdout + r.stderr).trim(), '');
});

test('each service has a systemd-analyze security exposure of 2.0 or less', () => {
  for (const s of services) {
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', path.join(dir, s)], { encoding: 'utf8' });
    const m = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout);
    assert.ok(m, `no exposure line for ${s}: ${r.stdout.slice(-300)}${r.stderr}`);
    assert.ok(Number(m[1]) <= 2.0, `${s} exposure ${m[1]}`);
  }
});

test('the renew timer fires twice a day, randomized and persistent; the service asks renew --needed first', () => {
  const timer = readFileSync(path.join(dir, 'iamra-agent-renew.timer'), 'utf8');
  assert.match(timer, /^OnCalendar=\*-\*-\* 00,12:00:00$/m);
  assert.match(timer, /^RandomizedDelaySec=/m);
  assert.match(timer, /^Persistent=true$/m);
  const cal = execFileSync('systemd-analyze', ['calendar', '--iterations=2', '*-*-* 00,12:00:00'], { encoding: 'utf8' });
  assert.match(cal, /Iter\. #2/);
  const svc = readFileSync(path.join(dir, 'iamra-agent-renew.service'), 'utf8');
  assert.ok(svc.includes(`ExecCondition=${cliPath} renew --needed`));
});
