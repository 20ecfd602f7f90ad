import { readFile } from 'node:fs/promises';
import type { CommandModule } from 'yargs';
import { parseDurationMs } from '../config/schema.js';
import { AgentError } from '../core/errors.js';
import { fsError } from '../core/fs.js';
import type { CliDeps, GlobalArgs } from './context.js';
import { runCommand, writeJson } from './run.js';

interface Args extends GlobalArgs {
  files?: string[];
  db: string;
  json: boolean;
  latency: string;
  digest: 'sha1' | 'sha256';
  period: number;
  digits: number;
  lookup: boolean;
  since?: string;
  until?: string;
  state?: string;
  region?: string;
  endpoint?: string;
  profile?: string;
  pageSize: number;
  overlap: string;
}

function usage(message: string, hint: string): AgentError {
  return new AgentError({ code: 'USAGE', component: 'audit', message, hint });
}

/** --since/--until: an RFC 3339 time, or a duration back from now (`24h`). */
function timeArg(flag: string, v: string | undefined, now: Date): Date | undefined {
  if (v === undefined) return undefined;
  const back = parseDurationMs(v);
  if (back !== undefined) return new Date(now.getTime() - back);
  const t = /^\d{4}-\d\d-\d\d(T|$)/.test(v) ? new Date(v) : undefined;
  if (!t || Number.isNaN(t.getTime())) throw usage(`${flag} ${v} is neither a time nor a duration`, `e.g. ${flag} 2026-12-01T00:00:00Z or ${flag} 24h`);
  return t;
}

/** The flags that only --lookup reads, so a file audit never silently ignores one. */
const LOOKUP_ONLY = ['since', 'until', 'state', 'region', 'endpoint', 'profile'] as const;

