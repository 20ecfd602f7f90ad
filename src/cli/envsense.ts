import type { CommandModule } from 'yargs';
import type { AgentConfig } from '../config/schema.js';
import { AgentError } from '../core/errors.js';
import type { CliDeps, GlobalArgs } from './context.js';
import { runCommand, writeJson } from './run.js';

interface FingerprintArgs extends GlobalArgs {
  json: boolean;
}

interface TotpArgs extends GlobalArgs {
  at?: string;
}

function envsenseOf(cfg: AgentConfig): NonNullable<AgentConfig['envsense']> {
  if (cfg.envsense) return cfg.envsense;
  throw new AgentError({
    code: 'CONFIG_INVALID',
    component: 'config',
    message: 'envsense is not configured',
    hint: 'add envsense.sources to the config (see config/agent.example.yaml)',
  });
}

/** `--at`: ISO 8601 or `@<unix seconds>` (as oathtool --now takes it). */
function parseAt(v: string): Date {
  const d = /^@-?\d+$/.test(v) ? new Date(Number(v.slice(1)) * 1000) : new Date(v);
  if (Number.isNaN(d.getTime()) || !/^@|\d{4}-\d{2}-\d{2}/.test(v)) {
    throw new AgentError({ code: 'USAGE', component: 'totp', message: `--at ${v} is not a time`, hint: 'use ISO 8601 (2026-12-01T20:00:00Z) or @UNIXSECONDS' });
  }
  return d;
}

export function fingerprintCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'fingerprint',
    describe: "compute this host's environment fingerprint (envsense.sources) and print its fingerprint-database entry",
    builder: (y) =>
      y
        .option('json', { type: 'boolean', default: false, describe: 'print only the database entry {"CN=…": "<hex>"}' })
        .example('$0 fingerprint --json >> fleet-db.jsonl', "the entry for the operator's database (kept off the host)"),
    handler: async (a) => {
      const args = a as unknown as FingerprintArgs;
      setExit(
        await runCommand(deps, args, async () => {
          const cfg = await deps.loadConfig(args);
          const es = envsenseOf(cfg);
          const { computeFingerprint, databaseEntry, subjectOf, systemFingerprintDeps } = await import('../envsense/index.js');
          const fp = await computeFingerprint(es, systemFingerprintDeps);
          const entry = databaseEntry(subjectOf(cfg), fp.hex);
          if (args.json) {
            deps.io.stdout.write(JSON.stringify(entry) + '\n');
            return 0;
          }
          deps.io.stdout.write(`subject      ${subjectOf(cfg)}\nfingerprint  ${fp.hex} (${es.digest})\nsources      ${fp.labels.join('\n             ')}\n`);
          deps.io.stdout.write(`database entry (audit --db): ${JSON.stringify(entry)}\n`);
          return 0;
        }),
      );
    },
  };
}

export function totpCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'totp',
    describe: 'print the TOTP session name this host would send now (or at --at), for debugging',
    builder: (y) =>
      y
        .option('at', { type: 'string', describe: 'the time to compute it for: ISO 8601 or @UNIXSECONDS (default now)' })
        .option('json', { type: 'boolean', default: false, describe: 'also print the time step and when the code changes' })
        .example('$0 totp', 'the code a CreateSession would carry now')
        .example('$0 totp --at 2026-12-01T20:00:00Z', 'the code at a CloudTrail event time'),
    handler: async (a) => {
      const args = a as unknown as TotpArgs & { json: boolean };
      setExit(
        await runCommand(deps, args, async () => {
          const cfg = await deps.loadConfig(args);
          const es = envsenseOf(cfg);
          const at = args.at !== undefined ? parseAt(args.at) : deps.clock.now();
          const { computeFingerprint, systemFingerprintDeps, timeStep, totpAt } = await import('../envsense/index.js');
          const fp = await computeFingerprint(es, systemFingerprintDeps);
          const code = totpAt(fp.hex, es, at);
          if (args.json) {
            const step = timeStep(es, at);
            writeJson(deps.io.stdout, { code, at: at.toISOString(), step, validUntil: new Date((step + 1) * es.period * 1000).toISOString() });
          } else deps.io.stdout.write(`${code}\n`);
          return 0;
        }),
      );
    },
  };
}
