import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { checkSystemd, expectedUnits, judgeUnits } from '../../src/status/doctor-systemd.js';

test('expectedUnits: bootstrap and the running timer always, the running serve unit when the host runs serve', () => {
  assert.deepEqual(expectedUnits(false), [
    { unit: 'iamra-agent-bootstrap.service', mustRun: false },
    { unit: 'iamra-agent-renew.timer', mustRun: true },
  ]);
  assert.deepEqual(expectedUnits(true)[2], { unit: 'iamra-agent-serve.service', mustRun: true });
});

test('judgeUnits: all enabled and the timer active is OK; anything missing, disabled or inactive FAILs with the install fix', () => {
  const good = [
    { unit: 'iamra-agent-bootstrap.service', enabled: 'enabled' },
    { unit: 'iamra-agent-renew.timer', enabled: 'enabled', active: 'active' },
  ];
  assert.deepEqual(judgeUnits(good), { status: 'OK', evidence: 'iamra-agent-bootstrap.service enabled; iamra-agent-renew.timer enabled, active', fix: '' });
  const r = judgeUnits([
    { unit: 'iamra-agent-bootstrap.service', enabled: 'not-found' },
    { unit: 'iamra-agent-renew.timer', enabled: 'disabled', active: 'inactive' },
  ]);
  assert.deepEqual(
    [r.status, r.evidence, r.fix],
    [
      'FAIL',
      'iamra-agent-bootstrap.service not-found; iamra-agent-renew.timer disabled; iamra-agent-renew.timer inactive',
      'iamra-agent install-units && systemctl daemon-reload && systemctl enable --now iamra-agent-bootstrap.service iamra-agent-renew.timer',
    ],
  );
  assert.equal(judgeUnits([{ unit: 'iamra-agent-renew.timer', enabled: 'masked', active: 'active' }]).status, 'FAIL');
});

test('checkSystemd on this machine: without systemd as PID 1 it is a SKIP that says so and names PID 1', async () => {
  const r = await checkSystemd({ serve: false, timeoutMs: 5000 });
  if (existsSync('/run/systemd/system')) {
    // a systemd host: the real systemctl answered (these units are not installed on a build machine)
    assert.ok(r.status === 'OK' || r.status === 'FAIL', r.evidence);
  } else {
    const pid1 = readFileSync('/proc/1/comm', 'utf8').trim();
    assert.deepEqual(r, { status: 'SKIP', evidence: `systemd is not PID 1 (PID 1 is ${pid1}): the units and the timer are not checked`, fix: '' });
  }
});
