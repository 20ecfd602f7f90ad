import type { CommandModule } from 'yargs';
import { identityNames } from '../config/schema.js';
import { AgentError } from '../core/errors.js';
import { denyStatement, fleetDnsPolicy, fleetDnsTrustPolicy, profileSettings, roleTrustPolicy, route53Policy } from '../policy/index.js';
import type { CliDeps, GlobalArgs } from './context.js';
import { runCommand, writeJson } from './run.js';

interface Args extends GlobalArgs {
  kind: 'route53' | 'trust' | 'deny' | 'profile';
  zoneId?: string;
  name?: string[];
  partition: string;
  fromConfig: boolean;
  fleet: boolean;
  role?: 'dns';
  trustAnchorArn?: string;
  domain?: string;
  cn?: string[];
  cnLike?: string;
  totp: boolean;
}

export function policyCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'policy <kind>',
    describe: 'print the least-privilege IAM policy the agent needs',
    builder: (y) =>
      y
        .positional('kind', {
          choices: ['route53', 'trust', 'deny', 'profile'] as const,
          demandOption: true,
          describe:
            "route53: the DNS-01 writer; trust: the host role's trust policy (--role dns: the fleet DNS role); deny: a statement revoking hosts; profile: the Roles Anywhere profile settings",
        })
        .option('zone-id', { type: 'string', describe: 'hosted zone id; without it the policy also allows ListHostedZonesByName' })
        .option('name', { type: 'string', array: true, describe: 'certificate DNS name(s)' })
        .option('fleet', {
          type: 'boolean',
          default: false,
          describe: 'route53: one policy for a DNS role shared by every host; each session may write only _acme-challenge.<its certificate CN>',
        })
        .option('role', { choices: ['dns'] as const, describe: 'trust: dns for the fleet DNS role of `policy route53 --fleet` (default: the host role)' })
        .option('trust-anchor-arn', { type: 'string', describe: 'trust: the trust anchor the certificates chain to' })
        .option('cn', { type: 'string', array: true, describe: 'trust: the host certificate CN the role trusts; deny: the CN(s) to revoke' })
        .option('cn-like', { type: 'string', describe: "trust: a CN pattern the role trusts, such as '*.example.com'" })
        .option('totp', {
          type: 'boolean',
          default: false,
          describe: 'trust: require a 6-character roleSessionName (the TOTP code); profile: accept session names',
        })
        .option('domain', { type: 'string', describe: 'trust: only certificates whose CN ends in .<domain> may assume the role' })
        .option('partition', { type: 'string', default: 'aws', describe: 'ARN partition (aws, aws-cn, aws-us-gov)' })
        .option('from-config', { type: 'boolean', default: false, describe: 'take the zone id, names and trust anchor from the agent config' })
        .example('$0 policy route53 --zone-id Z0123456789ABCDEFGHIJ --name host1.example.com', 'the policy for one host')
        .example('$0 policy route53 --fleet --zone-id Z0123456789ABCDEFGHIJ', 'the policy of one DNS role for the whole fleet')
        .example('$0 policy trust --role dns --from-config --domain example.com', 'the fleet DNS role trust policy')
        .example('$0 policy trust --trust-anchor-arn arn:aws:rolesanywhere:… --cn host1.example.com --totp', 'a host role that demands the TOTP session name')
        .example('$0 policy deny --cn host1.example.com', 'the Deny statement to add to the trust policy: revokes the host at once')
        .example('$0 policy profile --totp', 'the profile settings: acceptRoleSessionName, attribute mappings without the issuer'),
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
            if (names.length === 0) names = identityNames(cfg);
            // the host role binds this host's CN unless a CN or pattern is given
            if (args.kind === 'trust' && !args.cn?.length && args.cnLike === undefined) args.cn = [cfg.identity.name];
          }
          if (args.kind === 'deny') {
            writeJson(deps.io.stdout, denyStatement({ cns: args.cn ?? [] }));
          } else if (args.kind === 'profile') {
            writeJson(deps.io.stdout, profileSettings({ totp: args.totp }));
          } else if (args.kind === 'trust' && args.role !== 'dns') {
            if ((args.cn?.length ?? 0) > 1) {
              throw new AgentError({
                code: 'CLI_USAGE',
                component: 'cli',
                message: 'policy trust: one --cn (use --cn-like for a pattern)',
                hint: "iamra-agent policy trust --trust-anchor-arn arn:… --cn host1.example.com, or --cn-like '*.example.com'",
              });
            }
            writeJson(
              deps.io.stdout,
              roleTrustPolicy({
                trustAnchorArns: trustAnchorArn ? [trustAnchorArn] : [],
                ...(args.cn?.[0] !== undefined ? { cn: args.cn[0] } : {}),
                ...(args.cnLike !== undefined ? { cnLike: args.cnLike } : {}),
                totp: args.totp,
              }),
            );
          } else if (args.kind === 'trust') {
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
