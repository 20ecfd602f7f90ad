/**
 * `credential-process` as the AWS CLI runs it, once per `aws` command: the cache hit (fast-credentials.ts) and the
 * warm route (credential-process-config.ts with the route's config, one CreateSession) in one module graph, which
 * tools/bundle.mjs builds as a bundle of its own (dist/bin/credential-process.js). Why: in the CLI's bundle these
 * modules are spread over ~25 chunks (esbuild splits at every dynamic import, by which commands share a module), and
 * Node 20's ESM loader resolves, reads, compiles and links each chunk on its own; one file is most of the difference
 * between a warm call and the AWS credential helper.
 *
 * The boundary with main.ts carries plain values only (argv, the environment, streams, an AbortSignal, an exit code,
 * a file name): this bundle has its own copies of the modules it shares with the CLI's (core/errors' AgentError
 * among them), so no object made by one bundle's classes is ever checked by the other's `instanceof`.
 */
import { systemClock } from '../core/clock.js';
import type { LogLevel } from '../core/log-types.js';
import { fastCredentialProcess } from './fast-credentials.js';
import { loadWarmRoute } from './warm-route.js';

export interface HotInput {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  /** the agent's own executable (a file of this build: its size and mtime are part of the route's digest) */
  selfCommand: string[];
  selfFile: string;
  /** to stdout at once (main.ts: without making process.stdout) */
  writeStdout(text: string): void;
  /** process.stderr, made on first use */
  stderr(): NodeJS.WritableStream;
  /** stderr is a terminal: text log lines instead of JSON */
  isTTY(): boolean;
  /** fired on SIGINT/SIGTERM (main.ts owns the handlers) */
  signal: AbortSignal;
}

/**
 * `exitCode`: answered here (cache hit or warm route). Otherwise the full CLI runs the line; `routeFile` is where it
 * records the route when the line is one this module can answer next time.
 */
export type HotResult = { exitCode: number } | { exitCode?: undefined; routeFile?: string };

export async function credentialProcessHot(i: HotInput): Promise<HotResult> {
  const fast = await fastCredentialProcess({ argv: i.argv, env: i.env, clock: systemClock, selfFile: i.selfFile });
  if (fast.output !== undefined) {
    i.writeStdout(fast.output);
    return { exitCode: 0 };
  }
  if (!fast.warm) return fast.routeFile === undefined ? {} : { routeFile: fast.routeFile };
  const { route, options } = fast.warm;
  // a file of its own: a cache hit needs none of the signer, the store or node:http
  const [{ createLineLogger }, warm] = await Promise.all([import('../core/line-logger.js'), loadWarmRoute(i.env)]);
  const { warmCredentialProcess } = warm.module;
  const isTTY = i.isTTY();
  const stderr = writer((text) => i.stderr().write(text));
  // The route holds the validated config: no yargs, YAML or schema to load, and the few lines go through the line
  // logger (winston's lines without winston, core/line-logger.ts).
  const makeLogger = (a: { logLevel: LogLevel; logFormat?: 'json' | 'text' }) =>
    createLineLogger({ level: a.logLevel, format: a.logFormat ?? (isTTY ? 'text' : 'json'), stream: stderr, now: () => systemClock.now() });
  const exitCode = await warmCredentialProcess(
    {
      io: { stdout: writer(i.writeStdout), stderr, env: i.env, isTTY },
      clock: systemClock,
      makeLogger,
      // what config/load.ts returned for this very line when the route was recorded
      loadConfig: async () => route.config,
      selfCommand: i.selfCommand,
      signal: i.signal,
    },
    route,
    options,
  );
  // after the answer is out: with the functions this call compiled, the next one skips compiling them
  warm.saveCodeCache();
  return { exitCode };
}

/**
 * A stream for the few writes of the warm route (the document; a log or error line), which makes nothing until it
 * is written to: process.stdout and process.stderr are sockets when they are pipes (as the AWS CLI's are), and
 * making one costs about a millisecond. The warm route's code (cli/run.ts, credential-process-config.ts,
 * core/line-logger.ts) only ever calls write().
 */
function writer(write: (text: string) => void): NodeJS.WritableStream {
  const w = {
    write: (chunk: string | Uint8Array) => {
      write(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    },
  };
  return w as unknown as NodeJS.WritableStream;
}
