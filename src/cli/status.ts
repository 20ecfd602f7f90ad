import type { CommandModule } from 'yargs';
import { atomicWriteFile } from '../core/fs.js';
import { formatError } from '../core/errors.js';
import type { CliDeps, GlobalArgs } from './context.js';
import { runCommand, runtimeOf, writeJson } from './run.js';

interface Args extends GlobalArgs {
  json: boolean;
  prometheus?: string;
  probe: boolean;
  schema: boolean;
}

export function statusCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'status',
    describe: 'health of the whole chain (config, identity, key, trust anchors, renewal, CreateSession); Nagios exit codes',
    builder: (y) =>
      y
        .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON (config/status.schema.json)' })
        .option('prometheus', { type: 'string', describe: 'also write node_exporter textfile metrics to FILE (default status.prometheusFile)' })
        .option('probe', { type: 'boolean', default: false, describe: 'make a live CreateSession instead of reporting the recorded one' })
        .option('schema', { type: 'boolean', default: false, describe: 'print the JSON Schema of --json output and exit' })
        .example('$0 status', 'table of checks; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN')
        .example(
          '$0 status --json --prometheus /var/lib/node_exporter/textfile/iamra-agent.prom',
          'for monitoring: JSON on stdout, metrics file for node_exporter',
        ),
    handler: async (a) => {
      const args = a as unknown as Args;
      // An unexpected failure means the health could not be determined: UNKNOWN (3), not 1.
      setExit(
        await runCommand(
          deps,
          args,
          async (logger) => {
            const [{ evaluate, renderPrometheus, renderText, statusJsonSchemaDocument, toStatusJson, worst, EXIT_CODES }, { statusInput }] = await Promise.all([
              import('../status/index.js'),
              import('../compose/status.js'),
            ]);
            if (args.schema) {
              writeJson(deps.io.stdout, statusJsonSchemaDocument());
              return 0;
            }
            const g = await statusInput(runtimeOf(deps, logger), { configFile: args.config, loadConfig: () => deps.loadConfig(args), probe: args.probe });
            const report = evaluate(g.input);
            if (args.json) writeJson(deps.io.stdout, toStatusJson(report));
            else deps.io.stdout.write(renderText(report));
            const prom = args.prometheus ?? g.config?.status.prometheusFile;
            if (prom) {
              try {
                // metrics hold no secrets; node_exporter usually runs as another user, so world-readable
                await atomicWriteFile(prom, renderPrometheus(report), 0o644);
              } catch (e) {
                deps.io.stderr.write(`iamra-agent: ${formatError(e)}\n`);
                return EXIT_CODES[worst([report.overall, 'UNKNOWN'])];
              }
            }
            return report.exitCode;
          },
          3, // UNKNOWN (Nagios), for anything unexpected
        ),
      );
    },
  };
}
