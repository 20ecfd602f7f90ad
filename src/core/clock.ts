import { setTimeout as delay } from 'node:timers/promises';

/** Time is an input: only this module reads the wall clock, everything else receives a Clock. */
export interface Clock {
  now(): Date;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms, signal) => delay(ms, undefined, signal === undefined ? undefined : { signal }),
};

/** A clock pinned to an instant (tests, decisions evaluated "as of" a time). sleep() advances it. */
export function fixedClock(at: Date | string | number): Clock & { set(d: Date): void } {
  let t = new Date(at).getTime();
  return {
    now: () => new Date(t),
    sleep: async (ms) => {
      t += ms;
    },
    set: (d) => {
      t = d.getTime();
    },
  };
}
