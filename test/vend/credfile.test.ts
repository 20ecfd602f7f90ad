import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { fixedClock, systemClock } from '../../src/core/clock.js';
import { AgentError } from '../../src/core/errors.js';
import { memoryLogger } from '../../src/core/logger.js';
import type { AwsCredentials } from '../../src/core/provider.js';
import { mergeCredentials, runUpdater, updateCredentialsFile } from '../../src/vend/credfile.js';
import { tempDir } from '../helpers/paths.js';
import { awsCli, awsEnv, fakeCreds, scriptedProvider, withEnv } from './fixtures.js';

const T0 = new Date('2026-03-01T10:00:00.000Z');
const dirs: string[] = [];
const scratch = (p: string) => {
  const d = tempDir(p);
  dirs.push(d);
  return d;
};
after(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

const C: AwsCredentials = { accessKeyId: 'ASIANEW', secretAccessKey: 'newsecret', sessionToken: 'newtoken', expiration: new Date('2026-03-01T11:00:00.500Z') };
const OURS = [
  'aws_access_key_id = ASIANEW',
  'aws_secret_access_key = newsecret',
  'aws_session_token = newtoken',
  'x_security_token_expires = 2026-03-01T11:00:00Z',
];

describe('mergeCredentials', () => {
  it('creates the section in an empty file', () => {
    assert.equal(mergeCredentials('', 'default', C), ['[default]', ...OURS, ''].join('\n'));
  });

  it('replaces keys in place, appends missing ones after the last key, keeps everything else byte for byte', () => {
    const before = [
      '# managed by hand',
      '[default]',
      'aws_access_key_id = AKIASTATIC',
      'aws_secret_access_key=static',
      '',
      '[vend] ; ours',
      'region = eu-west-1',
      'AWS_ACCESS_KEY_ID = ASIAOLD',
      '; keep this comment',
      'aws_session_token = oldtoken',
      '  continuation of the old token',
      'aws_session_token = duplicate',
      'custom = value',
      '  nested = kept',
      '',
      '# about the next profile',
      '[other]',
      'aws_access_key_id = AKIAOTHER',
      '',
    ].join('\n');
    const after = mergeCredentials(before, 'vend', C);
    assert.equal(
      after,
      [
        '# managed by hand',
        '[default]',
        'aws_access_key_id = AKIASTATIC',
        'aws_secret_access_key=static',
        '',
        '[vend] ; ours',
        'region = eu-west-1',
        'aws_access_key_id = ASIANEW',
        '; keep this comment',
        'aws_session_token = newtoken',
        'custom = value',
        '  nested = kept',
        'aws_secret_access_key = newsecret',
        'x_security_token_expires = 2026-03-01T11:00:00Z',
        '',
        '# about the next profile',
        '[other]',
        'aws_access_key_id = AKIAOTHER',
        '',
      ].join('\n'),
    );
    assert.equal(mergeCredentials(after, 'vend', C), after, 'idempotent');
  });

  it('appends a missing section after a blank line; handles a last section without newline; keeps CRLF', () => {
    assert.equal(mergeCredentials('[a]\nk = v', 'b', C), ['[a]', 'k = v', '', '[b]', ...OURS, ''].join('\n'));
    assert.equal(mergeCredentials('[a]\nk = v\n[b]\naws_access_key_id = old', 'b', C), ['[a]', 'k = v', '[b]', ...OURS, ''].join('\n'));
    assert.equal(mergeCredentials('[a]\r\nk = v\r\n', 'a', C), ['[a]', 'k = v', ...OURS, ''].join('\r\n'));
  });
});

describe('updateCredentialsFile', () => {
  it('creates the parent directory 0700 and the file 0600, leaves no lock behind', async () => {
    const root = scratch('vend-credfile');
    const file = path.join(root, 'home', '.aws', 'credentials');
    await updateCredentialsFile(file, 'default', C, { clock: fixedClock(T0) });
    assert.equal((await fsp.stat(path.dirname(file))).mode & 0o777, 0o700);
    assert.equal((await fsp.stat(file)).mode & 0o777, 0o600);
    assert.equal(await fsp.readFile(file, 'utf8'), ['[default]', ...OURS, ''].join('\n'));
    assert.deepEqual(await fsp.readdir(path.dirname(file)), ['credentials']);
  });

  // issue 12 item 11: writing through a link replaced its target (a 0644 file of nobody became root's 0600 file)
  it('refuses a symlinked credentials file, naming it and its target; the target stays as it was', async () => {
    const root = scratch('vend-credfile');
    const file = path.join(root, 'credentials');
    await updateCredentialsFile(file, 'default', C, { clock: fixedClock(T0) });
    const before = await fsp.readFile(file, 'utf8');
    const link = path.join(root, 'link');
    await fsp.symlink(file, link);
    await assert.rejects(
      updateCredentialsFile(link, 'second', C, { clock: fixedClock(T0) }),
      (e: unknown) =>
        e instanceof AgentError &&
        e.code === 'VEND_CREDENTIALS_FILE_SYMLINK' &&
        e.message.includes(link) &&
        e.message.includes(file) &&
        /--file/.test(e.hint ?? ''),
    );
    assert.ok((await fsp.lstat(link)).isSymbolicLink(), 'the link stays a link');
    assert.equal(await fsp.readFile(file, 'utf8'), before, 'the target is untouched');
    assert.deepEqual((await fsp.readdir(root)).sort(), ['credentials', 'link'], 'no lock or temp file left');
  });

  it('refuses a credentials file owned by another user (the target of the audit: nobody, 0644), leaving it as it was', async () => {
    const file = path.join(scratch('vend-credfile'), 'credentials');
    await fsp.writeFile(file, '[default]\naws_access_key_id = THEIRS\n', { mode: 0o644 });
    await fsp.chown(file, 65534, 65534);
    await assert.rejects(
      updateCredentialsFile(file, 'default', C, { clock: fixedClock(T0) }),
      (e: unknown) => e instanceof AgentError && e.code === 'VEND_CREDENTIALS_FILE_OWNER' && e.message.includes(file) && e.message.includes('uid 65534'),
    );
    const st = await fsp.stat(file);
    assert.equal(st.uid, 65534);
    assert.equal(st.mode & 0o777, 0o644);
    assert.equal(await fsp.readFile(file, 'utf8'), '[default]\naws_access_key_id = THEIRS\n');
  });

  it('an immutable credentials file: the error names the file and the immutable flag, not state.dir', async () => {
    const file = path.join(scratch('vend-credfile'), 'credentials');
    await fsp.writeFile(file, '[default]\n', { mode: 0o600 });
    execFileSync('chattr', ['+i', file]);
    try {
      await assert.rejects(updateCredentialsFile(file, 'default', C, { clock: fixedClock(T0) }), (e: unknown) => {
        assert.ok(e instanceof AgentError);
        assert.equal(e.code, 'VEND_CREDENTIALS_FILE_WRITE');
        assert.match(e.message, new RegExp(`credentials file ${file}: EPERM`));
        assert.match(e.hint ?? '', /chattr -i/);
        assert.doesNotMatch(`${e.message} ${e.hint}`, /state\.dir/);
        return true;
      });
    } finally {
      execFileSync('chattr', ['-i', file]);
    }
    assert.equal(await fsp.readFile(file, 'utf8'), '[default]\n');
    assert.deepEqual(await fsp.readdir(path.dirname(file)), ['credentials'], 'no lock or temp file left');
  });

  it('refuses expired credentials and values that could forge INI lines, leaving the file untouched', async () => {
    const file = path.join(scratch('vend-credfile'), 'credentials');
    await fsp.writeFile(file, '[default]\naws_access_key_id = KEEP\n', { mode: 0o600 });
    const clock = fixedClock(T0);
    await assert.rejects(
      updateCredentialsFile(file, 'default', { ...C, expiration: new Date(T0.getTime() - 1) }, { clock }),
      (e: unknown) => e instanceof AgentError && e.code === 'VEND_EXPIRED_CREDENTIALS',
    );
    await assert.rejects(
      updateCredentialsFile(file, 'default', { ...C, sessionToken: 'x\n[evil]' }, { clock }),
      (e: unknown) => e instanceof AgentError && e.code === 'VEND_BAD_INI_VALUE',
    );
    await assert.rejects(updateCredentialsFile(file, 'a]\n[b', C, { clock }), (e: unknown) => e instanceof AgentError && e.code === 'VEND_BAD_INI_VALUE');
    assert.equal(await fsp.readFile(file, 'utf8'), '[default]\naws_access_key_id = KEEP\n');
  });
});

describe('runUpdater', () => {
  it('writes, sleeps until expiration − refreshBefore, writes again; stops on abort', async () => {
    const file = path.join(scratch('vend-updater'), 'credentials');
    const clock = fixedClock(T0);
    const ac = new AbortController();
    const at: string[] = [];
    const provider = scriptedProvider(() => {
      at.push(clock.now().toISOString());
      if (provider.calls === 3) ac.abort();
      return fakeCreds(new Date(clock.now().getTime() + 3600_000), `N${provider.calls}`);
    });
    await runUpdater({ provider, file, profile: 'vend', clock, logger: memoryLogger(), signal: ac.signal });
    assert.deepEqual(at, ['2026-03-01T10:00:00.000Z', '2026-03-01T10:55:00.000Z', '2026-03-01T11:50:00.000Z']);
    assert.match(await fsp.readFile(file, 'utf8'), /aws_access_key_id = ASIAN3/);
  });

  it('keeps the previous file while the provider fails, retries with backoff, then recovers', async () => {
    const file = path.join(scratch('vend-updater'), 'credentials');
    const clock = fixedClock(T0);
    const logger = memoryLogger();
    const ac = new AbortController();
    const seenDuringFailure: string[] = [];
    const provider = scriptedProvider(async () => {
      const n = provider.calls;
      if (n === 2 || n === 3) {
        seenDuringFailure.push(await fsp.readFile(file, 'utf8'));
        throw new AgentError({ code: 'IAMRA_THROTTLED', component: 'signer', message: 'CreateSession 429' });
      }
      if (n === 4) ac.abort();
      return fakeCreds(new Date(clock.now().getTime() + 3600_000), `R${n}`);
    });
    await runUpdater({ provider, file, profile: 'vend', clock, logger, signal: ac.signal, retryBaseMs: 1000, retryMaxMs: 8000 });
    assert.equal(provider.calls, 4);
    assert.equal(seenDuringFailure.length, 2);
    for (const text of seenDuringFailure) assert.match(text, /aws_access_key_id = ASIAR1/);
    assert.match(await fsp.readFile(file, 'utf8'), /aws_access_key_id = ASIAR4/);
    const retries = logger.entries.filter((e) => e.msg === 'credentials file not updated; keeping the previous one');
    assert.equal(retries.length, 2);
    assert.ok(retries.every((e) => (e.fields.retryInMs as number) <= 8000));
  });

  it('once: one write and return; a failure rejects and writes nothing', async () => {
    const dir = scratch('vend-updater');
    const file = path.join(dir, 'credentials');
    const clock = fixedClock(T0);
    const provider = scriptedProvider(() => fakeCreds(new Date(T0.getTime() + 3600_000), 'ONCE'));
    await runUpdater({ provider, file, profile: 'default', clock, logger: memoryLogger(), once: true });
    assert.equal(provider.calls, 1);
    assert.match(await fsp.readFile(file, 'utf8'), /ASIAONCE/);
    const broken = scriptedProvider(() => {
      throw new Error('no identity');
    });
    const other = path.join(dir, 'other');
    await assert.rejects(runUpdater({ provider: broken, file: other, profile: 'default', clock, logger: memoryLogger(), once: true }), /no identity/);
    await assert.rejects(fsp.stat(other), /ENOENT/);
  });
});

describe('real clients read the written file', () => {
  it('AWS CLI v2 and the AWS SDK for JS v3 resolve the profile (with other profiles and comments around it)', async () => {
    const dir = scratch('vend-credfile-clients');
    const file = path.join(dir, 'aws', 'credentials');
    const config = path.join(dir, 'aws', 'config');
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await fsp.writeFile(
      file,
      '# hand-written\n[default]\naws_access_key_id = AKIAOTHERPROFILE0000\naws_secret_access_key = other\n\n[vend]\nregion = eu-west-1\n',
    );
    await fsp.writeFile(config, '');
    const creds = fakeCreds(new Date(systemClock.now().getTime() + 3600_000), 'FILE');
    await runUpdater({ provider: scriptedProvider(() => creds), file, profile: 'vend', clock: systemClock, logger: memoryLogger(), once: true });

    const env = { AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: file };
    const cli = JSON.parse(await awsCli(['configure', 'export-credentials', '--profile', 'vend', '--format', 'process'], awsEnv(dir, env))) as Record<
      string,
      string
    >;
    assert.equal(cli.AccessKeyId, creds.accessKeyId);
    assert.equal(cli.SecretAccessKey, creds.secretAccessKey);
    assert.equal(cli.SessionToken, creds.sessionToken);

    const sdk = await withEnv({ ...env, HOME: dir, AWS_PROFILE: 'vend' }, () => defaultProvider({ ignoreCache: true })());
    assert.equal(sdk.accessKeyId, creds.accessKeyId);
    assert.equal(sdk.secretAccessKey, creds.secretAccessKey);
    assert.equal(sdk.sessionToken, creds.sessionToken);
    const def = JSON.parse(await awsCli(['configure', 'export-credentials', '--format', 'process'], awsEnv(dir, env))) as Record<string, string>;
    assert.equal(def.AccessKeyId, 'AKIAOTHERPROFILE0000', 'the other profile survived');
  });
});
