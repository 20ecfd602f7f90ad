import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import { atomicWriteFile, fsError, readFileOrUndefined } from '../core/fs.js';
import { acquireLock } from '../core/lock.js';
import type { Logger } from '../core/logger.js';

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
  lastCreateSession?: { at: string; ok: boolean; error?: string; expiration?: string };
  /** monotonically increasing event counts (renewals, failures, …), exported by `status --prometheus` */
  counters: Record<string, number>;
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
 * from the run lock, so a run that holds the store lock can update state, and `status` or `credential-process`
 * recording their own results never lose a concurrent write.
 */
export class StateFile {
  readonly file: string;
  private readonly lockFile: string;
  private readonly deps: StateDeps;

  constructor(dir: string, deps: StateDeps) {
    this.file = path.join(path.resolve(dir), 'state.json');
    this.lockFile = path.join(path.resolve(dir), '.state.lock');
    this.deps = deps;
  }

  /** The state, or an empty one when there is none yet. A corrupt file is set aside (state.json.corrupt) with a warning. */
  async read(): Promise<AgentState> {
    const text = await readFileOrUndefined(this.file);
    if (text === undefined) return emptyState();
    const parsed = parseState(text);
    if (parsed) return parsed;
    const aside = `${this.file}.corrupt`;
    this.deps.logger.warn('state file unreadable, starting from an empty state', { file: this.file, movedTo: aside });
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

function parseState(text: string): AgentState | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Partial<AgentState>;
  const pendingTxt = Array.isArray(o.pendingTxt)
    ? o.pendingTxt.filter((p): p is PendingTxt => !!p && typeof p.fqdn === 'string' && typeof p.value === 'string')
    : [];
  const counters: Record<string, number> = {};
  if (o.counters && typeof o.counters === 'object') {
    for (const [k, n] of Object.entries(o.counters)) if (typeof n === 'number' && Number.isFinite(n)) counters[k] = n;
  }
  return { ...o, pendingTxt, counters } as AgentState;
}
