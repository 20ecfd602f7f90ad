import { spawn } from 'node:child_process';
import type { Clock } from '../core/clock.js';
import { messageOf } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { StateFile, VersionFiles } from '../store/index.js';
import { bump } from '../store/index.js';

/**
 * hooks.afterRenew: commands run after a new identity went live (bootstrap and renew), e.g. to reload a web server
 * or copy the certificate elsewhere. Each is an argv array run without a shell (no quoting pitfalls, no injection
 * through paths), with the new version's files in the environment. A hook runs in its own process group, so a
 * timeout kills whatever it started too. A failing or timed-out hook is reported (log, state counter
 * `hook_failures`, the command's output) but never undoes or fails the renewal: the new identity is already live and
 * valid, and a hook is the operator's business.
 */

export interface HookConfig {
  commands: string[][];
  timeoutMs: number;
  /** after SIGTERM to the group, wait this long before SIGKILL (default 2 s) */
  killGraceMs?: number;
  /** names of further variables of the agent's environment passed to hooks (config hooks.env) */
  env?: string[];
}

export interface HookDeps {
  clock: Clock;
  logger: Logger;
  /** when given, failures are counted in state.json (counters.hook_failures) */
  state?: StateFile;
  /** the agent's environment: hooks get only PATH, HOME, LANG and the names in HookConfig.env from it (hookEnv) */
  env: NodeJS.ProcessEnv;
}

/** The identity a hook is told about: a version and its files. */
export interface HookIdentity {
  version: string;
  files: VersionFiles;
}

export interface HookResult {
  argv: string[];
  ok: boolean;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
  /** why it failed, in one line (exit status, signal, timeout, spawn error) */
  error?: string;
}

/** Captured output kept per stream; more is dropped (a chatty hook must not fill the journal or memory). */
const OUTPUT_LIMIT = 16 * 1024;
/** Of that, what goes into the (debug) log line per stream. */
export const OUTPUT_LOG_LIMIT = 2 * 1024;
/** Passed to every hook when the agent has them; everything else only when listed in hooks.env. */
export const HOOK_BASE_ENV = ['PATH', 'HOME', 'LANG'] as const;
/** PATH for a hook when the agent itself has none (systemd always sets one). */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DEFAULT_KILL_GRACE_MS = 2000;

/**
 * A hook's whole environment: PATH, HOME, LANG, the variables named in hooks.env (when the agent has them) and the
 * IAMRA_AGENT_* paths of the new version. Nothing else: the agent's environment may hold AWS keys for the Route 53
 * writes or other secrets, and a hook that prints its environment must not put them into the journal.
 */
export function hookEnv(base: NodeJS.ProcessEnv, id: HookIdentity, extra: readonly string[] = []): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of [...HOOK_BASE_ENV, ...extra]) if (base[k] !== undefined) env[k] = base[k];
  env.PATH ??= DEFAULT_PATH;
  // Never let the agent's own values leak through as if they described this identity.
  for (const k of ['IAMRA_AGENT_CERT', 'IAMRA_AGENT_CHAIN', 'IAMRA_AGENT_FULLCHAIN', 'IAMRA_AGENT_KEY', 'IAMRA_AGENT_KEY_REF', 'IAMRA_AGENT_VERSION'])
    delete env[k];
  env.IAMRA_AGENT_CERT = id.files.cert;
  env.IAMRA_AGENT_CHAIN = id.files.chain;
  env.IAMRA_AGENT_FULLCHAIN = id.files.fullchain;
  // an external key (csr mode) has no key file; its key.ref is given instead
  if (id.files.key) env.IAMRA_AGENT_KEY = id.files.key;
  if (id.files.keyRef) env.IAMRA_AGENT_KEY_REF = id.files.keyRef;
  env.IAMRA_AGENT_VERSION = id.version;
  return env;
}

/** Runs every hook in order (one after another: hooks may depend on each other's effects). Never throws. */
export async function runAfterRenewHooks(deps: HookDeps, cfg: HookConfig, id: HookIdentity): Promise<HookResult[]> {
  const results: HookResult[] = [];
  if (!cfg.commands.length) return results;
  const env = hookEnv(deps.env, id, cfg.env ?? []);
  for (const argv of cfg.commands) {
    const r = await runOne(deps, argv, env, cfg.timeoutMs, cfg.killGraceMs ?? DEFAULT_KILL_GRACE_MS);
    results.push(r);
  }
  const failed = results.filter((r) => !r.ok).length;
  if (failed && deps.state) {
    await deps.state
      .update((s) => {
        bump(s, 'hook_failures', failed);
      })
      .catch((e) => deps.logger.warn('could not count hook failures in state.json', { error: messageOf(e) }));
  }
  return results;
}

