/**
 * `serve` in a lean process. The CLI's front half (yargs, the YAML parser, zod's config schema, winston) is needed
 * for a moment at start-up, but a module once loaded stays resident for the process's life: in `serve`, which runs
 * for months, they were two thirds of its memory (idle RSS ~80 MB against ~45 MB for a bare node:http server). So
 * main.ts hands a plain `serve` line here, and:
 *
 * 1. the same command line runs once more in a child process (the full CLI, this very executable) with
 *    IAMRA_AGENT_SERVE_PLAN_FD set. Its serve command parses and validates exactly as always (usage errors, the
 *    config, --set, the environment) and, instead of serving, writes the resolved plan (config, options, log
 *    settings) as JSON to that descriptor and exits 0. Any failure prints there as usual, and this process exits
 *    with the child's code; `--help` prints and exits 0 with no plan;
 * 2. this process, which has loaded only Node built-ins so far, serves the plan: compose/serve.ts (or, for the
 *    AWS credential helper's flags, compose/dropin-vend.ts) with the line logger (core/line-logger.ts, winston's
 *    formats). Everything it imports from here on is what serving needs.
 *
 * The plan holds the config as loaded (paths, ARNs, settings), never a secret value: secrets are files the server
 * reads itself. It travels over a pipe, never argv or the environment.
 */
import { spawn } from 'node:child_process';
import type { AgentConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import type { LogLevel } from '../core/log-types.js';
import type { DropInFlags } from '../compose/dropin.js';
import type { ServeOptions } from '../compose/serve.js';

/** Set (to a descriptor number) in the child: serve writes its plan there instead of serving. */
export const SERVE_PLAN_FD_ENV = 'IAMRA_AGENT_SERVE_PLAN_FD';

/** What the serving process does: a config's identity, or the AWS credential helper's flags (drop-in). */
export type ServePlan = ({ cfg: AgentConfig; options: ServeOptions } | { dropIn: { flags: DropInFlags; options: { port?: number; hopLimit?: number } } }) & {
  logLevel: LogLevel;
  logFormat: 'json' | 'text';
};

export interface ServeFrontDeps {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  clock: Clock;
  /** the agent's own executable (node + entry file), for the planning child */
  selfCommand: readonly string[];
  stderr: NodeJS.WritableStream;
}

/** Plans in a child, then serves here until SIGINT/SIGTERM; resolves with the exit code. */
export async function serveFront(d: ServeFrontDeps): Promise<number> {
  const planned = await planInChild(d);
  if ('code' in planned) return planned.code;
  const plan = planned.plan;

  const abort = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (++signals > 1) process.exit(130);
    d.stderr.write(`iamra-agent: ${sig} received, cleaning up\n`);
    abort.abort(new Error(`interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const [{ createLineLogger }, { formatError, isAgentError }] = await Promise.all([import('../core/line-logger.js'), import('../core/errors.js')]);
  const logger = createLineLogger({ level: plan.logLevel, format: plan.logFormat, stream: d.stderr, now: () => d.clock.now() });
  const rt = { clock: d.clock, logger, signal: abort.signal, env: d.env };
  try {
    if ('dropIn' in plan) {
      const { serveDropIn } = await import('../compose/dropin-vend.js');
      await serveDropIn(plan.dropIn.flags, rt, plan.dropIn.options);
    } else {
      const { serveCredentials } = await import('../compose/serve.js');
      await serveCredentials(plan.cfg, rt, plan.options);
    }
    return 0;
  } catch (e) {
    // as cli/run.ts: one line for the user, the stack for the operator at debug level
    if (!isAgentError(e)) logger.debug('unexpected error', { stack: e instanceof Error ? e.stack : String(e) });
    d.stderr.write(`iamra-agent: ${formatError(e)}\n`);
    return 1;
  }
}

/** Runs the command line in the full CLI with a plan pipe on fd 3; its stdin, stdout and stderr are ours. */
function planInChild(d: ServeFrontDeps): Promise<{ plan: ServePlan } | { code: number }> {
  return new Promise((resolve) => {
    const [cmd, ...pre] = d.selfCommand;
    const child = spawn(cmd!, [...pre, ...d.argv], { env: { ...d.env, [SERVE_PLAN_FD_ENV]: '3' }, stdio: ['inherit', 'inherit', 'inherit', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdio[3]!.on('data', (c: Buffer) => chunks.push(c));
    // a signal during planning stops the child; its exit code (or ours for the signal) is the answer
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const done = (r: { plan: ServePlan } | { code: number }) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(r);
    };
    child.on('error', (e) => {
      d.stderr.write(`iamra-agent: cannot start the serve front process ${cmd}: ${e.message}\n`);
      done({ code: 1 });
    });
    child.on('close', (code, signal) => {
      if (code !== 0) return done({ code: code ?? (signal === 'SIGINT' ? 130 : 143) });
      const text = Buffer.concat(chunks).toString('utf8');
      if (text === '') return done({ code: 0 }); // --help: printed, nothing to serve
      try {
        done({ plan: JSON.parse(text) as ServePlan });
      } catch (e) {
        d.stderr.write(`iamra-agent: the serve plan from the front process is not JSON (${(e as Error).message}); this is a bug\n`);
        done({ code: 1 });
      }
    });
  });
}
