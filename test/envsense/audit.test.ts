import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { isAgentError } from '../../src/core/errors.js';
import { classify, parseDatabase, parseEvents } from '../../src/envsense/audit.js';
import { totpAt } from '../../src/envsense/totp.js';

const HEX = 'c0ffee00112233445566778899aabbccddeeff00';
const SUBJECT = 'CN=host1.example.com';
const db = new Map([[SUBJECT, HEX]]);
const P = { digest: 'sha1', period: 30, digits: 6 } as const;
// The window is whole steps, so where "±31 s" lands depends on where in its step the event is: the earlier-side
// cases use an event at the start of a step (E), the later-side ones an event at its last second (E + 29 s).
const E = new Date(59871950 * 30_000);

function event(codeAt: Date | undefined, extra: Record<string, unknown> = {}, eventAt = E) {
  return {
    eventSource: 'rolesanywhere.amazonaws.com',
    eventName: 'CreateSession',
    eventTime: eventAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    sourceIPAddress: '127.0.0.1',
    requestParameters: codeAt ? { roleSessionName: totpAt(HEX, P, codeAt) } : {},
    additionalEventData: { x509Subject: SUBJECT },
    ...extra,
  };
}

const at = (s: number) => new Date(E.getTime() + s * 1000);
const verdict = (e: unknown, latencyMs = 30_000) => classify(e, db, { ...P, latencyMs }).verdict;

test('window: event time ±1 step, plus the latency allowance before it', () => {
  assert.equal(verdict(event(at(0))), 'legit');
  assert.equal(verdict(event(at(-29))), 'legit');
  const late = at(29);
  const after = (sec: number) => event(new Date(late.getTime() + sec * 1000), {}, late);
  assert.equal(verdict(after(29)), 'legit', '+29 s is the next step');
  assert.equal(verdict(after(31)), 'mismatch', '+31 s is two steps ahead');
  assert.equal(verdict(event(at(-31))), 'legit', '−31 s is inside the 30 s latency allowance');
  assert.equal(verdict(event(at(-31)), 0), 'mismatch', '−31 s without latency allowance');
  assert.equal(verdict(event(at(-29)), 0), 'legit');
  assert.equal(verdict(event(at(-61))), 'mismatch', '−61 s is beyond 1 step + 30 s');
});

test('verdicts: unknown-subject, no-session-name, malformed; subject from responseElements first', () => {
  assert.equal(verdict(event(at(0), { additionalEventData: { x509Subject: 'CN=other.example.com' } })), 'unknown-subject');
  assert.equal(verdict(event(undefined)), 'no-session-name');
  assert.equal(verdict(event(at(0), { eventTime: 'yesterday' })), 'malformed');
  assert.equal(verdict(event(at(0), { additionalEventData: {} })), 'malformed');
  assert.equal(verdict(event(at(0), { additionalEventData: {}, responseElements: { x509Subject: SUBJECT } })), 'legit');
  const r = classify(event(at(0), { errorCode: 'AccessDeniedException' }), db, { ...P, latencyMs: 0 });
  assert.deepEqual(
    { ...r },
    { verdict: 'legit', subject: SUBJECT, time: '2026-12-01T20:55:00Z', sourceIp: '127.0.0.1', code: totpAt(HEX, P, E), errorCode: 'AccessDeniedException' },
  );
});

test('input formats: {"Records":[…]}, one event, JSON lines, gzip; a truncated gzip is named', () => {
  const a = event(at(0));
  const b = event(at(1));
  assert.equal(parseEvents(Buffer.from(JSON.stringify({ Records: [a, b] })), 'f').length, 2);
  assert.equal(parseEvents(Buffer.from(JSON.stringify(a)), 'f').length, 1);
  assert.equal(parseEvents(Buffer.from(`${JSON.stringify(a)}\n${JSON.stringify(b)}\n`), 'f').length, 2);
  const gz = gzipSync(JSON.stringify({ Records: [a, b] }));
  assert.equal(parseEvents(gz, 'f.gz').length, 2);
  assert.throws(
    () => parseEvents(gz.subarray(0, gz.length - 10), 'trail.json.gz'),
    (e) => isAgentError(e) && e.code === 'AUDIT_BAD_INPUT' && /^trail.json.gz: is not a complete gzip file/.test(e.message),
  );
  assert.throws(
    () => parseEvents(Buffer.from('{"a":1}\nnot json\n'), 'x.jsonl'),
    (e) => isAgentError(e) && /x.jsonl: line 2 is not JSON/.test(e.message),
  );
});

test('database: one object or a list; a malformed entry is named', () => {
  assert.equal(parseDatabase(JSON.stringify({ [SUBJECT]: HEX }), 'db').get(SUBJECT), HEX);
  assert.equal(parseDatabase(JSON.stringify([{ [SUBJECT]: HEX }, { 'CN=b': HEX.toUpperCase() }]), 'db').get('CN=b'), HEX);
  assert.throws(
    () => parseDatabase('[{"CN=a": "xyz"}]', 'db.json'),
    (e) => isAgentError(e) && /db.json: entry 0 \(CN=a\) is not a sha1 or sha256 hex/.test(e.message),
  );
  assert.throws(
    () => parseDatabase('[1]', 'db.json'),
    (e) => isAgentError(e) && /entry 0 is not an object/.test(e.message),
  );
  assert.throws(
    () => parseDatabase('{', 'db.json'),
    (e) => isAgentError(e) && /db.json: is not JSON/.test(e.message),
  );
});
