/**
 * The rules for the AWS identifiers the agent is configured with (Roles Anywhere trust anchor and profile ARNs,
 * role ARNs, session names and durations). One module, so that the config schema (`config check`), the signer's
 * pre-CreateSession checks and the command-line overrides all refuse a value with the same words. Pure: no I/O.
 */
import { AgentError } from './errors.js';

const component = 'rolesanywhere';

export interface Arn {
  partition: string;
  service: string;
  region: string;
  account: string;
  resource: string;
}

export type ArnKind = 'trust anchor' | 'profile' | 'role';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const SHAPES: Record<ArnKind, { service: string; regional: boolean; resource: RegExp; example: string }> = {
  'trust anchor': {
    service: 'rolesanywhere',
    regional: true,
    resource: new RegExp(`^trust-anchor/${UUID}$`),
    example: 'arn:aws:rolesanywhere:eu-west-1:123456789012:trust-anchor/<uuid>',
  },
  profile: {
    service: 'rolesanywhere',
    regional: true,
    resource: new RegExp(`^profile/${UUID}$`),
    example: 'arn:aws:rolesanywhere:eu-west-1:123456789012:profile/<uuid>',
  },
  // IAM role names and paths: [\w+=,.@-] (IAM User Guide, "IAM identifiers").
  role: { service: 'iam', regional: false, resource: /^role\/([\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/, example: 'arn:aws:iam::123456789012:role/<name>' },
};

/** The documented form of an ARN of the kind (config schema descriptions, hints). */
export function arnExample(kind: ArnKind): string {
  return SHAPES[kind].example;
}

/** Parses and shape-checks an ARN of the given kind; throws ARN_INVALID naming the value. */
export function parseArn(value: string, kind: ArnKind): Arn {
  const shape = SHAPES[kind];
  const parts = value.split(':');
  const fail = (why: string): never => {
    throw new AgentError({
      code: 'ARN_INVALID',
      component,
      message: `${kind} ARN ${JSON.stringify(value)} is malformed: ${why}`,
      hint: `expected the form ${shape.example}`,
      details: { kind, value },
    });
  };
  if (parts.length < 6 || parts[0] !== 'arn') return fail('not of the form arn:partition:service:region:account:resource');
  const [, partition, service, region, account] = parts as [string, string, string, string, string];
  const resource = parts.slice(5).join(':');
  if (!/^aws(-[a-z]+)*$/.test(partition)) fail(`unknown partition ${JSON.stringify(partition)}`);
  if (service !== shape.service) fail(`service is ${JSON.stringify(service)}, not ${shape.service}`);
  if (shape.regional && !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) fail(`region ${JSON.stringify(region)} is not a region name`);
  if (!shape.regional && region !== '') fail('an IAM ARN has no region');
  if (!/^\d{12}$/.test(account)) fail(`account ${JSON.stringify(account)} is not 12 digits`);
  if (!shape.resource.test(resource)) fail(`resource ${JSON.stringify(resource)} is not a ${kind}`);
  return { partition, service, region, account, resource };
}

export interface CheckedAnchor {
  trustAnchor: Arn;
  profile: Arn;
  partition: string;
  /** the trust anchor's region: where CreateSession must be sent */
  region: string;
}

export interface CheckedArns extends CheckedAnchor {
  role: Arn;
}

/**
 * Trust anchor and profile must be well formed, in one partition and one region (the credential helper refuses
 * the same, credentials.go GenerateCredentials). A configured signing region must be that region: the service
 * only finds trust anchors and profiles of its own region.
 */
export function checkAnchorAndProfile(a: { trustAnchorArn: string; profileArn: string; region?: string }): CheckedAnchor {
  const trustAnchor = parseArn(a.trustAnchorArn, 'trust anchor');
  const profile = parseArn(a.profileArn, 'profile');
  if (profile.partition !== trustAnchor.partition) {
    throw partitionMismatch('profile', profile.partition, trustAnchor.partition, { trustAnchorArn: a.trustAnchorArn, profileArn: a.profileArn });
  }
  if (profile.region !== trustAnchor.region) {
    throw new AgentError({
      code: 'REGION_MISMATCH',
      component,
      message: `the profile is in ${profile.region} but the trust anchor is in ${trustAnchor.region}`,
      hint: 'use a profile and a trust anchor created in the same region',
      details: { trustAnchorArn: a.trustAnchorArn, profileArn: a.profileArn },
    });
  }
  if (a.region !== undefined && a.region !== trustAnchor.region) {
    throw new AgentError({
      code: 'REGION_MISMATCH',
      component,
      message: `region ${a.region} is configured but the trust anchor and profile are in ${trustAnchor.region}`,
      hint: `set the region to ${trustAnchor.region} or leave it unset (it defaults to the trust anchor's region)`,
      details: { region: a.region, trustAnchorArn: a.trustAnchorArn },
    });
  }
  return { trustAnchor, profile, partition: trustAnchor.partition, region: trustAnchor.region };
}

/** checkAnchorAndProfile, plus a well-formed role ARN in the same partition. */
export function checkArns(a: { trustAnchorArn: string; profileArn: string; roleArn: string; region?: string }): CheckedArns {
  const anchor = checkAnchorAndProfile(a);
  const role = parseArn(a.roleArn, 'role');
  if (role.partition !== anchor.partition) {
    throw partitionMismatch('role', role.partition, anchor.partition, { trustAnchorArn: a.trustAnchorArn, roleArn: a.roleArn });
  }
  return { ...anchor, role };
}

/** PARTITION_MISMATCH: `what` is in partition `got` while the trust anchor (or region) is in `want`. */
export function partitionMismatch(what: string, got: string, want: string, details: Record<string, unknown>): AgentError {
  return new AgentError({
    code: 'PARTITION_MISMATCH',
    component,
    message: `the ${what} is in partition ${got} but the trust anchor is in ${want}`,
    hint: 'trust anchor, profile, role and region must all be in the same partition (aws, aws-cn, aws-us-gov, ...)',
    details,
  });
}

/** CreateSession accepts 900-43200 seconds (15 min to 12 h); the role's MaxSessionDuration may lower the top. */
export function checkDuration(seconds: number): void {
  if (!Number.isInteger(seconds) || seconds < 900 || seconds > 43200) {
    throw new AgentError({
      code: 'DURATION_OUT_OF_RANGE',
      component,
      message: `durationSeconds ${seconds} is outside 900-43200`,
      hint: 'use a whole number of seconds between 900 (15 minutes) and 43200 (12 hours)',
      details: { durationSeconds: seconds },
    });
  }
}

/** roleSessionName goes to sts:AssumeRole, so it follows STS rules: 2-64 characters of [\w+=,.@-]. */
export function checkRoleSessionName(name: string): void {
  if (!/^[\w+=,.@-]{2,64}$/.test(name)) {
    throw new AgentError({
      code: 'ROLE_SESSION_NAME_INVALID',
      component,
      message: `roleSessionName ${JSON.stringify(name)} is not 2-64 characters of letters, digits and +=,.@_-`,
      hint: 'choose a name STS accepts, or leave it unset (the session is then named after the certificate serial)',
    });
  }
}
