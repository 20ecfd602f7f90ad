import * as z from 'zod';

/**
 * Durations in the config, normalised once at parse: the parsed config holds milliseconds, so no call site converts
 * units (and none can mistake seconds for milliseconds). Input: seconds as an integer, or a string with a unit.
 */

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

function toMs(v: number | string): number {
  if (typeof v === 'number') return v * 1000;
  const m = DURATION.exec(v)!;
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

export const duration = z
  .union([z.number().int().nonnegative(), z.string().regex(DURATION, 'must be a duration like 30s, 10m, 12h or 7d')])
  .describe('seconds as an integer, or a string with a unit: 500ms, 30s, 10m, 12h, 7d')
  .transform(toMs);

/** A duration given on the command line (`--latency 30s`, `--latency 30`), by the config's rule; undefined if not one. */
export function parseDurationMs(v: string): number | undefined {
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  return DURATION.test(v) ? toMs(v) : undefined;
}
