import type { CommandModule } from 'yargs';
import type { CliDeps, GlobalArgs } from './context.js';
import { runCommand } from './run.js';

interface Args extends GlobalArgs {
  roleArn?: string;
  profileArn?: string;
  trustAnchorArn?: string;
  endpoint?: string;
  cache: boolean;
}

/**
 * `credential_process` for the AWS CLI and SDKs: exactly one Version 1 JSON document on stdout, logs on stderr,
 * exit 1 with one line on stderr when no valid credentials can be had (never empty or expired ones).
 */
export function credentialProcessCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'credential-process',
    describe: 'print AWS credential_process JSON (Version 1) from the live identity',
    builder: (y) =>
      y
        .option('role-arn', { type: 'string', describe: 'role to assume (default rolesAnywhere.roleArn)' })
        .option('profile-arn', { type: 'string', describe: 'Roles Anywhere profile (default rolesAnywhere.profileArn)' })
        .option('trust-anchor-arn', { type: 'string', describe: 'trust anchor (default rolesAnywhere.trustAnchorArn)' })
        .option('endpoint', { type: 'string', describe: "CreateSession endpoint URL (default rolesAnywhere.endpoint, else the region's)" })
        .option('cache', {
          type: 'boolean',
          default: true,
          describe: 'reuse fresh credentials from the 0600 cache in state.runtimeDir (--no-cache: always CreateSession; vend.cache: false turns it off too)',
        })
        .example('credential_process = iamra-agent credential-process', 'in ~/.aws/config, under [profile NAME]'),
    handler: async (a) => {
      const args = a as unknown as Args;
      setExit(
        await runCommand(deps, args, async (logger) => {
          const cfg = await deps.loadConfig(args);
          const [{ openVend }, { credentialProcessOutput }] = await Promise.all([import('../vend/wiring.js'), import('../vend/process.js')]);
          const vend = await openVend(
            cfg,
            { clock: deps.clock, logger, signal: deps.signal },
            {
              ...(args.roleArn !== undefined ? { roleArn: args.roleArn } : {}),
              ...(args.profileArn !== undefined ? { profileArn: args.profileArn } : {}),
              ...(args.trustAnchorArn !== undefined ? { trustAnchorArn: args.trustAnchorArn } : {}),
              ...(args.endpoint !== undefined ? { endpoint: args.endpoint } : {}),
            },
          );
          const out = await credentialProcessOutput({
            provider: vend.provider,
            clock: deps.clock,
            logger,
            ...(cfg.vend.cache && args.cache ? { cache: vend.cache() } : {}),
          });
          deps.io.stdout.write(out);
          return 0;
        }),
      );
    },
  };
}
