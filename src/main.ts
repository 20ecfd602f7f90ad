#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { systemClock } from './core/clock.js';
import { createLogger } from './core/logger.js';
import { loadConfig } from './config/load.js';
import { runCli } from './cli/index.js';
import type { CliDeps } from './cli/context.js';

/**
 * Composition root: the only place that builds real side effects (wall clock, stdio, signals, winston). Everything
 * below receives them as arguments.
 */
async function main(): Promise<void> {
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
  const deps: CliDeps = {
    io: { stdout: process.stdout, stderr: process.stderr, env: process.env, isTTY },
    clock: systemClock,
    makeLogger: (a) => createLogger({ level: a.logLevel, format: a.logFormat ?? (isTTY ? 'text' : 'json') }),
    loadConfig: (a) => loadConfig({ file: a.config, env: process.env, sets: a.set ?? [] }),
    selfCommand: [process.execPath, realpathSync(fileURLToPath(import.meta.url))],
    signal: abort.signal,
  };
  const code = await runCli(process.argv.slice(2), deps);
  process.exitCode = code;
  // long-running commands (serve, update) keep the loop alive themselves; one-shot commands end here
}

void main();
