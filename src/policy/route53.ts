import { AgentError } from '../core/errors.js';

/**
 * The least-privilege IAM policy for the agent's Route 53 DNS-01 provider (src/dns/route53/): exactly
 * the calls it makes, on the one zone, limited to the challenge TXT records of the host's names. A test runs
 * bootstrap with only this policy, so nothing here may be missing and nothing extra should be added.
 *
 * The record-level conditions are Route 53's own condition keys
 * (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/specifying-rrset-conditions.html). ForAllValues makes
 * every change in a batch match; the keys are ANDed, so a batch may only UPSERT/DELETE TXT records at the listed
 * names.
 */

export interface Route53PolicyInput {
  /** Z…, with or without /hostedzone/; omitted: the provider looks the zone up by name */
  zoneId?: string;
  /** the certificate's DNS names (identity.name + extraNames); a wildcard *.x is validated at _acme-challenge.x */
  names: string[];
  /** ARN partition; default aws (aws-cn, aws-us-gov for those partitions) */
  partition?: string;
}

export interface IamPolicyDocument {
  Version: '2012-10-17';
  Statement: IamStatement[];
}

export interface IamStatement {
  Sid: string;
  Effect: 'Allow';
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

const NAME = /^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/;

/** RFC 8555 §8.4: the challenge record of `name`; for a wildcard the base domain (RFC 8555 §7.1.3). */
export function challengeRecordName(name: string): string {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (!NAME.test(n)) {
    throw new AgentError({
      code: 'POLICY_BAD_NAME',
      component: 'policy',
      message: `not a DNS name: ${JSON.stringify(name)}`,
      hint: 'give fully qualified names such as host1.example.com or *.example.com',
    });
  }
  return `_acme-challenge.${n.startsWith('*.') ? n.slice(2) : n}`;
}

export function route53Policy(input: Route53PolicyInput): IamPolicyDocument {
  if (input.names.length === 0) {
    throw new AgentError({ code: 'POLICY_NO_NAMES', component: 'policy', message: 'no DNS names to grant challenge records for', hint: 'set identity.name' });
  }
  // Route 53 condition keys compare normalized names: lower case, no trailing dot (the docs' "normalized").
  const records = [...new Set(input.names.map(challengeRecordName))].sort();
  return challengeRecordsPolicy({
    ...(input.zoneId === undefined ? {} : { zoneId: input.zoneId }),
    records,
    partition: input.partition ?? 'aws',
    sid: 'AcmeChallenge',
  });
}

/**
 * The statements both the per-host and the fleet policy (fleet.ts) grant, for the given normalized record names
 * (literal names, or a policy-variable template): the two may differ only in those names.
 */
export function challengeRecordsPolicy(input: { zoneId?: string; records: string[]; partition: string; sid: string }): IamPolicyDocument {
  const { partition: p, records, sid } = input;
  const zoneId = input.zoneId === undefined ? undefined : input.zoneId.replace(/^\/?hostedzone\//, '');
  if (zoneId !== undefined && !/^Z[A-Z0-9]{1,32}$/.test(zoneId)) {
    throw new AgentError({
      code: 'POLICY_BAD_ZONE',
      component: 'policy',
      message: `not a hosted zone id: ${JSON.stringify(input.zoneId)}`,
      hint: 'hosted zone ids look like Z0123456789ABCDEFGHIJ',
    });
  }
  // Without a zone id the zone is found at run time, so its ARN cannot be known here: the zone resources widen to
  // every zone of the account. The record-name condition below still confines writes to the challenge records.
  const zoneArn = `arn:${p}:route53:::hostedzone/${zoneId ?? '*'}`;
  const statements: IamStatement[] = [
    {
      // Change ids are generated per change, so GetChange cannot be scoped further than change/*.
      Sid: `${sid}ChangeStatus`,
      Effect: 'Allow',
      Action: 'route53:GetChange',
      Resource: `arn:${p}:route53:::change/*`,
    },
  ];
  if (zoneId === undefined) {
    // ListHostedZonesByName supports no resource-level permissions; IAM accepts only "*" for it.
    statements.push({ Sid: `${sid}FindZone`, Effect: 'Allow', Action: 'route53:ListHostedZonesByName', Resource: '*' });
  }
  statements.push(
    {
      // Read-modify-write of the TXT set (other values are kept), and the apex NS set for the propagation check.
      Sid: `${sid}ReadRecords`,
      Effect: 'Allow',
      Action: 'route53:ListResourceRecordSets',
      Resource: zoneArn,
    },
    {
      Sid: `${sid}WriteRecords`,
      Effect: 'Allow',
      Action: 'route53:ChangeResourceRecordSets',
      Resource: zoneArn,
      Condition: {
        'ForAllValues:StringEquals': {
          'route53:ChangeResourceRecordSetsNormalizedRecordNames': records,
          'route53:ChangeResourceRecordSetsRecordTypes': ['TXT'],
          'route53:ChangeResourceRecordSetsActions': ['UPSERT', 'DELETE'],
        },
      },
    },
  );
  return { Version: '2012-10-17', Statement: statements };
}
