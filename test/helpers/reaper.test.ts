import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { groupAlive } from './reaper.js';
import { tempDir } from './paths.js';

/**
 * A test file that starts a detached process group (as startSandbox does) and then ends, by SIGTERM (what node's
 * runner sends at a file's timeout) or by exiting, leaves no process of that group running.
 */

const dir = tempDir('reaper');
const script = path.join(dir, 'file.mjs');
writeFileSync(
  script,
  `import { spawn } from 'node:child_process';
const { reapOnExit } = await import(${JSON.stringify(new URL('./reaper.js', import.meta.url).href)});
// a group leader with children of its own, like \`sandbox run\` with Pebble
const g = spawn('sh', ['-c', 'sleep 300 & sleep 300 & wait'], { detached: true, stdio: 'ignore' });
reapOnExit(g.pid, { group: true });
process.stdout.write(g.pid + '\\n');
if (process.argv[2] === 'exit') setTimeout(() => process.exit(0), 100);
else setInterval(() => {}, 1000);
`,
);
const started: number[] = [];
test.after(() => {
  // should the reaper fail, the test itself does not leave the groups behind
  for (const pgid of started) if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function startFile(mode: 'exit' | 'signal') {
  const child = spawn(process.execPath, [script, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  for await (const chunk of child.stdout) {
    out += chunk;
    if (out.includes('\n')) break;
  }
  const pgid = Number(out.trim());
  started.push(pgid);
  return { child, pgid };
}

async function gone(pgid: number): Promise<boolean> {
  for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) if (!groupAlive(pgid)) return true;
  return false;
}

test('SIGTERM to the test file kills the group it started, and the file still dies of SIGTERM', async () => {
  const { child, pgid } = await startFile('signal');
  assert.ok(pgid > 0 && groupAlive(pgid), 'the group runs');
  child.kill('SIGTERM');
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  assert.deepEqual([code, signal], [null, 'SIGTERM']);
  assert.ok(await gone(pgid), `process group ${pgid} survived the file`);
});

test('a test file that exits kills the group it started', async () => {
  const { child, pgid } = await startFile('exit');
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0);
  assert.ok(await gone(pgid), `process group ${pgid} survived the file`);
});
