import type { CommandModule } from 'yargs';
import type { DropInFlags } from '../compose/dropin.js';
import type { CliDeps, GlobalArgs } from './context.js';
import { helperOptions } from './dropin.js';
import { runCommand, runtimeOf } from './run.js';

interface Args extends GlobalArgs {
  once: boolean;
  file?: string;
  profile?: string;
  endpoint?: string;
  withProxy?: boolean;
  certificate?: string;
  debug?: boolean;
}

export function updateCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'update',
    describe: 'keep a profile in a shared credentials file fresh (rewritten 5 minutes before expiry)',
    builder: (y) =>
      helperOptions(y, { arnOverrides: false })
        .option('once', { type: 'boolean', default: false, describe: 'write once and exit' })
        .option('file', { type: 'string', describe: 'credentials file (default vend.update.file, $AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials)' })
        .option('profile', { type: 'string', describe: 'profile to write (default vend.update.profile, "default")' })
        .option('endpoint', { type: 'string', describe: "CreateSession endpoint URL (default rolesAnywhere.endpoint, else the region's)" })
        .example('$0 update --profile iamra', 'keep [iamra] in ~/.aws/credentials fresh until stopped')
        .example(
          '$0 update --once --certificate c.pem --private-key k.pem --trust-anchor-arn … --profile-arn … --role-arn …',
          'an AWS credential helper update line with the binary name changed: no config file needed',
        ),
    handler: async (a) => {
      const args = a as unknown as Args;
      if (args.debug) args.logLevel = 'debug';
      setExit(
        await runCommand(deps, args, async (logger) => {
          if (args.certificate !== undefined) {
            // the helper's way: the identity on the command line, no config file
            const { updateDropIn } = await import('../compose/dropin-vend.js');
            await updateDropIn(args as unknown as DropInFlags, runtimeOf(deps, logger), {
              once: args.once,
              ...(args.file !== undefined ? { file: args.file } : {}),
              ...(args.profile !== undefined ? { profile: args.profile } : {}),
            });
            return 0;
          }
          const cfg = await deps.loadConfig(args);
          const { updateCredentials } = await import('../compose/update.js');
          await updateCredentials(cfg, runtimeOf(deps, logger), {
            once: args.once,
            ...(args.file !== undefined ? { file: args.file } : {}),
            ...(args.profile !== undefined ? { profile: args.profile } : {}),
            ...(args.endpoint !== undefined ? { endpoint: args.endpoint } : {}),
            ...(args.withProxy !== undefined ? { withProxy: args.withProxy } : {}),
          });
          return 0;
        }),
      );
    },
  };
}
