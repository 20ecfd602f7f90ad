import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { memoryLogger } from '../../src/core/logger.js';
import { judgeCredentialsFile, probeServe, readCredentialsFile } from '../../src/status/doctor-vend.js';
import { mergeCredentials } from '../../src/vend/credfile.js';
import { startImdsServer } from '../../src/vend/imds.js';
import { tempDir } from '../helpers/paths.js';
import { failingProvider, fakeCreds, scriptedProvider } from '../vend/fixtures.js';

const dir = tempDir('doctor-vend-');
after(() => fsp.rm(dir, { recursive: true, force: true }));
const o = { now: () => new Date(), timeoutMs: 2000 };

describe('probeServe against the real IMDS server', () => {
  it('OK over TCP and the unix socket: token, role, credentials (no secret in the evidence)', async () => {
    const creds = fakeCreds(new Date(Date.now() + 3600_000));
    const roles = new Map([['iamra-agent-sandbox', scriptedProvider(() => creds)]]);
    const tcp = await startImdsServer({ roles, listen: { host: '127.0.0.1', port: 0 }, clock: systemClock, logger: memoryLogger() });
    const sock = path.join(dir, 'imds.sock');
    const unix = await startImdsServer({ roles, listen: { socket: sock, mode: 0o660 }, clock: systemClock, logger: memoryLogger() });
    try {
      const port = Number(new URL(tcp.url!).port);
      const r = await probeServe({ host: '127.0.0.1', port }, o);
      assert.equal(r.status, 'OK', r.evidence);
      assert.match(r.evidence, new RegExp(`^serve answers at 127\\.0\\.0\\.1:${port}: IMDSv2 token, role iamra-agent-sandbox, credentials until `));
      assert.doesNotMatch(r.evidence, new RegExp(creds.accessKeyId));
      const u = await probeServe({ socket: sock }, o);
      assert.equal(u.status, 'OK', u.evidence);
      assert.match(u.evidence, /unix socket .*imds\.sock/);
    } finally {
      await tcp.close();
      await unix.close();
    }
  });

  it('serve not running: a closed port and a missing socket FAIL with the systemctl fix', async () => {
    const free = net.createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
    const port = (free.address() as net.AddressInfo).port;
    await new Promise<void>((r) => free.close(() => r()));
    const tcp = await probeServe({ host: '127.0.0.1', port }, o);
    assert.deepEqual([tcp.status, tcp.evidence], ['FAIL', `serve not running: nothing listens on 127.0.0.1:${port} (ECONNREFUSED)`]);
    assert.match(tcp.fix, /^systemctl start iamra-agent-serve\.service/);
    const unix = await probeServe({ socket: path.join(dir, 'absent.sock') }, o);
    assert.equal(unix.status, 'FAIL');
    assert.match(unix.evidence, /^serve not running: nothing listens on unix socket .*absent\.sock \(ENOENT\)$/);
  });

  it('serve running without credentials (503) FAILs naming the answer', async () => {
    const roles = new Map([['r', failingProvider('CreateSession failed: 403 AccessDeniedException')]]);
    const s = await startImdsServer({ roles, listen: { host: '127.0.0.1', port: 0 }, clock: systemClock, logger: memoryLogger() });
    try {
      const r = await probeServe({ host: '127.0.0.1', port: Number(new URL(s.url!).port) }, o);
      assert.equal(r.status, 'FAIL');
      assert.match(r.evidence, /the credentials GET for r answered HTTP 503: .*AccessDeniedException/);
      assert.match(r.fix, /create-session/);
    } finally {
      await s.close();
    }
  });
});

describe('judgeCredentialsFile', () => {
  const now = new Date('2026-12-01T12:00:00Z');
  const file = '/home/app/.aws/credentials';
  const text = (expiresInMs: number) => mergeCredentials('[other]\nregion = x\n', 'default', fakeCreds(new Date(now.getTime() + expiresInMs)));
  const judge = (t: string | undefined, mode = 0o100600, profile = 'default') => judgeCredentialsFile({ file, profile, text: t, mode }, now, 300_000);

  it('fresh and 0600: OK with the expiry', () => {
    assert.deepEqual(judge(text(3000_000)), { status: 'OK', evidence: `${file} [default] is 0600 and valid until 2026-12-01T12:50:00.000Z`, fix: '' });
  });
  it('missing, wider than 0600, no profile, expired: FAIL; not refreshed in time: WARN', () => {
    assert.deepEqual([judge(undefined).status, judge(undefined).evidence], ['FAIL', `${file} does not exist: update is not running`]);
    assert.match(judge(undefined).fix, /iamra-agent update --once/);
    const wide = judge(text(3000_000), 0o100644);
    assert.deepEqual([wide.status, wide.evidence, wide.fix], ['FAIL', `${file} has mode 0644: readable by others`, `chmod 600 ${file}`]);
    assert.equal(judge(text(3000_000), 0o100600, 'ci').evidence, `${file} has no credentials in profile [ci]`);
    assert.match(judge('[default]\naws_access_key_id = AKIA\n').evidence, /no x_security_token_expires/);
    assert.deepEqual(
      [judge(text(-1000)).status, judge(text(-1000)).evidence],
      ['FAIL', `${file} [default] expired at 2026-12-01T11:59:59.000Z: update is not running`],
    );
    assert.equal(judge(text(100_000)).status, 'WARN');
    assert.equal(judge(text(200_000)).status, 'OK');
  });

  it('readCredentialsFile: text and mode of the file, undefined text when absent, a link refused', async () => {
    const f = path.join(dir, 'credentials');
    await fsp.writeFile(f, '[default]\n', { mode: 0o600 });
    const facts = await readCredentialsFile(f, 'default');
    assert.deepEqual([facts.text, facts.mode & 0o777], ['[default]\n', 0o600]);
    assert.equal((await readCredentialsFile(path.join(dir, 'none'), 'default')).text, undefined);
    await fsp.symlink(f, path.join(dir, 'link'));
    await assert.rejects(readCredentialsFile(path.join(dir, 'link'), 'default'), { code: 'ELOOP' });
  });
});
