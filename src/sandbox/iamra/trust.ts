import { runSimulation } from '@cloud-copilot/iam-simulate';
import type { Role } from './registry.js';

/**
 * Role trust-policy evaluation for IAM Roles Anywhere: the service principal `rolesanywhere.amazonaws.com` asks
 * STS for sts:AssumeRole, sts:TagSession (the certificate attributes become session tags) and
 * sts:SetSourceIdentity, so the trust policy must allow all three (iamra-protocol §2.5). Evaluated by the same IAM
 * engine the sandbox's ctx.authorize uses (@cloud-copilot/iam-simulate), with the role's trust policy as the
 * resource policy and no identity policies (a service principal has none).
 */

export const ROLES_ANYWHERE_PRINCIPAL = 'rolesanywhere.amazonaws.com';
export const TRUST_ACTIONS = ['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity'] as const;

export type TrustDecision = { allowed: true } | { allowed: false; action: string; result: string };

export async function evaluateTrustPolicy(role: Role, accountId: string, context: Record<string, string | string[]>): Promise<TrustDecision> {
  for (const action of TRUST_ACTIONS) {
    const r = await runSimulation(
      {
        request: { principal: ROLES_ANYWHERE_PRINCIPAL, action, resource: { resource: role.arn, accountId }, contextVariables: context },
        identityPolicies: [],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        resourcePolicy: role.trustPolicy,
      },
      { simulationMode: 'Strict' },
    );
    if (r.resultType === 'error') return { allowed: false, action, result: `invalid trust policy: ${r.errors.message}` };
    if (r.overallResult !== 'Allowed') return { allowed: false, action, result: r.overallResult };
  }
  return { allowed: true };
}
