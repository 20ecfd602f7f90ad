import path from 'node:path';
import type { CommandModule } from 'yargs';
import { formatError } from '../core/errors.js';
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
          const cache = cfg.vend.cache && args.cache ? vend.cache() : undefined;
          const out = await credentialProcessOutput({ provider: vend.provider, clock: deps.clock, logger, ...(cache ? { cache } : {}) });
          deps.io.stdout.write(out);
          if (cache && deps.rememberCredentialRoute) {
            const { certFingerprint: _, ...key } = cache.key;
            const route = { cacheDir: cache.dir, certFile: path.join(vend.stateDir, 'live', 'cert.pem'), key, refreshBeforeMs: cache.refreshBeforeMs };
            // only a saving for the next call: a read-only home must not fail this one
            await deps.rememberCredentialRoute(route).catch((e: unknown) => logger.debug('credential route not recorded', { error: formatError(e) }));
          }
          return 0;
        }),
      );
    },
  };
}