/** stdin as bytes (the CLI deps carry no stdin stream; audit is the one command that reads it) */
async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export function auditCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'audit [files..]',
    describe:
      'check CloudTrail CreateSession events (files, stdin or LookupEvents) against a fingerprint database; exit 0 all legit, 1 suspicious, 2 could not audit',
    builder: (y) =>
      y
        .positional('files', {
          type: 'string',
          array: true,
          describe: 'CloudTrail log files (gzip or plain; {"Records":[…]}, one event, or JSON lines); none or - reads stdin',
        })
        .option('db', { type: 'string', demandOption: true, describe: 'fingerprint database: {"CN=host": "<hex>"} or a list of such objects' })
        .option('json', { type: 'boolean', default: false, describe: 'one JSON document with every verdict' })
        .option('latency', {
          type: 'string',
          default: '30s',
          describe: 'allowance between computing the code and the event time, added before eventTime − 1 step',
        })
        .option('digest', { choices: ['sha1', 'sha256'] as const, default: 'sha1' as const, describe: 'envsense.digest of the hosts' })
        .option('period', { type: 'number', default: 30, describe: 'envsense.period of the hosts' })
        .option('digits', { type: 'number', default: 6, describe: 'envsense.digits of the hosts' })
        .option('lookup', { type: 'boolean', default: false, describe: "read CreateSession events from CloudTrail's LookupEvents instead of files" })
        .option('since', { type: 'string', describe: '--lookup: events at or after this time (RFC 3339) or this long ago (24h)' })
        .option('until', { type: 'string', describe: '--lookup: events at or before this time or this long ago' })
        .option('state', { type: 'string', describe: '--lookup: cursor file (0600): audit only events a previous run has not' })
        .option('overlap', { type: 'string', default: '15m', describe: '--state: look this far back before the cursor for events CloudTrail lists late' })
        .option('region', { type: 'string', describe: '--lookup: CloudTrail region (default: AWS_REGION / the profile)' })
        .option('endpoint', { type: 'string', describe: '--lookup: CloudTrail endpoint URL (default: AWS_ENDPOINT_URL_CLOUDTRAIL / the SDK)' })
        .option('profile', { type: 'string', describe: '--lookup: AWS profile of the auditor credentials (default: AWS_PROFILE / the SDK chain)' })
        .option('page-size', { type: 'number', default: 50, describe: '--lookup: events per LookupEvents call (1-50)' })
        .example('$0 audit --db fleet-db.json 111122223333_CloudTrail_us-east-1_*.json.gz', 'audit downloaded trail files')
        .example(
          '$0 audit --db fleet-db.json --lookup --state /var/lib/iamra-agent-audit/cursor.json --region eu-west-1',
          'audit the events since the last run',
        ),
    handler: async (a) => {
      const args = a as unknown as Args;
      setExit(
        await runCommand(
          deps,
          args,
          async () => {
            const { classify, isCreateSession, parseDatabase, parseEvents, renderText } = await import('../envsense/index.js');
            const dbText = await readFile(args.db, 'utf8').catch((e: unknown) => {
              throw fsError('read', args.db, e);
            });
            const db = parseDatabase(dbText, args.db);
            const latencyMs = parseDurationMs(args.latency);
            const overlapMs = parseDurationMs(args.overlap);
            if (latencyMs === undefined) {
              throw new AgentError({ code: 'USAGE', component: 'audit', message: `--latency ${args.latency} is not a duration`, hint: 'e.g. --latency 30s' });
            }
            if (overlapMs === undefined) throw usage(`--overlap ${args.overlap} is not a duration`, 'e.g. --overlap 15m');
            if (!Number.isInteger(args.pageSize) || args.pageSize < 1 || args.pageSize > 50)
              throw usage(`--page-size ${args.pageSize} is not a whole number from 1 to 50`, 'LookupEvents returns at most 50 events per call');
            let events: unknown[];
            let commit: (() => Promise<void>) | undefined;
            let lookup: Record<string, unknown> | undefined;
            if (args.lookup) {
              if (args.files?.length) throw usage('--lookup reads CloudTrail, not files', 'give either files or --lookup');
              const { lookupNewSessions } = await import('../compose/audit.js');
              const now = deps.clock.now();
              const batch = await lookupNewSessions({
                lookup: {
                  pageSize: args.pageSize,
                  ...(args.region !== undefined && { region: args.region }),
                  ...(args.endpoint !== undefined && { endpoint: args.endpoint }),
                  ...(args.profile !== undefined && { profile: args.profile }),
                },
                ...(args.since !== undefined && { since: timeArg('--since', args.since, now) }),
                ...(args.until !== undefined && { until: timeArg('--until', args.until, now) }),
                ...(args.state !== undefined && { statePath: args.state }),
                overlapMs,
              });
              events = batch.records;
              commit = batch.commit;
              lookup = { start: batch.start?.toISOString() ?? null, end: batch.end?.toISOString() ?? null, alreadyAudited: batch.alreadyAudited };
            } else {
              const given = LOOKUP_ONLY.filter((k) => args[k] !== undefined);
              if (given.length) throw usage(`--${given.join(', --')} only apply to --lookup`, 'add --lookup, or drop them to audit files');
              const files = args.files?.length ? args.files : ['-'];
              events = [];
              for (const f of files) {
                const data = f === '-' ? await readStdin() : await readFile(f).catch((e: unknown) => Promise.reject(fsError('read', f, e)));
                events.push(...parseEvents(data, f === '-' ? 'stdin' : f));
              }
              if (!events.some(isCreateSession)) {
                throw new AgentError({
                  code: 'AUDIT_NO_EVENTS',
                  component: 'audit',
                  message: `no IAM Roles Anywhere CreateSession events in ${files.join(', ')} (${events.length} other event(s))`,
                  hint: 'give CloudTrail records with eventSource rolesanywhere.amazonaws.com and eventName CreateSession',
                });
              }
            }
            const sessions = events.filter(isCreateSession);
            const p = { digest: args.digest, period: args.period, digits: args.digits, latencyMs };
            const results = sessions.map((e) => classify(e, db, p));
            if (args.json) writeJson(deps.io.stdout, { skipped: events.length - sessions.length, results, ...(lookup && { lookup }) });
            else if (results.length === 0) deps.io.stdout.write('no new IAM Roles Anywhere CreateSession events\n');
            else deps.io.stdout.write(renderText(results));
            // after the report: an interrupted run leaves the cursor where it was and audits these events again
            await commit?.();
            return results.every((r) => r.verdict === 'legit') ? 0 : 1;
          },
          2,
        ),
      );
    },
  };
}
