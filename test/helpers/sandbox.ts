import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { SandboxInfo } from '../../src/sandbox/index.js';
import { cliPath, tempDir } from './paths.js';
import { forget, groupAlive, reap, reapChild, reapOnExit } from './reaper.js';

/**
 * End-to-end tests drive the built CLI exactly as a user does: `sandbox up`, then commands with the sandbox's env
 * file applied, then `sandbox down`. Nothing is mocked.
 */
export interface E2eSandbox {
  dir: string;
  info: SandboxInfo;
  /** the exports of D/env, merged over a clean copy of process.env */
  env: NodeJS.ProcessEnv;
  /** runs `iamra-agent ARGS` with the sandbox env (plus extra) and waits */
  cli(args: string[], extra?: NodeJS.ProcessEnv): Promise<CliResult>;
  /** GET/POST the sandbox admin API (/_sandbox/...) */
  admin<T = unknown>(p: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv, o: { timeoutMs?: number; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = reapChild(spawn(process.execPath, [cliPath, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(o.input ?? '');
  });
}

/** process.env without anything that would steer AWS clients or the agent away from the sandbox */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(AWS_|IAMRA_AGENT_)/.test(k) && k !== 'IAMRA_PEERS_BIN') continue;
    env[k] = v;
  }
  return env;
}

export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^export ([A-Z0-9_]+)='((?:[^']|'\\'')*)'$/gm)) out[m[1]!] = m[2]!.replace(/'\\''/g, "'");
  return out;
}

/** `bootstrap: true` also enrols the identity (and fails the caller's setup with bootstrap's stderr if it cannot). */
export async function startSandbox(o: { name?: string; args?: string[]; bootstrap?: boolean } = {}): Promise<E2eSandbox> {
  const dir = tempDir('sandbox');
  const base = cleanEnv();
  const up = spawnSync(process.execPath, [cliPath, 'sandbox', 'up', '--dir', dir, ...(o.name ? ['--name', o.name] : []), ...(o.args ?? [])], {
    env: base,
    encoding: 'utf8',
  });
  if (up.status !== 0) throw new Error(`sandbox up failed (${up.status}): ${up.stderr}${up.stdout}`);
  const info = JSON.parse(readFileSync(path.join(dir, 'sandbox.json'), 'utf8')) as SandboxInfo;
  // `sandbox run` is spawned detached, so it leads a process group that holds Pebble, challtestsrv and swtpm too:
  // killing the group on exit (or on the runner's SIGTERM at a file's timeout) leaves nothing behind
  reapOnExit(info.pid, { group: true });
  // credential-process records its hot-path routes per user (cli/fast-credentials.ts): in the sandbox, not in ~
  const env = { ...base, ...parseEnvFile(readFileSync(path.join(dir, 'env'), 'utf8')), XDG_RUNTIME_DIR: path.join(dir, 'xdg-runtime') };
  const sb: E2eSandbox = {
    dir,
    info,
    env,
    cli: (args, extra) => runCli(args, { ...env, ...extra }),
    admin: async <T>(p: string, body?: unknown) => {
      const r = await fetch(
        `${info.awsUrl}/_sandbox/${p}`,
        body === undefined ? {} : { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } },
      );
      const text = await r.text();
      if (!r.ok) throw new Error(`sandbox admin ${p}: ${r.status} ${text}`);
      return JSON.parse(text) as T;
    },
    stop: async () => {
      spawnSync(process.execPath, [cliPath, 'sandbox', 'down', '--dir', dir], { env: base });
      // whatever `down` could not stop (it stops the PIDs it recorded) goes with the group
      if (groupAlive(info.pid)) reap(info.pid);
      else forget(info.pid);
      for (const deadline = Date.now() + 5000; groupAlive(info.pid) && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
      // The directory holds the pid file: keep it while the sandbox still runs, so a failed `sandbox down` can be
      // repeated by hand instead of leaving an orphan nobody can find.
      if (!alive(info.pid)) rmSync(dir, { recursive: true, force: true });
    },
  };
  if (o.bootstrap) {
    const boot = await sb.cli(['bootstrap']);
    if (boot.code !== 0) {
      await sb.stop();
      throw new Error(`bootstrap against the sandbox failed (${boot.code}): ${boot.stderr}`);
    }
  }
  return sb;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
