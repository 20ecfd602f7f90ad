import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgentError } from '../../src/core/errors.js';
import { clockSkew, fail, ok, renderDoctorText, runDoctor, warn } from '../../src/status/doctor.js';

const now = new Date('2026-12-01T12:00:00Z');

test('clockSkew: within 30 s OK, from 30 s WARN, from 5 min FAIL (either direction); a missing Date is a WARN', () => {
  const at = (s: number) => new Date(now.getTime() - s * 1000).toUTCString();
  assert.deepEqual(clockSkew('the CA', at(1), now), ok('clock within 1 s of the CA'));
  assert.equal(clockSkew('the CA', at(29), now).status, 'OK');
  assert.equal(clockSkew('the CA', at(30), now).status, 'WARN');
  assert.equal(clockSkew('the CA', at(-299), now).status, 'WARN');
  const far = clockSkew('the CA', at(-300), now);
  assert.equal(far.status, 'FAIL');
  assert.match(far.evidence, /^clock off by -300 s \(local 2026-12-01T12:00:00.000Z, the CA 2026-12-01T12:05:00.000Z\)$/);
  assert.match(far.fix, /timedatectl set-ntp true/);
  assert.equal(clockSkew('the CA', undefined, now).status, 'WARN');
  assert.equal(clockSkew('the CA', 'yesterday-ish', now).status, 'WARN');
});

test('runDoctor: worst status decides the exit code; a throwing step is a FAIL with its hint; dependants are not run', async () => {
  const r = await runDoctor([
    { name: 'a', run: async () => ok('fine') },
    {
      name: 'b',
      run: async () => {
        throw new AgentError({ code: 'X', component: 'acme', message: 'directory down', hint: 'check acme.directory' });
      },
    },
    { name: 'c', needs: ['b'], run: async () => ok('never') },
    { name: 'd', run: async () => warn('meh', 'do x') },
  ]);
  assert.deepEqual(r.checks, [
    { name: 'a', status: 'OK', evidence: 'fine', fix: '' },
    { name: 'b', status: 'FAIL', evidence: 'acme: directory down', fix: 'check acme.directory' },
    { name: 'c', status: 'WARN', evidence: 'not run: b failed', fix: 'fix b first' },
    { name: 'd', status: 'WARN', evidence: 'meh', fix: 'do x' },
  ]);
  assert.deepEqual([r.overall, r.exitCode], ['FAIL', 2]);
  assert.deepEqual((await runDoctor([{ name: 'a', run: async () => warn('w', 'f') }])).exitCode, 1);
  assert.deepEqual((await runDoctor([{ name: 'a', run: async () => ok('o') }])).exitCode, 0);
  // the fix sits under the evidence column
  const text = renderDoctorText(await runDoctor([{ name: 'route53-probe', run: async () => fail('AccessDenied', 'grant the policy') }]));
  assert.equal(text, 'IAMRA-AGENT DOCTOR FAIL\nroute53-probe  FAIL  AccessDenied\n' + ' '.repeat(21) + 'fix: grant the policy\n');
});
