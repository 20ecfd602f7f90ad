import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FingerprintSource } from '../../src/config/envsense.js';
import { isAgentError } from '../../src/core/errors.js';
import { computeFingerprint, systemFingerprintDeps, type FingerprintDeps } from '../../src/envsense/fingerprint.js';
import { tempDir } from '../helpers/paths.js';

// Real files and real processes; only the sysfs and /etc paths point into a temporary directory.
const dir = tempDir('fingerprint');
after(() => rmSync(dir, { recursive: true, force: true }));
const dmiDir = path.join(dir, 'dmi');
mkdirSync(dmiDir);
writeFileSync(path.join(dmiDir, 'product_uuid'), '4c4c4544-0042-3510-8052-b4c04f4e4a32\n');
writeFileSync(path.join(dmiDir, 'board_serial'), '\n');
const machineIdFile = path.join(dir, 'machine-id');
writeFileSync(machineIdFile, '0123456789abcdef0123456789abcdef\n');
const hostKey = path.join(dir, 'ssh_host_ed25519_key.pub');
writeFileSync(hostKey, 'ssh-ed25519 AAAAexample host1\n');
const deps: FingerprintDeps = { ...systemFingerprintDeps, dmiDir, machineIdFile };

const sources: FingerprintSource[] = [{ file: hostKey }, { dmi: 'product_uuid' }, { machineId: true }, { command: ['/bin/echo', 'rack-7'], timeout: 5000 }];

const hex = (algo: string, v: string | Buffer) => createHash(algo).update(v).digest('hex');

test('the fingerprint is the documented canonical form: sorted "label TAB digest" lines, digested', async () => {
  const fp = await computeFingerprint({ sources, digest: 'sha1' }, deps);
  const lines = [
    `command:["/bin/echo","rack-7"]\t${hex('sha1', 'rack-7\n')}\n`,
    `dmi:product_uuid\t${hex('sha1', '4c4c4544-0042-3510-8052-b4c04f4e4a32')}\n`,
    `file:${hostKey}\t${hex('sha1', 'ssh-ed25519 AAAAexample host1\n')}\n`,
    `machine-id\t${hex('sha1', '0123456789abcdef0123456789abcdef')}\n`,
  ];
  assert.equal(fp.hex, hex('sha1', lines.join('')));
  assert.deepEqual(fp.labels, ['command:["/bin/echo","rack-7"]', 'dmi:product_uuid', `file:${hostKey}`, 'machine-id']);
  const sha256 = await computeFingerprint({ sources, digest: 'sha256' }, deps);
  assert.match(sha256.hex, /^[0-9a-f]{64}$/);
});

test('the order of the sources in the config does not matter; a change in any one source does', async () => {
  const a = await computeFingerprint({ sources, digest: 'sha1' }, deps);
  const b = await computeFingerprint({ sources: [...sources].reverse(), digest: 'sha1' }, deps);
  assert.equal(a.hex, b.hex);
  writeFileSync(hostKey, 'ssh-ed25519 AAAAother host1\n');
  try {
    const c = await computeFingerprint({ sources, digest: 'sha1' }, deps);
    assert.notEqual(c.hex, a.hex);
  } finally {
    writeFileSync(hostKey, 'ssh-ed25519 AAAAexample host1\n');
  }
});

async function failure(s: FingerprintSource[]): Promise<{ code: string; message: string; hint: string | undefined; ms: number }> {
  const t0 = performance.now();
  try {
    await computeFingerprint({ sources: s, digest: 'sha1' }, deps);
  } catch (e) {
    assert.ok(isAgentError(e), `an AgentError, got ${String(e)}`);
    return { code: e.code, message: e.message, hint: e.hint, ms: performance.now() - t0 };
  }
  assert.fail('the fingerprint was computed');
}

test('a missing or unreadable source is an error naming it, never a different fingerprint', async () => {
  const missing = await failure([{ file: path.join(dir, 'nope') }, { machineId: true }]);
  assert.equal(missing.code, 'FINGERPRINT_SOURCE');
  assert.match(missing.message, new RegExp(`fingerprint source file:${path.join(dir, 'nope')}: cannot read .* \\(ENOENT\\)`));
  assert.match(missing.hint ?? '', /readable/);

  const directory = await failure([{ file: dir }]);
  assert.match(directory.message, /\(EISDIR\)/);

  const dmi = await failure([{ dmi: 'chassis_serial' }]);
  assert.match(dmi.message, /fingerprint source dmi:chassis_serial: cannot read .*chassis_serial \(ENOENT\)/);

  const empty = await failure([{ dmi: 'board_serial' }]);
  assert.match(empty.message, /dmi:board_serial: is empty on this machine/);

  writeFileSync(machineIdFile, 'uninitialized\n');
  try {
    const mid = await failure([{ machineId: true }]);
    assert.match(mid.message, /machine-id: .* does not hold a machine id/);
  } finally {
    writeFileSync(machineIdFile, '0123456789abcdef0123456789abcdef\n');
  }

  const twice = await failure([{ machineId: true }, { machineId: true }]);
  assert.match(twice.message, /machine-id: is listed twice/);
});

test('a command source that hangs is killed at its timeout; a failing or absent command is named', async () => {
  const hang = await failure([{ command: ['/bin/sleep', '30'], timeout: 300 }]);
  assert.match(hang.message, /command:\["\/bin\/sleep","30"\]: did not finish within 300 ms and was killed/);
  assert.ok(hang.ms < 10_000, `gave up after ${Math.round(hang.ms)} ms`);

  const exit = await failure([{ command: ['/bin/sh', '-c', 'exit 3'], timeout: 5000 }]);
  assert.match(exit.message, /failed \(exit 3\)/);

  const absent = await failure([{ command: [path.join(dir, 'no-such-tool')], timeout: 5000 }]);
  assert.match(absent.message, /no-such-tool was not found/);
});
