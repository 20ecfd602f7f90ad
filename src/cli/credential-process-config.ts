/**
 * `credential-process` from the config, shared by the yargs command (cli/credential-process.ts, after loading the
 * config) and the hot path's warm route (main.ts, with the config the route recorded): one composition, one way to
 * record the route, whichever way the line arrived. Both import this module when the line runs, so the composition
 * is a static import here (in the hot path's bundle, cli/credential-process-hot.ts, one file with it).
 */
import { credentialProcess } from '../compose/credential-process.js';
import type { AgentConfig } from '../config/schema.js';
import { formatError } from '../core/errors.js';
import type { Logger, LogLevel } from '../core/logger.js';
import type { CliDeps, GlobalArgs } from './context.js';
import { DEFAULT_CONFIG_FILE, type CredentialRoute } from './fast-credentials.js';
import { runCommand, runtimeOf } from './run.js';

export interface ConfigVendArgs extends GlobalArgs {
  roleArn?: string;
  profileArn?: string;
  trustAnchorArn?: string;
  endpoint?: string;
  withProxy?: boolean;
  cache: boolean;
}

export async function credentialProcessFromConfig(deps: CliDeps, args: ConfigVendArgs, logger: Logger, cfg: AgentConfig): Promise<number> {
  const { out, route } = await credentialProcess(
    cfg,
    runtimeOf(deps, logger),
    {
      ...(args.roleArn !== undefined ? { roleArn: args.roleArn } : {}),
      ...(args.profileArn !== undefined ? { profileArn: args.profileArn } : {}),
      ...(args.trustAnchorArn !== undefined ? { trustAnchorArn: args.trustAnchorArn } : {}),
      ...(args.endpoint !== undefined ? { endpoint: args.endpoint } : {}),
      ...(args.withProxy !== undefined ? { withProxy: args.withProxy } : {}),
    },
    { cache: args.cache },
  );
  deps.io.stdout.write(out);
  if (deps.rememberCredentialRoute) {
    const remembered: CredentialRoute = { config: cfg, ...(route ? { cache: route } : {}) };
    // only a saving for the next call: a read-only home must not fail this one
    await deps.rememberCredentialRoute(remembered).catch((e: unknown) => logger.debug('credential route not recorded', { error: formatError(e) }));
  }
  return 0;
}

/**
 * The warm route: a line the full CLI accepted before (the route's digest covers the command line), so its options
 * are the fast parser's (cli/fast-credentials.ts eligibleOptions) and need no second check.
 */
export function warmCredentialProcess(deps: CliDeps, route: CredentialRoute, options: Map<string, string>): Promise<number> {
  const args: ConfigVendArgs = {
    config: options.get('config') ?? deps.io.env.IAMRA_AGENT_CONFIG ?? DEFAULT_CONFIG_FILE,
    logLevel: (options.get('log-level') ?? 'info') as LogLevel,
    ...(options.has('log-format') ? { logFormat: options.get('log-format') as 'json' | 'text' } : {}),
    cache: !options.has('no-cache'),
    ...(options.has('role-arn') ? { roleArn: options.get('role-arn')! } : {}),
    ...(options.has('profile-arn') ? { profileArn: options.get('profile-arn')! } : {}),
    ...(options.has('trust-anchor-arn') ? { trustAnchorArn: options.get('trust-anchor-arn')! } : {}),
    ...(options.has('endpoint') ? { endpoint: options.get('endpoint')! } : {}),
    ...(options.has('with-proxy') ? { withProxy: true } : {}),
  };
  return runCommand(deps, args, (logger) => credentialProcessFromConfig(deps, args, logger, route.config));
}
