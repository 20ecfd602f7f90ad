/**
 * The credential_process hot path. The AWS CLI starts `iamra-agent credential-process` once per `aws` command, and
 * the full CLI (yargs, zod, yaml, winston, the signer) costs several times Node's own start-up before it reads a
 * cache file. So main.ts first tries this module, which imports nothing but Node built-ins and vend/process.ts:
 *
 * - A "route" records what the full path derived for one exact invocation: the validated config (the output of
 *   config/load.ts, which is a function of the config file's bytes, the IAMRA_AGENT_* environment and the command
 *   line alone) and, when the credential cache is on, the cache directory, the live certificate file, the
 *   role/profile/session name and vend.refreshBefore. Its file name is a digest of everything the derivation
 *   depends on: the agent build, the config file's path and bytes, the IAMRA_AGENT_* environment and the command
 *   line. Any change to any of them is another digest, so another (absent) route, so the full path. A route holds
 *   no secret (the config names files; PINs, passwords and keys are never in it).
 * - A hit re-reads the live certificate (a renewal changes its fingerprint, which is part of the cache key) and
 *   reads the cache through vend/process.ts `readCache`, the same rule as the full path: matching key, more than
 *   refreshBefore left, so expired or nearly expired credentials are never printed from here.
 * - A route without a hit (stale cache, --no-cache, vend.cache off) is "warm": main.ts runs the same
 *   credential-process composition with the route's config (cli/credential-process-config.ts), skipping yargs and
 *   the YAML parse and schema validation whose result the route holds.
 * - Everything else (no route, a flag this parser does not know, --debug-level logging, a damaged route) falls
 *   back to the full CLI, which then records the route for the next call.
 *
 * Routes live per user, where AWS tools run: $XDG_RUNTIME_DIR/iamra-agent/routes (tmpfs), else
 * ${XDG_CACHE_HOME:-~/.cache}/iamra-agent/routes; 0700 directory, 0600 files.
 *
 * The reads here are synchronous: this runs first in a one-shot process that has nothing to overlap them with, and
 * each asynchronous read is a round trip through libuv's thread pool (a few per file).
 */
import { createHash, X509Certificate } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import { atomicWriteFile, ensurePrivateDir } from '../core/fs.js';
import { type CacheKey, formatCredentialProcess, readCache } from '../vend/process.js';

export const DEFAULT_CONFIG_FILE = '/etc/iamra-agent/agent.yaml';
const ROUTE_FORMAT = 2;

/** What the full path knows after loading the config, for one invocation. */
export interface CredentialRoute {
  /** the config as config/load.ts returned it for this invocation */
  config: AgentConfig;
  /** absent when this invocation does not use the credential cache */
  cache?: CachedRoute;
}

/** Where this invocation's cached credentials are, and how they are keyed. */
export interface CachedRoute {
  cacheDir: string;
  /** the live leaf certificate (state.dir/live/cert.pem) */
  certFile: string;
  key: Omit<CacheKey, 'certFingerprint'>;
  refreshBeforeMs: number;
}

export interface FastPathInput {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  clock: Clock;
  /** a file of this build (its size and mtime stand for the agent version in the digest) */
  selfFile: string;
}

export interface FastPathResult {
  /** the credential_process document, when the cache answered */
  output?: string;
  /** for the full path to record the route, when this invocation is one the fast path can answer next time */
  remember?: (route: CredentialRoute) => Promise<void>;
  /** the file `remember` writes (writeRoute), for a caller in another bundle (cli/credential-process-hot.ts) */
  routeFile?: string;
  /** the recorded route and this line's options, when it exists but the cache did not answer */
  warm?: { route: CredentialRoute; options: Map<string, string> };
}

/** Options the fast path understands; each takes a value. Anything else on the line means the full CLI. */
const VALUE_OPTIONS = new Set(['config', 'role-arn', 'profile-arn', 'trust-anchor-arn', 'endpoint', 'log-level', 'log-format']);
/** Flags without a value (recorded as 'true'). */
const FLAG_OPTIONS = new Set(['no-cache', 'with-proxy']);

/** The options of a plain `credential-process` line, or undefined when the full CLI must read it. */
export function eligibleOptions(argv: readonly string[]): Map<string, string> | undefined {
  const opts = new Map<string, string>();
  let command = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === 'credential-process' && !command) {
      command = true;
      continue;
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(a);
    if (m && FLAG_OPTIONS.has(m[1]!) && m[2] === undefined && !opts.has(m[1]!)) {
      opts.set(m[1]!, 'true');
      continue;
    }
    if (!m || !VALUE_OPTIONS.has(m[1]!) || opts.has(m[1]!)) return undefined;
    const v = m[2] ?? argv[++i];
    if (v === undefined || v === '' || (m[2] === undefined && v.startsWith('-'))) return undefined;
    opts.set(m[1]!, v);
  }
  if (!command || opts.get('log-level') === 'debug') return undefined;
  return opts;
}

