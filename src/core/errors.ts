/**
 * Every expected failure is an AgentError: a stable `code` for scripts and tests, the `component` that failed,
 * a message that names the identifying value, and a `hint` that says what to do. The CLI prints
 * `component: message; hint` and never a stack trace for these.
 */
export interface AgentErrorInit {
  code: string;
  component: string;
  message: string;
  hint?: string;
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class AgentError extends Error {
  readonly code: string;
  readonly component: string;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(init: AgentErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'AgentError';
    this.code = init.code;
    this.component = init.component;
    this.hint = init.hint;
    this.details = init.details;
  }
}

export function isAgentError(e: unknown): e is AgentError {
  return e instanceof AgentError;
}

/** One line for a human: `component: message; hint`. Unexpected errors keep their own message. */
export function formatError(e: unknown): string {
  if (isAgentError(e)) return `${e.component}: ${e.message}${e.hint ? `; ${e.hint}` : ''}`;
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Message of any thrown value, for wrapping third-party failures. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
