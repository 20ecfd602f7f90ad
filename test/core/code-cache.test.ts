import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, tempDir } from '../helpers/paths.js';

const dir = tempDir('code-cache');
after(() => rmSync(dir, { recursive: true, force: true }));

const codeCache = path.join(repoRoot, 'dist', 'src', 'core', 'code-cache.js');

/**
 * A CommonJS file with a large function `big` that only runs when asked (what it compiled shows in the cache), and
 * `here`, which requires a file beside it.
 */
function bundle(file: string, answer: number): void {
  const body = Array.from({ length: 300 }, (_, i) => `  s += String(${i} * n).length;`).join('\n');
  writeFileSync(
    file,
    `'use strict';\nconst { join } = require('node:path');\nfunction big(n) {\n  let s = 0;\n${body}\n  return s;\n}\nmodule.exports = { answer: () => ${answer}, big, here: () => join(__dirname, require('./sibling.js')) };\n`,
  );
  writeFileSync(path.join(path.dirname(file), 'sibling.js'), "module.exports = 'x';\n");
}

/** One process, as credential-process is: load `file` through the cache, optionally run `big`, save. */
function load(file: string, cacheDir: string | undefined, o: { runBig?: boolean; nodeArgs?: string[] } = {}): { status: string; answer: number; here: string } {
  const script = `
    const { requireWithCodeCache } = await import(${JSON.stringify(codeCache)});
    const { createRequire } = await import('node:module');
    const m = requireWithCodeCache(${JSON.stringify(file)}, { cacheDir: ${cacheDir === undefined ? 'undefined' : JSON.stringify(cacheDir)}, require: createRequire(import.meta.url) });
    if (${o.runBig ? 'true' : 'false'}) m.exports.big(7);
    m.save();
    process.stdout.write(JSON.stringify({ status: m.status, answer: m.exports.answer(), here: m.exports.here() }));
  `;
  const r = spawnSync(process.execPath, [...(o.nodeArgs ?? []), '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { status: string; answer: number; here: string };
}

const cacheFiles = (d: string) => readdirSync(d).filter((n) => n.endsWith('.v8'));

describe('requireWithCodeCache', () => {
  it('compiles without a cache, writes one (0600 in a new 0700 directory) after the code ran, and the next process uses it', () => {
    const d = path.join(dir, 'basic');
    mkdirSync(d);
    const file = path.join(d, 'warm.js');
    bundle(file, 42);
    const cache = path.join(d, 'cache');
    const first = load(file, cache, { runBig: true });
    assert.deepEqual(
      first,
      { status: 'absent', answer: 42, here: path.join(d, 'x') },
      'require semantics: exports, require (a built-in, a file beside it), __dirname',
    );
    assert.equal(statSync(cache).mode & 0o777, 0o700);
    const [name] = cacheFiles(cache);
    assert.match(name!, new RegExp(`^warm-[0-9a-f]{16}-[0-9a-f]{32}-${process.version.replace(/\./g, '\\.')}\\.v8$`));
    assert.equal(statSync(path.join(cache, name!)).mode & 0o777, 0o600);
    const written = statSync(path.join(cache, name!));

    assert.equal(load(file, cache).status, 'used');
    const again = statSync(path.join(cache, name!));
    assert.equal(again.ino, written.ino, 'a used cache is not rewritten');
    assert.equal(again.mtimeMs, written.mtimeMs);
  });

  it('holds the functions that ran before save(), not only the top level', () => {
    const d = path.join(dir, 'after-run');
    mkdirSync(d);
    const file = path.join(d, 'warm.js');
    bundle(file, 1);
    const size = (runBig: boolean) => {
      const cache = path.join(d, runBig ? 'ran' : 'idle');
      load(file, cache, { runBig });
      return statSync(path.join(cache, cacheFiles(cache)[0]!)).size;
    };
    const idle = size(false);
    const ran = size(true);
    assert.ok(ran > idle + 2000, `the cache after big() ran (${ran} B) holds its code; without running it, ${idle} B`);
  });

  it('a damaged, cut-off or other-readable cache is not used, and is replaced', () => {
    const d = path.join(dir, 'damaged');
    mkdirSync(d);
    const file = path.join(d, 'warm.js');
    bundle(file, 7);
    const cache = path.join(d, 'cache');
    load(file, cache, { runBig: true });
    const cf = path.join(cache, cacheFiles(cache)[0]!);
    const good = readFileSync(cf);
    const cases: [string, () => void][] = [
      [
        'a flipped byte',
        () => {
          const bad = Buffer.from(good);
          bad[bad.length - 10]! ^= 0xff;
          writeFileSync(cf, bad, { mode: 0o600 });
        },
      ],
      ['cut off', () => writeFileSync(cf, good.subarray(0, good.length - 100), { mode: 0o600 })],
      ['empty', () => writeFileSync(cf, '', { mode: 0o600 })],
      [
        'mode 0644',
        () => {
          writeFileSync(cf, good);
          chmodSync(cf, 0o644);
        },
      ],
    ];
    for (const [name, damage] of cases) {
      rmSync(cf, { force: true });
      damage();
      assert.deepEqual(load(file, cache), { status: 'damaged', answer: 7, here: path.join(d, 'x') }, name);
      assert.equal(statSync(cf).mode & 0o777, 0o600, `${name}: rewritten private`);
      assert.equal(load(file, cache).status, 'used', `${name}: the rewritten cache is used`);
    }
  });

  it('another build of the bundle gets a cache of its own, and the old one is removed when it is written; another installation keeps its own', () => {
    const d = path.join(dir, 'rebuilt');
    mkdirSync(d);
    const file = path.join(d, 'warm.js');
    const cache = path.join(d, 'cache');
    bundle(file, 1);
    load(file, cache);
    const [before] = cacheFiles(cache);
    // the same length, other bytes: V8's own check (source length) would take the old cache for this source
    bundle(file, 2);
    const r = load(file, cache);
    assert.equal(r.status, 'absent');
    assert.equal(r.answer, 2);
    const now = cacheFiles(cache);
    assert.equal(now.length, 1);
    assert.notEqual(now[0], before);

    // the same bundle installed elsewhere, used in turn with this one: both caches stay and both are used
    const other = path.join(d, 'other');
    mkdirSync(other);
    bundle(path.join(other, 'warm.js'), 2);
    assert.equal(load(path.join(other, 'warm.js'), cache).status, 'absent');
    assert.equal(cacheFiles(cache).length, 2);
    assert.equal(load(file, cache).status, 'used');
    assert.equal(load(path.join(other, 'warm.js'), cache).status, 'used');
  });

  it('data V8 made under other flags is rejected and rewritten; no directory means no cache; a shared directory is not written', () => {
    const d = path.join(dir, 'rejected');
    mkdirSync(d);
    const file = path.join(d, 'warm.js');
    bundle(file, 3);
    const cache = path.join(d, 'cache');
    load(file, cache, { nodeArgs: ['--no-opt'] });
    assert.equal(load(file, cache).status, 'rejected');
    assert.equal(load(file, cache).status, 'used');

    assert.equal(load(file, undefined).status, 'off');

    const shared = path.join(d, 'shared');
    mkdirSync(shared, { mode: 0o755 });
    chmodSync(shared, 0o755);
    assert.equal(load(file, shared).status, 'absent');
    assert.deepEqual(cacheFiles(shared), [], 'nothing written into a directory others can read');
  });
});
