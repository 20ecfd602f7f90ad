import { readFile } from 'node:fs/promises';
import { AgentError } from '../core/errors.js';
import { atomicWriteFile, fsError } from '../core/fs.js';

/**
 * The `audit --lookup --state FILE` cursor, so a timer run audits only events it has not seen. CloudTrail's times
 * have whole seconds and several events share one, so the time alone cannot be the cursor: it keeps the newest
 * event time and the ids of the events at or after `lastEventTime − overlap`. The next lookup starts at
 * `lastEventTime − overlap` and skips those ids. The overlap (15 min by default) catches events CloudTrail makes
 * visible to LookupEvents some minutes after their eventTime ("typically within 5 minutes", CloudTrail User
 * Guide); with `--overlap 0s` the cursor is exactly "the last event time and the ids seen at it".
 */

export interface AuditCursor {
  version: 1;
  /** RFC 3339 time of the newest event audited so far */
  lastEventTime: string;
  /** eventID → eventTime of the events inside the overlap before lastEventTime */
  seen: Record<string, string>;
}

export interface SeenEvent {
  id: string;
  time: Date;
}

const component = 'audit';

function corrupt(file: string, why: string): AgentError {
  return new AgentError({
    code: 'AUDIT_STATE_CORRUPT',
    component,
    message: `${file}: is not an audit cursor (${why})`,
    hint: 'remove the file to audit again from --since (or from the start of the event history); it is rewritten after the next audit',
  });
}

const isTime = (v: unknown): v is string => typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v) && !Number.isNaN(Date.parse(v));

export function parseCursor(text: string, file: string): AuditCursor {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw corrupt(file, `not JSON: ${(e as Error).message}`);
  }
  const c = doc as Partial<AuditCursor> | null;
  if (c === null || typeof c !== 'object' || Array.isArray(c)) throw corrupt(file, 'not an object');
  if (c.version !== 1) throw corrupt(file, `version ${JSON.stringify(c.version)}, expected 1`);
  if (!isTime(c.lastEventTime)) throw corrupt(file, 'lastEventTime is not an RFC 3339 time');
  const seen = c.seen;
  if (seen === null || typeof seen !== 'object' || Array.isArray(seen) || !Object.values(seen).every(isTime))
    throw corrupt(file, 'seen is not an object of event ids and times');
  return { version: 1, lastEventTime: c.lastEventTime, seen: { ...seen } };
}

/** The cursor in FILE; undefined when there is none yet (the first run). */
export async function readCursor(file: string): Promise<AuditCursor | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fsError('read', file, e);
  }
  return parseCursor(text, file);
}

/** Where the next lookup starts: the overlap before the cursor, or `since` when that is later. */
export function lookupStart(cursor: AuditCursor | undefined, overlapMs: number, since?: Date): Date | undefined {
  const fromCursor = cursor ? new Date(Date.parse(cursor.lastEventTime) - overlapMs) : undefined;
  if (!fromCursor) return since;
  return since && since > fromCursor ? since : fromCursor;
}

/** Whether the cursor has already audited this event. */
export function alreadySeen(cursor: AuditCursor | undefined, id: string): boolean {
  return cursor !== undefined && Object.hasOwn(cursor.seen, id);
}

/** The cursor after auditing `events` (pure); unchanged when there are none. */
export function advanceCursor(cursor: AuditCursor | undefined, events: readonly SeenEvent[], overlapMs: number): AuditCursor | undefined {
  const all = new Map<string, number>(Object.entries(cursor?.seen ?? {}).map(([id, t]) => [id, Date.parse(t)]));
  for (const e of events) all.set(e.id, e.time.getTime());
  const last = Math.max(cursor ? Date.parse(cursor.lastEventTime) : Number.NEGATIVE_INFINITY, ...events.map((e) => e.time.getTime()));
  if (!Number.isFinite(last)) return cursor;
  const iso = (ms: number) => new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
  const seen: Record<string, string> = {};
  for (const [id, t] of [...all].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))) if (t >= last - overlapMs) seen[id] = iso(t);
  return { version: 1, lastEventTime: iso(last), seen };
}

/** Written atomically (temp file, fsync, rename) and 0600: a torn cursor would re-audit or skip events. */
export async function writeCursor(file: string, cursor: AuditCursor): Promise<void> {
  await atomicWriteFile(file, JSON.stringify(cursor, null, 2) + '\n', 0o600).catch((e: unknown) => {
    throw fsError('write', file, e);
  });
}
