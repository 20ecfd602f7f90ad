/**
 * The credential_process hot path. The AWS CLI starts `iamra-agent credential-process` once per `aws` command, and
 * the full CLI (yargs, zod, yaml, winston, the signer) costs several times Node's own start-up before it reads a
 * cache file. So main.ts first tries this module, which imports nothing but Node built-ins and vend/process.ts:
 *
 * - A "route" records what the full path derived from the config for one exact invocation: the credential cache
 *   directory, the live certificate file, the role/profile/session name and vend.refreshBefore. Its file name is a
 *   digest of everything the derivation depends on: the agent build, the config file's path and bytes, the
 *   IAMRA_AGENT_* environment and the command line. Any change to any of them is another digest, so another (absent)
 *   route, so the full path. A route holds no secret.
 * - A hit re-reads the live certificate (a renewal changes its fingerprint, which is part of the cache key) and
 *   reads the cache through vend/process.ts `readCache`, the same rule as the full path: matching key, more than
 *   refreshBefore left, so expired or nearly expired credentials are never printed from here.
 * - Everything else (a miss, a flag this parser does not know, --debug-level logging, a damaged route) falls back
 *   to the full CLI, which then records the route for the next call.
 *
 * Routes live per user, where AWS tools run: $XDG_RUNTIME_DIR/iamra-agent/routes (tmpfs), else
 * ${XDG_CACHE_HOME:-~/.cache}/iamra-agent/routes; 0700 directory, 0600 files.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import { atomicWriteFile, ensurePrivateDir } from '../core/fs.js';
import { type CacheKey, formatCredentialProcess, readCache } from '../vend/process.js';

export const DEFAULT_CONFIG_FILE = '/etc/iamra-agent/agent.yaml';
const ROUTE_FORMAT = 1;

/** What the full path knows after loading the config, for one invocation. */
export interface CredentialRoute {
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
}

/** Options the fast path understands; each takes a value. Anything else on the line means the full CLI. */
const VALUE_OPTIONS = new Set(['config', 'role-arn', 'profile-arn', 'trust-anchor-arn', 'endpoint', 'log-level', 'log-format']);

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

async function routeFile(i: FastPathInput, opts: Map<string, string>): Promise<string | undefined> {
  const configFile = path.resolve(opts.get('config') ?? i.env.IAMRA_AGENT_CONFIG ?? DEFAULT_CONFIG_FILE);
  let config: string | null;
  try {
    config = createHash('sha256')
      .update(await fsp.readFile(configFile))
      .digest('hex');
  } catch (e) {
    // no config file is a valid setup (everything on the command line); any other read problem is the full path's to report
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return undefined;
    config = null;
  }
  const self = await fsp.stat(i.selfFile);
  const env = Object.entries(i.env)
    .filter(([k]) => k.startsWith('IAMRA_AGENT_'))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const material = JSON.stringify([ROUTE_FORMAT, i.selfFile, self.size, self.mtimeMs, configFile, config, env, i.argv]);
  return path.join(routesDir(i.env), `${createHash('sha256').update(material).digest('hex')}.json`);
}

function parseRoute(text: string): CredentialRoute | undefined {
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch {
    return undefined;
  }
  const o = r as Partial<CredentialRoute> & { v?: unknown };
  const k = o?.key as Partial<CacheKey> | undefined;
  const ok =
    o?.v === ROUTE_FORMAT &&
    typeof o.cacheDir === 'string' &&
    typeof o.certFile === 'string' &&
    typeof o.refreshBeforeMs === 'number' &&
    typeof k?.roleArn === 'string' &&
    typeof k.profileArn === 'string' &&
    (k.sessionName === undefined || typeof k.sessionName === 'string');
  return ok ? (o as CredentialRoute) : undefined;
}

/**
 * Answers from the cache when a route for this exact invocation exists and the cache holds fresh credentials for
 * the current certificate; never throws (any problem is a miss, and the full CLI runs).
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
  const remember = (route: CredentialRoute) => writeRoute(file, route);
  try {
    const route = parseRoute(await fsp.readFile(file, 'utf8'));
    if (!route) return { remember };
    const cert = new X509Certificate(await fsp.readFile(route.certFile));
    const certFingerprint = createHash('sha256').update(cert.raw).digest('hex');
    const hit = await readCache({ dir: route.cacheDir, key: { ...route.key, certFingerprint }, refreshBeforeMs: route.refreshBeforeMs, clock: i.clock });
    return hit ? { output: formatCredentialProcess(hit) } : { remember };
  } catch {
    return { remember };
  }
}

async function writeRoute(file: string, route: CredentialRoute): Promise<void> {
  const { cacheDir, certFile, refreshBeforeMs } = route;
  const key = { roleArn: route.key.roleArn, profileArn: route.key.profileArn, ...(route.key.sessionName ? { sessionName: route.key.sessionName } : {}) };
  await ensurePrivateDir(path.dirname(file), 0o700);
  await atomicWriteFile(
    file,
    JSON.stringify({ v: ROUTE_FORMAT, cacheDir: path.resolve(cacheDir), certFile: path.resolve(certFile), key, refreshBeforeMs }),
    0o600,
  );
}
