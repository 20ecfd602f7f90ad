import { AgentError } from '../core/errors.js';
import { CN_TAG, type IamTrustPolicyDocument } from './fleet.js';

/**
 * The host role's trust policy kit for IAM Roles Anywhere (issue 8): who may assume the role (`roleTrustPolicy`),
 * how to revoke one host at once (`denyStatement`, since CRLs of public CAs are published too rarely to rely on),
 * and the profile settings the agent needs (`profileSettings`). The sandbox enforces exactly these documents.
 */

export const ROLES_ANYWHERE_SERVICE = 'rolesanywhere.amazonaws.com';
/** IAMRA asks STS for all three: the role, the certificate's session tags, the source identity (its serial). */
export const TRUST_ACTIONS = ['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity'];
/** `??????`: exactly six characters, the length of the agent's TOTP session names (envsense.digits 6). */
export const TOTP_SESSION_PATTERN = '??????';

const ANCHOR_ARN = /^arn:aws[\w-]*:rolesanywhere:[a-z0-9-]+:\d{12}:trust-anchor\/[0-9a-f-]{36}$/;
/** a host name or a StringLike pattern of one (`*.example.com`); no quotes, spaces or policy-variable syntax */
const CN_VALUE = /^[A-Za-z0-9*?._-]{1,253}$/;

function bad(code: string, message: string, hint: string): AgentError {
  return new AgentError({ code, component: 'policy', message, hint });
}

function checkAnchors(arns: string[]): void {
  if (arns.length === 0)
    throw bad('POLICY_BAD_TRUST_ANCHOR', 'no trust anchor given', 'pass --trust-anchor-arn arn:aws:rolesanywhere:<region>:<account>:trust-anchor/<uuid>');
  for (const a of arns) {
    if (!ANCHOR_ARN.test(a))
      throw bad(
        'POLICY_BAD_TRUST_ANCHOR',
        `not a trust anchor ARN: ${JSON.stringify(a)}`,
        'pass --trust-anchor-arn arn:aws:rolesanywhere:<region>:<account>:trust-anchor/<uuid>',
      );
  }
}

function checkCn(v: string, flag: string, wildcards: boolean): void {
  if (!CN_VALUE.test(v) || (!wildcards && /[*?]/.test(v))) {
    throw bad(
      'POLICY_BAD_NAME',
      `${flag} ${JSON.stringify(v)} is not a certificate CN${wildcards ? ' pattern' : ''}`,
      wildcards ? "give a pattern such as '*.example.com'" : 'give the host name such as host1.example.com (use --cn-like for patterns)',
    );
  }
}

export interface RoleTrustInput {
  trustAnchorArns: string[];
  /** exactly this subject CN (StringEquals) */
  cn?: string;
  /** a StringLike pattern of the CN (`*.example.com`) */
  cnLike?: string;
  /** demand a 6-character roleSessionName: a TOTP code (rolesAnywhere.roleSessionName: totp) */
  totp?: boolean;
}

export function roleTrustPolicy(input: RoleTrustInput): IamTrustPolicyDocument {
  checkAnchors(input.trustAnchorArns);
  if ((input.cn === undefined) === (input.cnLike === undefined)) {
    throw bad(
      'POLICY_NEEDS_SUBJECT',
      'give exactly one of --cn and --cn-like',
      "bind the role to a host (--cn host1.example.com) or a fleet (--cn-like '*.example.com')",
    );
  }
  const condition: Record<string, Record<string, string | string[]>> = {
    ArnEquals: { 'aws:SourceArn': input.trustAnchorArns.length === 1 ? input.trustAnchorArns[0]! : input.trustAnchorArns },
  };
  if (input.cn !== undefined) {
    checkCn(input.cn, '--cn', false);
    condition['StringEquals'] = { [CN_TAG]: input.cn };
  }
  if (input.cnLike !== undefined) {
    checkCn(input.cnLike, '--cn-like', true);
    condition['StringLike'] = { [CN_TAG]: input.cnLike };
  }
  const statement = (Sid: string, Action: string[], extra: Record<string, string> = {}) => ({
    Sid,
    Effect: 'Allow' as const,
    Principal: { Service: ROLES_ANYWHERE_SERVICE },
    Action,
    Condition: Object.keys(extra).length ? { ...condition, StringLike: { ...condition['StringLike'], ...extra } } : condition,
  });
  if (!input.totp) return { Version: '2012-10-17', Statement: [statement('RolesAnywhere', [...TRUST_ACTIONS])] };
  // sts:RoleSessionName is a key of the AssumeRole request only (the IAM evaluator, like STS, does not offer it for
  // sts:TagSession), so the session-name gate sits on AssumeRole, which every CreateSession needs.
  return {
    Version: '2012-10-17',
    Statement: [
      statement('RolesAnywhereWithTotpSessionName', ['sts:AssumeRole'], { 'sts:RoleSessionName': TOTP_SESSION_PATTERN }),
      statement('RolesAnywhereSessionTagsAndSourceIdentity', ['sts:TagSession', 'sts:SetSourceIdentity']),
    ],
  };
}

export interface DenyStatement {
  Sid: string;
  Effect: 'Deny';
  Principal: { Service: string };
  Action: string[];
  Condition: { StringEqualsIgnoreCase: Record<string, string[]> };
}

/**
 * A statement to add to a role's trust policy: an explicit Deny beats every Allow, so the next CreateSession of
 * these hosts is refused at once (credentials already issued stay valid until they expire).
 */
export function denyStatement(input: { cns: string[] }): DenyStatement {
  if (input.cns.length === 0) throw bad('POLICY_NEEDS_SUBJECT', 'no host to deny', 'pass --cn host1.example.com (repeatable)');
  for (const cn of input.cns) checkCn(cn, '--cn', false);
  return {
    Sid: 'DenyRevokedHosts',
    Effect: 'Deny',
    Principal: { Service: ROLES_ANYWHERE_SERVICE },
    Action: [...TRUST_ACTIONS],
    Condition: { StringEqualsIgnoreCase: { [CN_TAG]: [...input.cns] } },
  };
}

export interface ProfileSettings {
  /** required for `rolesAnywhere.roleSessionName` (fixed or totp) to be accepted */
  acceptRoleSessionName: boolean;
  /**
   * Subject and SAN mapped with every attribute; no x509Issuer mapping: the Let's Encrypt staging issuer contains
   * ', ( and ), which session tags cannot carry, and CreateSession would fail.
   */
  attributeMappings: { certificateField: 'x509Subject' | 'x509SAN'; mappingRules: { specifier: string }[] }[];
}

export function profileSettings(input: { totp?: boolean; sessionName?: boolean }): ProfileSettings {
  return {
    acceptRoleSessionName: Boolean(input.totp || input.sessionName),
    attributeMappings: [
      { certificateField: 'x509Subject', mappingRules: [{ specifier: '*' }] },
      { certificateField: 'x509SAN', mappingRules: [{ specifier: '*' }] },
    ],
  };
}
