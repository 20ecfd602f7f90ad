import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isAgentError } from '../../src/core/errors.js';
import { advanceCursor, alreadySeen, lookupStart, parseCursor, readCursor, writeCursor, type AuditCursor } from '../../src/envsense/audit-state.js';
import { tempDir } from '../helpers/paths.js';

/** The `audit --state` cursor: what a run keeps, where the next lookup starts, and a damaged file named. */

const t = (iso: string) => new Date(iso);
const MIN = 60_000;

test('the cursor keeps the newest time and the ids inside the overlap before it', () => {
  const c1 = advanceCursor(
    undefined,
    [
      { id: 'a', time: t('2026-12-01T10:00:00Z') },
      { id: 'b', time: t('2026-12-01T10:20:00Z') },
      { id: 'c', time: t('2026-12-01T10:20:00Z') },
    ],
    15 * MIN,
  );
  assert.deepEqual(c1, { version: 1, lastEventTime: '2026-12-01T10:20:00Z', seen: { b: '2026-12-01T10:20:00Z', c: '2026-12-01T10:20:00Z' } });
  // --overlap 0s: exactly the ids at the last event time
  assert.deepEqual(advanceCursor(c1, [{ id: 'd', time: t('2026-12-01T10:30:00Z') }], 0)?.seen, { d: '2026-12-01T10:30:00Z' });
  // a late-listed event older than the cursor joins the seen ids; the time never goes back
  const c2 = advanceCursor(c1, [{ id: 'late', time: t('2026-12-01T10:10:00Z') }], 15 * MIN)!;
  assert.equal(c2.lastEventTime, '2026-12-01T10:20:00Z');
  assert.ok(alreadySeen(c2, 'late') && alreadySeen(c2, 'b') && !alreadySeen(c2, 'a'));
  assert.equal(advanceCursor(undefined, [], 15 * MIN), undefined, 'nothing audited, nothing to keep');
  assert.deepEqual(advanceCursor(c1, [], 15 * MIN), c1);
});

test('the next lookup starts the overlap before the cursor, or at --since when that is later', () => {
  const c: AuditCursor = { version: 1, lastEventTime: '2026-12-01T10:20:00Z', seen: {} };
  assert.equal(lookupStart(undefined, 15 * MIN), undefined);
  assert.deepEqual(lookupStart(undefined, 15 * MIN, t('2026-12-01T00:00:00Z')), t('2026-12-01T00:00:00Z'));
  assert.deepEqual(lookupStart(c, 15 * MIN), t('2026-12-01T10:05:00Z'));
  assert.deepEqual(lookupStart(c, 15 * MIN, t('2026-12-01T00:00:00Z')), t('2026-12-01T10:05:00Z'));
  assert.deepEqual(lookupStart(c, 15 * MIN, t('2026-12-01T11:00:00Z')), t('2026-12-01T11:00:00Z'));
});

test('written 0600 and read back; missing is "no cursor yet"; a damaged file is named with the fix', async () => {
  const dir = tempDir('audit-state');
  const file = path.join(dir, 'cursor.json');
  assert.equal(await readCursor(file), undefined);
  const c: AuditCursor = { version: 1, lastEventTime: '2026-12-01T10:20:00Z', seen: { b: '2026-12-01T10:20:00Z' } };
  await writeCursor(file, c);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(await readCursor(file), c);

  const bad: [string, RegExp][] = [
    ['{"version":1,', /not JSON/],
    ['[]', /not an object/],
    ['{"version":2,"lastEventTime":"2026-12-01T10:20:00Z","seen":{}}', /version 2, expected 1/],
    ['{"version":1,"lastEventTime":"yesterday","seen":{}}', /lastEventTime is not an RFC 3339 time/],
    ['{"version":1,"lastEventTime":"2026-12-01T10:20:00Z","seen":["b"]}', /seen is not an object/],
    ['{"version":1,"lastEventTime":"2026-12-01T10:20:00Z","seen":{"b":1}}', /seen is not an object/],
  ];
  for (const [text, re] of bad) {
    assert.throws(
      () => parseCursor(text, file),
      (e: unknown) => isAgentError(e) && e.code === 'AUDIT_STATE_CORRUPT' && e.message.startsWith(`${file}: is not an audit cursor`) && re.test(e.message),
      text,
    );
  }
  writeFileSync(file, 'garbage');
  await assert.rejects(readCursor(file), (e: unknown) => isAgentError(e) && /remove the file/.test(e.hint ?? ''));
});
