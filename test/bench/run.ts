/**
 * `npm run bench -- <name>`: runs test/bench/<name>.ts (compiled), whose default export takes the remaining
 * arguments. Benchmarks are not tests (test/runner.ts runs only `*.test.js`).
 */
const [name, ...rest] = process.argv.slice(2);
if (name === undefined) {
  process.stderr.write('usage: npm run bench -- <name> [args]   (a module in test/bench/: creds, enrol, fleet, imds, keys, renew)\n');
  process.exitCode = 2;
} else if (!/^[a-z0-9-]+$/.test(name)) {
  process.stderr.write(`bench: ${JSON.stringify(name)} is not a benchmark name\n`);
  process.exitCode = 2;
} else {
  const mod = (await import(`./${name}.js`)) as { default: (args: string[]) => Promise<void> };
  await mod.default(rest);
}
