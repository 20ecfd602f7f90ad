import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAgentError } from '../../src/core/errors.js';
import { denyStatement, profileSettings, roleTrustPolicy } from '../../src/policy/index.js';
import { IamraRegistry } from '../../src/sandbox/iamra/registry.js';
import { evaluateTrustPolicy } from '../../src/sandbox/iamra/trust.js';

const ANCHOR = 'arn:aws:rolesanywhere:us-east-1:111122223333:trust-anchor/0f7d9a5c-1111-2222-3333-444455556666';
const CN = 'aws:PrincipalTag/x509Subject/CN';

/** The sandbox's IAM evaluator (@cloud-copilot/iam-simulate) on a role holding the printed policy. */
async function allowed(policy: unknown, cn: string, sessionName: string): Promise<boolean> {
  const registry = new IamraRegistry('111122223333', 'us-east-1');
  const role = registry.addRole({ name: 'host', trustPolicy: policy as never });
  const d = await evaluateTrustPolicy(role, '111122223333', {
    'aws:SourceArn': ANCHOR,
    'sts:RoleSessionName': sessionName,
    [CN]: cn,
    'aws:TagKeys': ['x509Subject/CN'],
  });
  return d.allowed;
}

test('policy trust --cn --totp: the anchor, the CN and a six-character session name on AssumeRole', async () => {
  const p = roleTrustPolicy({ trustAnchorArns: [ANCHOR], cn: 'host1.example.com', totp: true });
  assert.deepEqual(p.Statement[0]?.Action, ['sts:AssumeRole']);
  assert.deepEqual(p.Statement[0]?.Condition, {
    ArnEquals: { 'aws:SourceArn': ANCHOR },
    StringEquals: { [CN]: 'host1.example.com' },
    StringLike: { 'sts:RoleSessionName': '??????' },
  });
  assert.deepEqual(p.Statement[1]?.Action, ['sts:TagSession', 'sts:SetSourceIdentity']);
  assert.equal(await allowed(p, 'host1.example.com', '123456'), true);
  assert.equal(await allowed(p, 'host1.example.com', '64ce3320417e5f63'), false, 'the default (serial) session name is refused');
  assert.equal(await allowed(p, 'host2.example.com', '123456'), false);
});

test('policy trust --cn-like without --totp: one statement for all three actions', async () => {
  const p = roleTrustPolicy({ trustAnchorArns: [ANCHOR], cnLike: '*.example.com' });
  assert.equal(p.Statement.length, 1);
  assert.deepEqual(p.Statement[0]?.Action, ['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity']);
  assert.equal(await allowed(p, 'a.example.com', 'anything'), true);
  assert.equal(await allowed(p, 'a.example.org', 'anything'), false);
});

test('policy deny --cn: added to the trust policy, it beats the Allow (case-insensitively)', async () => {
  const p = roleTrustPolicy({ trustAnchorArns: [ANCHOR], cnLike: '*.example.com', totp: true });
  const d = denyStatement({ cns: ['Host1.Example.com'] });
  assert.deepEqual(d.Condition, { StringEqualsIgnoreCase: { [CN]: ['Host1.Example.com'] } });
  const revoked = { ...p, Statement: [...p.Statement, d] };
  assert.equal(await allowed(revoked, 'host1.example.com', '123456'), false);
  assert.equal(await allowed(revoked, 'host2.example.com', '123456'), true);
});

test('policy profile: session names accepted with --totp, no issuer mapping', () => {
  assert.equal(profileSettings({ totp: true }).acceptRoleSessionName, true);
  assert.equal(profileSettings({}).acceptRoleSessionName, false);
  assert.deepEqual(
    profileSettings({ totp: true }).attributeMappings.map((m) => m.certificateField),
    ['x509Subject', 'x509SAN'],
  );
});

test('bad input is named: anchors, subjects, patterns', () => {
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      assert.ok(isAgentError(e));
      return e.code;
    }
    return 'none';
  };
  assert.equal(
    code(() => roleTrustPolicy({ trustAnchorArns: ['arn:nope'], cn: 'a.example.com' })),
    'POLICY_BAD_TRUST_ANCHOR',
  );
  assert.equal(
    code(() => roleTrustPolicy({ trustAnchorArns: [ANCHOR] })),
    'POLICY_NEEDS_SUBJECT',
  );
  assert.equal(
    code(() => roleTrustPolicy({ trustAnchorArns: [ANCHOR], cn: '*.example.com' })),
    'POLICY_BAD_NAME',
  );
  assert.equal(
    code(() => denyStatement({ cns: [] })),
    'POLICY_NEEDS_SUBJECT',
  );
  assert.equal(
    code(() => denyStatement({ cns: ['a"b'] })),
    'POLICY_BAD_NAME',
  );
});