export function routesDir(env: NodeJS.ProcessEnv): string {
  if (env.XDG_RUNTIME_DIR && path.isAbsolute(env.XDG_RUNTIME_DIR)) return path.join(env.XDG_RUNTIME_DIR, 'iamra-agent', 'routes');
  const cache = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(env.HOME || os.homedir(), '.cache');
  return path.join(cache, 'iamra-agent', 'routes');
}

/** The V8 code cache of the warm route (core/code-cache.ts), beside the routes: the same owner, the same trust. */
export function codeCacheDir(env: NodeJS.ProcessEnv): string {
  return path.join(path.dirname(routesDir(env)), 'code-cache');
}

async function routeFile(i: FastPathInput, opts: Map<string, string>): Promise<string | undefined> {
  const configFile = path.resolve(opts.get('config') ?? i.env.IAMRA_AGENT_CONFIG ?? DEFAULT_CONFIG_FILE);
  let config: string | null;
  try {
    config = createHash('sha256').update(readFileSync(configFile)).digest('hex');
  } catch (e) {
    // no config file is a valid setup (everything on the command line); any other read problem is the full path's to report
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return undefined;
    config = null;
  }
  const self = statSync(i.selfFile);
  const env = Object.entries(i.env)
    .filter(([k]) => k.startsWith('IAMRA_AGENT_'))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const material = JSON.stringify([ROUTE_FORMAT, i.selfFile, self.size, self.mtimeMs, configFile, config, env, i.argv]);
  return path.join(routesDir(i.env), `${createHash('sha256').update(material).digest('hex')}.json`);
}

function parseRoute(text: string | undefined): CredentialRoute | undefined {
  if (text === undefined) return undefined;
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch {
    return undefined;
  }
  const o = r as Partial<CredentialRoute> & { v?: unknown };
  if (o?.v !== ROUTE_FORMAT || !o.config || typeof o.config !== 'object' || Array.isArray(o.config)) return undefined;
  if (o.cache === undefined) return { config: o.config };
  const c = o.cache as Partial<CachedRoute>;
  const k = c?.key as Partial<CacheKey> | undefined;
  const ok =
    typeof c?.cacheDir === 'string' &&
    typeof c.certFile === 'string' &&
    typeof c.refreshBeforeMs === 'number' &&
    typeof k?.roleArn === 'string' &&
    typeof k.profileArn === 'string' &&
    (k.sessionName === undefined || typeof k.sessionName === 'string');
  return ok ? { config: o.config, cache: c as CachedRoute } : undefined;
}

/**
 * Answers from the cache when a route for this exact invocation exists and the cache holds fresh credentials for
 * the current certificate, else hands back the route for the warm path; never throws (any problem is a miss, and
 * the full CLI runs).
 */
export async function fastCredentialProcess(i: FastPathInput): Promise<FastPathResult> {
  const opts = eligibleOptions(i.argv);
  if (!opts) return {};
  let file: string | undefined;
  try {
    file = await routeFile(i, opts);
  } catch {
    return {};
  }
  if (!file) return {};
  const remember = { remember: (route: CredentialRoute) => writeRoute(file, route), routeFile: file };
  let route: CredentialRoute | undefined;
  try {
    route = parseRoute(readOwnFile(file));
  } catch {
    return remember;
  }
  if (!route) return remember;
  const warm = { route, options: opts };
  const cached = route.cache;
  if (!cached || opts.has('no-cache')) return { warm };
  try {
    const cert = new X509Certificate(readFileSync(cached.certFile));
    const certFingerprint = createHash('sha256').update(cert.raw).digest('hex');
    const hit = await readCache({ dir: cached.cacheDir, key: { ...cached.key, certFingerprint }, refreshBeforeMs: cached.refreshBeforeMs, clock: i.clock });
    return hit ? { output: formatCredentialProcess(hit) } : { warm };
  } catch {
    // an unreadable certificate or cache: the composition reads them again and reports what is wrong
    return { warm };
  }
}

/**
 * The route's text, only from a file this user owns that nobody else can write or read: a route names the config,
 * so the key and the endpoint, and one planted in a misconfigured shared directory must not be followed.
 */
function readOwnFile(file: string): string | undefined {
  const fd = openSync(file, 'r');
  try {
    const st = fstatSync(fd);
    if ((st.mode & 0o077) !== 0 || (process.getuid && st.uid !== process.getuid())) return undefined;
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** Records the route for the line whose route file this is (FastPathResult.routeFile). */
export async function writeRoute(file: string, route: CredentialRoute): Promise<void> {
  let cache: CachedRoute | undefined;
  if (route.cache) {
    const { cacheDir, certFile, refreshBeforeMs, key: k } = route.cache;
    const key = { roleArn: k.roleArn, profileArn: k.profileArn, ...(k.sessionName ? { sessionName: k.sessionName } : {}) };
    cache = { cacheDir: path.resolve(cacheDir), certFile: path.resolve(certFile), key, refreshBeforeMs };
  }
  await ensurePrivateDir(path.dirname(file), 0o700);
  await atomicWriteFile(file, JSON.stringify({ v: ROUTE_FORMAT, config: route.config, ...(cache ? { cache } : {}) }), 0o600);
}
