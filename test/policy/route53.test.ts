import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { AgentError } from '../../src/core/errors.js';
import { challengeRecordName, route53Policy, type IamPolicyDocument } from '../../src/policy/index.js';

const ACCOUNT = '111122223333';
const ZONE = 'Z0123456789ABCDEFGHIJ';

/** The real IAM evaluation logic (@cloud-copilot/iam-simulate) as the oracle for what the document allows. */
async function decide(policy: IamPolicyDocument, action: string, resource: string, ctx: Record<string, string | string[]> = {}): Promise<string> {
  const r = await runSimulation(
    {
      request: { principal: `arn:aws:iam::${ACCOUNT}:user/agent`, action, resource: { resource, accountId: ACCOUNT }, contextVariables: ctx },
      identityPolicies: [{ name: 'route53', policy }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  assert.notEqual(r.resultType, 'error', JSON.stringify(r));
  return r.resultType === 'error' ? 'error' : r.overallResult;
}

const change = (names: string[], types = ['TXT'], actions = ['UPSERT']) => ({
  'route53:ChangeResourceRecordSetsNormalizedRecordNames': names,
  'route53:ChangeResourceRecordSetsRecordTypes': types,
  'route53:ChangeResourceRecordSetsActions': actions,
});

describe('challengeRecordName', () => {
  it('prefixes _acme-challenge, strips the wildcard label and a trailing dot, lower-cases', () => {
    assert.equal(challengeRecordName('host1.example.com'), '_acme-challenge.host1.example.com');
    assert.equal(challengeRecordName('*.Example.COM.'), '_acme-challenge.example.com');
  });
  it('rejects what is not a DNS name, naming it', () => {
    assert.throws(
      () => challengeRecordName('not a name'),
      (e: unknown) => e instanceof AgentError && e.code === 'POLICY_BAD_NAME' && e.message.includes('"not a name"'),
    );
  });
});

describe('route53Policy with a zone id', () => {
  const policy = route53Policy({ zoneId: `/hostedzone/${ZONE}`, names: ['host1.example.com', '*.host1.example.com', 'alt.example.com'] });

  it('is exactly GetChange + List/Change on the one zone, conditioned on the challenge names, TXT, UPSERT/DELETE', () => {
    assert.deepEqual(policy, {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'AcmeChallengeChangeStatus', Effect: 'Allow', Action: 'route53:GetChange', Resource: 'arn:aws:route53:::change/*' },
        { Sid: 'AcmeChallengeReadRecords', Effect: 'Allow', Action: 'route53:ListResourceRecordSets', Resource: `arn:aws:route53:::hostedzone/${ZONE}` },
        {
          Sid: 'AcmeChallengeWriteRecords',
          Effect: 'Allow',
          Action: 'route53:ChangeResourceRecordSets',
          Resource: `arn:aws:route53:::hostedzone/${ZONE}`,
          Condition: {
            'ForAllValues:StringEquals': {
              // the wildcard shares its base name's record, listed once
              'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['_acme-challenge.alt.example.com', '_acme-challenge.host1.example.com'],
              'route53:ChangeResourceRecordSetsRecordTypes': ['TXT'],
              'route53:ChangeResourceRecordSetsActions': ['UPSERT', 'DELETE'],
            },
          },
        },
      ],
    });
  });

  it('allows what the provider does', async () => {
    const zoneArn = `arn:aws:route53:::hostedzone/${ZONE}`;
    assert.equal(await decide(policy, 'route53:GetChange', 'arn:aws:route53:::change/C0123456789'), 'Allowed');
    assert.equal(await decide(policy, 'route53:ListResourceRecordSets', zoneArn), 'Allowed');
    assert.equal(await decide(policy, 'route53:ChangeResourceRecordSets', zoneArn, change(['_acme-challenge.host1.example.com'])), 'Allowed');
    assert.equal(
      await decide(
        policy,
        'route53:ChangeResourceRecordSets',
        zoneArn,
        change(['_acme-challenge.host1.example.com', '_acme-challenge.alt.example.com'], ['TXT', 'TXT'], ['DELETE', 'UPSERT']),
      ),
      'Allowed',
    );
  });

  it('denies other records, types, actions, zones and calls', async () => {
    const zoneArn = `arn:aws:route53:::hostedzone/${ZONE}`;
    const denied = async (action: string, resource: string, ctx?: Record<string, string[]>) =>
      assert.equal(await decide(policy, action, resource, ctx), 'ImplicitlyDenied', `${action} ${resource} ${JSON.stringify(ctx)}`);
    await denied('route53:ChangeResourceRecordSets', zoneArn, change(['host1.example.com'], ['A']));
    await denied('route53:ChangeResourceRecordSets', zoneArn, change(['_acme-challenge.other.example.com']));
    await denied('route53:ChangeResourceRecordSets', zoneArn, change(['_acme-challenge.host1.example.com', 'www.example.com'], ['TXT', 'TXT']));
    await denied('route53:ChangeResourceRecordSets', zoneArn, change(['_acme-challenge.host1.example.com'], ['CNAME']));
    await denied('route53:ChangeResourceRecordSets', zoneArn, change(['_acme-challenge.host1.example.com'], ['TXT'], ['CREATE']));
    await denied('route53:ChangeResourceRecordSets', 'arn:aws:route53:::hostedzone/ZOTHERZONE0000', change(['_acme-challenge.host1.example.com']));
    await denied('route53:ListResourceRecordSets', 'arn:aws:route53:::hostedzone/ZOTHERZONE0000');
    await denied('route53:ListHostedZonesByName', '*');
    await denied('route53:GetHostedZone', zoneArn);
  });
});

describe('route53Policy without a zone id', () => {
  const policy = route53Policy({ names: ['host1.example.com'] });

  it('adds ListHostedZonesByName on * and widens the zone resource to hostedzone/*', () => {
    const byAction = Object.fromEntries(policy.Statement.map((s) => [s.Action, s]));
    assert.deepEqual(Object.keys(byAction).sort(), [
      'route53:ChangeResourceRecordSets',
      'route53:GetChange',
      'route53:ListHostedZonesByName',
      'route53:ListResourceRecordSets',
    ]);
    assert.equal(byAction['route53:ListHostedZonesByName']!.Resource, '*');
    assert.equal(byAction['route53:ListResourceRecordSets']!.Resource, 'arn:aws:route53:::hostedzone/*');
    assert.equal(byAction['route53:ChangeResourceRecordSets']!.Resource, 'arn:aws:route53:::hostedzone/*');
    assert.deepEqual(byAction['route53:ChangeResourceRecordSets']!.Condition, {
      'ForAllValues:StringEquals': {
        'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['_acme-challenge.host1.example.com'],
        'route53:ChangeResourceRecordSetsRecordTypes': ['TXT'],
        'route53:ChangeResourceRecordSetsActions': ['UPSERT', 'DELETE'],
      },
    });
  });

  it('lets the zone be looked up and the challenge record changed in any zone, nothing else', async () => {
    assert.equal(await decide(policy, 'route53:ListHostedZonesByName', '*'), 'Allowed');
    assert.equal(
      await decide(
        policy,
        'route53:ChangeResourceRecordSets',
        'arn:aws:route53:::hostedzone/ZANY1',
        change(['_acme-challenge.host1.example.com'], ['TXT'], ['DELETE']),
      ),
      'Allowed',
    );
    assert.equal(
      await decide(policy, 'route53:ChangeResourceRecordSets', 'arn:aws:route53:::hostedzone/ZANY1', change(['www.example.com'], ['TXT'])),
      'ImplicitlyDenied',
    );
    assert.equal(await decide(policy, 'route53:ListHostedZones', '*'), 'ImplicitlyDenied');
  });
});

describe('route53Policy input errors', () => {
  it('rejects an empty name list and a malformed zone id', () => {
    assert.throws(
      () => route53Policy({ names: [] }),
      (e: unknown) => e instanceof AgentError && e.code === 'POLICY_NO_NAMES',
    );
    assert.throws(
      () => route53Policy({ zoneId: 'zone-1', names: ['a.example.com'] }),
      (e: unknown) => e instanceof AgentError && e.code === 'POLICY_BAD_ZONE' && e.message.includes('zone-1'),
    );
  });
  it('uses the given partition in every ARN', () => {
    const p = route53Policy({ zoneId: ZONE, names: ['a.example.cn'], partition: 'aws-cn' });
    assert.ok(p.Statement.every((s) => [s.Resource].flat().every((r) => r.startsWith('arn:aws-cn:'))));
  });
});
