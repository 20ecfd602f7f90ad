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

/** Marks an AgentError whichever copy of this module made it (see `Symbol.hasInstance` below). */
const AGENT_ERROR = Symbol.for('iamra-agent.AgentError');

export class AgentError extends Error {
  /**
   * The agent ships as more than one bundle (tools/bundle.mjs: the CLI, the credential_process hot path and its
   * rarely used parts), each with its own copy of this class; an error thrown in one and caught in another (a PKCS#11
   * key's failure formatted by the hot path's runCommand) is still an AgentError, with its code and hint.
   */
  static override [Symbol.hasInstance](v: unknown): v is AgentError {
    return typeof v === 'object' && v !== null && (v as { [AGENT_ERROR]?: unknown })[AGENT_ERROR] === true;
  }

  readonly code: string;
  readonly component: string;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(init: AgentErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'AgentError';
    Object.defineProperty(this, AGENT_ERROR, { value: true });
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
