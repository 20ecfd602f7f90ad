/**
 * `npm test` / `npm run test:unit` / `npm run test:e2e`: runs the compiled `*.test.js` files of one layer (or both)
 * with node's test runner. Node 20's `node --test DIR` runs every `.js` under a `test` folder (helpers and
 * benchmarks too), so the files are listed here instead.
 *
 * - unit: pure and in-process tests (in-process servers on port 0, fixed clocks); run concurrently.
 * - e2e: the built CLI, Pebble, lego and other child processes against the sandbox; one file at a time, because
 *   they measure timing-sensitive behaviour (crash loop, renewal races) on a 2-core machine.
 *
 * Every test has a timeout (a test with its own `timeout` keeps it) and `--test-force-exit` ends a file once its
 * tests are done even if a failed setup left a handle open, so a hang fails in minutes, not CI's 90.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** files outside test/e2e/ that start Pebble, lego, systemd-analyze on the CLI's units, or the CLI itself */
const E2E_ELSEWHERE = new Set(['keys/tpm.test.js', 'acme/issue.test.js', 'sandbox/route53-lego.test.js', 'units/units.test.js']);

function testFiles(dir: string, rel = ''): string[] {
  return readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const r = path.posix.join(rel, e.name);
    if (e.isDirectory()) return e.name === 'bench' ? [] : testFiles(dir, r);
    return e.name.endsWith('.test.js') ? [r] : [];
  });
}

/**
 * e2e files that legitimately run for minutes (the crash loop: 100 renewals, ~2.5 min idle; the bad-input corpus:
 * ~290 CLI runs, ~4 min; both more on a loaded machine). node applies --test-timeout to a whole file too, so they get a layer of their own with a longer bound
 * instead of raising every other file's.
 */
const LONG = new Set(['e2e/crash-loop.test.js', 'e2e/bad-input-corpus.test.js']);

const isE2e = (f: string) => f.startsWith('e2e/') || E2E_ELSEWHERE.has(f);

interface Layer {
  files: string[];
  concurrency: number;
  timeoutMs: number;
}

function layers(which: string): Layer[] {
  const all = testFiles(here).sort();
  const unit: Layer = { files: all.filter((f) => !isE2e(f)), concurrency: Math.max(2, os.availableParallelism()), timeoutMs: 60_000 };
  const e2e: Layer = { files: all.filter((f) => isE2e(f) && !LONG.has(f)), concurrency: 1, timeoutMs: 180_000 };
  const long: Layer = { files: all.filter((f) => LONG.has(f)), concurrency: 1, timeoutMs: 20 * 60_000 };
  if (which === 'unit') return [unit];
  if (which === 'e2e') return [e2e, long];
  if (which === 'all') return [unit, e2e, long];
  process.stderr.write(`test runner: unknown layer ${JSON.stringify(which)}; use unit, e2e or all\n`);
  process.exit(2);
}

function run(layer: Layer): Promise<number> {
  const args = [
    '--test',
    `--test-concurrency=${layer.concurrency}`,
    `--test-timeout=${layer.timeoutMs}`,
    '--test-force-exit',
    ...layer.files.map((f) => path.join(here, f)),
  ];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit' });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

let failed = 0;
for (const layer of layers(process.argv[2] ?? 'all')) {
  const t0 = performance.now();
  const code = await run(layer);
  process.stderr.write(`test runner: ${layer.files.length} files in ${Math.round((performance.now() - t0) / 1000)} s, exit ${code}\n`);
  if (code !== 0) failed = code;
}
process.exitCode = failed;
