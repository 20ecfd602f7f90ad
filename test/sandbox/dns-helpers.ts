import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Clock } from '../../src/core/clock.js';

const run = promisify(execFile);

export interface DigResult {
  status: string;
  flags: string[];
  /** rdata of the ANSWER section, e.g. '"v1"' */
  answers: string[];
  /** record types of the AUTHORITY section */
  authority: string[];
  raw: string;
}

/** Real dig (bind9-dnsutils) against the sandbox name server, UDP by default. */
export async function dig(port: number, name: string, type: string, o: { tcp?: boolean; host?: string } = {}): Promise<DigResult> {
  const args = [`@${o.host ?? '127.0.0.1'}`, '-p', String(port), name, type, '+time=2', '+tries=1', '+norecurse', ...(o.tcp ? ['+tcp'] : [])];
  const { stdout } = await run('dig', args, { timeout: 10_000 });
  const status = /status: ([A-Z]+)/.exec(stdout)?.[1] ?? 'NONE';
  const flags = (/;; flags: ([a-z ]+);/.exec(stdout)?.[1] ?? '').trim().split(/\s+/);
  const section = (title: string) => {
    const m = new RegExp(`;; ${title} SECTION:\\n([\\s\\S]*?)(?:\\n\\n|$)`).exec(stdout);
    return (m?.[1] ?? '').split('\n').filter((l) => l && !l.startsWith(';'));
  };
  const answers = section('ANSWER').map((l) => l.split(/\s+/).slice(4).join(' '));
  const authority = section('AUTHORITY').map((l) => l.split(/\s+/)[3]!);
  return { status, flags, answers, authority, raw: stdout };
}

/** The wall clock shifted by an offset the test moves, so "wait for INSYNC" costs no time. */
export function offsetClock(): Clock & { offsetMs: number; advance(ms: number): void } {
  const c = {
    offsetMs: 0,
    now: () => new Date(Date.now() + c.offsetMs),
    sleep: async (ms: number) => {
      c.offsetMs += ms;
    },
    advance: (ms: number) => {
      c.offsetMs += ms;
    },
  };
  return c;
}
