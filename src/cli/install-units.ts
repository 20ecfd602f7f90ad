import path from 'node:path';
import type { CommandModule } from 'yargs';
import { packageRoot } from '../core/paths.js';
import { installUnits } from '../units/install.js';
import type { CliDeps, GlobalArgs } from './context.js';
import { runCommand } from './run.js';

interface Args extends GlobalArgs {
  dir: string;
  bin?: string;
}

export function installUnitsCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'install-units',
    describe: 'write the systemd units (bootstrap, renew + timer, serve, status + timer; audit + timer for an operator host) with the right paths',
    builder: (y) =>
      y
        .option('dir', { type: 'string', default: '/etc/systemd/system', describe: 'where to write the units' })
        .option('bin', { type: 'string', describe: 'absolute path of iamra-agent (default: this executable)' })
        .example(
          '$0 install-units && systemctl daemon-reload && systemctl enable --now iamra-agent-bootstrap.service iamra-agent-renew.timer',
          'install and enable',
        ),
    handler: async (a) => {
      const args = a as unknown as Args;
      setExit(
        await runCommand(deps, args, async () => {
          const binary = args.bin ?? deps.selfCommand[deps.selfCommand.length - 1]!;
          const written = await installUnits({
            sourceDir: path.join(packageRoot(), 'units'),
            targetDir: args.dir,
            binary,
            ...(args.config !== (deps.io.env.IAMRA_AGENT_CONFIG ?? '/etc/iamra-agent/agent.yaml') ? { config: args.config } : {}),
          });
          deps.io.stdout.write(written.map((f) => `wrote ${f}`).join('\n') + '\n');
          deps.io.stdout.write('next: install the *.sysusers.conf/*.tmpfiles.conf snippets, then systemctl daemon-reload\n');
          return 0;
        }),
      );
    },
  };
}
