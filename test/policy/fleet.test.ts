import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { AgentError } from '../../src/core/errors.js';
import { fleetDnsPolicy, fleetDnsTrustPolicy, route53Policy, type IamPolicyDocument, type IamTrustPolicyDocument } from '../../src/policy/index.js';

const ACCOUNT = '111122223333';
const ZONE = 'Z0123456789ABCDEFGHIJ';
const ZONE_ARN = `arn:aws:route53:::hostedzone/${ZONE}`;
const ANCHOR = `arn:aws:rolesanywhere:us-east-1:${ACCOUNT}:trust-anchor/0f0e0d0c-0b0a-4908-8706-050403020100`;
const SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/iamra-agent-dns/0A1B2C`;

/** The real IAM evaluation logic (@cloud-copilot/iam-simulate) as the oracle, with the session's principal tags. */
async function decide(policy: IamPolicyDocument, action: string, resource: string, ctx: Record<string, string | string[]>): Promise<string> {
  const r = await runSimulation(
    {
      request: { principal: SESSION, action, resource: { resource, accountId: ACCOUNT }, contextVariables: ctx },
      identityPolicies: [{ name: 'fleet-dns', policy }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  assert.notEqual(r.resultType, 'error', JSON.stringify(r));
  return r.resultType === 'error' ? 'error' : r.overallResult;
}

const cn = (name: string) => ({ 'aws:PrincipalTag/x509Subject/CN': name, 'aws:PrincipalTag/x509SAN/DNS': name });
const change = (names: string[], types = ['TXT'], actions = ['UPSERT']) => ({
  'route53:ChangeResourceRecordSetsNormalizedRecordNames': names,
  'route53:ChangeResourceRecordSetsRecordTypes': types,
  'route53:ChangeResourceRecordSetsActions': actions,
});

describe('fleetDnsPolicy', () => {
  const policy = fleetDnsPolicy({ zoneId: `/hostedzone/${ZONE}` });

  it('is the per-host policy with the record name built from the caller CN tag, and nothing else different', () => {
    assert.deepEqual(policy, {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'FleetAcmeChallengeChangeStatus', Effect: 'Allow', Action: 'route53:GetChange', Resource: 'arn:aws:route53:::change/*' },
        { Sid: 'FleetAcmeChallengeReadRecords', Effect: 'Allow', Action: 'route53:ListResourceRecordSets', Resource: ZONE_ARN },
        {
          Sid: 'FleetAcmeChallengeWriteRecords',
          Effect: 'Allow',
          Action: 'route53:ChangeResourceRecordSets',
          Resource: ZONE_ARN,
          Condition: {
            'ForAllValues:StringEquals': {
              // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, literally
              'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['_acme-challenge.${aws:PrincipalTag/x509Subject/CN}'],
              'route53:ChangeResourceRecordSetsRecordTypes': ['TXT'],
              'route53:ChangeResourceRecordSetsActions': ['UPSERT', 'DELETE'],
            },
          },
        },
      ],
    });
    const perHost = route53Policy({ zoneId: ZONE, names: ['a.example.com'] });
    assert.deepEqual(
      policy.Statement.map((s) => [s.Action, s.Resource]),
      perHost.Statement.map((s) => [s.Action, s.Resource]),
      'same calls on the same resources as the per-host policy',
    );
  });

  it('lets each session write only its own challenge record', async () => {
    for (const host of ['a.example.com', 'b.example.com']) {
      const other = host === 'a.example.com' ? 'b.example.com' : 'a.example.com';
      assert.equal(await decide(policy, 'route53:ChangeResourceRecordSets', ZONE_ARN, { ...cn(host), ...change([`_acme-challenge.${host}`]) }), 'Allowed');
      assert.equal(
        await decide(policy, 'route53:ChangeResourceRecordSets', ZONE_ARN, { ...cn(host), ...change([`_acme-challenge.${host}`], ['TXT'], ['DELETE']) }),
        'Allowed',
      );
      assert.equal(
        await decide(policy, 'route53:ChangeResourceRecordSets', ZONE_ARN, { ...cn(host), ...change([`_acme-challenge.${other}`]) }),
        'ImplicitlyDenied',
        `${host} may not write ${other}'s record`,
      );
      // a batch smuggling the other host's record next to its own is refused as a whole
      assert.equal(
        await decide(policy, 'route53:ChangeResourceRecordSets', ZONE_ARN, {
          ...cn(host),
          ...change([`_acme-challenge.${host}`, `_acme-challenge.${other}`], ['TXT', 'TXT']),
        }),
        'ImplicitlyDenied',
      );
    }
  });

  it('denies other types, actions, zones, names and a session without a CN tag', async () => {
    const a = cn('a.example.com');
    const denied = async (action: string, resource: string, ctx: Record<string, string | string[]>) =>
      assert.equal(await decide(policy, action, resource, ctx), 'ImplicitlyDenied', `${action} ${resource} ${JSON.stringify(ctx)}`);
    await denied('route53:ChangeResourceRecordSets', ZONE_ARN, { ...a, ...change(['_acme-challenge.a.example.com'], ['CNAME']) });
    await denied('route53:ChangeResourceRecordSets', ZONE_ARN, { ...a, ...change(['_acme-challenge.a.example.com'], ['TXT'], ['CREATE']) });
    await denied('route53:ChangeResourceRecordSets', ZONE_ARN, { ...a, ...change(['a.example.com'], ['A']) });
    await denied('route53:ChangeResourceRecordSets', 'arn:aws:route53:::hostedzone/ZOTHERZONE0000', { ...a, ...change(['_acme-challenge.a.example.com']) });
    await denied('route53:ChangeResourceRecordSets', ZONE_ARN, change(['_acme-challenge.a.example.com']));
    await denied('route53:ChangeResourceRecordSets', ZONE_ARN, change(['_acme-challenge.']));
    await denied('route53:ListHostedZonesByName', '*', a);
    assert.equal(await decide(policy, 'route53:ListResourceRecordSets', ZONE_ARN, a), 'Allowed');
    assert.equal(await decide(policy, 'route53:GetChange', 'arn:aws:route53:::change/C0123', a), 'Allowed');
  });

  it('needs a well-formed zone id', () => {
    assert.throws(
      () => fleetDnsPolicy({ zoneId: '' }),
      (e: unknown) => e instanceof AgentError && e.code === 'POLICY_FLEET_NEEDS_ZONE' && /--zone-id/.test(e.hint ?? ''),
    );
    assert.throws(
      () => fleetDnsPolicy({ zoneId: 'zone-1' }),
      (e: unknown) => e instanceof AgentError && e.code === 'POLICY_BAD_ZONE',
    );
    assert.ok(
      fleetDnsPolicy({ zoneId: ZONE, partition: 'aws-cn' })
        .Statement.flatMap((s) => [s.Resource].flat())
        .every((r) => r.startsWith('arn:aws-cn:')),
    );
  });
});

