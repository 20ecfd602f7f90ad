import type { CommandModule } from 'yargs';
import type { CliDeps, GlobalArgs } from './context.js';
import { runCommand, runtimeOf, writeJson } from './run.js';

interface Args extends GlobalArgs {
  json: boolean;
}

export function rollbackCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'rollback',
    describe: 'switch the live identity back to the previous version (hooks.afterRenew run for it, as for a renewal)',
    builder: (y) =>
      y
        .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' })
        .example('$0 rollback', 'after a bad renewal: the version before the live one goes live again'),
    handler: async (a) => {
      const args = a as unknown as Args;
      setExit(
        await runCommand(deps, args, async (logger) => {
          const cfg = await deps.loadConfig(args);
          // features load on use, so every command starts fast
          const [{ rollbackIdentity }, { hookWarnings }] = await Promise.all([import('../compose/rollback.js'), import('../renew/hooks.js')]);
          const { result: r, hooks } = await rollbackIdentity(cfg, runtimeOf(deps, logger));
          if (args.json) writeJson(deps.io.stdout, { ...r, hooks });
          else deps.io.stdout.write(`rolled back: version ${r.from} → ${r.to} is live (serial ${r.serial}, expires ${r.notAfter})\n`);
          for (const w of hookWarnings(hooks)) (args.json ? deps.io.stderr : deps.io.stdout).write(w + '\n');
          return 0;
        }),
      );
    },
  };
}
