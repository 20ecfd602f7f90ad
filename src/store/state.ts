import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import { AgentError, formatError } from '../core/errors.js';
import { atomicWriteFile, atomicWriteFileSync, fsError, readFileOrUndefined } from '../core/fs.js';
import { acquireLock } from '../core/lock.js';
import type { Logger } from '../core/logger.js';
import { binaryOffset } from '../core/text.js';

/**
 * <state.dir>/state.json: what the agent remembers between runs. Instants are ISO 8601 strings (it is JSON on disk
 * and read by people). The file is small and rewritten whole, atomically.
 */
export interface AgentState {
  /** the last renewal decision (`renew`, `renew --needed`, the timer) */
  lastCheck?: { at: string; due?: boolean; reason?: string; renewAt?: string };
  lastRenewal?: { at: string; ok: boolean; error?: string; serial?: string };
  /** the last ARI answer for the live certificate (RFC 9773), with Retry-After already clamped */
  ari?: { windowStart: string; windowEnd: string; retryAfter?: string; checkedAt: string; explanationUrl?: string; certId?: string };
  /**
   * TXT records created for DNS-01 and not yet removed. Written before the record is created and cleared after it is
   * deleted, so a run killed in between leaves enough here for the next run to clean up.
   */
  pendingTxt: PendingTxt[];
  /**
   * the last CreateSession outcome: read() gives the newer of the record file's (StateFile.recordCreateSession) and
   * the one state.json holds (written there by agents before the record file, and kept by every update since)
   */
  lastCreateSession?: CreateSessionRecord;
  /** monotonically increasing event counts (renewals, failures, …), exported by `status --prometheus` */
  counters: Record<string, number>;
}

export interface CreateSessionRecord {
  at: string;
  ok: boolean;
  error?: string;
  expiration?: string;
}

export interface PendingTxt {
  fqdn: string;
  value: string;
  zoneId?: string;
  createdAt: string;
}

export function emptyState(): AgentState {
  return { pendingTxt: [], counters: {} };
}

export interface StateDeps {
  clock: Clock;
  logger: Logger;
}

/**
 * Read and update state.json. update() is a read-modify-write under its own short lock (`.state.lock`), separate
 * from the run lock, so a run that holds the store lock can update state, and concurrent writers (renew, rollback,
 * bootstrap) never lose each other's writes.
 *
 * The last CreateSession outcome is the exception: a file of its own, <state.dir>/create-session.json, replaced
 * whole (atomically: a reader sees the old record or the new one) without the lock and without fsync. Every
 * CreateSession writes it, a cold credential-process call included, where the lock, the read and the two fsyncs
 * of a state.json update cost several milliseconds on a disk-backed state directory; it is a hint for `status`, so
 * the last writer wins and a crash costs at most the newest record, never state.json's other records.
 */
export class StateFile {
  readonly file: string;
  /** <state.dir>/create-session.json (recordCreateSession) */
  readonly recordFile: string;
  private readonly lockFile: string;
  private readonly deps: StateDeps;

  private readonly readOnly: boolean;

  /**
   * `readOnly` (status): a corrupt file is an error naming it and what is wrong, and stays where it is; a reader
   * must not change what it reports on. Otherwise (the commands that write state) it is set aside and replaced.
   */
  constructor(dir: string, deps: StateDeps, o: { readOnly?: boolean } = {}) {
    this.file = path.join(path.resolve(dir), 'state.json');
    this.recordFile = path.join(path.resolve(dir), 'create-session.json');
    this.lockFile = path.join(path.resolve(dir), '.state.lock');
    this.deps = deps;
    this.readOnly = o.readOnly ?? false;
  }

  /**
   * Records a CreateSession outcome (0600, atomic, no lock, no fsync: see the class). `sync` (credential-process, a
   * one-shot process with nothing to overlap): without a thread-pool round trip per step.
   */
  async recordCreateSession(r: CreateSessionRecord, o: { sync?: boolean } = {}): Promise<void> {
    const text = JSON.stringify(r) + '\n';
    if (o.sync) atomicWriteFileSync(this.recordFile, text, 0o600, { durable: false });
    else await atomicWriteFile(this.recordFile, text, 0o600, { durable: false });
  }

  /**
   * The state, or an empty one when there is none yet. A corrupt file is set aside (state.json.corrupt) with a
   * warning. lastCreateSession is the newer of the record file's and state.json's.
   */
  async read(): Promise<AgentState> {
    const [state, record] = await Promise.all([this.readState(), this.readRecord()]);
    if (record && !(state.lastCreateSession && Date.parse(state.lastCreateSession.at) > Date.parse(record.at))) state.lastCreateSession = record;
    return state;
  }

