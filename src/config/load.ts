import { promises as fsp } from 'node:fs';
import { parse as parseYamlScalar } from 'yaml';
import { AgentError } from '../core/errors.js';
import { KEYS_SHOWN, cappedProblems, checkConfigSize, listCapped, parseConfigYaml } from './limits.js';
import { configSchema, type AgentConfig } from './schema.js';

export const DEFAULT_CONFIG_PATH = '/etc/iamra-agent/agent.yaml';

/**
 * Layers, later wins: the YAML file, then env `IAMRA_AGENT_<PATH>` with `__` between levels
 * (IAMRA_AGENT_DNS__ROUTE53__HOSTED_ZONE_ID → dns.route53.hostedZoneId), then `--set path=value` flags.
 * All problems are reported together, each keyed by its path.
 */
export interface LoadOptions {
  file: string;
  env?: NodeJS.ProcessEnv;
  sets?: string[];
}

export async function loadConfig(o: LoadOptions): Promise<AgentConfig> {
  let text: string;
  try {
    // the size limit is checked before reading, so a huge file costs nothing (limits.ts)
    checkConfigSize(o.file, (await fsp.stat(o.file)).size);
    text = await fsp.readFile(o.file, 'utf8');
  } catch (e) {
    if (e instanceof AgentError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new AgentError({
      code: 'CONFIG_UNREADABLE',
      component: 'config',
      message: `cannot read ${o.file}: ${code ?? String(e)}`,
      hint: code === 'ENOENT' ? 'create it (see config/agent.example.yaml) or pass --config FILE / IAMRA_AGENT_CONFIG' : 'check the file permissions',
      details: { file: o.file },
      cause: e,
    });
  }
  const raw = (parseConfigYaml(o.file, text) ?? {}) as Record<string, unknown>;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new AgentError({
      code: 'CONFIG_INVALID',
      component: 'config',
      message: `${o.file}: the top level must be a mapping (field: value lines), not ${Array.isArray(raw) ? 'a list' : `a ${typeof raw}`}`,
      hint: 'see config/agent.example.yaml',
    });
  }
  for (const [p, v] of envOverrides(o.env ?? {})) setPath(raw, p, v);
  for (const s of o.sets ?? []) {
    const i = s.indexOf('=');
    if (i <= 0)
      throw new AgentError({
        code: 'CONFIG_INVALID',
        component: 'config',
        message: `--set ${s}: expected path=value`,
        hint: 'e.g. --set acme.profile=shortlived',
      });
    setPath(raw, s.slice(0, i).split('.'), parseYamlScalar(s.slice(i + 1)));
  }
  return validateConfig(raw, o.file);
}

export function validateConfig(raw: unknown, source: string): AgentConfig {
  const r = configSchema.safeParse(raw);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => {
    const p = i.path.join('.') || '(top level)';
    const msg = i.code === 'unrecognized_keys' ? `unknown field(s) ${listCapped(i.keys, KEYS_SHOWN)}` : i.message;
    return `${p}: ${msg}`;
  });
  throw new AgentError({
    code: 'CONFIG_INVALID',
    component: 'config',
    message: `${source} has ${problems.length} problem(s):\n  ${cappedProblems(problems).join('\n  ')}`,
    hint: 'see config/agent.example.yaml and config/agent.schema.json',
    details: { problems },
  });
}

function envOverrides(env: NodeJS.ProcessEnv): [string[], unknown][] {
  const out: [string[], unknown][] = [];
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith('IAMRA_AGENT_') || !k.includes('__') || v === undefined) continue;
    const p = k
      .slice('IAMRA_AGENT_'.length)
      .split('__')
      .map((seg) => seg.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()));
    out.push([p, parseYamlScalar(v)]);
  }
  return out;
}

function setPath(obj: Record<string, unknown>, p: string[], v: unknown): void {
  let cur = obj;
  for (const seg of p.slice(0, -1)) {
    if (typeof cur[seg] !== 'object' || cur[seg] === null) cur[seg] = {};
    cur = cur[seg] as Record<string, unknown>;
  }
  cur[p[p.length - 1]!] = v;
}
