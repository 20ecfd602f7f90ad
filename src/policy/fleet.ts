import { AgentError } from '../core/errors.js';
import type { IamPolicyDocument } from './route53.js';
import { challengeRecordsPolicy } from './route53.js';

/**
 * One DNS role for a whole fleet: every host assumes the same role through IAM Roles Anywhere, and the permission
 * policy lets each session write only the challenge record of its own certificate. IAMRA turns the certificate's
 * subject into the session tag `x509Subject/CN`, and IAM substitutes `${aws:PrincipalTag/x509Subject/CN}` in the
 * condition value at evaluation time
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html), so the allowed normalized
 * record name is `_acme-challenge.<the caller's CN>`. A session without a CN tag gets `_acme-challenge.` (or, in
 * AWS, an unmatched condition), which names no record: it may write nothing.
 *
 * Limits, by construction: the CN must be the host name the record is for (ACME CAs set it to the first SAN, and the
 * agent refuses CN-less certificates), and only that one name — a wildcard CN (`*.example.com`) would allow the
 * record `_acme-challenge.*.example.com`, which is not where RFC 8555 §7.1.3 puts it, and the other SANs of a
 * multi-name certificate get no record. Such identities need per-host statements (`policy route53 --name …`).
 */

/** The session tag IAM Roles Anywhere maps from the certificate's subject CN (attribute mapping x509Subject `*`/`CN`). */
export const CN_TAG = 'aws:PrincipalTag/x509Subject/CN';
export const FLEET_RECORD_NAME = `_acme-challenge.\${${CN_TAG}}`;

export interface FleetDnsPolicyInput {
  /** required: a fleet role is confined to one zone (Z…, with or without /hostedzone/) */
  zoneId: string;
  partition?: string;
}

export function fleetDnsPolicy(input: FleetDnsPolicyInput): IamPolicyDocument {
  if (!input.zoneId) {
    throw new AgentError({
      code: 'POLICY_FLEET_NEEDS_ZONE',
      component: 'policy',
      message: 'the fleet DNS policy needs a hosted zone id',
      hint: 'pass --zone-id Z… (the fleet role is confined to one zone)',
    });
  }
  return challengeRecordsPolicy({ zoneId: input.zoneId, records: [FLEET_RECORD_NAME], partition: input.partition ?? 'aws', sid: 'FleetAcmeChallenge' });
}

export interface IamTrustStatement {
  Sid: string;
  Effect: 'Allow';
  Principal: { Service: string };
  Action: string[];
  Condition: Record<string, Record<string, string | string[]>>;
}

export interface IamTrustPolicyDocument {
  Version: '2012-10-17';
  Statement: IamTrustStatement[];
}

export interface FleetDnsTrustInput {
  /** the trust anchor the fleet's certificates chain to; binding it keeps other anchors' certificates out */
  trustAnchorArn: string;
  /** optional DNS suffix every host name has (example.com → CN must match *.example.com) */
  domain?: string;
}

const ANCHOR_ARN = /^arn:aws[\w-]*:rolesanywhere:[a-z0-9-]+:\d{12}:trust-anchor\/[0-9a-f-]{36}$/;
const DOMAIN = /^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/;

/**
 * The fleet DNS role's trust policy: IAM Roles Anywhere may assume it (AssumeRole, TagSession for the certificate
 * tags the permission policy reads, SetSourceIdentity) for certificates of the one trust anchor that carry a CN.
 */
export function fleetDnsTrustPolicy(input: FleetDnsTrustInput): IamTrustPolicyDocument {
  if (!ANCHOR_ARN.test(input.trustAnchorArn ?? '')) {
    throw new AgentError({
      code: 'POLICY_BAD_TRUST_ANCHOR',
      component: 'policy',
      message: `not a trust anchor ARN: ${JSON.stringify(input.trustAnchorArn)}`,
      hint: 'pass --trust-anchor-arn arn:aws:rolesanywhere:<region>:<account>:trust-anchor/<uuid> (or --from-config)',
    });
  }
  const domain = input.domain
    ?.toLowerCase()
    .replace(/^\*?\./, '')
    .replace(/\.$/, '');
  if (domain !== undefined && !DOMAIN.test(domain)) {
    throw new AgentError({
      code: 'POLICY_BAD_NAME',
      component: 'policy',
      message: `not a DNS domain: ${JSON.stringify(input.domain)}`,
      hint: 'give the fleet domain such as example.com',
    });
  }
  const condition: Record<string, Record<string, string | string[]>> = {
    ArnEquals: { 'aws:SourceArn': input.trustAnchorArn },
    // Without a CN the permission policy grants nothing anyway; refusing the session says so at CreateSession.
    Null: { [CN_TAG]: 'false' },
  };
  if (domain !== undefined) condition['StringLike'] = { [CN_TAG]: `*.${domain}` };
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'FleetDnsRoleFromRolesAnywhere',
        Effect: 'Allow',
        Principal: { Service: 'rolesanywhere.amazonaws.com' },
        Action: ['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity'],
        Condition: condition,
      },
    ],
  };
}
