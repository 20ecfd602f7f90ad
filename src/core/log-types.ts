export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFields = Record<string, unknown>;

/**
 * The port every module logs through: a constant sentence plus fields. Implementations: core/logger.ts (winston,
 * the CLI) and core/line-logger.ts (the long-running `serve` process, which must not carry winston's modules).
 */
export interface Logger {
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}