/** The trust policy evaluated as STS does for IAM Roles Anywhere: the service principal asking for each action. */
async function trusts(policy: IamTrustPolicyDocument, ctx: Record<string, string | string[]>): Promise<boolean> {
  for (const action of ['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity']) {
    const r = await runSimulation(
      {
        request: {
          principal: 'rolesanywhere.amazonaws.com',
          action,
          resource: { resource: `arn:aws:iam::${ACCOUNT}:role/iamra-agent-dns`, accountId: ACCOUNT },
          contextVariables: ctx,
        },
        identityPolicies: [],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        resourcePolicy: policy,
      },
      { simulationMode: 'Strict' },
    );
    assert.notEqual(r.resultType, 'error', JSON.stringify(r));
    if (r.resultType === 'error' || r.overallResult !== 'Allowed') return false;
  }
  return true;
}

describe('fleetDnsTrustPolicy', () => {
  it('lets IAM Roles Anywhere assume the role for certificates of the one anchor that carry a CN', async () => {
    const policy = fleetDnsTrustPolicy({ trustAnchorArn: ANCHOR });
    assert.deepEqual(policy.Statement[0]!.Action, ['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity']);
    assert.deepEqual(policy.Statement[0]!.Principal, { Service: 'rolesanywhere.amazonaws.com' });
    assert.equal(await trusts(policy, { 'aws:SourceArn': ANCHOR, ...cn('a.example.com') }), true);
    assert.equal(await trusts(policy, { 'aws:SourceArn': ANCHOR.replace('0f0e', '1f0e'), ...cn('a.example.com') }), false, 'another anchor');
    assert.equal(await trusts(policy, { 'aws:SourceArn': ANCHOR, 'aws:PrincipalTag/x509SAN/DNS': 'a.example.com' }), false, 'no CN');
  });

  it('with a domain, only CNs under it', async () => {
    const policy = fleetDnsTrustPolicy({ trustAnchorArn: ANCHOR, domain: 'Example.com.' });
    assert.equal(await trusts(policy, { 'aws:SourceArn': ANCHOR, ...cn('a.example.com') }), true);
    assert.equal(await trusts(policy, { 'aws:SourceArn': ANCHOR, ...cn('a.example.org') }), false);
    assert.equal(await trusts(policy, { 'aws:SourceArn': ANCHOR, ...cn('example.com') }), false, 'the apex is not a host of the domain');
  });

  it('rejects a malformed anchor ARN or domain, naming it', () => {
    assert.throws(
      () => fleetDnsTrustPolicy({ trustAnchorArn: 'arn:aws:iam::1:role/x' }),
      (e: unknown) => e instanceof AgentError && e.code === 'POLICY_BAD_TRUST_ANCHOR' && e.message.includes('arn:aws:iam::1:role/x'),
    );
    assert.throws(
      () => fleetDnsTrustPolicy({ trustAnchorArn: ANCHOR, domain: 'not a domain' }),
      (e: unknown) => e instanceof AgentError && e.code === 'POLICY_BAD_NAME' && e.message.includes('not a domain'),
    );
  });
});
