import { once } from 'node:events';
import type { Argv, CommandModule } from 'yargs';
import { readTextFile } from '../core/fs.js';
import type { CliDeps, GlobalArgs } from './context.js';
import { runCommand } from './run.js';

interface Args extends GlobalArgs {
  action: 'up' | 'down' | 'env' | 'run';
  dir: string;
  name: string;
  zone?: string;
  insyncDelay: number;
  rate: number;
  pebbleEnv?: string[];
  eab?: string;
  key: 'file' | 'pkcs11' | 'tpm';
  totp: boolean;
}

export function sandboxCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'sandbox <action>',
    describe: 'local stand-ins for the CA and AWS (Pebble, Route 53 + DNS, IAM Roles Anywhere, STS) on loopback',
    builder: (y: Argv) =>
      y
        .positional('action', {
          choices: ['up', 'down', 'env', 'run'] as const,
          demandOption: true,
          describe: 'up: start in the background; down: stop; env: print the exports; run: foreground',
        })
        .option('dir', { type: 'string', demandOption: true, describe: 'sandbox directory (agent.yaml, env, state, logs)' })
        .option('name', { type: 'string', default: 'agent.example.com', describe: 'identity the generated agent.yaml enrols' })
        .option('zone', { type: 'string', describe: 'hosted zone (default: the name minus its first label)' })
        .option('insync-delay', { type: 'number', default: 500, describe: 'ms a Route 53 change stays PENDING' })
        .option('rate', { type: 'number', default: 5, describe: 'Route 53 requests per second before Throttling (0 = off)' })
        .option('pebble-env', { type: 'string', array: true, describe: 'extra Pebble environment, e.g. PEBBLE_WFE_NONCEREJECT=30' })
        .option('eab', {
          type: 'string',
          describe: 'make Pebble require External Account Binding with this key id (HMAC key written to D/eab.key, agent.yaml sets acme.eab)',
        })
        .option('key', {
          choices: ['file', 'pkcs11', 'tpm'] as const,
          default: 'file' as const,
          describe:
            'where agent.yaml keeps the key: file, or pkcs11 (a SoftHSM2 token in D/softhsm, PIN in a 0600 file, SOFTHSM2_CONF in D/env), or tpm (swtpm in D/tpm, TPM2TOOLS_TCTI in D/env)',
        })
        .example('$0 sandbox up --dir /tmp/sb && . /tmp/sb/env && $0 bootstrap', 'start, then enrol against it')
        .example('$0 sandbox up --dir /tmp/sb --key pkcs11', 'the same with the key generated in a SoftHSM2 token')
        .option('totp', {
          type: 'boolean',
          default: false,
          describe:
            'TOTP session names: the profile accepts session names, the role trust policy is `policy trust --cn NAME --totp`, agent.yaml has envsense (source D/envsense/host-id) and roleSessionName: totp',
        })
        .example('$0 sandbox up --dir /tmp/sb --totp', 'every CreateSession carries the TOTP of the fingerprint')
        .example('$0 sandbox up --dir /tmp/sb --eab kid-1', 'a CA that requires External Account Binding')
        .example('$0 sandbox down --dir /tmp/sb', 'stop what up started'),
    handler: async (a) => {
      const args = a as unknown as Args;
      setExit(
        await runCommand(deps, args, async (logger) => {
          const [{ files, runSandbox }, { sandboxDown, sandboxUp }] = await Promise.all([import('../sandbox/index.js'), import('../sandbox/control.js')]);
          const runArgs = ['--name', args.name, '--insync-delay', String(args.insyncDelay), '--rate', String(args.rate)];
          if (args.zone) runArgs.push('--zone', args.zone);
          for (const e of args.pebbleEnv ?? []) runArgs.push('--pebble-env', e);
          if (args.eab) runArgs.push('--eab', args.eab);
          runArgs.push('--key', args.key);
          if (args.totp) runArgs.push('--totp');
          switch (args.action) {
            case 'up': {
              const info = await sandboxUp({
                dir: args.dir,
                runArgs: [...runArgs, '--log-format', 'json'],
                command: deps.selfCommand,
                clock: deps.clock,
                readyTimeoutMs: 60_000,
              });
              deps.io.stdout.write(`sandbox up (pid ${info.pid}): AWS ${info.awsUrl}, DNS ${info.dnsServer}, ACME ${info.directoryUrl}\n`);
              deps.io.stdout.write(`next: . ${files(args.dir).env} && iamra-agent bootstrap\n`);
              return 0;
            }
            case 'down': {
              const r = await sandboxDown({ dir: args.dir, clock: deps.clock });
              deps.io.stdout.write(r.stopped.length ? `sandbox stopped (pids ${r.stopped.join(', ')})\n` : 'no sandbox was running\n');
              return 0;
            }
            case 'env':
              deps.io.stdout.write(await readTextFile(files(args.dir).env, 'sandbox env file'));
              return 0;
            case 'run': {
              const pebbleEnv = Object.fromEntries((args.pebbleEnv ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
              const sb = await runSandbox(
                {
                  dir: args.dir,
                  name: args.name,
                  ...(args.zone ? { zone: args.zone } : {}),
                  insyncDelayMs: args.insyncDelay,
                  ratePerSec: args.rate,
                  pebbleEnv,
                  agentCommand: deps.selfCommand,
                  ...(args.eab ? { eabKid: args.eab } : {}),
                  key: args.key,
                  totp: args.totp,
                },
                { clock: deps.clock, logger },
              );
              logger.info('sandbox ready', { ...sb.info });
              if (!deps.signal.aborted) await once(deps.signal, 'abort');
              await sb.close();
              logger.info('sandbox stopped');
              return 0;
            }
          }
        }),
      );
    },
  };
}
