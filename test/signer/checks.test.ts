import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  checkArns,
  checkBeforeCreateSession,
  checkChain,
  checkDuration,
  checkKeyMatchesCertificate,
  checkRoleSessionName,
  checkValidity,
  parseArn,
  parseCertificates,
  parseLeaf,
} from '../../src/signer/checks.js';
import { makePki, type TestPki } from '../helpers/pki.js';
import { PROFILE, ROLE, TA } from './fixtures.js';

let pki: TestPki;
before(async () => {
  pki = await makePki();
});

const hour = 3_600_000;

describe('checks: key and certificate', () => {
  it('accepts the leaf key and refuses another key with KEY_CERT_MISMATCH', async () => {
    await checkKeyMatchesCertificate(pki.leafKey, pki.leaf);
    await assert.rejects(checkKeyMatchesCertificate(pki.otherKey, pki.leaf), (e: Error & { code?: string; hint?: string }) => {
      assert.equal(e.code, 'KEY_CERT_MISMATCH');
      assert.match(e.message, /host1\.example\.com/);
      assert.match(e.hint!, /renew/);
      return true;
    });
  });

  it('validity: inside the window passes, before notBefore and after notAfter fail with their own codes', () => {
    const from = new Date(pki.leaf.validFrom);
    const to = new Date(pki.leaf.validTo);
    checkValidity([pki.leaf, pki.int], new Date(from.getTime() + hour));
    assert.throws(() => checkValidity([pki.leaf], new Date(from.getTime() - hour)), { code: 'CERT_NOT_YET_VALID' });
    assert.throws(
      () => checkValidity([pki.leaf], new Date(to.getTime() + 1000)),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'CERT_EXPIRED');
        assert.match(e.message, new RegExp(to.toISOString()));
        return true;
      },
    );
  });

  it('chain: leaf → intermediate → root links; gaps and wrong order are CHAIN_BROKEN; more than 5 is CHAIN_TOO_LONG', () => {
    checkChain(pki.leaf, [pki.int]);
    checkChain(pki.leaf, [pki.int, pki.root]);
    checkChain(pki.leaf, []);
    assert.throws(
      () => checkChain(pki.leaf, [pki.root]),
      (e: Error & { code?: string; details?: Record<string, unknown> }) => {
        assert.equal(e.code, 'CHAIN_BROKEN');
        assert.equal(e.details?.position, 0);
        assert.match(e.message, /Signer Test Root/);
        return true;
      },
    );
    assert.throws(() => checkChain(pki.leaf, [pki.int, pki.int]), { code: 'CHAIN_BROKEN' });
    assert.throws(() => checkChain(pki.leaf, Array(6).fill(pki.int)), { code: 'CHAIN_TOO_LONG' });
  });

  it('parses PEM bundles and insists on a single leaf', () => {
    assert.equal(parseCertificates(pki.intPem + pki.rootPem, 'chain').length, 2);
    assert.equal(parseCertificates('', 'chain').length, 0);
    assert.throws(() => parseLeaf(pki.leafPem + pki.intPem, 'cert.pem'), { code: 'CERT_INVALID' });
    assert.throws(() => parseCertificates('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', 'chain'), { code: 'CERT_INVALID' });
  });
});

