import type { CommandModule } from 'yargs';
import { durationMs } from '../config/schema.js';
import type { CliDeps, GlobalArgs } from './context.js';
import { runCommand } from './run.js';

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
          const [{ defaultCredentialsFile, runUpdater }, { watchLive }, { openVend }] = await Promise.all([
            import('../vend/credfile.js'),
            import('../vend/reload.js'),
            import('../vend/wiring.js'),
          ]);
          const cfg = await deps.loadConfig(args);
          const vend = await openVend(cfg, { clock: deps.clock, logger, signal: deps.signal }, args.endpoint !== undefined ? { endpoint: args.endpoint } : {});
          const options = {
            provider: vend.provider,
            file: args.file ?? cfg.vend.update.file ?? defaultCredentialsFile(deps.io.env),
            profile: args.profile ?? cfg.vend.update.profile,
            clock: deps.clock,
            logger,
            refreshBeforeMs: durationMs(cfg.vend.refreshBefore),
            signal: deps.signal,
          };
          if (args.once) {
            await runUpdater({ ...options, once: true });
            return 0;
          }
          // A renewed identity is used from the next write on (the credentials already written stay valid).
          const watcher = await watchLive(vend.stateDir, () => vend.reload(), logger);
          try {
            await vend.reload();
            await runUpdater(options);
          } finally {
            await watcher.close();
          }
          return 0;
        }),
      );
    },
  };
}
