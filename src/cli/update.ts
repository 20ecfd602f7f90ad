import type { CommandModule } from 'yargs';
import type { CliDeps, GlobalArgs } from './context.js';
import { runCommand, runtimeOf } from './run.js';

interface Args extends GlobalArgs {
  once: boolean;
  file?: string;
  profile?: string;
  endpoint?: string;
}

export function updateCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'update',
    describe: 'keep a profile in a shared credentials file fresh (rewritten 5 minutes before expiry)',
    builder: (y) =>
      y
        .option('once', { type: 'boolean', default: false, describe: 'write once and exit' })
        .option('file', { type: 'string', describe: 'credentials file (default vend.update.file, $AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials)' })
        .option('profile', { type: 'string', describe: 'profile to write (default vend.update.profile, "default")' })
        .option('endpoint', { type: 'string', describe: "CreateSession endpoint URL (default rolesAnywhere.endpoint, else the region's)" })
        .example('$0 update --profile iamra', 'keep [iamra] in ~/.aws/credentials fresh until stopped'),
    handler: async (a) => {
      const args = a as unknown as Args;
      setExit(
        await runCommand(deps, args, async (logger) => {
          const cfg = await deps.loadConfig(args);
          const { updateCredentials } = await import('../compose/update.js');
          await updateCredentials(cfg, runtimeOf(deps, logger), {
            once: args.once,
            ...(args.file !== undefined ? { file: args.file } : {}),
            ...(args.profile !== undefined ? { profile: args.profile } : {}),
            ...(args.endpoint !== undefined ? { endpoint: args.endpoint } : {}),
          });
          return 0;
        }),
      );
    },
  };
}
