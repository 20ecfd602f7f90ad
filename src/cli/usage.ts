import type { Argv } from 'yargs';

/**
 * A usage error (unknown argument, bad or missing value): thrown out of yargs' parse, so no command handler runs.
 * yargs' own `.fail()` only reports; when the fail callback returns, yargs goes on and runs the handler with the
 * arguments it did understand (that is how `serve --port 29911` used to serve on the default port).
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

interface ParsedOptions {
  string: string[];
  number: string[];
  default: Record<string, unknown>;
}

/**
 * Values yargs accepts but no command can use: an option given without its value (`--listen` at the end of the
 * line parses as ''), a number option that is not a number (`--port abc` parses as NaN). Used as a global
 * middleware that runs before yargs' validation, on the options of the command being parsed; `raw` is the
 * command line, to quote what the user typed rather than yargs' NaN.
 */
export function valueChecker(raw: readonly string[]): (argv: Record<string, unknown>, y: Argv) => void {
  return (argv, y) => {
    const o = (y as unknown as { getOptions(): ParsedOptions }).getOptions();
    for (const key of o.string) {
      const v = argv[key];
      if (v === undefined || o.default[key] === v) continue;
      if (v === '' || (Array.isArray(v) && (v.length === 0 || v.includes('')))) throw new UsageError(`option --${key} needs a value`);
    }
    for (const key of o.number) {
      const v = argv[key];
      if (v === undefined) continue;
      const values = Array.isArray(v) ? v : [v];
      if (values.some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
        throw new UsageError(`option --${key} needs a number, got ${JSON.stringify(typedValue(raw, key))}`);
      }
    }
  };
}

function typedValue(raw: readonly string[], key: string): string {
  const i = raw.findIndex((a) => a === `--${key}` || a.startsWith(`--${key}=`));
  if (i < 0) return '';
  const a = raw[i]!;
  return a.includes('=') ? a.slice(a.indexOf('=') + 1) : (raw[i + 1] ?? '');
}
