import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { cleanEnv } from '../helpers/sandbox.js';
import { repoRoot, tempDir } from '../helpers/paths.js';

// The README's first quickstart command, minus the install and build that CI has just done: the whole lifecycle
// against the sandbox, as a user runs it.
test('examples/quickstart.sh runs the lifecycle end to end', () => {
  const dir = path.join(tempDir('quickstart'), 'sb');
  try {
    const r = spawnSync('bash', [path.join(repoRoot, 'examples', 'quickstart.sh'), dir], {
      env: { ...cleanEnv(), IAMRA_QUICKSTART_SKIP_SETUP: '1' },
      encoding: 'utf8',
      timeout: 180_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /identity live: version 0001/);
    assert.match(r.stdout, /"Arn": "arn:aws:sts::111122223333:assumed-role\/iamra-agent-sandbox\//);
    assert.match(r.stdout, /renewed: version 0002/);
    assert.match(r.stdout, /IAMRA-AGENT OK/);
    assert.match(r.stdout, /quickstart: ok$/m);
  } finally {
    rmSync(path.dirname(dir), { recursive: true, force: true });
  }
});
