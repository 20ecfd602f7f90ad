import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';

/** The process-wide side effects every composition needs, handed down from main.ts through the CLI. */
export interface Runtime {
  clock: Clock;
  logger: Logger;
  /** fired on SIGINT/SIGTERM, so cleanup (TXT records, locks) still runs */
  signal: AbortSignal;
  /** the process environment (hooks, default credentials file) */
  env: NodeJS.ProcessEnv;
}
