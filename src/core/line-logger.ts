/**
 * A Logger that writes the same lines as core/logger.ts (winston) without loading winston: for the long-running
 * `serve` process, where winston's ~60 modules (logform, readable-stream, colors, async) would stay resident for the
 * process's life (~5 MB RSS of a 55 MB budget) to format a handful of lines. The formats are winston's as the CLI
 * configures it, so journald and collectors see one shape whichever process logged:
 * - json: one object per line, keys sorted at every level (safe-stable-stringify's order), `level`, `message` and an
 *   ISO `timestamp` among the fields;
 * - text: `level: message k=v ...` with child fields first, strings bare and everything else as JSON.
 * Fields are redacted first, as in core/logger.ts.
 */
import type { LogFields, Logger, LogLevel } from './log-types.js';
import { redact } from './redact.js';

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 5 };

export interface LineLoggerOptions {
  level: LogLevel;
  format: 'json' | 'text';
  /** where the lines go (stderr in `serve`) */
  stream: NodeJS.WritableStream;
  /** the timestamp of a json line (the process's clock; time is a parameter) */
  now: () => Date;
}

export function createLineLogger(o: LineLoggerOptions): Logger {
  const max = RANK[o.level];
  const make = (base: LogFields): Logger => {
    const log = (level: LogLevel) => (msg: string, fields?: LogFields) => {
      if (RANK[level] > max) return;
      const all = { ...base, ...redact(fields) };
      o.stream.write(`${o.format === 'json' ? jsonLine(level, msg, all, o.now()) : textLine(level, msg, all)}\n`);
    };
    return { error: log('error'), warn: log('warn'), info: log('info'), debug: log('debug'), child: (f) => make({ ...base, ...redact(f) }) };
  };
  return make({});
}

function jsonLine(level: LogLevel, message: string, fields: LogFields, at: Date): string {
  const seen = new WeakSet<object>();
  return JSON.stringify({ ...fields, level, message, timestamp: at.toISOString() }, (_k, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    if (seen.has(v)) return '[Circular]';
    seen.add(v);
    const sorted: LogFields = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as LogFields)[k];
    return sorted;
  });
}

function textLine(level: LogLevel, message: string, fields: LogFields): string {
  const extra = Object.entries(fields)
    .map(([k, v]) => ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join('');
  return `${level}: ${message}${extra}`;
}
