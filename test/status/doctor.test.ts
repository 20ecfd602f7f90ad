import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgentError } from '../../src/core/errors.js';
import { clockSkew, fail, ok, renderDoctorText, runDoctor, warn } from '../../src/status/doctor.js';

const now = new Date('2026-12-01T12:00:00Z');

test('clockSkew: within 10 s OK, from 10 s WARN, from 60 s FAIL (either direction), with the offset; a missing Date is a WARN', () => {
  const at = (s: number) => new Date(now.getTime() - s * 1000).toUTCString();
  assert.deepEqual(clockSkew('the CA', at(1), now), ok('clock within 1 s of the CA'));
  assert.equal(clockSkew('the CA', at(9), now).status, 'OK');
  assert.equal(clockSkew('the CA', at(10), now).status, 'WARN');
  assert.equal(clockSkew('the CA', at(-59), now).status, 'WARN');
  const far = clockSkew('the CA', at(-120), now);
  assert.equal(far.status, 'FAIL');
  assert.equal(far.evidence, 'clock off by -120 s (local 2026-12-01T12:00:00.000Z, the CA 2026-12-01T12:02:00.000Z; 60 s is the limit)');
  assert.match(far.fix, /timedatectl set-ntp true.*chronyc/);
  assert.equal(clockSkew('the CA', at(60), now).status, 'FAIL');
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
