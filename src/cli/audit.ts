import { readFile } from 'node:fs/promises';
import type { CommandModule } from 'yargs';
import { durationMs } from '../config/schema.js';
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
}

/** stdin as bytes (the CLI deps carry no stdin stream; audit is the one command that reads it) */
async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export function auditCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'audit [files..]',
    describe: 'check CloudTrail CreateSession events against a fingerprint database; exit 0 all legit, 1 suspicious, 2 could not audit',
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
        .example('$0 audit --db fleet-db.json 111122223333_CloudTrail_us-east-1_*.json.gz', 'audit downloaded trail files'),
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
            if (!/^\d+(ms|s|m)$/.test(args.latency)) {
              throw new AgentError({ code: 'USAGE', component: 'audit', message: `--latency ${args.latency} is not a duration`, hint: 'e.g. --latency 30s' });
            }
            const files = args.files?.length ? args.files : ['-'];
            const events: unknown[] = [];
            for (const f of files) {
              const data = f === '-' ? await readStdin() : await readFile(f).catch((e: unknown) => Promise.reject(fsError('read', f, e)));
              events.push(...parseEvents(data, f === '-' ? 'stdin' : f));
            }
            const sessions = events.filter(isCreateSession);
            if (sessions.length === 0) {
              throw new AgentError({
                code: 'AUDIT_NO_EVENTS',
                component: 'audit',
                message: `no IAM Roles Anywhere CreateSession events in ${files.join(', ')} (${events.length} other event(s))`,
                hint: 'give CloudTrail records with eventSource rolesanywhere.amazonaws.com and eventName CreateSession',
              });
            }
            const p = { digest: args.digest, period: args.period, digits: args.digits, latencyMs: durationMs(args.latency) };
            const results = sessions.map((e) => classify(e, db, p));
            if (args.json) writeJson(deps.io.stdout, { skipped: events.length - sessions.length, results });
            else deps.io.stdout.write(renderText(results));
            return results.every((r) => r.verdict === 'legit') ? 0 : 1;
          },
          2,
        ),
      );
    },
  };
}
