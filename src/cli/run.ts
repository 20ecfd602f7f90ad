import { formatError, isAgentError } from '../core/errors.js';
import type { Runtime } from '../compose/runtime.js';
import type { Logger } from '../core/logger.js';
import type { CliDeps, GlobalArgs } from './context.js';

/**
 * Runs a command body and turns failures into a one-line message and an exit code: an AgentError (expected
 * failure) prints `component: message; hint`; anything else is a bug, so it is logged with its stack for the
 * operator but the user still gets one line.
 */
export async function runCommand(deps: CliDeps, args: GlobalArgs, body: (logger: Logger) => Promise<number>, failureCode = 1): Promise<number> {
  const logger = deps.makeLogger(args);
  try {
    return await body(logger);
  } catch (e) {
    if (!isAgentError(e)) logger.debug('unexpected error', { stack: e instanceof Error ? e.stack : String(e) });
    deps.io.stderr.write(`iamra-agent: ${formatError(e)}\n`);
    return failureCode;
  }
}

export function writeJson(out: NodeJS.WritableStream, v: unknown): void {
  out.write(JSON.stringify(v, null, 2) + '\n');
}

/** What the composition root needs from the process, for one command run. */
export function runtimeOf(deps: CliDeps, logger: Logger): Runtime {
  return { clock: deps.clock, logger, signal: deps.signal, env: deps.io.env };
}
