import type { CommandModule } from 'yargs';
import { route53Policy } from '../policy/index.js';
import type { CliDeps, GlobalArgs } from './context.js';
import { runCommand, writeJson } from './run.js';

interface Args extends GlobalArgs {
  zoneId?: string;
  name?: string[];
  partition: string;
  fromConfig: boolean;
}

export function policyCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'policy <kind>',
    describe: 'print the least-privilege IAM policy the agent needs',
    builder: (y) =>
      y
        .positional('kind', { choices: ['route53'] as const, demandOption: true, describe: 'route53: the DNS-01 writer' })
        .option('zone-id', { type: 'string', describe: 'hosted zone id; without it the policy also allows ListHostedZonesByName' })
        .option('name', { type: 'string', array: true, describe: 'certificate DNS name(s)' })
        .option('partition', { type: 'string', default: 'aws', describe: 'ARN partition (aws, aws-cn, aws-us-gov)' })
        .option('from-config', { type: 'boolean', default: false, describe: 'take the zone id and names from the agent config' })
        .example('$0 policy route53 --zone-id Z0123456789ABCDEFGHIJ --name host1.example.com', 'the policy for one host'),
    handler: async (a) => {
      const args = a as unknown as Args;
      setExit(
        await runCommand(deps, args, async () => {
          let zoneId = args.zoneId;
          let names = args.name ?? [];
          if (args.fromConfig) {
            const cfg = await deps.loadConfig(args);
            zoneId ??= cfg.dns.route53.hostedZoneId;
            if (names.length === 0) names = [cfg.identity.name, ...cfg.identity.extraNames];
          }
          writeJson(deps.io.stdout, route53Policy({ ...(zoneId ? { zoneId } : {}), names, partition: args.partition }));
          return 0;
        }),
      );
    },
  };
}
