#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { systemClock } from './core/clock.js';
import { packageVersion } from './core/paths.js';
import type { CliDeps, GlobalArgs } from './cli/context.js';

/**
 * Composition root: the only place that builds real side effects (wall clock, stdio, signals, winston). Everything
 * below receives them as arguments.
 */
async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  // answered before anything else loads: a packaging script or a support request should not wait for yargs
  if (argv.length === 1 && argv[0] === '--version') {
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  const self = realpathSync(fileURLToPath(import.meta.url));
  // serve runs for months: it plans in a child with the full CLI and serves from a process without it (the child
  // has IAMRA_AGENT_SERVE_PLAN_FD set, see cli/serve-front.ts)
  if (argv[0] === 'serve' && process.env.IAMRA_AGENT_SERVE_PLAN_FD === undefined) {
    const { serveFront } = await import('./cli/serve-front.js');
    process.exitCode = await serveFront({ argv, env: process.env, clock: systemClock, selfCommand: [process.execPath, self], stderr: process.stderr });
    return;
  }
  // credential_process runs once per AWS CLI command: a cache hit is answered before the full CLI is even loaded
  // (see cli/fast-credentials.ts); the modules below cost several times Node's own start-up.
  const { fastCredentialProcess } = await import('./cli/fast-credentials.js');
  const fast = await fastCredentialProcess({ argv, env: process.env, clock: systemClock, selfFile: self });
  if (fast.output !== undefined) {
    process.stdout.write(fast.output);
    return;
  }

  // The AWS SDK warns on every run that its 2027 releases will need Node 22. The agent's Node version is a packaging
  // decision; repeating it in every journald line of a twice-daily timer on 500 hosts helps nobody.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const abort = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    // First signal: abort gracefully so cleanup (TXT records, lock) runs. Second: give up at once.
    if (++signals > 1) process.exit(130);
    process.stderr.write(`iamra-agent: ${sig} received, cleaning up\n`);
    abort.abort(new Error(`interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const isTTY = Boolean(process.stderr.isTTY);
  const format = (a: GlobalArgs) => a.logFormat ?? (isTTY ? 'text' : 'json');
  // A warm route (fast-credentials.ts) already holds the validated config: no yargs, YAML or schema to load, and
  // its few lines go through the line logger (winston's lines without winston, core/line-logger.ts).
  let makeLogger: CliDeps['makeLogger'];
  if (fast.warm) {
    const { createLineLogger } = await import('./core/line-logger.js');
    makeLogger = (a) => createLineLogger({ level: a.logLevel, format: format(a), stream: process.stderr, now: () => systemClock.now() });
  } else {
    const { createLogger } = await import('./core/logger.js');
    makeLogger = (a) => createLogger({ level: a.logLevel, format: format(a) });
  }
  const deps: CliDeps = {
    io: { stdout: process.stdout, stderr: process.stderr, env: process.env, isTTY },
    clock: systemClock,
    makeLogger,
    loadConfig: async (a) => (await import('./config/load.js')).loadConfig({ file: a.config, env: process.env, sets: a.set ?? [] }),
    selfCommand: [process.execPath, self],
    signal: abort.signal,
    ...(fast.remember ? { rememberCredentialRoute: fast.remember } : {}),
  };
  if (fast.warm) {
    const { warmCredentialProcess } = await import('./cli/credential-process-config.js');
    process.exitCode = await warmCredentialProcess(deps, fast.warm.route, fast.warm.options);
    return;
  }
  const { runCli } = await import('./cli/index.js');
  const code = await runCli(argv, deps);
  process.exitCode = code;
  // long-running commands (serve, update) keep the loop alive themselves; one-shot commands end here
}

void main();
