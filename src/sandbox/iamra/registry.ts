import { createHash, randomUUID } from 'node:crypto';
import { AgentError } from '../../core/errors.js';
import type { PolicyDocument } from '../aws/types.js';
import { parseCertificateBundle, type CertificateField, type ParsedCertificate } from './certs.js';

/**
 * The IAM Roles Anywhere and IAM state of the sandbox: trust anchors, profiles and roles. Built from a plain object
 * (IamraRegistrySpec) so `sandbox up` can read it from YAML/JSON and write back the filled-in form (toSpec()).
 */

/** The AWS attribute-mapping shape (`put-attribute-mapping`): specifier `*` maps every attribute of the field. */
export interface AttributeMapping {
  certificateField: CertificateField;
  mappingRules: { specifier: string }[];
}

/** A new profile maps Subject, Issuer and SAN with specifier `*`, like the real service. */
export function defaultAttributeMappings(): AttributeMapping[] {
  return (['x509Subject', 'x509Issuer', 'x509SAN'] as const).map((certificateField) => ({ certificateField, mappingRules: [{ specifier: '*' }] }));
}

export interface TrustAnchorSpec {
  name: string;
  /** UUID; generated when absent */
  id?: string;
  /** PEM bundle of the CA certificate(s); the service allows at most 2 per trust anchor */
  certificateBundlePem: string;
  enabled?: boolean;
}

export interface ProfileSpec {
  name: string;
  id?: string;
  roleArns: string[];
  /** session length cap in seconds (default 3600) */
  durationSeconds?: number;
  acceptRoleSessionName?: boolean;
  enabled?: boolean;
  /** default: defaultAttributeMappings() */
  attributeMappings?: AttributeMapping[];
}

export interface RoleSpec {
  name: string;
  /** IAM path, default `/` */
  path?: string;
  /** AROA… unique id; derived when absent */
  roleId?: string;
  trustPolicy: PolicyDocument;
  permissionPolicies?: PolicyDocument[];
  /** IAM MaxSessionDuration, 3600–43200, default 3600 */
  maxSessionDuration?: number;
}

export interface IamraRegistrySpec {
  accountId: string;
  region: string;
  trustAnchors?: TrustAnchorSpec[];
  profiles?: ProfileSpec[];
  roles?: RoleSpec[];
}

export interface TrustAnchor {
  arn: string;
  id: string;
  name: string;
  certificateBundlePem: string;
  certificates: ParsedCertificate[];
  enabled: boolean;
}

export interface Profile {
  arn: string;
  id: string;
  name: string;
  roleArns: string[];
  durationSeconds: number;
  acceptRoleSessionName: boolean;
  enabled: boolean;
  attributeMappings: AttributeMapping[];
}

export interface Role {
  arn: string;
  name: string;
  path: string;
  roleId: string;
  trustPolicy: PolicyDocument;
  permissionPolicies: PolicyDocument[];
  maxSessionDuration: number;
}

const COMPONENT = 'sandbox.iamra';
const FIELDS: readonly CertificateField[] = ['x509Subject', 'x509Issuer', 'x509SAN'];

function configError(path: string, message: string): AgentError {
  return new AgentError({
    code: 'SANDBOX_IAMRA_CONFIG',
    component: COMPONENT,
    message: `${path}: ${message}`,
    hint: 'fix the sandbox IAM Roles Anywhere configuration',
  });
}

