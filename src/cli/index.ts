import yargs, { type Argv, type CommandModule } from 'yargs';
import { DEFAULT_CONFIG_PATH } from '../config/load.js';
import type { CliDeps } from './context.js';
import { commands } from './commands.js';

/** Parses argv, runs one command, resolves with the process exit code. */
export async function runCli(argv: string[], deps: CliDeps): Promise<number> {
  let exitCode = 0;
  let failed = false;
  const parser: Argv = yargs(argv)
    .scriptName('iamra-agent')
    .usage('$0 <command> [options]\n\nShort-lived AWS credentials for hosts outside AWS: an auto-renewing ACME identity used with IAM Roles Anywhere.')
    .option('config', {
      type: 'string',
      describe: 'agent configuration (YAML)',
      default: deps.io.env.IAMRA_AGENT_CONFIG ?? DEFAULT_CONFIG_PATH,
      defaultDescription: `$IAMRA_AGENT_CONFIG or ${DEFAULT_CONFIG_PATH}`,
      global: true,
    })
    .option('log-level', { choices: ['error', 'warn', 'info', 'debug'] as const, default: 'info' as const, global: true })
    .option('log-format', { choices: ['json', 'text'] as const, describe: 'default: text on a terminal, JSON lines otherwise (journald)', global: true })
    .option('set', { type: 'string', array: true, describe: 'override a config value: --set acme.profile=shortlived', global: true })
    .strict()
    .demandCommand(1, 'name a command; see --help')
    .recommendCommands()
    .completion('completion', 'print a bash/zsh completion script')
    .wrap(Math.min(120, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((msg, err) => {
      failed = true;
      if (err && !msg) throw err;
      deps.io.stderr.write(`iamra-agent: ${msg ?? err?.message}\nRun 'iamra-agent --help' for usage.\n`);
    })
    .help()
    .version();
  for (const c of commands(deps, (code) => (exitCode = code))) parser.command(c as CommandModule);
  await parser.parseAsync();
  // A usage error keeps each command's error convention: Nagios UNKNOWN for status, and 255 for renew --needed,
  // whose 1 would tell systemd's ExecCondition= "not due, skip" instead of "broken".
  if (!failed) return exitCode;
  if (argv.includes('status')) return 3;
  if (argv.includes('--needed')) return 255;
  return 1;
}
