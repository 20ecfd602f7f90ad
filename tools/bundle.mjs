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
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
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

/**
 * Node built-ins through require(), not import. Node 20 gives each built-in an ES module an import names a facade
 * whose exports it reads all at once, and some are getters that load more of Node: node:crypto's webcrypto and
 * subtle (~1.5 ms of a cache hit, for code nothing here uses), node:fs's promises. A destructured require() reads
 * only the names the code uses. esbuild keeps built-ins as import statements (one per line, in a fixed shape); each
 * becomes a `const` on the same lines, so the source maps still hold. The banner defines require.
 */
const IMPORT_BUILTIN = /^import (?:(\w+)|\* as (\w+)|(\w+), (\{[^}]*\})|(\{[^}]*\})) from "(node:[\w/]+)";$/gm;
for (const dir of ['dist/bin', 'dist/bin/chunks']) {
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.js'))) {
    const file = path.join(dir, name);
    const text = readFileSync(file, 'utf8').replace(IMPORT_BUILTIN, (_, def, star, def2, names2, names, mod) => {
      const req = `require(${JSON.stringify(mod)})`;
      const destructure = (b) => {
        // a built-in's module.exports is its namespace: it has no `default` to destructure
        if (/\bdefault\b/.test(b)) throw new Error(`${file}: import { default } from ${mod}`);
        return b.replace(/(\w+) as (\w+)/g, '$1: $2');
      };
      if (def ?? star) return `const ${def ?? star} = ${req};`;
      if (def2) return `const ${def2} = ${req}, ${destructure(names2)} = ${def2};`;
      return `const ${destructure(names)} = ${req};`;
    });
    if (/^import [^;]*from "node:/m.test(text)) throw new Error(`${file}: an import of a Node built-in in a shape this script does not rewrite`);
    writeFileSync(file, text);
  }
}
chmodSync('dist/bin/iamra-agent.js', 0o755);
