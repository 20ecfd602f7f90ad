import { runUnsafeSimulation, type Simulation } from '@cloud-copilot/iam-simulate';
import { AgentError, messageOf } from '../../core/errors.js';
import { AwsApiError, type PolicyDocument, type Principal } from './types.js';

/**
 * IAM evaluation with a real policy engine (@cloud-copilot/iam-simulate, the only importer). It evaluates identity
 * policies with AWS's full logic: explicit deny wins, otherwise an Allow must match action, resource and every
 * condition (all operators, ForAllValues/ForAnyValue set operators, IfExists, policy variables).
 *
 * The synchronous core engine is used (runUnsafeSimulation, Strict mode) because SandboxContext.authorize is
 * synchronous; its only difference from the async runSimulation is that it skips input validation, which
 * checkPolicies() does up front when policies are stored.
 */

export type ContextValues = Record<string, string | string[]>;

function simulation(p: Pick<Principal, 'arn' | 'accountId'>, policies: PolicyDocument[], action: string, resource: string, context: ContextValues): Simulation {
  return {
    request: { principal: p.arn, action, resource: { resource, accountId: p.accountId }, contextVariables: context },
    identityPolicies: policies.map((policy, i) => ({ name: `policy-${i + 1}`, policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
  };
}

/** Throws AgentError if a policy cannot be parsed (the same loader the evaluator uses). */
export function checkPolicies(policies: PolicyDocument[], principalArn: string): void {
  policies.forEach((policy, i) => {
    if (policy?.Version !== '2012-10-17' && policy?.Version !== '2008-10-17') {
      throw new AgentError({
        code: 'SANDBOX_POLICY_INVALID',
        component: 'sandbox',
        message: `policy ${i + 1} of ${principalArn} has Version ${String(policy?.Version)}`,
        hint: 'use "Version": "2012-10-17"',
      });
    }
    try {
      runUnsafeSimulation(simulation({ arn: principalArn, accountId: '000000000000' }, [policy], 'sts:GetCallerIdentity', '*', {}), {});
    } catch (e) {
      throw new AgentError({
        code: 'SANDBOX_POLICY_INVALID',
        component: 'sandbox',
        message: `policy ${i + 1} of ${principalArn} is invalid: ${messageOf(e)}`,
        hint: 'fix the policy JSON (IAM policy grammar)',
        cause: e,
      });
    }
  });
}

/** Global condition keys AWS puts in every request context for this principal. */
export function globalContext(p: Principal, now: Date): ContextValues {
  const assumed = p.arn.startsWith('arn:aws:sts::');
  const ctx: ContextValues = {
    // for a role session aws:PrincipalArn is the role's ARN, not the session's
    'aws:PrincipalArn': assumed && p.roleArn ? p.roleArn : p.arn,
    'aws:PrincipalAccount': p.accountId,
    'aws:PrincipalType': assumed ? 'AssumedRole' : 'User',
    'aws:CurrentTime': now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    'aws:EpochTime': String(Math.floor(now.getTime() / 1000)),
    'aws:SecureTransport': 'false',
  };
  if (p.userId) ctx['aws:userid'] = p.userId;
  if (!assumed) ctx['aws:username'] = p.arn.slice(p.arn.lastIndexOf('/') + 1);
  for (const [k, v] of Object.entries(p.sessionTags ?? {})) ctx[`aws:PrincipalTag/${k}`] = v;
  return ctx;
}

/**
 * Allows or throws AwsApiError 403 AccessDenied with AWS's message, e.g.
 * `User: arn:aws:iam::111122223333:user/agent is not authorized to perform: route53:ChangeResourceRecordSets on
 * resource: arn:aws:route53:::hostedzone/Z1 because no identity-based policy allows the route53:ChangeResourceRecordSets action`.
 * `context` (service condition keys, aws:SourceIp…) overrides the global keys.
 */
export function authorize(p: Principal, action: string, resource: string, context: ContextValues = {}, env: { now: Date }): void {
  const ctx = { ...globalContext(p, env.now), ...context };
  let result: string;
  try {
    result = runUnsafeSimulation(simulation(p, p.policies, action, resource, ctx), {});
  } catch (e) {
    throw new AwsApiError(500, 'InternalFailure', `sandbox IAM evaluator failed for ${action}: ${messageOf(e)}`);
  }
  if (result === 'Allowed') return;
  const on = resource === '*' ? '' : ` on resource: ${resource}`;
  const why =
    result === 'ExplicitlyDenied' ? 'with an explicit deny in an identity-based policy' : `because no identity-based policy allows the ${action} action`;
  throw new AwsApiError(403, 'AccessDenied', `User: ${p.arn} is not authorized to perform: ${action}${on} ${why}`);
}
