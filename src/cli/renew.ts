import type { CommandModule } from 'yargs';
import type { CliDeps, GlobalArgs } from './context.js';
import { runCommand } from './run.js';

interface Args extends GlobalArgs {
  force: boolean;
  needed: boolean;
  json: boolean;
}

/** `renew --needed` exits 255 on error: systemd's ExecCondition= treats 1..254 as "skip", 255 as a failure. */
const NEEDED_ERROR = 255;

export function renewCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'renew',
    describe: 'renew the identity when due (weekly by default; earlier when ARI or the lifetime rule says so)',
    builder: (y) =>
      y
        .option('force', { type: 'boolean', default: false, describe: 'renew now, whatever the decision' })
        .option('needed', { type: 'boolean', default: false, describe: 'decide only: exit 0 when due, 1 when not, 255 on error (systemd ExecCondition=)' })
        .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' })
        .example('$0 renew', 'renew if due; exit 0 whether renewed or not due')
        .example('$0 renew --needed', 'for ExecCondition=: 0 due, 1 not due'),
    handler: async (a) => {
      const args = a as unknown as Args;
      if (args.needed && args.force) {
        deps.io.stderr.write('iamra-agent: --needed decides only; it cannot be combined with --force\n');
        setExit(NEEDED_ERROR);
        return;
      }
      if (args.needed) {
        setExit(await runCommand(deps, args, async (logger) => (await import('./renew-support.js')).runNeeded(deps, args, logger), NEEDED_ERROR));
        return;
      }
      setExit(
        // the renewal machinery (ACME, Route 53 SDK, x509) loads on use, so every command starts fast
        await runCommand(deps, args, async (logger) => (await import('./renew-support.js')).runRenew(deps, args, logger)),
      );
    },
  };
}
