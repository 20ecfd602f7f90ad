/**
 * `npm run build`, second step: bundles the CLI (src/main.ts) with esbuild into dist/bin/iamra-agent.js plus
 * chunks. Why: Node's ESM loader resolves, reads and compiles every module file on its own (hundreds for the AWS SDK,
 * zod, yaml, yargs, winston), which dominated a cold `credential-process`. Code splitting keeps each dynamic
 * import() of the source its own chunk, so a command loads only what it reaches (the credential_process hot path:
 * main + cli/fast-credentials, a few kB).
 *
 * tsc (the first step) still type-checks everything and builds dist/src + dist/test, which the tests import.
 */
import { chmodSync } from 'node:fs';
import { build } from 'esbuild';

await build({
  entryPoints: { 'iamra-agent': 'src/main.ts' },
  outdir: 'dist/bin',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  // Loaded from node_modules at run time: pkcs11js is a native addon (the PKCS#11 key backend only); the
  // @cloud-copilot IAM simulator (the sandbox only) reads its data files relative to its own module URL.
  external: ['pkcs11js', '@cloud-copilot/*'],
  // the CommonJS dependencies (winston, yaml's dist, the AWS SDK's) call require() for Node built-ins, which an
  // ES module does not have
  banner: { js: "import { createRequire as __iamraCreateRequire } from 'node:module'; const require = __iamraCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
chmodSync('dist/bin/iamra-agent.js', 0o755);
