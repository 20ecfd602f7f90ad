import type { CommandModule } from 'yargs';
import type { CliDeps, GlobalArgs } from './context.js';
import { runCommand, runtimeOf, writeJson } from './run.js';

interface Args extends GlobalArgs {
  force: boolean;
  json: boolean;
}

export function bootstrapCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'bootstrap',
    describe: 'first enrolment: key, ACME certificate over DNS-01 (Route 53), made live',
    builder: (y) =>
      y
        .option('force', { type: 'boolean', default: false, describe: 're-enrol even when a valid identity is live' })
        .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' })
        .example('$0 bootstrap --config /etc/iamra-agent/agent.yaml', 'enrol once; later runs say the identity exists and exit 0'),
    handler: async (a) => {
      const args = a as unknown as Args;
      setExit(
        await runCommand(deps, args, async (logger) => {
          const cfg = await deps.loadConfig(args);
          // features load on use, so every command starts fast (credential-process runs once per AWS CLI call)
          const [{ bootstrapIdentity }, { hookWarnings }] = await Promise.all([import('../compose/enrol.js'), import('../renew/hooks.js')]);
          const { result: r, hooks, notice } = await bootstrapIdentity(cfg, runtimeOf(deps, logger), { force: args.force });
          if (args.json) writeJson(deps.io.stdout, { ...r, hooks, ...(notice ? { staticRoute53Credentials: notice.staticRoute53Credentials } : {}) });
          else if (r.action === 'exists')
            deps.io.stdout.write(`a valid identity is already live: version ${r.version}, serial ${r.serial}, expires ${r.notAfter} (--force re-enrols)\n`);
          else deps.io.stdout.write(`identity live: version ${r.version}, serial ${r.serial}, expires ${r.notAfter} (${r.durationMs} ms)\n`);
          if (notice) (args.json ? deps.io.stderr : deps.io.stdout).write(`${notice.message}\n`);
          for (const w of hookWarnings(hooks)) (args.json ? deps.io.stderr : deps.io.stdout).write(w + '\n');
          return 0;
        }),
      );
    },
  };
}
