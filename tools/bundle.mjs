/**
 * `npm run build`, second step: bundles the CLI with esbuild into dist/bin. Why: Node's ESM loader resolves, reads
 * and compiles every module file on its own (hundreds for the AWS SDK, zod, yaml, yargs, winston), which dominated a
 * cold `credential-process`.
 *
 * Two bundles:
 * - the CLI (src/main.ts → dist/bin/iamra-agent.js + chunks/): code splitting keeps each dynamic import() of the
 *   source its own chunk, so a command loads only what it reaches;
 * - the credential_process hot path (src/cli/credential-process-hot.ts → dist/bin/credential-process.js), which
 *   main.ts imports for a `credential-process` line: the cache hit and the warm route (one CreateSession) in one file.
 *   In the CLI's bundle the same modules are spread over ~25 chunks (one per set of commands sharing a module), and
 *   each chunk is a resolve/read/compile/link of its own. Its rare branches (PKCS#11, TPM, the config schema for
 *   command-line overrides, envsense TOTP, node:https) stay dynamic imports, as chunks of its own (chunks/hot-*).
 *   The two bundles have separate copies of the modules they share; main.ts hands the hot bundle plain values only
 *   (see the hot module's comment), so no class is ever checked against the other bundle's copy.
 *
 * tsc (the first step) still type-checks everything and builds dist/src + dist/test, which the tests import.
 */
import { chmodSync } from 'node:fs';
import { build } from 'esbuild';

const common = {
  outdir: 'dist/bin',
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
};

await build({
  ...common,
  entryPoints: { 'iamra-agent': 'src/main.ts' },
  chunkNames: 'chunks/[name]-[hash]',
  plugins: [
    {
      // main.ts's import of the hot path is the other bundle's file, not a copy of it in this one
      name: 'hot-bundle',
      setup(b) {
        b.onResolve({ filter: /\/credential-process-hot\.js$/ }, () => ({ path: './credential-process.js', external: true }));
      },
    },
  ],
});
await build({
  ...common,
  entryPoints: { 'credential-process': 'src/cli/credential-process-hot.ts' },
  chunkNames: 'chunks/hot-[name]-[hash]',
});
chmodSync('dist/bin/iamra-agent.js', 0o755);
