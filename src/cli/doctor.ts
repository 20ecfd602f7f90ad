import type { CommandModule } from 'yargs';
import type { CliDeps, GlobalArgs } from './context.js';
import { runCommand, writeJson } from './run.js';

interface Args extends GlobalArgs {
  json: boolean;
}

export function doctorCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'doctor',
    describe:
      'prove the whole chain end to end (CA, clock, identity, CreateSession, DNS delegation, a Route 53 probe write and scope, serve and the credentials file when enabled, systemd units); OK/WARN/FAIL/SKIP with evidence and fix',
    builder: (y) =>
      y
        .option('json', { type: 'boolean', default: false, describe: 'print the checks as JSON' })
        .example('$0 doctor', 'exit 0 all OK, 1 a WARN, 2 a FAIL (as status)'),
    handler: async (a) => {
      const args = a as unknown as Args;
      setExit(
        await runCommand(
          deps,
          args,
          async (logger) => {
            const { doctorWithoutConfig, runDoctorFor } = await import('../compose/doctor.js');
            const { renderDoctorText } = await import('../status/doctor.js');
            let report: Awaited<ReturnType<typeof runDoctorFor>>;
            try {
              const cfg = await deps.loadConfig(args);
              report = await runDoctorFor(cfg, args.config, { clock: deps.clock, logger, env: deps.io.env, ...(deps.signal ? { signal: deps.signal } : {}) });
            } catch (e) {
              report = await doctorWithoutConfig(args.config, e);
            }
            if (args.json) writeJson(deps.io.stdout, report);
            else deps.io.stdout.write(renderDoctorText(report));
            return report.exitCode;
          },
          3,
        ),
      );
    },
  };
}
