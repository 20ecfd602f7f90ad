import type { CommandModule } from 'yargs';
import { AgentError } from '../core/errors.js';
import { fleetDnsPolicy, fleetDnsTrustPolicy, route53Policy } from '../policy/index.js';
import type { CliDeps, GlobalArgs } from './context.js';
import { runCommand, writeJson } from './run.js';

interface Args extends GlobalArgs {
  kind: 'route53' | 'trust';
  zoneId?: string;
  name?: string[];
  partition: string;
  fromConfig: boolean;
  fleet: boolean;
  role?: 'dns';
  trustAnchorArn?: string;
  domain?: string;
}

export function policyCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'policy <kind>',
    describe: 'print the least-privilege IAM policy the agent needs',
    builder: (y) =>
      y
        .positional('kind', {
          choices: ['route53', 'trust'] as const,
          demandOption: true,
          describe: 'route53: the DNS-01 writer; trust: a role trust policy (--role dns: the fleet DNS role)',
        })
        .option('zone-id', { type: 'string', describe: 'hosted zone id; without it the policy also allows ListHostedZonesByName' })
        .option('name', { type: 'string', array: true, describe: 'certificate DNS name(s)' })
        .option('fleet', {
          type: 'boolean',
          default: false,
          describe: 'route53: one policy for a DNS role shared by every host; each session may write only _acme-challenge.<its certificate CN>',
        })
        .option('role', { choices: ['dns'] as const, describe: 'trust: which role (dns: the fleet DNS role of `policy route53 --fleet`)' })
        .option('trust-anchor-arn', { type: 'string', describe: 'trust: the trust anchor the fleet certificates chain to' })
        .option('domain', { type: 'string', describe: 'trust: only certificates whose CN ends in .<domain> may assume the role' })
        .option('partition', { type: 'string', default: 'aws', describe: 'ARN partition (aws, aws-cn, aws-us-gov)' })
        .option('from-config', { type: 'boolean', default: false, describe: 'take the zone id, names and trust anchor from the agent config' })
        .example('$0 policy route53 --zone-id Z0123456789ABCDEFGHIJ --name host1.example.com', 'the policy for one host')
        .example('$0 policy route53 --fleet --zone-id Z0123456789ABCDEFGHIJ', 'the policy of one DNS role for the whole fleet')
        .example('$0 policy trust --role dns --from-config --domain example.com', 'the fleet DNS role trust policy'),
    handler: async (a) => {
      const args = a as unknown as Args;
      setExit(
        await runCommand(deps, args, async () => {
          let zoneId = args.zoneId;
          let names = args.name ?? [];
          let trustAnchorArn = args.trustAnchorArn;
          if (args.fromConfig) {
            const cfg = await deps.loadConfig(args);
            zoneId ??= cfg.dns.route53.hostedZoneId;
            trustAnchorArn ??= cfg.rolesAnywhere?.trustAnchorArn;
            if (names.length === 0) names = [cfg.identity.name, ...cfg.identity.extraNames];
          }
          if (args.kind === 'trust') {
            if (args.role !== 'dns') {
              throw new AgentError({
                code: 'CLI_USAGE',
                component: 'cli',
                message: 'policy trust: which role? (--role dns)',
                hint: 'iamra-agent policy trust --role dns --trust-anchor-arn arn:aws:rolesanywhere:…',
              });
            }
            writeJson(deps.io.stdout, fleetDnsTrustPolicy({ trustAnchorArn: trustAnchorArn ?? '', ...(args.domain ? { domain: args.domain } : {}) }));
          } else if (args.fleet) {
            writeJson(deps.io.stdout, fleetDnsPolicy({ zoneId: zoneId ?? '', partition: args.partition }));
          } else {
            writeJson(deps.io.stdout, route53Policy({ ...(zoneId ? { zoneId } : {}), names, partition: args.partition }));
          }
          return 0;
        }),
      );
    },
  };
}
