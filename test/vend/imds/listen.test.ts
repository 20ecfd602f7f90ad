import assert from 'node:assert/strict';
import { lstatSync, promises as fsp, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fixedClock } from '../../../src/core/clock.js';
import { memoryLogger } from '../../../src/core/logger.js';
import { startImdsServer } from '../../../src/vend/imds.js';
import { closeServer, listenUnix } from '../../../src/vend/imds/listen.js';
import { tempDir } from '../../helpers/paths.js';
import { fakeCreds, scriptedProvider } from '../fixtures.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});
const scratch = () => {
  const d = tempDir('vend-listen');
  dirs.push(d);
  return d;
};

/** Runs fn under umask 000 (the audit's setting), restoring the previous umask whatever happens. */
async function underUmask0<T>(fn: () => Promise<T>): Promise<T> {
  const saved = process.umask(0);
  try {
    return await fn();
  } finally {
    process.umask(saved);
  }
}

describe('unix socket mode (issue 12 item 12)', () => {
  it('under umask 000 the socket is never reachable wider than its mode: bound in a private 0700 directory, renamed into place with 0660', async () => {
    const dir = scratch();
    const socket = path.join(dir, 'imds.sock');
    const server = http.createServer((_req, res) => res.end('ok'));
    // 'listening' fires right after bind(2)+listen(2), before listenUnix continues: what a racing client would find
    let seen: { bound: string; boundMode: number; dirMode: number; dirUid: number; finalExists: boolean } | undefined;
    server.once('listening', () => {
      const bound = server.address() as string;
      const d = statSync(path.dirname(bound));
      let finalExists = true;
      try {
        lstatSync(socket);
      } catch {
        finalExists = false;
      }
      seen = { bound, boundMode: lstatSync(bound).mode & 0o777, dirMode: d.mode & 0o777, dirUid: d.uid, finalExists };
    });
    await underUmask0(() => listenUnix(server, { socket, mode: 0o660 }));
    try {
      assert.ok(seen, 'listening observed');
      assert.equal(seen.finalExists, false, 'nothing at the final path before the mode is set');
      assert.notEqual(seen.bound, socket);
      assert.equal(path.dirname(path.dirname(seen.bound)), dir, 'bound next to the final path (same file system, for the rename)');
      assert.equal(seen.boundMode, 0o777, 'the umask really was 000 at bind time (so this test would catch a regression)');
      assert.equal(seen.dirMode, 0o700, 'but only through a private directory');
      assert.equal(seen.dirUid, process.geteuid?.());
      const st = lstatSync(socket);
      assert.ok(st.isSocket());
      assert.equal(st.mode & 0o777, 0o660);
      assert.deepEqual(await fsp.readdir(dir), ['imds.sock'], 'the private directory is gone');
      const body = await new Promise<string>((resolve, reject) => {
        http
          .get({ socketPath: socket, path: '/', agent: false }, (res) => {
            let b = '';
            res.on('data', (d: Buffer) => (b += d.toString()));
            res.on('end', () => resolve(b));
          })
          .on('error', reject);
      });
      assert.equal(body, 'ok', 'the renamed socket accepts connections');
    } finally {
      await closeServer(server);
    }
  });

  it('startImdsServer under umask 000: the socket has its final mode (and group) the moment its path exists', async () => {
    const dir = scratch();
    const socket = path.join(dir, 'imds.sock');
    const roles = new Map([['app', scriptedProvider(() => fakeCreds(new Date(Date.now() + 3600_000)))]]);
    for (const mode of [0o660, 0o600]) {
      const s = await underUmask0(() =>
        startImdsServer({ roles, listen: { socket, mode, group: 'daemon' }, clock: fixedClock(new Date()), logger: memoryLogger() }),
      );
      try {
        assert.equal(lstatSync(socket).mode & 0o777, mode);
        assert.deepEqual(await fsp.readdir(dir), ['imds.sock']);
      } finally {
        await s.close();
      }
    }
  });

  it('a failure after bind leaves neither the socket nor the private directory behind', async () => {
    const dir = scratch();
    const server = http.createServer();
    // a gid the agent cannot hand the socket to is impossible as root, so an unknown group fails before bind;
    // a socket path whose directory is missing fails at the private directory
    await assert.rejects(listenUnix(server, { socket: path.join(dir, 'missing', 'imds.sock') }), /VEND_LISTEN|cannot listen on .*missing.*ENOENT/);
    assert.equal(server.listening, false);
    assert.deepEqual(await fsp.readdir(dir), []);
  });
});
