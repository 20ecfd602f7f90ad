import yargs, { type Argv, type CommandModule } from 'yargs';
import { DEFAULT_CONFIG_PATH } from '../config/load.js';
import { packageVersion } from '../core/paths.js';
import type { CliDeps } from './context.js';
import { commands, usageExitCode } from './commands.js';
import { UsageError, valueChecker } from './usage.js';

/** Parses argv, runs one command, resolves with the process exit code. */
export async function runCli(argv: string[], deps: CliDeps): Promise<number> {
  let exitCode = 0;
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
    // yargs lays out every command's help text even when nobody asks for it (to cache it); laying it out to a width
    // costs ~50 ms of string measuring on each run, so only when the help is what was asked for
    .wrap(argv.includes('--help') ? Math.min(120, process.stdout.columns ?? 100) : null)
    .exitProcess(false)
    .middleware(valueChecker(argv) as never, true)
    .fail((msg, err) => {
      // throwing (not returning) is what stops yargs before the command's handler
      if (err && !msg) throw err;
      // recommendCommands() reports its guess before strict() reports the unknown word: keep both in one line
      const text = (msg ?? err?.message ?? 'invalid command line').replace(/\s*\n\s*/g, ' ');
      const word = argv.find((a) => !a.startsWith('-'));
      throw new UsageError(text.startsWith('Did you mean') ? `Unknown command: ${word}. ${text}` : text);
    })
    .help()
    .version(packageVersion());
  const registered = commands(deps, (code) => (exitCode = code));
  for (const c of registered) parser.command(c as CommandModule);
  try {
    await parser.parseAsync();
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    const { name, code } = usageExitCode(argv, registered);
    deps.io.stderr.write(`iamra-agent: ${e.message}\nRun 'iamra-agent ${name ? `${name} ` : ''}--help' for usage.\n`);
    return code;
  }
  return exitCode;
}