describe('checks: ARNs, regions, partitions', () => {
  it('accepts well-formed ARNs and returns the trust anchor region', () => {
    const a = checkArns({ trustAnchorArn: TA, profileArn: PROFILE, roleArn: ROLE });
    assert.equal(a.region, 'eu-west-1');
    assert.equal(a.partition, 'aws');
    assert.equal(a.role.resource, 'role/iamra-agent');
    assert.equal(parseArn('arn:aws:iam::123456789012:role/path/to/my-role', 'role').resource, 'role/path/to/my-role');
  });

  const malformed: [string, string, 'trust anchor' | 'profile' | 'role'][] = [
    ['not an ARN', 'trust-anchor/1', 'trust anchor'],
    ['wrong service', TA.replace('rolesanywhere', 'iam'), 'trust anchor'],
    ['profile given as trust anchor', PROFILE, 'trust anchor'],
    ['bad account', PROFILE.replace('123456789012', '1234'), 'profile'],
    ['bad uuid', PROFILE.replace('66666666', 'xyz'), 'profile'],
    ['role with a region', 'arn:aws:iam:eu-west-1:123456789012:role/x', 'role'],
    ['user instead of role', 'arn:aws:iam::123456789012:user/x', 'role'],
    ['bad partition', 'arn:gcp:iam::123456789012:role/x', 'role'],
  ];
  for (const [name, value, kind] of malformed) {
    it(`ARN_INVALID: ${name}`, () => {
      assert.throws(
        () => parseArn(value, kind),
        (e: Error & { code?: string; hint?: string }) => {
          assert.equal(e.code, 'ARN_INVALID');
          assert.ok(e.message.includes(JSON.stringify(value)));
          assert.match(e.hint!, /^expected the form arn:/);
          return true;
        },
      );
    });
  }

  it('REGION_MISMATCH between trust anchor and profile, and against a configured region', () => {
    assert.throws(
      () => checkArns({ trustAnchorArn: TA, profileArn: PROFILE.replace('eu-west-1', 'us-east-1'), roleArn: ROLE }),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'REGION_MISMATCH');
        assert.match(e.message, /us-east-1.*eu-west-1/);
        return true;
      },
    );
    assert.throws(() => checkArns({ trustAnchorArn: TA, profileArn: PROFILE, roleArn: ROLE, region: 'eu-central-1' }), { code: 'REGION_MISMATCH' });
  });

  it('PARTITION_MISMATCH between the ARNs', () => {
    assert.throws(() => checkArns({ trustAnchorArn: TA, profileArn: PROFILE, roleArn: ROLE.replace('arn:aws:', 'arn:aws-cn:') }), {
      code: 'PARTITION_MISMATCH',
    });
    assert.throws(() => checkArns({ trustAnchorArn: TA, profileArn: PROFILE.replace('arn:aws:', 'arn:aws-us-gov:'), roleArn: ROLE }), {
      code: 'PARTITION_MISMATCH',
    });
  });
});

describe('checks: request parameters', () => {
  it('durationSeconds must be an integer in 900-43200', () => {
    checkDuration(900);
    checkDuration(43200);
    for (const bad of [899, 43201, 3600.5, Number.NaN]) assert.throws(() => checkDuration(bad), { code: 'DURATION_OUT_OF_RANGE' });
  });

  it('roleSessionName follows STS rules', () => {
    checkRoleSessionName('host1.example.com');
    for (const bad of ['a', 'has space', 'x'.repeat(65), 'semi;colon']) assert.throws(() => checkRoleSessionName(bad), { code: 'ROLE_SESSION_NAME_INVALID' });
  });

  it('checkBeforeCreateSession runs every check', async () => {
    const base = {
      leaf: pki.leaf,
      chain: [pki.int],
      key: pki.leafKey,
      trustAnchorArn: TA,
      profileArn: PROFILE,
      roleArn: ROLE,
      durationSeconds: 3600,
      now: new Date(new Date(pki.leaf.validFrom).getTime() + hour),
    };
    assert.equal((await checkBeforeCreateSession(base)).region, 'eu-west-1');
    await assert.rejects(checkBeforeCreateSession({ ...base, key: pki.otherKey }), { code: 'KEY_CERT_MISMATCH' });
    await assert.rejects(checkBeforeCreateSession({ ...base, durationSeconds: 60 }), { code: 'DURATION_OUT_OF_RANGE' });
    await assert.rejects(checkBeforeCreateSession({ ...base, chain: [pki.root] }), { code: 'CHAIN_BROKEN' });
    await assert.rejects(checkBeforeCreateSession({ ...base, now: new Date(new Date(pki.leaf.validTo).getTime() + hour) }), { code: 'CERT_EXPIRED' });
    await assert.rejects(checkBeforeCreateSession({ ...base, roleSessionName: 'no spaces allowed' }), { code: 'ROLE_SESSION_NAME_INVALID' });
  });
});
