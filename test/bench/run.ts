/**
 * `npm run bench -- <name>`: runs test/bench/<name>.ts (compiled), whose default export takes the remaining
 * arguments. Benchmarks are not tests: `node --test dist/test/` loads every file under dist/test, including this
 * one, and then it does nothing (no name is given, and NODE_TEST_CONTEXT is set).
 */
const [name, ...rest] = process.argv.slice(2);
if (name === undefined) {
  if (process.env.NODE_TEST_CONTEXT === undefined) {
    process.stderr.write('usage: npm run bench -- <name> [args]   (a module in test/bench/, e.g. creds)\n');
    process.exitCode = 2;
  }
} else if (!/^[a-z0-9-]+$/.test(name)) {
  process.stderr.write(`bench: ${JSON.stringify(name)} is not a benchmark name\n`);
  process.exitCode = 2;
} else {
  const mod = (await import(`./${name}.js`)) as { default: (args: string[]) => Promise<void> };
  await mod.default(rest);
}