function runOne(deps: HookDeps, argv: string[], env: NodeJS.ProcessEnv, timeoutMs: number, graceMs: number): Promise<HookResult> {
  const started = deps.clock.now().getTime();
  const log = deps.logger.child({ hook: argv[0] });
  return new Promise<HookResult>((resolve) => {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const sizes = { stdout: 0, stderr: 0 };
    let timedOut = false;
    let settled = false;
    const timer = new AbortController();
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const keep = (which: 'stdout' | 'stderr', into: Buffer[]) => (d: Buffer) => {
      if (sizes[which] < OUTPUT_LIMIT) into.push(d.subarray(0, OUTPUT_LIMIT - sizes[which]));
      sizes[which] += d.length;
    };
    child.stdout.on('data', keep('stdout', stdout));
    child.stderr.on('data', keep('stderr', stderr));

    const killGroup = (sig: NodeJS.Signals) => {
      try {
        // negative pid: the whole process group the hook leads (detached: true made it a group leader)
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    deps.clock.sleep(timeoutMs, timer.signal).then(
      async () => {
        if (settled) return;
        timedOut = true;
        log.warn('after-renew hook timed out; killing its process group', { argv, timeoutMs, pid: child.pid });
        killGroup('SIGTERM');
        await deps.clock.sleep(graceMs, timer.signal).then(
          () => killGroup('SIGKILL'),
          () => undefined,
        );
      },
      () => undefined,
    );

    const finish = (exitCode: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (settled) return;
      settled = true;
      timer.abort();
      // anything the hook left running in its group goes with it
      if (child.pid !== undefined) killGroup('SIGKILL');
      const durationMs = deps.clock.now().getTime() - started;
      const out = trimmed(stdout, sizes.stdout);
      const err = trimmed(stderr, sizes.stderr);
      const ok = !spawnError && !timedOut && exitCode === 0;
      const error = spawnError
        ? `cannot start: ${messageOf(spawnError)}`
        : timedOut
          ? `timed out after ${timeoutMs} ms`
          : exitCode !== 0
            ? exitCode === null
              ? `killed by ${signal ?? 'a signal'}`
              : `exited with status ${exitCode}`
            : undefined;
      // The outcome at info/warn; what the hook printed only at debug, and cut short: hooks print what they like
      // (paths, tokens), and the journal keeps it.
      const fields = { argv, exitCode, signal, durationMs };
      if (ok) log.info('after-renew hook done', fields);
      else log.warn('after-renew hook failed', { ...fields, error });
      if (out || err) log.debug('after-renew hook output', { argv, ...(out ? { stdout: forLog(out) } : {}), ...(err ? { stderr: forLog(err) } : {}) });
      resolve({ argv, ok, exitCode, signal, timedOut, durationMs, ...(error ? { error } : {}) });
    };
    child.on('error', (e) => finish(null, null, e));
    // 'close' waits for the pipes too, so the output is complete; the group kill above ends grandchildren holding them
    child.on('close', (code, signal) => finish(code, signal));
    child.on('exit', () => {
      // a grandchild that escaped the group (setsid) may keep our pipes open: stop waiting for them shortly after
      deps.clock.sleep(graceMs, timer.signal).then(
        () => {
          child.stdout.destroy();
          child.stderr.destroy();
        },
        () => undefined,
      );
    });
  });
}

function trimmed(chunks: Buffer[], total: number): string {
  const s = Buffer.concat(chunks).toString('utf8').trimEnd();
  return total > OUTPUT_LIMIT ? `${s}\n[… ${total - OUTPUT_LIMIT} more bytes]` : s;
}

function forLog(s: string): string {
  return s.length > OUTPUT_LOG_LIMIT ? `${s.slice(0, OUTPUT_LOG_LIMIT)}[… ${s.length - OUTPUT_LOG_LIMIT} more characters]` : s;
}

/** One line per failed hook, for the command's own output. */
export function hookWarnings(results: HookResult[]): string[] {
  return results
    .filter((r) => !r.ok)
    .map((r) => `warning: after-renew hook ${JSON.stringify(r.argv)} failed: ${r.error ?? 'unknown'} (not fatal: the new identity is live)`);
}

/** Runs the hooks for a version of the store (the one that just went live). Never throws. */
export async function runHooksForVersion(
  deps: HookDeps & { store: { read(version: string): Promise<HookIdentity> } },
  cfg: HookConfig,
  version: string,
): Promise<HookResult[]> {
  if (!cfg.commands.length) return [];
  let id: HookIdentity;
  try {
    id = await deps.store.read(version);
  } catch (e) {
    deps.logger.warn('after-renew hooks not run: the new version cannot be read', { version, error: messageOf(e) });
    return cfg.commands.map((argv) => ({ argv, ok: false, exitCode: null, signal: null, timedOut: false, durationMs: 0, error: `not run: ${messageOf(e)}` }));
  }
  return runAfterRenewHooks(deps, cfg, { version: id.version, files: id.files });
}
