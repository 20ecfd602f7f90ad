import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Tests run from dist/test (compiled) or test/ (tsx); both find the repository root the same way. */
function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('repository root not found');
    dir = up;
  }
  return dir;
}

export const repoRoot = findRoot();
/** the built CLI, as a user runs it */
export const cliPath = path.join(repoRoot, 'dist', 'src', 'main.js');
/** test peers installed by test/setup/install.sh (pinned Pebble etc.) */
export const peersBin = process.env.IAMRA_PEERS_BIN ?? '/opt/iamra-agent-peers/bin';
export const sharedReference = path.join(repoRoot, '..', 'shared', 'reference');

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `iamra-${prefix}-`));
}
