import winston from 'winston';
import type { LogFields, Logger, LogLevel } from './log-types.js';
import { redact } from './redact.js';

export type { LogFields, Logger, LogLevel } from './log-types.js';

export { redact } from './redact.js';

export interface LoggerOptions {
  level: LogLevel;
  /** json for journald/collectors; text for a person at a terminal */
  format: 'json' | 'text';
  /** defaults to stderr, so stdout stays clean for machine output (credential_process JSON) */
  stream?: NodeJS.WritableStream;
}

export function createLogger(o: LoggerOptions): Logger {
  const fmt =
    o.format === 'json'
      ? winston.format.combine(winston.format.timestamp(), winston.format.json())
      : winston.format.printf(({ level, message, timestamp: _t, ...rest }) => {
          const extra = Object.keys(rest).length
            ? ' ' +
              Object.entries(rest)
                .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
                .join(' ')
            : '';
          return `${level}: ${String(message)}${extra}`;
        });
  const w = winston.createLogger({
    level: o.level,
    format: fmt,
    transports: [new winston.transports.Stream({ stream: o.stream ?? process.stderr })],
  });
  return wrap(w);
}

function wrap(w: winston.Logger): Logger {
  // a disabled level costs a comparison, not redaction and a trip through winston's streams (IMDS logs per request)
  const log = (level: LogLevel) => (msg: string, fields?: LogFields) => {
    if (w.isLevelEnabled(level)) w.log(level, msg, redact(fields) ?? {});
  };
  return {
    error: log('error'),
    warn: log('warn'),
    info: log('info'),
    debug: log('debug'),
    child: (fields) => wrap(w.child(redact(fields) ?? {})),
  };
}

/** For tests and library use: a logger that records entries. */
export function memoryLogger(entries: { level: LogLevel; msg: string; fields: LogFields }[] = []): Logger & { entries: typeof entries } {
  const make = (base: LogFields): Logger => {
    const log = (level: LogLevel) => (msg: string, fields?: LogFields) => entries.push({ level, msg, fields: { ...base, ...redact(fields) } });
    return { error: log('error'), warn: log('warn'), info: log('info'), debug: log('debug'), child: (f) => make({ ...base, ...redact(f) }) };
  };
  return Object.assign(make({}), { entries });
}
