import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { fixedClock } from '../../src/core/clock.js';
import { AgentError } from '../../src/core/errors.js';
import { memoryLogger } from '../../src/core/logger.js';
import { cacheFileName, credentialProcessOutput, formatCredentialProcess, readCache, writeCache, type CacheKey } from '../../src/vend/process.js';
import { repoRoot, tempDir } from '../helpers/paths.js';
import { awsCli, awsEnv, failingProvider, fakeCreds, scriptedProvider } from './fixtures.js';

const T0 = new Date('2026-03-01T10:00:00.000Z');
const key: CacheKey = {
  certFingerprint: 'a'.repeat(64),
  roleArn: 'arn:aws:iam::123456789012:role/app',
  profileArn: 'arn:aws:rolesanywhere:eu-west-1:123456789012:profile/0f7b1d2c-aaaa-bbbb-cccc-123456789012',
  sessionName: 'host1',
};
const dirs: string[] = [];
const scratch = (p: string) => {
  const d = tempDir(p);
  dirs.push(d);
  return d;
};
after(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

describe('formatCredentialProcess', () => {
  it('prints exactly the Version 1 document, in the helper key order, compact, no newline', () => {
    const out = formatCredentialProcess({
      accessKeyId: 'ASIAEXAMPLE000000001',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      sessionToken: 'IQoJb3JpZ2luX2Vj+/=',
      expiration: new Date('2024-01-16T00:02:43.999Z'),
    });
    assert.equal(
      out,
      '{"Version":1,"AccessKeyId":"ASIAEXAMPLE000000001","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","SessionToken":"IQoJb3JpZ2luX2Vj+/=","Expiration":"2024-01-16T00:02:43Z"}',
    );
  });
});

describe('credential cache', () => {
  const refreshBeforeMs = 5 * 60_000;

  it('misses when empty, hits after a write, and stores 0600 in a 0700 directory', async () => {
    const dir = path.join(scratch('vend-cache'), 'cache');
    const clock = fixedClock(T0);
    const o = { dir, key, refreshBeforeMs, clock };
    assert.equal(await readCache(o), undefined);
    const creds = fakeCreds(new Date(T0.getTime() + 3600_000));
    await writeCache(o, creds);
    assert.deepEqual(await readCache(o), creds);
    assert.equal((await fsp.stat(dir)).mode & 0o777, 0o700);
    const file = path.join(dir, cacheFileName(key));
    assert.equal((await fsp.stat(file)).mode & 0o777, 0o600);
    assert.match(path.basename(file), /^[0-9a-f]{64}\.json$/);
    // a second write finds the directory (the synchronous path) and replaces the entry
    const later = fakeCreds(new Date(T0.getTime() + 2 * 3600_000));
    await writeCache(o, later);
    assert.deepEqual(await readCache(o), later);
    assert.deepEqual(await fsp.readdir(dir), [cacheFileName(key)], 'no temporary file left');
  });

  it('refuses a cache directory it finds readable by others, and writes nothing into it', async () => {
    const wide = path.join(scratch('vend-cache-wide'), 'cache');
    await fsp.mkdir(wide, { mode: 0o755 });
    await fsp.chmod(wide, 0o755);
    const o = { dir: wide, key, refreshBeforeMs, clock: fixedClock(T0) };
    await assert.rejects(writeCache(o, fakeCreds(new Date(T0.getTime() + 3600_000))), (e) => e instanceof AgentError && e.code === 'DIR_NOT_PRIVATE');
    assert.deepEqual(await fsp.readdir(wide), []);
  });

  it('is used only while more than refreshBefore is left', async () => {
    const dir = scratch('vend-cache');
    const clock = fixedClock(T0);
    const o = { dir, key, refreshBeforeMs, clock };
    const creds = fakeCreds(new Date(T0.getTime() + 3600_000));
    await writeCache(o, creds);
    clock.set(new Date(creds.expiration.getTime() - refreshBeforeMs - 1000));
    assert.deepEqual(await readCache(o), creds);
    clock.set(new Date(creds.expiration.getTime() - refreshBeforeMs));
    assert.equal(await readCache(o), undefined);
  });

  it('is invalidated by a renewed certificate (fingerprint change), and by another role, profile or session name', async () => {
    const dir = scratch('vend-cache');
    const clock = fixedClock(T0);
    const o = { dir, key, refreshBeforeMs, clock };
    await writeCache(o, fakeCreds(new Date(T0.getTime() + 3600_000)));
    for (const changed of [
      { ...key, certFingerprint: 'b'.repeat(64) },
      { ...key, roleArn: 'arn:aws:iam::123456789012:role/other' },
      { ...key, profileArn: key.profileArn.replace('0f7b', '1f7b') },
      { ...key, sessionName: 'host2' },
    ]) {
      assert.equal(await readCache({ ...o, key: changed }), undefined, JSON.stringify(changed));
    }
  });

  it('checks the recorded fingerprint, not only the file name', async () => {
    const dir = scratch('vend-cache');
    const clock = fixedClock(T0);
    const o = { dir, key, refreshBeforeMs, clock };
    await writeCache(o, fakeCreds(new Date(T0.getTime() + 3600_000)));
    const renewed = { ...key, certFingerprint: 'c'.repeat(64) };
    // an entry copied under the new certificate's name still records the old fingerprint
    await fsp.copyFile(path.join(dir, cacheFileName(key)), path.join(dir, cacheFileName(renewed)));
    assert.equal(await readCache({ ...o, key: renewed }), undefined);
  });

  it('treats a corrupt entry as a miss and prunes expired entries of other keys on write', async () => {
    const dir = scratch('vend-cache');
    const clock = fixedClock(T0);
    const o = { dir, key, refreshBeforeMs, clock };
    await fsp.writeFile(path.join(dir, cacheFileName(key)), '{not json', { mode: 0o600 });
    assert.equal(await readCache(o), undefined);
    const oldKey = { ...key, certFingerprint: 'd'.repeat(64) };
    await writeCache({ ...o, key: oldKey }, fakeCreds(new Date(T0.getTime() + 600_000)));
    clock.set(new Date(T0.getTime() + 700_000));
    await writeCache(o, fakeCreds(new Date(T0.getTime() + 4000_000)));
    assert.deepEqual(await fsp.readdir(dir), [cacheFileName(key)]);
  });

  it('credentialProcessOutput: provider once, then cache; no cache when disabled; expired credentials refused', async () => {
    const dir = scratch('vend-cache');
    const clock = fixedClock(T0);
    const logger = memoryLogger();
    const creds = fakeCreds(new Date(T0.getTime() + 3600_000));
    const provider = scriptedProvider(() => creds);
    const cache = { dir, key, refreshBeforeMs };
    const first = await credentialProcessOutput({ provider, clock, logger, cache });
    const second = await credentialProcessOutput({ provider, clock, logger, cache });
    assert.equal(first, formatCredentialProcess(creds));
    assert.equal(second, first);
    assert.equal(provider.calls, 1);
    await credentialProcessOutput({ provider, clock, logger });
    await credentialProcessOutput({ provider, clock, logger });
    assert.equal(provider.calls, 3);
    const stale = scriptedProvider(() => fakeCreds(new Date(T0.getTime() - 1000)));
    await assert.rejects(
      credentialProcessOutput({ provider: stale, clock, logger }),
      (e: unknown) => e instanceof AgentError && e.code === 'VEND_EXPIRED_CREDENTIALS',
    );
    assert.ok(!JSON.stringify(logger.entries).includes(creds.secretAccessKey), 'no secret in logs');
  });
});

describe('credential-process while IAMRA is unreachable (issue 12 item 6)', () => {
  const refreshBeforeMs = 5 * 60_000;
  const unreachable = () => failingProvider('CreateSession failed: connect ECONNREFUSED 127.0.0.1:1');

  it('inside the refresh window: the still-valid cached credentials are printed and the failed refresh is logged', async () => {
    const dir = scratch('vend-cache');
    const clock = fixedClock(T0);
    const cache = { dir, key, refreshBeforeMs };
    const creds = fakeCreds(new Date(T0.getTime() + 3600_000));
    await credentialProcessOutput({ provider: scriptedProvider(() => creds), clock, logger: memoryLogger(), cache });
    clock.set(new Date(creds.expiration.getTime() - 60_000)); // 1 min left, inside the 5 min window
    const logger = memoryLogger();
    const provider = unreachable();
    const out = await credentialProcessOutput({ provider, clock, logger, cache });
    assert.equal(provider.calls, 1, 'a refresh was attempted');
    assert.equal(out, formatCredentialProcess(creds));
    const warn = logger.entries.find((e) => e.level === 'warn' && e.msg === 'credentials not refreshed; printing the cached ones, still valid');
    assert.ok(warn, JSON.stringify(logger.entries));
    assert.match(String(warn.fields.error), /ECONNREFUSED/);
    assert.equal(warn.fields.expiration, creds.expiration.toISOString());
    assert.ok(!JSON.stringify(logger.entries).includes(creds.secretAccessKey), 'no secret in logs');
  });

  it('a refresh that works inside the window replaces the cached credentials', async () => {
    const dir = scratch('vend-cache');
    const clock = fixedClock(T0);
    const cache = { dir, key, refreshBeforeMs };
    const old = fakeCreds(new Date(T0.getTime() + 3600_000), 'OLD');
    await credentialProcessOutput({ provider: scriptedProvider(() => old), clock, logger: memoryLogger(), cache });
    clock.set(new Date(old.expiration.getTime() - 60_000));
    const next = fakeCreds(new Date(clock.now().getTime() + 3600_000), 'NEW');
    assert.equal(
      await credentialProcessOutput({ provider: scriptedProvider(() => next), clock, logger: memoryLogger(), cache }),
      formatCredentialProcess(next),
    );
    assert.deepEqual(await readCache({ ...cache, clock }), next);
  });

  it('expired cache (or credentials the provider returns expired): the failure, never empty or expired credentials', async () => {
    const dir = scratch('vend-cache');
    const clock = fixedClock(T0);
    const cache = { dir, key, refreshBeforeMs };
    const creds = fakeCreds(new Date(T0.getTime() + 3600_000));
    await credentialProcessOutput({ provider: scriptedProvider(() => creds), clock, logger: memoryLogger(), cache });
    for (const at of [creds.expiration.getTime(), creds.expiration.getTime() + 1000]) {
      clock.set(new Date(at));
      await assert.rejects(credentialProcessOutput({ provider: unreachable(), clock, logger: memoryLogger(), cache }), /ECONNREFUSED/);
      await assert.rejects(
        credentialProcessOutput({ provider: scriptedProvider(() => fakeCreds(new Date(at - 1))), clock, logger: memoryLogger(), cache }),
        (e: unknown) => e instanceof AgentError && e.code === 'VEND_EXPIRED_CREDENTIALS',
      );
      await assert.rejects(
        credentialProcessOutput({
          provider: scriptedProvider(() => ({ ...fakeCreds(new Date(at + 3600_000)), sessionToken: '' })),
          clock,
          logger: memoryLogger(),
          cache,
        }),
        (e: unknown) => e instanceof AgentError && e.code === 'VEND_EMPTY_CREDENTIALS',
      );
    }
    // no cache at all: the provider's failure as before
    await assert.rejects(credentialProcessOutput({ provider: unreachable(), clock, logger: memoryLogger() }), /ECONNREFUSED/);
  });
});

describe('AWS CLI v2 credential_process', () => {
  it('resolves credentials from a credential_process printing formatCredentialProcess output', async () => {
    const dir = scratch('vend-cli-process');
    const compiled = import.meta.url.endsWith('.js');
    const moduleUrl = new URL(`../../src/vend/process.${compiled ? 'js' : 'ts'}`, import.meta.url).href;
    const creds = fakeCreds(new Date(Date.now() + 3600_000), 'P');
    const script = path.join(dir, 'print-creds.mjs');
    await fsp.writeFile(
      script,
      `import { formatCredentialProcess } from ${JSON.stringify(moduleUrl)};\n` +
        `process.stdout.write(formatCredentialProcess({ accessKeyId: ${JSON.stringify(creds.accessKeyId)}, secretAccessKey: ${JSON.stringify(creds.secretAccessKey)}, sessionToken: ${JSON.stringify(creds.sessionToken)}, expiration: new Date(${creds.expiration.getTime()}) }));\n`,
      { mode: 0o600 },
    );
    const loader = compiled ? '' : ` --import ${pathToFileURL(path.join(repoRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href}`;
    const config = path.join(dir, 'config');
    await fsp.writeFile(config, `[profile vend]\ncredential_process = ${process.execPath}${loader} ${script}\nregion = eu-west-1\n`);
    const empty = path.join(dir, 'credentials');
    await fsp.writeFile(empty, '');
    const out = await awsCli(
      ['configure', 'export-credentials', '--profile', 'vend', '--format', 'process'],
      awsEnv(dir, { AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: empty }),
    );
    const got = JSON.parse(out) as Record<string, unknown>;
    assert.equal(got.AccessKeyId, creds.accessKeyId);
    assert.equal(got.SecretAccessKey, creds.secretAccessKey);
    assert.equal(got.SessionToken, creds.sessionToken);
    assert.equal(new Date(got.Expiration as string).getTime(), Math.floor(creds.expiration.getTime() / 1000) * 1000);
  });
});
