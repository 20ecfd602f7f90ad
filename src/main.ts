#!/usr/bin/env node
import { realpathSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CliDeps, GlobalArgs } from './cli/context.js';
import type { CredentialRoute } from './cli/fast-credentials.js';

// Only Node built-ins are imported statically: a credential_process call goes straight to its own bundle (see
// cli/credential-process-hot.ts), and each module imported here would be one more file to load before it.

/**
 * Composition root: the only place that builds real side effects (wall clock, stdio, signals, winston). Everything
 * below receives them as arguments.
 */
async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  // answered before anything else loads: a packaging script or a support request should not wait for yargs
  if (argv.length === 1 && argv[0] === '--version') {
    const { packageVersion } = await import('./core/paths.js');
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  const self = realpathSync(fileURLToPath(import.meta.url));
  // serve runs for months: it plans in a child with the full CLI and serves from a process without it (the child
  // has IAMRA_AGENT_SERVE_PLAN_FD set, see cli/serve-front.ts)
  if (argv[0] === 'serve' && process.env.IAMRA_AGENT_SERVE_PLAN_FD === undefined) {
    const [{ serveFront }, { systemClock }] = await Promise.all([import('./cli/serve-front.js'), import('./core/clock.js')]);
    process.exitCode = await serveFront({ argv, env: process.env, clock: systemClock, selfCommand: [process.execPath, self], stderr: process.stderr });
    return;
  }
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
  const selfCommand = [process.execPath, self];

  // credential_process runs once per AWS CLI command: a cache hit or a recorded route is answered by its own bundle
  // before the CLI is even loaded (cli/credential-process-hot.ts); the CLI's modules cost several times Node's own
  // start-up. Plain values cross this boundary, in both directions.
  let routeFile: string | undefined;
  if (argv.includes('credential-process')) {
    const { credentialProcessHot } = await import('./cli/credential-process-hot.js');
    const hot = await credentialProcessHot({
      argv,
      env: process.env,
      selfCommand,
      selfFile: self,
      writeStdout,
      stderr: () => process.stderr,
      // asked only on the warm route: node:tty (with node:net and the streams under it) is not a cache hit's to load
      isTTY: () => Boolean(process.stderr.isTTY),
      signal: abort.signal,
    });
    if (hot.exitCode !== undefined) {
      process.exitCode = hot.exitCode;
      return;
    }
    routeFile = hot.routeFile;
  }

  // The AWS SDK warns on every run that its 2027 releases will need Node 22. The agent's Node version is a packaging
  // decision; repeating it in every journald line of a twice-daily timer on 500 hosts helps nobody.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const isTTY = Boolean(process.stderr.isTTY);
  const format = (a: GlobalArgs) => a.logFormat ?? (isTTY ? 'text' : 'json');
  const recordTo = routeFile;
  const [{ systemClock }, { createLogger }, remember] = await Promise.all([
    import('./core/clock.js'),
    import('./core/logger.js'),
    // this bundle's own writer for the route the hot path found missing (fast-credentials.ts)
    recordTo === undefined ? undefined : import('./cli/fast-credentials.js').then((m) => (route: CredentialRoute) => m.writeRoute(recordTo, route)),
  ]);
  const deps: CliDeps = {
    io: { stdout: process.stdout, stderr: process.stderr, env: process.env, isTTY },
    clock: systemClock,
    makeLogger: (a) => createLogger({ level: a.logLevel, format: format(a) }),
    loadConfig: async (a) => (await import('./config/load.js')).loadConfig({ file: a.config, env: process.env, sets: a.set ?? [] }),
    selfCommand,
    signal: abort.signal,
    ...(remember ? { rememberCredentialRoute: remember } : {}),
  };
  const { runCli } = await import('./cli/index.js');
  const code = await runCli(argv, deps);
  process.exitCode = code;
  // long-running commands (serve, update) keep the loop alive themselves; one-shot commands end here
}

/**
 * Text to stdout without process.stdout: for a pipe (the AWS CLI reads credential_process through one) that is a
 * net.Socket, and making it loads node:net and the streams, ~2.5 ms of a cache hit. A pipe's fd 1 is blocking as
 * the parent made it; if the parent made it non-blocking and it is full, process.stdout takes the rest.
 */
function writeStdout(text: string): void {
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  try {
    while (off < buf.length) off += writeSync(1, buf, off);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    process.stdout.write(buf.subarray(off));
  }
}

void main();
