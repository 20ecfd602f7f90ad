import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The installed package's root (holds package.json, units/, config/), from src/, dist/src/ or the bundle alike. The
 * bundle's dist/bin/package.json only sets the module type of the files there (tools/bundle.mjs): it names nothing.
 */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!isPackageManifest(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('iamra-agent package root not found');
    dir = up;
  }
  return dir;
}

function isPackageManifest(file: string): boolean {
  return existsSync(file) && typeof (JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown }).name === 'string';
}

/** The version in the installed package.json (what `iamra-agent --version` prints). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}
