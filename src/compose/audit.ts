/**
 * Part of the composition root: `audit --lookup` wired from its flags: the cursor file (when --state is given),
 * the CloudTrail lookup from where the cursor or --since says, and the events the cursor has not audited yet.
 * The cursor moves only through commit(), which the command calls after the verdicts are out, so a run that
 * fails before reporting audits the same events again next time.
 */
import { advanceCursor, alreadySeen, lookupStart, readCursor, writeCursor } from '../envsense/index.js';
// imported directly, not through envsense/index.js: the CloudTrail SDK loads only for --lookup, never on the
// credential paths that use the envsense index
import { type CloudTrailLookupOptions, lookupCreateSessions } from '../envsense/audit-lookup.js';

export interface LookupAuditOptions {
  lookup: CloudTrailLookupOptions;
  since?: Date;
  until?: Date;
  /** the cursor file (`--state`) */
  statePath?: string;
  overlapMs: number;
}

export interface LookupBatch {
  /** CloudTrail records not audited before, oldest first (the order of a trail's log files) */
  records: unknown[];
  start?: Date;
  end?: Date;
  /** looked-up events the cursor had already audited */
  alreadyAudited: number;
  /** records the batch as audited in the cursor file */
  commit(): Promise<void>;
}

export async function lookupNewSessions(o: LookupAuditOptions): Promise<LookupBatch> {
  const cursor = o.statePath === undefined ? undefined : await readCursor(o.statePath);
  const start = lookupStart(cursor, o.overlapMs, o.since);
  const fresh: { id: string; time: Date; record: unknown }[] = [];
  let alreadyAudited = 0;
  for await (const e of lookupCreateSessions(o.lookup, { ...(start && { start }), ...(o.until && { end: o.until }) })) {
    if (alreadySeen(cursor, e.id)) alreadyAudited++;
    else fresh.push(e);
  }
  // LookupEvents answers newest first
  fresh.reverse();
  return {
    records: fresh.map((e) => e.record),
    ...(start && { start }),
    ...(o.until && { end: o.until }),
    alreadyAudited,
    async commit() {
      if (o.statePath === undefined) return;
      const next = advanceCursor(cursor, fresh, o.overlapMs);
      if (next) await writeCursor(o.statePath, next);
    },
  };
}
