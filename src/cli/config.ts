import type { CommandModule } from 'yargs';
import { jsonSchema } from '../config/schema.js';
import type { CliDeps, GlobalArgs } from './context.js';
import { runCommand, writeJson } from './run.js';

export function configCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'config <action>',
    describe: 'check the configuration, or print its JSON Schema',
    builder: (y) =>
      y
        .positional('action', { choices: ['check', 'schema'] as const, demandOption: true })
        .example('$0 config check --config /etc/iamra-agent/agent.yaml', 'validate, reporting every problem by path')
        .example('$0 config schema > config/agent.schema.json', 'print the JSON Schema of agent.yaml') as never,
    handler: async (a) => {
      const args = a as unknown as GlobalArgs & { action: 'check' | 'schema' };
      setExit(
        await runCommand(deps, args, async () => {
          if (args.action === 'schema') {
            writeJson(deps.io.stdout, jsonSchema());
            return 0;
          }
          const cfg = await deps.loadConfig(args);
          // every file the config points to is read and checked too (issue 12 item 3)
          const { preflight, preflightError } = await import('../renew/preflight.js');
          const r = await preflight(cfg, deps.clock.now());
          for (const w of r.warnings) deps.io.stderr.write(`warning: ${w}\n`);
          if (r.problems.length) throw preflightError(r.problems);
          deps.io.stdout.write(`${args.config}: valid (identity ${cfg.identity.name})\n`);
          return 0;
        }),
      );
    },
  };
}
