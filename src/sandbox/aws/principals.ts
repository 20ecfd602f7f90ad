import { randomBytes } from 'node:crypto';
import { AgentError } from '../../core/errors.js';
import { checkPolicies } from './iam.js';
import type { PolicyDocument, Principal, PrincipalRegistry } from './types.js';

/** AWS key ids are 20 characters: a 4-letter prefix (AKIA long-term, ASIA temporary) and 16 base32 characters. */
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function generateAccessKeyId(kind: 'AKIA' | 'ASIA' = 'AKIA'): string {
  const b = randomBytes(16);
  let out: string = kind;
  for (const byte of b) out += BASE32[byte % 32];
  return out;
}

/** 40 characters, the shape of a real secret access key */
export function generateSecretAccessKey(): string {
  return randomBytes(30).toString('base64').replace(/\+/g, 'A').replace(/\//g, 'B');
}

const USER_ARN = /^arn:aws:iam::(\d{12}):user\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]+$/;
const SESSION_ARN = /^arn:aws:sts::(\d{12}):assumed-role\/[\w+=,.@-]+\/[\w+=,.@-]+$/;

/** The sandbox's in-memory identity store. Policies are checked when stored, so a typo fails where it was made. */
export class MemoryPrincipalRegistry implements PrincipalRegistry {
  private readonly byKey = new Map<string, Principal>();

  add(p: Principal): void {
    const m = USER_ARN.exec(p.arn) ?? SESSION_ARN.exec(p.arn);
    if (!m || m[1] !== p.accountId) {
      throw new AgentError({
        code: 'SANDBOX_PRINCIPAL_INVALID',
        component: 'sandbox',
        message: `principal ARN ${p.arn} is not an IAM user or assumed-role ARN of account ${p.accountId}`,
        hint: 'use arn:aws:iam::<12 digits>:user/<name> or arn:aws:sts::<12 digits>:assumed-role/<role>/<session>',
      });
    }
    if (!p.accessKeyId || !p.secretAccessKey) {
      throw new AgentError({
        code: 'SANDBOX_PRINCIPAL_INVALID',
        component: 'sandbox',
        message: `principal ${p.arn} has no access key`,
        hint: 'set accessKeyId and secretAccessKey',
      });
    }
    checkPolicies(p.policies, p.arn);
    this.byKey.set(p.accessKeyId, { ...p, policies: [...p.policies] });
  }

  get(accessKeyId: string): Principal | undefined {
    return this.byKey.get(accessKeyId);
  }

  setPolicies(accessKeyId: string, policies: PolicyDocument[]): void {
    const p = this.byKey.get(accessKeyId);
    if (!p) {
      throw new AgentError({
        code: 'SANDBOX_PRINCIPAL_UNKNOWN',
        component: 'sandbox',
        message: `no principal with access key ${accessKeyId}`,
        hint: 'add the principal first',
      });
    }
    checkPolicies(policies, p.arn);
    p.policies = [...policies];
  }

  remove(accessKeyId: string): boolean {
    return this.byKey.delete(accessKeyId);
  }

  list(): Principal[] {
    return [...this.byKey.values()];
  }

  /** An IAM user with a fresh long-term key (AKIA…), as tests and the quickstart need one. */
  createUser(o: { accountId: string; name: string; policies: PolicyDocument[] }): Principal {
    const p: Principal = {
      arn: `arn:aws:iam::${o.accountId}:user/${o.name}`,
      accountId: o.accountId,
      userId: 'AIDA' + generateAccessKeyId().slice(4),
      accessKeyId: generateAccessKeyId('AKIA'),
      secretAccessKey: generateSecretAccessKey(),
      policies: o.policies,
    };
    this.add(p);
    return p;
  }
}
