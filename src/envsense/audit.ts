import { gunzipSync } from 'node:zlib';
import { AgentError } from '../core/errors.js';
import { codesBetween, type TotpParams } from './totp.js';

/**
 * The CloudTrail detector: recomputes the TOTP codes a host with its enrolled fingerprint could have sent around
 * each CreateSession event and flags every event whose roleSessionName is none of them.
 *
 * Window (documented in the README): a code is legit when it is the code of a time step between the steps of
 * `eventTime − period − latency` and `eventTime + period` (both included): ±1 step for clock skew, plus `latency`
 * (default 30 s) for the time between the host computing the code and the service recording the event.
 */

export type Verdict = 'legit' | 'mismatch' | 'unknown-subject' | 'no-session-name' | 'malformed';

export interface AuditResult {
  verdict: Verdict;
  subject?: string;
  time?: string;
  sourceIp?: string;
  code?: string;
  errorCode?: string;
  /** why malformed / what was expected */
  detail?: string;
}

const component = 'audit';

function inputError(what: string, why: string, hint: string): AgentError {
  return new AgentError({ code: 'AUDIT_BAD_INPUT', component, message: `${what}: ${why}`, hint });
}

/** The fingerprint database: one object `{subject: hex}`, or a list of such objects (the seed's format). */
export function parseDatabase(text: string, name: string): Map<string, string> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw inputError(name, `is not JSON (${(e as Error).message})`, 'the database is {"CN=host": "<hex>"} or a list of such objects');
  }
  const entries = Array.isArray(doc) ? doc : [doc];
  const db = new Map<string, string>();
  entries.forEach((entry, i) => {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry))
      throw inputError(name, `entry ${i} is not an object`, 'each entry is {"CN=host": "<hex>"}');
    for (const [subject, hex] of Object.entries(entry as Record<string, unknown>)) {
      if (typeof hex !== 'string' || !/^([0-9a-f]{40}|[0-9a-f]{64})$/i.test(hex)) {
        throw inputError(name, `entry ${i} (${subject}) is not a sha1 or sha256 hex fingerprint`, 'use what `iamra-agent fingerprint --json` prints');
      }
      db.set(subject, hex.toLowerCase());
    }
  });
  return db;
}

/** CloudTrail input: gzip or plain; `{"Records": […]}`, a single event, or JSON lines. */
export function parseEvents(data: Buffer, name: string): unknown[] {
  let bytes = data;
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw inputError(name, `is not a complete gzip file (${(e as Error).message})`, 'the file is truncated or damaged: fetch it again from the trail bucket');
    }
  }
  const text = bytes.toString('utf8').trim();
  if (text === '') return [];
  try {
    const doc: unknown = JSON.parse(text);
    if (doc && typeof doc === 'object' && !Array.isArray(doc) && Array.isArray((doc as { Records?: unknown }).Records))
      return (doc as { Records: unknown[] }).Records;
    if (Array.isArray(doc)) return doc;
    return [doc];
  } catch {
    // not one document: JSON lines
  }
  return text.split('\n').flatMap((line, i) => {
    if (line.trim() === '') return [];
    try {
      return [JSON.parse(line) as unknown];
    } catch {
      throw inputError(name, `line ${i + 1} is not JSON`, 'give CloudTrail log files ({"Records": […]}), one event, or JSON lines');
    }
  });
}

export function isCreateSession(e: unknown): boolean {
  const r = e as { eventSource?: unknown; eventName?: unknown } | null;
  return r !== null && typeof r === 'object' && r.eventName === 'CreateSession' && r.eventSource === 'rolesanywhere.amazonaws.com';
}

type Record_ = {
  eventTime?: unknown;
  sourceIPAddress?: unknown;
  errorCode?: unknown;
  requestParameters?: { roleSessionName?: unknown } | null;
  responseElements?: { x509Subject?: unknown } | null;
  additionalEventData?: { x509Subject?: unknown } | null;
};

export function classify(event: unknown, db: Map<string, string>, p: TotpParams & { latencyMs: number }): AuditResult {
  const e = event as Record_;
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const time = str(e.eventTime);
  const subject = str(e.responseElements?.x509Subject) ?? str(e.additionalEventData?.x509Subject);
  const base: AuditResult = { verdict: 'malformed' };
  if (subject) base.subject = subject;
  if (time) base.time = time;
  const ip = str(e.sourceIPAddress);
  if (ip) base.sourceIp = ip;
  const err = str(e.errorCode);
  if (err) base.errorCode = err;
  const at = time ? new Date(time) : undefined;
  if (!at || Number.isNaN(at.getTime())) return { ...base, verdict: 'malformed', detail: 'no valid eventTime' };
  if (!subject) return { ...base, verdict: 'malformed', detail: 'no x509Subject' };
  const code = str(e.requestParameters?.roleSessionName);
  if (!code) return { ...base, verdict: 'no-session-name' };
  base.code = code;
  const hex = db.get(subject);
  if (!hex) return { ...base, verdict: 'unknown-subject' };
  const from = new Date(at.getTime() - p.period * 1000 - p.latencyMs);
  const to = new Date(at.getTime() + p.period * 1000);
  const ok = codesBetween(hex, p, from, to).some((c) => c.code === code);
  return { ...base, verdict: ok ? 'legit' : 'mismatch' };
}

export function renderText(results: AuditResult[]): string {
  const rows = results.map((r) => [r.verdict, r.time ?? '-', r.subject ?? '-', r.sourceIp ?? '-', r.code ?? '-', r.errorCode ?? r.detail ?? '']);
  const head = ['VERDICT', 'TIME', 'SUBJECT', 'SOURCE IP', 'CODE', 'NOTE'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}
