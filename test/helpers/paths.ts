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
/** the built CLI as a user runs it: the bundle package.json's bin names (tools/bundle.mjs) */
export const cliPath = path.join(repoRoot, 'dist', 'bin', 'iamra-agent.js');
/** where test/setup/install.sh installs the test peers (its IAMRA_PEERS_DIR); tests call peers only from here */
export const peersDir = process.env.IAMRA_PEERS_DIR ?? '/opt/iamra-agent-peers';
/** pinned Go peers (Pebble etc.) */
export const peersBin = process.env.IAMRA_PEERS_BIN ?? path.join(peersDir, 'bin');
/** the AWS IAM Roles Anywhere credential helper v1.4.0 (`aws_signing_helper`) */
export const awsHelperBin = path.join(peersBin, 'rolesanywhere-credential-helper');
/** lego v5.6.0's library and route53 provider as a small CLI (test/peers/lego5, built by test/setup/install.sh) */
export const lego5Bin = path.join(peersBin, 'lego5');
/** the venv's interpreter, which has the awslabs Roles Anywhere client (never `python3` from PATH) */
export const peerPython = path.join(peersDir, 'venv', 'bin', 'python');

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `iamra-${prefix}-`));
}
