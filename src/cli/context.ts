import type { Clock } from '../core/clock.js';
import type { Logger, LogLevel } from '../core/logger.js';
import type { AgentConfig } from '../config/schema.js';
import type { CredentialRoute } from './fast-credentials.js';

/** Flags every command accepts. */
export interface GlobalArgs {
  config: string;
  logLevel: LogLevel;
  logFormat?: 'json' | 'text';
  set?: string[];
}

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** stderr is a terminal: readable text logs instead of JSON lines */
  isTTY: boolean;
}

/**
 * What main.ts (the composition root) hands the CLI: real side effects, built once. Commands parse, call a
 * feature with these, and map the outcome to an exit code. No logic lives in cli/.
 */
export interface CliDeps {
  io: Io;
  clock: Clock;
  makeLogger(args: GlobalArgs): Logger;
  loadConfig(args: GlobalArgs): Promise<AgentConfig>;
  /** the agent's own executable, for units and spawned sandbox processes */
  selfCommand: string[];
  /** an AbortSignal fired on SIGINT/SIGTERM, so cleanup (TXT records, locks) still runs */
  signal: AbortSignal;
  /**
   * Set when this `credential-process` line is one the hot path (cli/fast-credentials.ts) can answer from the cache
   * next time: the command hands it what it derived from the config.
   */
  rememberCredentialRoute?: (route: CredentialRoute) => Promise<void>;
}

export interface CommandResult {
  exitCode: number;
}
