import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { CONFIG_MAX_BYTES, PROBLEMS_SHOWN, YAML_MAX_ALIASES } from '../../src/config/limits.js';
import { formatError, isAgentError } from '../../src/core/errors.js';
import { tempDir } from '../helpers/paths.js';

/**
 * Issue 12 item 1 (and the config half of item 2): a hostile agent.yaml is refused fast, with a message that names
 * the file, says what is wrong and what to do. The time bounds are generous (2 s) on purpose: the cases took
 * minutes before; the point is the class (no quadratic parse, no alias expansion), not a benchmark.
 */

const dir = tempDir('cfg-limits');
function write(name: string, text: string | Buffer): string {
  const f = path.join(dir, name);
  writeFileSync(f, text);
  return f;
}

async function refused(file: string, ...patterns: RegExp[]): Promise<{ ms: number; line: string }> {
  const t = performance.now();
  const e = await loadConfig({ file }).then(
    () => assert.fail(`${file} was accepted`),
    (x: unknown) => x,
  );
  const ms = performance.now() - t;
  assert.ok(isAgentError(e), String(e));
  const line = formatError(e);
  assert.ok(line.includes(file), `the message names the file: ${line}`);
  for (const p of patterns) assert.match(line, p);
  assert.doesNotMatch(line, /Excessive alias count|resource exhaustion|Unexpected token|in JSON at position/);
  return { ms, line };
}

test('a config over the size limit is refused before it is parsed, in well under a second', async () => {
  // 21 MB of unknown keys took 393 s before (issue 12 item 1)
  const keys = Array.from({ length: 2_000_000 / 12 }, (_, i) => `k${i}: 1`).join('\n');
  const f = write('huge.yaml', `identity:\n  name: a.example.com\n${keys}\n`);
  const { ms, line } = await refused(f, new RegExp(`more than the ${CONFIG_MAX_BYTES}-byte limit`), /points at agent\.yaml/);
  assert.ok(ms < 2000, `${ms} ms`);
  assert.ok(line.length < 400, 'one short line');
});

test('just under the limit, as many unknown keys as fit: fast, and the message stays short ("and N more")', async () => {
  const lines: string[] = ['identity:', '  name: a.example.com'];
  let size = 40;
  for (let i = 0; size < CONFIG_MAX_BYTES - 64; i++) {
    const l = `k${i}: 1`;
    lines.push(l);
    size += l.length + 1;
  }
  const f = write('many-keys.yaml', `${lines.join('\n')}\n`);
  const { ms, line } = await refused(f, /unknown field\(s\) k0, k1, .* and \d+ more/);
  assert.ok(ms < 2000, `${ms} ms for ${lines.length} keys`);
  assert.ok(line.length < 1000, `${line.length} characters`);
});

test('many problems: the first PROBLEMS_SHOWN, then "and N more"', async () => {
  const extra = Array.from({ length: 60 }, (_, i) => `    - Bad_Name_${i}`).join('\n');
  const f = write('problems.yaml', `identity:\n  name: a.example.com\n  extraNames:\n${extra}\n`);
  const { line } = await refused(f, /has 60 problem\(s\)/, /… and 40 more problem\(s\)/);
  assert.equal(line.split('\n').length, 1 + PROBLEMS_SHOWN + 1);
});

test('a YAML alias bomb is refused fast, naming the file and what to do', async () => {
  const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 9; i++)
    levels.push(
      `${'abcdefghi'[i]}: &${'abcdefghi'[i]} [${Array(9)
        .fill(`*${'abcdefghi'[i - 1]}`)
        .join(',')}]`,
    );
  const f = write('bomb.yaml', `identity:\n  name: a.example.com\n${levels.join('\n')}\n`);
  const { ms } = await refused(f, new RegExp(`more than ${YAML_MAX_ALIASES} expansions`), /write the values out/);
  assert.ok(ms < 2000, `${ms} ms`);
});

test('deep nesting, duplicate keys, binary data and a top level that is not a mapping are each named', async () => {
  const deep = write('deep.yaml', `identity:\n  name: a.example.com\nx: ${'['.repeat(5000)}${']'.repeat(5000)}\n`);
  const r = await refused(deep, /nests .*deeper than/);
  assert.ok(r.ms < 2000, `${r.ms} ms`);
  await refused(write('dup.yaml', 'identity:\n  name: a.example.com\nstate:\n  dir: /a\n  dir: /b\n'), /state\.dir is given twice/);
  await refused(write('binary.yaml', Buffer.from([0x69, 0x64, 0x3a, 0x00, 0xff, 0xfe, 0x1b, 0x5b])), /is not a text file/);
  await refused(write('list.yaml', '- a\n- b\n'), /top level must be a mapping/);
  await refused(write('scalar.yaml', 'just words\n'), /top level must be a mapping/);
});
