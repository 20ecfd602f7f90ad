import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fleetDnsPolicy } from '../../src/policy/index.js';
import { authorize } from '../../src/sandbox/aws/iam.js';
import { AwsApiError, type Principal } from '../../src/sandbox/aws/types.js';

/**
 * Issue 9 (b): the sandbox's IAM evaluator (@cloud-copilot/iam-simulate through src/sandbox/aws/iam.ts) resolves
 * `${aws:PrincipalTag/…}` policy variables in condition values from the session tags an IAM Roles Anywhere
 * session carries (globalContext turns Principal.sessionTags into aws:PrincipalTag/<key>). No adapter is needed;
 * this pins the behaviour so an upgrade of the engine that loses it fails here, not in a quickstart.
 */

const ACCOUNT = '111122223333';
const ZONE = 'Z0SANDBOX0EXAMPLE0001';
const ZONE_ARN = `arn:aws:route53:::hostedzone/${ZONE}`;
const env = { now: new Date('2026-12-01T12:00:00Z') };

function session(tags: Record<string, string> | undefined): Principal {
  return {
    arn: `arn:aws:sts::${ACCOUNT}:assumed-role/iamra-agent-fleet-dns/5A10008F3E2A`,
    roleArn: `arn:aws:iam::${ACCOUNT}:role/iamra-agent-fleet-dns`,
    accountId: ACCOUNT,
    accessKeyId: 'ASIAEXAMPLEEXAMPLE01',
    secretAccessKey: 'x'.repeat(40),
    sessionToken: 'token',
    policies: [fleetDnsPolicy({ zoneId: ZONE })],
    ...(tags ? { sessionTags: tags } : {}),
  };
}

const write = (name: string) => ({
  'route53:ChangeResourceRecordSetsNormalizedRecordNames': [name],
  'route53:ChangeResourceRecordSetsRecordTypes': ['TXT'],
  'route53:ChangeResourceRecordSetsActions': ['UPSERT'],
});

const denied = (e: unknown) =>
  e instanceof AwsApiError && e.status === 403 && e.code === 'AccessDenied' && /assumed-role\/iamra-agent-fleet-dns/.test(e.message);

describe('sandbox IAM evaluator: principal-tag policy variables in condition values', () => {
  const tags = { 'x509Subject/CN': 'a.example.com', 'x509SAN/DNS': 'a.example.com', 'x509Issuer/CN': 'Pebble Intermediate CA 1a2b3c' };

  // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, literally
  it("resolves ${aws:PrincipalTag/x509Subject/CN} to the session's own CN", () => {
    authorize(session(tags), 'route53:ChangeResourceRecordSets', ZONE_ARN, write('_acme-challenge.a.example.com'), env);
    assert.throws(() => authorize(session(tags), 'route53:ChangeResourceRecordSets', ZONE_ARN, write('_acme-challenge.b.example.com'), env), denied);
  });

  it('takes the value from each session, not from the policy: the same policy, another CN, another record', () => {
    const b = session({ ...tags, 'x509Subject/CN': 'b.example.com' });
    authorize(b, 'route53:ChangeResourceRecordSets', ZONE_ARN, write('_acme-challenge.b.example.com'), env);
    assert.throws(() => authorize(b, 'route53:ChangeResourceRecordSets', ZONE_ARN, write('_acme-challenge.a.example.com'), env), denied);
  });

  it('a session without the tag matches no record, not even the bare prefix', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, literally
    for (const name of ['_acme-challenge.', '_acme-challenge.${aws:PrincipalTag/x509Subject/CN}', '_acme-challenge.a.example.com']) {
      assert.throws(() => authorize(session(undefined), 'route53:ChangeResourceRecordSets', ZONE_ARN, write(name), env), denied, name);
    }
  });
});
