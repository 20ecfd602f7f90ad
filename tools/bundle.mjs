/**
 * `npm run build`, second step: bundles the agent with esbuild into dist/bin. Why: Node's ESM loader resolves, reads
 * and compiles every module file on its own (hundreds for the AWS SDK, zod, yaml, yargs, winston), which dominated a
 * cold `credential-process`.
 *
 * dist/bin holds three kinds of file:
 * - iamra-agent.js, the bin (src/main.ts), CommonJS (dist/bin/package.json says so): it only picks the way. Node 20
 *   spends ~5 ms setting up its ESM loader before the first line of an ES module entry, and a credential_process
 *   call never needs that loader.
 * - credential-process.js (src/cli/credential-process-hot.ts), CommonJS, one file: the cache hit, required by
 *   main.ts for a `credential-process` line; beside it credential-process/warm.js, the warm route (one
 *   CreateSession), and the rare branches (a PKCS#11 or TPM key, command-line overrides checked by the config schema,
 *   envsense TOTP), each one self-contained file.
 * - lib/**.mjs, the CLI, ES modules with code splitting: one entry per module main.ts imports, so a command loads only
 *   what it reaches.
 * Each bundle has its own copy of the modules it shares with another. main.ts hands the hot path plain values only;
 * AgentError, the one class whose instances cross between the hot path and its rare branches, recognises any copy's
 * instances (core/errors.ts).
 *
 * tsc (the first step) still type-checks everything and builds dist/src + dist/test, which the tests import.
 */
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const BIN = 'dist/bin';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  // Loaded from node_modules at run time: pkcs11js is a native addon (the PKCS#11 key backend only); the
  // @cloud-copilot IAM simulator (the sandbox only) reads its data files relative to its own module URL.
  external: ['pkcs11js', '@cloud-copilot/*'],
  logLevel: 'warning',
};

/**
 * CommonJS has no import.meta: the bundle's own file URL stands in for it (main.ts resolves itself with it). The
 * banner comes before esbuild's "use strict", which would then be no directive: the banner starts with it, so the
 * files run in strict mode as the ES modules they were written as do.
 */
const cjs = {
  ...common,
  format: 'cjs',
  banner: { js: "'use strict';\nconst __iamraImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  define: { 'import.meta.url': '__iamraImportMetaUrl' },
};

/** An import() in `from` that the bundle resolves to another of these files (relative to the bundle's own file). */
function redirect(name, map) {
  return {
    name,
    setup(b) {
      b.onResolve({ filter: /^\.\.?\// }, (a) => {
        if (a.kind !== 'dynamic-import') return undefined;
        const to = map(path.relative('src', path.resolve(a.resolveDir, a.path)).replace(/\.js$/, ''));
        return to === undefined ? undefined : { path: to, external: true };
      });
    },
  };
}

// the CLI: every module main.ts imports is an entry, dist/bin/lib/<its path under src/>.mjs
const mainSource = readFileSync('src/main.ts', 'utf8');
const HOT = 'cli/credential-process-hot';
const cliEntries = [...new Set([...mainSource.matchAll(/import\('\.\/([\w/-]+)\.js'\)/g)].map((m) => m[1]))].filter((p) => p !== HOT);
await build({
  ...common,
  entryPoints: cliEntries.map((p) => `src/${p}.ts`),
  outbase: 'src',
  outdir: `${BIN}/lib`,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  format: 'esm',
  // the CommonJS dependencies (winston, yaml's dist, the AWS SDK's) call require() for Node built-ins, which an
  // ES module does not have
  banner: { js: "import { createRequire as __iamraCreateRequire } from 'node:module'; const require = __iamraCreateRequire(import.meta.url);" },
});

// the bin
await build({
  ...cjs,
  entryPoints: { 'iamra-agent': 'src/main.ts' },
  outdir: BIN,
  plugins: [redirect('main', (p) => (p === HOT ? './credential-process.js' : cliEntries.includes(p) ? `./lib/${p}.mjs` : undefined))],
});

// the hot path and its rare branches; their import() calls (of each other, of node:https) become require(): an
// import() goes through Node's ESM loader, which is what these files are CommonJS to avoid
// (the warm route, too: a cache hit needs none of the signer, the store or node:http)
const RARE = {
  'cli/credential-process-config': 'warm',
  'keys/pkcs11': 'pkcs11',
  'keys/tpm': 'tpm',
  'config/schema': 'schema',
  'envsense/totp': 'totp',
  'signer/proxy': 'proxy',
};
// (and its warm-route loader is the bundled one, which requires warm.js through the V8 code cache)
const bundledWarmRoute = {
  name: 'warm-route',
  setup(b) {
    b.onResolve({ filter: /^\.\/warm-route\.js$/ }, (a) =>
      path.resolve(a.resolveDir) === path.resolve('src/cli') ? { path: path.resolve('src/cli/warm-route-bundled.ts') } : undefined,
    );
  },
};
await build({
  ...cjs,
  supported: { 'dynamic-import': false },
  entryPoints: { 'credential-process': `src/${HOT}.ts` },
  outdir: BIN,
  plugins: [bundledWarmRoute, redirect('hot', (p) => (RARE[p] ? `./credential-process/${RARE[p]}.js` : undefined))],
});
const hotBundle = readFileSync(`${BIN}/credential-process.js`, 'utf8');
if (!hotBundle.includes('src/cli/warm-route-bundled.ts') || hotBundle.includes('credential-process/warm.js")')) {
  throw new Error(`${BIN}/credential-process.js: the warm route is not loaded through cli/warm-route-bundled.ts`);
}
await build({
  ...cjs,
  supported: { 'dynamic-import': false },
  entryPoints: Object.fromEntries(Object.entries(RARE).map(([p, name]) => [name, `src/${p}.ts`])),
  outdir: `${BIN}/credential-process`,
  plugins: [redirect('rare', (p) => (RARE[p] ? `./${RARE[p]}.js` : undefined))],
});
writeFileSync(`${BIN}/package.json`, '{ "type": "commonjs" }\n');

// main.ts's import() of the hot path, too (its other imports are of the CLI's ES modules, which need import())
const bin = readFileSync(`${BIN}/iamra-agent.js`, 'utf8');
const hotImport = 'import("./credential-process.js")';
if (bin.split(hotImport).length !== 2) throw new Error(`${BIN}/iamra-agent.js: expected one ${hotImport}`);
writeFileSync(`${BIN}/iamra-agent.js`, bin.replace(hotImport, 'Promise.resolve().then(() => require("./credential-process.js"))'));

/**
 * Node built-ins through require(), not import, in the ES modules. Node 20 gives each built-in an ES module imports a
 * facade whose exports it reads all at once, and some are getters that load more of Node: node:crypto's webcrypto
 * and subtle, node:fs's promises. A destructured require() reads only the names the code uses. esbuild keeps
 * built-ins as import statements (one per line, in a fixed shape); each becomes a `const` on the same lines, so the
 * source maps still hold. The banner defines require.
 */
const IMPORT_BUILTIN = /^import (?:(\w+)|\* as (\w+)|(\w+), (\{[^}]*\})|(\{[^}]*\})) from "(node:[\w/]+)";$/gm;
const esm = (dir) => readdirSync(dir, { recursive: true }).filter((n) => n.endsWith('.mjs')).map((n) => path.join(dir, n));
for (const file of esm(`${BIN}/lib`)) {
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
chmodSync(`${BIN}/iamra-agent.js`, 0o755);
