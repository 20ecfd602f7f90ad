import type { X509Certificate } from 'node:crypto';
import { AgentError } from '../core/errors.js';
import { readPemCertificates } from '../core/pem.js';
import type { KeyHandle } from '../keys/types.js';
import { MAX_CHAIN } from './sign.js';

/**
 * Local checks run before any CreateSession call. Each mistake the service would answer with a bare
 * "AccessDeniedException" (or that would burn a rate-limited call) is caught here with the value at fault and
 * what to do about it. Time is a parameter: nothing here reads the clock.
 */

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

/**
 * Every certificate of a PEM text, in order; `what` names the source in errors. Strict (core/pem.ts): a chain that
 * is junk, truncated, DER or a key is refused here, naming it, instead of being sent as "no chain" and answered by
 * the service as a trust-anchor problem. An empty text is no certificate (a leaf issued by the anchor itself).
 */
export function parseCertificates(pem: string, what: string): X509Certificate[] {
  try {
    return readPemCertificates(pem, {
      what,
      component,
      allowEmpty: true,
      hint: 're-run the enrolment if the file was damaged (iamra-agent renew --force)',
    });
  } catch (e) {
    if (!(e instanceof AgentError)) throw e;
    throw new AgentError({
      code: 'CERT_INVALID',
      component,
      message: e.message,
      ...(e.hint ? { hint: e.hint } : {}),
      ...(e.details ? { details: e.details } : {}),
      cause: e.cause ?? e,
    });
  }
}

/** The leaf: exactly one certificate (a bundle goes to the chain). */
export function parseLeaf(pem: string, what: string): X509Certificate {
  const certs = parseCertificates(pem, what);
  if (certs.length !== 1) {
    throw new AgentError({
      code: 'CERT_INVALID',
      component,
      message: `${what} holds ${certs.length} certificates; expected exactly the leaf`,
      hint: 'give the leaf certificate alone and the intermediates as the chain',
    });
  }
  return certs[0]!;
}

/** Node renders distinguished names one RDN per line; one line reads better in a message. */
/** Node gives `undefined` for an empty DN (leaves of profiles that do not promote the CN, like LE tlsserver). */
function dn(name: string | undefined): string {
  return name ? name.replace(/\n/g, ', ') : '(empty subject)';
}

function subjectOf(c: X509Certificate): string {
  return dn(c.subject);
}

/** The key must be the certificate's key, or the service answers only "Invalid signature". */
export async function checkKeyMatchesCertificate(key: KeyHandle, leaf: X509Certificate): Promise<void> {
  const mine = (await key.publicKey()).export({ type: 'spki', format: 'der' });
  const certs = leaf.publicKey.export({ type: 'spki', format: 'der' });
  if (!mine.equals(certs)) {
    throw new AgentError({
      code: 'KEY_CERT_MISMATCH',
      component,
      message: `the ${key.describe()} does not match the certificate ${subjectOf(leaf)} (serial ${leaf.serialNumber})`,
      hint: 'the certificate was issued for another key; renew the certificate (iamra-agent renew --force) or point key and certificate at the same version',
    });
  }
}

/** Each certificate must be valid at `now` (leaf first, then the chain). */
export function checkValidity(certs: X509Certificate[], now: Date): void {
  for (const [i, c] of certs.entries()) {
    const from = new Date(c.validFrom);
    const to = new Date(c.validTo);
    const which = i === 0 ? 'certificate' : `chain certificate ${i}`;
    if (now < from) {
      throw new AgentError({
        code: 'CERT_NOT_YET_VALID',
        component,
        message: `the ${which} ${subjectOf(c)} is not valid before ${from.toISOString()} (now ${now.toISOString()})`,
        hint: 'check the system clock (timedatectl, chronyc tracking); a clock running behind makes new certificates look future-dated',
        details: { notBefore: from.toISOString(), now: now.toISOString() },
      });
    }
    if (now > to) {
      throw new AgentError({
        code: 'CERT_EXPIRED',
        component,
        message: `the ${which} ${subjectOf(c)} expired at ${to.toISOString()} (now ${now.toISOString()})`,
        hint: i === 0 ? 'renew it: iamra-agent renew --force' : 'the chain file is stale; renew to fetch the current chain',
        details: { notAfter: to.toISOString(), now: now.toISOString() },
      });
    }
  }
}

/** The leaf must be signed by chain[0], chain[i] by chain[i+1]; at most 5 intermediates may be sent. */
export function checkChain(leaf: X509Certificate, chain: X509Certificate[]): void {
  if (chain.length > MAX_CHAIN) {
    throw new AgentError({
      code: 'CHAIN_TOO_LONG',
      component,
      message: `the chain has ${chain.length} certificates; X-Amz-X509-Chain allows at most ${MAX_CHAIN}`,
      hint: 'keep only the intermediates between the leaf and the trust anchor',
    });
  }
  const all = [leaf, ...chain];
  for (let i = 0; i + 1 < all.length; i++) {
    const child = all[i]!;
    const issuer = all[i + 1]!;
    if (!child.checkIssued(issuer) || !child.verify(issuer.publicKey)) {
      throw new AgentError({
        code: 'CHAIN_BROKEN',
        component,
        message: `${i === 0 ? 'the certificate' : `chain certificate ${i}`} ${subjectOf(child)} (issuer ${dn(child.issuer)}) is not signed by the next certificate ${subjectOf(issuer)}`,
        hint: 'the chain must list the issuer of the leaf first, then each issuer in turn; re-run the enrolment to rewrite chain.pem',
        details: { position: i },
      });
    }
  }
}

export interface PreflightInput {
  leaf: X509Certificate;
  chain: X509Certificate[];
  key: KeyHandle;
  trustAnchorArn: string;
  profileArn: string;
  roleArn: string;
  durationSeconds: number;
  roleSessionName?: string;
  /** configured signing region, if any */
  region?: string;
  now: Date;
}

/** All local checks, in the order a person would fix them; returns the parsed ARNs. */
export async function checkBeforeCreateSession(p: PreflightInput): Promise<CheckedArns> {
  const arns = checkArns(p);
  checkDuration(p.durationSeconds);
  if (p.roleSessionName !== undefined) checkRoleSessionName(p.roleSessionName);
  await checkKeyMatchesCertificate(p.key, p.leaf);
  checkValidity([p.leaf, ...p.chain], p.now);
  checkChain(p.leaf, p.chain);
  return arns;
}