function notFound(kind: string, arn: string): AgentError {
  return new AgentError({
    code: 'SANDBOX_IAMRA_NOT_FOUND',
    component: COMPONENT,
    message: `no ${kind} ${arn}`,
    hint: `add the ${kind} to the sandbox registry first`,
  });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A stable IAM unique id: AROA + 17 base32 characters derived from the role ARN (same ARN, same id). */
function deriveRoleId(arn: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const digest = createHash('sha256').update(arn).digest();
  return 'AROA' + [...digest.subarray(0, 17)].map((b) => alphabet[b % 32]).join('');
}

export class IamraRegistry {
  readonly accountId: string;
  readonly region: string;
  private readonly anchors = new Map<string, TrustAnchor>();
  private readonly profiles = new Map<string, Profile>();
  private readonly roles = new Map<string, Role>();

  constructor(accountId: string, region: string) {
    if (!/^\d{12}$/.test(accountId)) throw configError('accountId', `must be 12 digits, got "${accountId}"`);
    if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) throw configError('region', `must be an AWS region name, got "${region}"`);
    this.accountId = accountId;
    this.region = region;
  }

  /** Builds the registry; roles first so profiles can name them. Errors name the spec path (`profiles[0].roleArns`). */
  static fromSpec(spec: IamraRegistrySpec): IamraRegistry {
    const r = new IamraRegistry(spec.accountId, spec.region);
    for (const [i, s] of (spec.roles ?? []).entries()) r.addRole(s, `roles[${i}]`);
    for (const [i, s] of (spec.trustAnchors ?? []).entries()) r.addTrustAnchor(s, `trustAnchors[${i}]`);
    for (const [i, s] of (spec.profiles ?? []).entries()) r.addProfile(s, `profiles[${i}]`);
    return r;
  }

  /** The registry as a spec with every generated id filled in: writing it and reading it back gives the same ARNs. */
  toSpec(): IamraRegistrySpec {
    return {
      accountId: this.accountId,
      region: this.region,
      trustAnchors: [...this.anchors.values()].map((a) => ({ name: a.name, id: a.id, certificateBundlePem: a.certificateBundlePem, enabled: a.enabled })),
      profiles: [...this.profiles.values()].map((p) => ({
        name: p.name,
        id: p.id,
        roleArns: [...p.roleArns],
        durationSeconds: p.durationSeconds,
        acceptRoleSessionName: p.acceptRoleSessionName,
        enabled: p.enabled,
        attributeMappings: structuredClone(p.attributeMappings),
      })),
      roles: [...this.roles.values()].map((r) => ({
        name: r.name,
        path: r.path,
        roleId: r.roleId,
        trustPolicy: structuredClone(r.trustPolicy),
        permissionPolicies: structuredClone(r.permissionPolicies),
        maxSessionDuration: r.maxSessionDuration,
      })),
    };
  }

  addRole(s: RoleSpec, at = 'role'): Role {
    if (!/^[\w+=,.@-]{1,64}$/.test(s.name ?? '')) throw configError(`${at}.name`, `must be an IAM role name, got "${s.name}"`);
    const path = s.path ?? '/';
    if (!/^\/([\x21-\x7e]*\/)?$/.test(path)) throw configError(`${at}.path`, `must start and end with "/", got "${path}"`);
    if (!s.trustPolicy || !Array.isArray(s.trustPolicy.Statement)) throw configError(`${at}.trustPolicy`, 'must be a policy document with a Statement array');
    const maxSessionDuration = s.maxSessionDuration ?? 3600;
    if (!Number.isInteger(maxSessionDuration) || maxSessionDuration < 3600 || maxSessionDuration > 43200) {
      throw configError(`${at}.maxSessionDuration`, `must be an integer from 3600 to 43200, got ${maxSessionDuration}`);
    }
    const arn = `arn:aws:iam::${this.accountId}:role${path}${s.name}`;
    const role: Role = {
      arn,
      name: s.name,
      path,
      roleId: s.roleId ?? deriveRoleId(arn),
      trustPolicy: s.trustPolicy,
      permissionPolicies: s.permissionPolicies ?? [],
      maxSessionDuration,
    };
    this.roles.set(arn, role);
    return role;
  }

  addTrustAnchor(s: TrustAnchorSpec, at = 'trustAnchor'): TrustAnchor {
    if (!s.name) throw configError(`${at}.name`, 'is required');
    const id = s.id ?? randomUUID();
    if (!UUID.test(id)) throw configError(`${at}.id`, `must be a lower-case UUID, got "${id}"`);
    let certificates: ParsedCertificate[];
    try {
      certificates = parseCertificateBundle(s.certificateBundlePem ?? '');
    } catch (e) {
      throw configError(`${at}.certificateBundlePem`, `is not a PEM certificate bundle (${(e as Error).message})`);
    }
    if (certificates.length > 2) throw configError(`${at}.certificateBundlePem`, `holds ${certificates.length} certificates; a trust anchor allows at most 2`);
    const anchor: TrustAnchor = {
      arn: `arn:aws:rolesanywhere:${this.region}:${this.accountId}:trust-anchor/${id}`,
      id,
      name: s.name,
      certificateBundlePem: s.certificateBundlePem,
      certificates,
      enabled: s.enabled ?? true,
    };
    this.anchors.set(anchor.arn, anchor);
    return anchor;
  }

  addProfile(s: ProfileSpec, at = 'profile'): Profile {
    if (!s.name) throw configError(`${at}.name`, 'is required');
    const id = s.id ?? randomUUID();
    if (!UUID.test(id)) throw configError(`${at}.id`, `must be a lower-case UUID, got "${id}"`);
    if (!Array.isArray(s.roleArns) || s.roleArns.length === 0) throw configError(`${at}.roleArns`, 'must list at least one role ARN');
    s.roleArns.forEach((arn, i) => {
      if (!/^arn:aws[\w-]*:iam::\d{12}:role\/.+$/.test(arn)) throw configError(`${at}.roleArns[${i}]`, `must be an IAM role ARN, got "${arn}"`);
    });
    const durationSeconds = s.durationSeconds ?? 3600;
    if (!Number.isInteger(durationSeconds) || durationSeconds < 900 || durationSeconds > 43200) {
      throw configError(`${at}.durationSeconds`, `must be an integer from 900 to 43200, got ${durationSeconds}`);
    }
    const attributeMappings = structuredClone(s.attributeMappings ?? defaultAttributeMappings());
    attributeMappings.forEach((m, i) => {
      if (!FIELDS.includes(m.certificateField))
        throw configError(`${at}.attributeMappings[${i}].certificateField`, `must be one of ${FIELDS.join(', ')}, got "${m.certificateField}"`);
    });
    const profile: Profile = {
      arn: `arn:aws:rolesanywhere:${this.region}:${this.accountId}:profile/${id}`,
      id,
      name: s.name,
      roleArns: [...s.roleArns],
      durationSeconds,
      acceptRoleSessionName: s.acceptRoleSessionName ?? false,
      enabled: s.enabled ?? true,
      attributeMappings,
    };
    this.profiles.set(profile.arn, profile);
    return profile;
  }

  trustAnchor(arn: string): TrustAnchor | undefined {
    return this.anchors.get(arn);
  }

  profile(arn: string): Profile | undefined {
    return this.profiles.get(arn);
  }

  role(arn: string): Role | undefined {
    return this.roles.get(arn);
  }

  listTrustAnchors(): TrustAnchor[] {
    return [...this.anchors.values()];
  }

  listProfiles(): Profile[] {
    return [...this.profiles.values()];
  }

  listRoles(): Role[] {
    return [...this.roles.values()];
  }

  setTrustAnchorEnabled(arn: string, enabled: boolean): void {
    const a = this.anchors.get(arn);
    if (!a) throw notFound('trust anchor', arn);
    a.enabled = enabled;
  }

  /** `put-attribute-mapping`: replace the rules of one certificate field. */
  putAttributeMapping(profileArn: string, certificateField: CertificateField, specifiers: string[]): void {
    if (!FIELDS.includes(certificateField)) throw configError('certificateField', `must be one of ${FIELDS.join(', ')}, got "${certificateField}"`);
    const p = this.profiles.get(profileArn);
    if (!p) throw notFound('profile', profileArn);
    const rest = p.attributeMappings.filter((m) => m.certificateField !== certificateField);
    p.attributeMappings = [...rest, { certificateField, mappingRules: specifiers.map((specifier) => ({ specifier })) }];
  }

  /**
   * `delete-attribute-mapping`: without specifiers the whole field stops being mapped (the documented fix for
   * issuers whose names contain characters session tags cannot carry).
   */
  deleteAttributeMapping(profileArn: string, certificateField: CertificateField, specifiers?: string[]): void {
    if (!FIELDS.includes(certificateField)) throw configError('certificateField', `must be one of ${FIELDS.join(', ')}, got "${certificateField}"`);
    const p = this.profiles.get(profileArn);
    if (!p) throw notFound('profile', profileArn);
    p.attributeMappings = p.attributeMappings.flatMap((m) => {
      if (m.certificateField !== certificateField) return [m];
      if (!specifiers) return [];
      const rules = m.mappingRules.filter((r) => !specifiers.includes(r.specifier));
      return rules.length ? [{ ...m, mappingRules: rules }] : [];
    });
  }

  /** `update-profile --accept-role-session-name | --no-accept-role-session-name` */
  setAcceptRoleSessionName(profileArn: string, accept: boolean): void {
    const p = this.profiles.get(profileArn);
    if (!p) throw notFound('profile', profileArn);
    p.acceptRoleSessionName = accept;
  }

  /** IAM UpdateAssumeRolePolicy: replace the role's trust policy (a Deny statement revokes hosts at once). */
  updateAssumeRolePolicy(roleArn: string, policy: PolicyDocument): void {
    const r = this.roles.get(roleArn);
    if (!r) throw notFound('role', roleArn);
    if (!policy || !Array.isArray(policy.Statement)) throw configError('policyDocument', 'must be a policy document with a Statement array');
    r.trustPolicy = structuredClone(policy);
  }

  setRolePolicies(roleArn: string, permissionPolicies: PolicyDocument[], trustPolicy?: PolicyDocument): void {
    const r = this.roles.get(roleArn);
    if (!r) throw notFound('role', roleArn);
    r.permissionPolicies = permissionPolicies;
    if (trustPolicy) r.trustPolicy = trustPolicy;
  }
}
