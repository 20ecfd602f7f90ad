import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { atomicWriteFileSync, ensurePrivateDir, mkdirp, readFileOrUndefinedSync } from '../../src/core/fs.js';
import { AgentError } from '../../src/core/errors.js';
import { tempDir } from '../helpers/paths.js';

const dir = tempDir('mkdirp');
after(() => rmSync(dir, { recursive: true, force: true }));

describe('mkdirp', () => {
  it('creates missing levels with the mode, and accepts an existing directory', async () => {
    const deep = path.join(dir, 'a', 'b', 'c');
    await mkdirp(deep, 0o700);
    await mkdirp(deep, 0o700);
    assert.ok(statSync(deep).isDirectory());
    assert.equal(statSync(path.join(dir, 'a')).mode & 0o777, 0o700);
  });

  it('fails (does not hang) where a level cannot be created: under /proc, under a file, on a file', async () => {
    // node's fs.mkdir(..., { recursive: true }) never settles for the /proc case
    await assert.rejects(mkdirp('/proc/iamra-agent-mkdirp/x/y', 0o700), { code: 'ENOENT' });
    const file = path.join(dir, 'file');
    writeFileSync(file, '');
    await assert.rejects(mkdirp(path.join(file, 'x'), 0o700), { code: 'ENOTDIR' });
    await assert.rejects(mkdirp(file, 0o700), { code: 'EEXIST' });
    await assert.rejects(
      ensurePrivateDir('/proc/iamra-agent-mkdirp/state'),
      (e) => e instanceof AgentError && /\/proc\/iamra-agent-mkdirp\/state/.test(e.message),
    );
  });
});

describe('atomicWriteFileSync, readFileOrUndefinedSync', () => {
  it('replaces the file with the new bytes, private, leaving no temporary file; a failure names the file', () => {
    const d = path.join(dir, 'atomic-sync');
    mkdirSync(d, { recursive: true, mode: 0o700 });
    const file = path.join(d, 'state.json');
    writeFileSync(file, 'old', { mode: 0o644 });
    atomicWriteFileSync(file, '{"a":1}\n');
    assert.equal(readFileSync(file, 'utf8'), '{"a":1}\n');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    atomicWriteFileSync(file, new Uint8Array([0x7b, 0x7d]), 0o640);
    assert.equal(readFileSync(file, 'utf8'), '{}');
    assert.equal(statSync(file).mode & 0o777, 0o640);
    assert.deepEqual(readdirSync(d), ['state.json']);
    assert.equal(readFileOrUndefinedSync(file), '{}');
    assert.equal(readFileOrUndefinedSync(path.join(d, 'absent.json')), undefined, 'a missing file is undefined');
    assert.throws(
      () => readFileOrUndefinedSync(d),
      (e) => e instanceof AgentError && e.message.includes(d),
      'any other failure names the file',
    );
    assert.throws(
      () => atomicWriteFileSync(path.join(d, 'missing', 'x.json'), 'x'),
      (e) => e instanceof AgentError && e.message.includes(path.join(d, 'missing', 'x.json')),
    );
  });
});

describe('atomicWriteFile: durable and cache writes', () => {
  /** the fsync/fdatasync and rename calls of one atomic write in a child process, in order, by strace */
  function callsOf(fn: 'atomicWriteFile' | 'atomicWriteFileSync', options: string): string[] {
    const name = `${fn}-${options.replace(/\W+/g, '-')}`;
    const file = path.join(dir, `${name}.json`);
    writeFileSync(file, 'old');
    const trace = path.join(dir, `${name}.strace`);
    const fsModule = new URL('../../src/core/fs.js', import.meta.url).href;
    const script = `const m = await import(${JSON.stringify(fsModule)}); await m.${fn}(${JSON.stringify(file)}, '{"new":1}', 0o600, ${options});`;
    const r = spawnSync('strace', [
      '-f',
      '-qq',
      '-e',
      'signal=none',
      '-e',
      'trace=fsync,fdatasync,rename,renameat,renameat2',
      '-o',
      trace,
      process.execPath,
      '--input-type=module',
      '-e',
      script,
    ]);
    assert.equal(r.status, 0, r.stderr.toString());
    assert.equal(readFileSync(file, 'utf8'), '{"new":1}');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.endsWith('.tmp')),
      [],
    );
    return readFileSync(trace, 'utf8')
      .split('\n')
      .map((l) => /\b(fsync|fdatasync|rename\w*)\(/.exec(l)?.[1]?.replace(/^rename\w*/, 'rename'))
      .filter((c) => c !== undefined);
  }
  const fsyncs = (calls: string[]) => calls.filter((c) => c !== 'rename').length;

  it('a durable write fsyncs the file and the directory; a cache write (durable: false) only replaces atomically', () => {
    assert.deepEqual(callsOf('atomicWriteFile', '{ durable: true }'), ['fsync', 'rename', 'fsync']);
    assert.equal(fsyncs(callsOf('atomicWriteFile', '{ durable: false }')), 0);
    assert.deepEqual(callsOf('atomicWriteFileSync', '{}'), ['fsync', 'rename', 'fsync']);
    assert.equal(fsyncs(callsOf('atomicWriteFileSync', '{ durable: false }')), 0);
  });
});