  /** The record file's record; a missing, unreadable or damaged one is none (a hint, not state: see the class). */
  private async readRecord(): Promise<CreateSessionRecord | undefined> {
    let text: string | undefined;
    try {
      text = await readFileOrUndefined(this.recordFile);
    } catch (e) {
      this.deps.logger.debug('CreateSession record unreadable', { file: this.recordFile, error: formatError(e) });
      return undefined;
    }
    if (text === undefined) return undefined;
    try {
      const r = JSON.parse(text) as Partial<CreateSessionRecord> | null;
      if (r && typeof r.at === 'string' && !Number.isNaN(Date.parse(r.at)) && typeof r.ok === 'boolean') return r as CreateSessionRecord;
    } catch {
      // as below
    }
    this.deps.logger.debug('CreateSession record damaged; ignored', { file: this.recordFile });
    return undefined;
  }

  private async readState(): Promise<AgentState> {
    const text = await readFileOrUndefined(this.file);
    if (text === undefined) return emptyState();
    const parsed = parseState(text);
    if ('state' in parsed) return parsed.state;
    const aside = `${this.file}.corrupt`;
    if (this.readOnly) {
      throw new AgentError({
        code: 'STATE_CORRUPT',
        component: 'state',
        message: `${this.file} ${parsed.problem}`,
        hint: `the next renew sets it aside (${aside}) and starts from an empty state`,
        details: { file: this.file },
      });
    }
    this.deps.logger.warn('state file unreadable, starting from an empty state', { file: this.file, problem: parsed.problem, movedTo: aside });
    await fsp.rename(this.file, aside).catch((e: unknown) => {
      throw fsError('move aside', this.file, e);
    });
    return emptyState();
  }

  /** Applies fn to the current state and writes the result atomically (0600). Returns what was written. */
  // biome-ignore lint/suspicious/noConfusingVoidType: a mutating callback returns nothing, a replacing one the new state
  async update(fn: (s: AgentState) => AgentState | void): Promise<AgentState> {
    // Updates from this process queue in memory; the file lock only arbitrates between processes (serve, renew,
    // status). Polling the file lock against ourselves would also spin with a test clock whose sleep() is instant.
    const run = this.queue.then(() => this.updateLocked(fn));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private queue: Promise<unknown> = Promise.resolve();

  // biome-ignore lint/suspicious/noConfusingVoidType: as update()
  private async updateLocked(fn: (s: AgentState) => AgentState | void): Promise<AgentState> {
    const lock = await acquireLock(this.lockFile, { clock: this.deps.clock, waitMs: 10_000, pollMs: 20 });
    try {
      const current = await this.read();
      const next = fn(current) ?? current;
      await atomicWriteFile(this.file, JSON.stringify(next, null, 2) + '\n', 0o600);
      return next;
    } finally {
      await lock.release();
    }
  }
}

/** Adds n to a counter (creating it), for use inside update(). */
export function bump(s: AgentState, counter: string, n = 1): void {
  s.counters[counter] = (s.counters[counter] ?? 0) + n;
}

/** The records state.json holds as objects: one of another type means the file is not the agent's state. */
const RECORDS = ['lastCheck', 'lastRenewal', 'ari', 'lastCreateSession', 'counters'] as const;

function parseState(text: string): { state: AgentState } | { problem: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    // the parser's text quotes the file's bytes: only what is wrong goes into the message
    return { problem: binaryOffset(text) === undefined ? 'is not a JSON object (not JSON, or cut off)' : 'is not a JSON object (it holds binary data)' };
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return { problem: 'is not a JSON object' };
  const o = v as Partial<AgentState>;
  for (const k of RECORDS) {
    const r = (o as Record<string, unknown>)[k];
    if (r !== undefined && (r === null || typeof r !== 'object' || Array.isArray(r))) return { problem: `has a ${k} that is not an object` };
  }
  if (o.pendingTxt !== undefined && !Array.isArray(o.pendingTxt)) return { problem: 'has a pendingTxt that is not a list' };
  const pendingTxt = Array.isArray(o.pendingTxt)
    ? o.pendingTxt.filter((p): p is PendingTxt => !!p && typeof p.fqdn === 'string' && typeof p.value === 'string')
    : [];
  const counters: Record<string, number> = {};
  if (o.counters && typeof o.counters === 'object') {
    for (const [k, n] of Object.entries(o.counters)) if (typeof n === 'number' && Number.isFinite(n)) counters[k] = n;
  }
  return { state: { ...o, pendingTxt, counters } as AgentState };
}
