import type { CommandModule } from 'yargs';
import type { CliDeps } from './context.js';
import type { DropInFlags } from '../compose/dropin.js';
import type { ConfigVendArgs } from './credential-process-config.js';
import { helperOptions } from './dropin.js';
import { runCommand, runtimeOf } from './run.js';

interface Args extends ConfigVendArgs {
  certificate?: string;
  debug?: boolean;
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
      helperOptions(y, { arnOverrides: true })
        .option('endpoint', { type: 'string', describe: "CreateSession endpoint URL (default rolesAnywhere.endpoint, else the region's)" })
        .option('cache', {
          type: 'boolean',
          default: true,
          describe: 'reuse fresh credentials from the 0600 cache in state.runtimeDir (--no-cache: always CreateSession; vend.cache: false turns it off too)',
        })
        .example('credential_process = iamra-agent credential-process', 'in ~/.aws/config, under [profile NAME]')
        .example(
          'credential_process = iamra-agent credential-process --certificate c.pem --private-key k.pem --trust-anchor-arn … --profile-arn … --role-arn …',
          'an AWS credential helper line with the binary name changed: no config file needed',
        ),
    handler: async (a) => {
      const args = a as unknown as Args;
      if (args.debug) args.logLevel = 'debug';
      setExit(
        await runCommand(deps, args, async (logger) => {
          if (args.certificate !== undefined) {
            // the helper's way: everything on the command line, no config file, a CreateSession per call
            const { credentialProcessDropIn } = await import('../compose/dropin.js');
            deps.io.stdout.write(await credentialProcessDropIn(args as unknown as DropInFlags, runtimeOf(deps, logger)));
            return 0;
          }
          // loaded when the command runs (it brings the signer and the store), not when yargs registers it
          const { credentialProcessFromConfig } = await import('./credential-process-config.js');
          return credentialProcessFromConfig(deps, args, logger, await deps.loadConfig(args));
        }),
      );
    },
  };
}
