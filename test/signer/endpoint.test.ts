import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLoopbackHost, partitionOfRegion, resolveEndpoint, type EndpointInput } from '../../src/signer/endpoint.js';

const arns = (partition: string, region: string) => ({
  trustAnchorArn: `arn:${partition}:rolesanywhere:${region}:123456789012:trust-anchor/11111111-2222-3333-4444-555555555555`,
  profileArn: `arn:${partition}:rolesanywhere:${region}:123456789012:profile/66666666-7777-8888-9999-000000000000`,
});

describe('resolveEndpoint: partition table (iamra-protocol.md §2.1)', () => {
  const table: [string, string, string, Partial<EndpointInput>, string, string][] = [
    // [case, partition, ARN region, options, expected URL, expected signing region]
    ['aws default', 'aws', 'eu-west-1', {}, 'https://rolesanywhere.eu-west-1.amazonaws.com/', 'eu-west-1'],
    ['aws FIPS', 'aws', 'us-east-1', { fips: true }, 'https://rolesanywhere-fips.us-east-1.amazonaws.com/', 'us-east-1'],
    ['aws dual-stack', 'aws', 'ap-southeast-2', { dualStack: true }, 'https://rolesanywhere.ap-southeast-2.api.aws/', 'ap-southeast-2'],
    ['aws FIPS + dual-stack', 'aws', 'us-west-2', { fips: true, dualStack: true }, 'https://rolesanywhere-fips.us-west-2.api.aws/', 'us-west-2'],
    ['aws legacy fips- pseudo-region', 'aws', 'us-east-2', { region: 'fips-us-east-2' }, 'https://rolesanywhere-fips.us-east-2.amazonaws.com/', 'us-east-2'],
    [
      'aws explicit region equal to the ARN',
      'aws',
      'il-central-1',
      { region: 'il-central-1' },
      'https://rolesanywhere.il-central-1.amazonaws.com/',
      'il-central-1',
    ],
    ['aws mx region', 'aws', 'mx-central-1', {}, 'https://rolesanywhere.mx-central-1.amazonaws.com/', 'mx-central-1'],
    ['aws-cn default', 'aws-cn', 'cn-north-1', {}, 'https://rolesanywhere.cn-north-1.amazonaws.com.cn/', 'cn-north-1'],
    ['aws-cn FIPS', 'aws-cn', 'cn-northwest-1', { fips: true }, 'https://rolesanywhere-fips.cn-northwest-1.amazonaws.com.cn/', 'cn-northwest-1'],
    ['aws-cn dual-stack', 'aws-cn', 'cn-north-1', { dualStack: true }, 'https://rolesanywhere.cn-north-1.api.amazonwebservices.com.cn/', 'cn-north-1'],
    ['aws-us-gov default', 'aws-us-gov', 'us-gov-west-1', {}, 'https://rolesanywhere.us-gov-west-1.amazonaws.com/', 'us-gov-west-1'],
    ['aws-us-gov FIPS', 'aws-us-gov', 'us-gov-east-1', { fips: true }, 'https://rolesanywhere-fips.us-gov-east-1.amazonaws.com/', 'us-gov-east-1'],
    [
      'aws-us-gov FIPS + dual-stack',
      'aws-us-gov',
      'us-gov-west-1',
      { fips: true, dualStack: true },
      'https://rolesanywhere-fips.us-gov-west-1.api.aws/',
      'us-gov-west-1',
    ],
    ['aws-iso', 'aws-iso', 'us-iso-east-1', {}, 'https://rolesanywhere.us-iso-east-1.c2s.ic.gov/', 'us-iso-east-1'],
    ['aws-iso-b FIPS', 'aws-iso-b', 'us-isob-east-1', { fips: true }, 'https://rolesanywhere-fips.us-isob-east-1.sc2s.sgov.gov/', 'us-isob-east-1'],
    ['aws-iso-e', 'aws-iso-e', 'eu-isoe-west-1', {}, 'https://rolesanywhere.eu-isoe-west-1.cloud.adc-e.uk/', 'eu-isoe-west-1'],
    ['aws-iso-f', 'aws-iso-f', 'us-isof-south-1', {}, 'https://rolesanywhere.us-isof-south-1.csp.hci.ic.gov/', 'us-isof-south-1'],
    [
      'override https',
      'aws',
      'eu-west-1',
      { endpoint: 'https://vpce-123.rolesanywhere.eu-west-1.vpce.amazonaws.com' },
      'https://vpce-123.rolesanywhere.eu-west-1.vpce.amazonaws.com/',
      'eu-west-1',
    ],
    ['override http loopback v4 with port', 'aws', 'eu-west-1', { endpoint: 'http://127.0.0.1:4566/' }, 'http://127.0.0.1:4566/', 'eu-west-1'],
    ['override http loopback v6', 'aws', 'eu-west-1', { endpoint: 'http://[::1]:8080' }, 'http://[::1]:8080/', 'eu-west-1'],
    ['override http localhost', 'aws', 'eu-west-1', { endpoint: 'http://localhost:8080' }, 'http://localhost:8080/', 'eu-west-1'],
  ];
  for (const [name, partition, region, opts, url, signingRegion] of table) {
    it(name, () => {
      const r = resolveEndpoint({ ...arns(partition, region), ...opts });
      assert.equal(r.url.href, url);
      assert.equal(r.region, signingRegion);
      assert.equal(r.partition, partition);
    });
  }
});

describe('resolveEndpoint: refusals', () => {
  const refusals: [string, EndpointInput, string][] = [
    ['trust anchor and profile in different regions', { ...arns('aws', 'eu-west-1'), profileArn: arns('aws', 'us-east-1').profileArn }, 'REGION_MISMATCH'],
    ['configured region differs from the ARNs', { ...arns('aws', 'eu-west-1'), region: 'us-east-1' }, 'REGION_MISMATCH'],
    ['region of another partition than the ARNs', arns('aws', 'cn-north-1'), 'PARTITION_MISMATCH'],
    ['region in no partition', arns('aws', 'xx-nowhere-1'), 'UNKNOWN_REGION'],
    ['dual-stack where the partition has none', { ...arns('aws-iso', 'us-iso-east-1'), dualStack: true }, 'ENDPOINT_INVALID'],
    ['plain http to a public host', { ...arns('aws', 'eu-west-1'), endpoint: 'http://rolesanywhere.eu-west-1.amazonaws.com' }, 'ENDPOINT_INVALID'],
    ['plain http to a private non-loopback address', { ...arns('aws', 'eu-west-1'), endpoint: 'http://10.0.0.1:8080' }, 'ENDPOINT_INVALID'],
    ['override with a base path', { ...arns('aws', 'eu-west-1'), endpoint: 'https://example.com/api' }, 'ENDPOINT_INVALID'],
    ['override with fips', { ...arns('aws', 'eu-west-1'), endpoint: 'https://example.com', fips: true }, 'ENDPOINT_INVALID'],
    ['override that is not a URL', { ...arns('aws', 'eu-west-1'), endpoint: 'rolesanywhere' }, 'ENDPOINT_INVALID'],
    [
      'malformed trust anchor ARN',
      { ...arns('aws', 'eu-west-1'), trustAnchorArn: 'arn:aws:rolesanywhere:eu-west-1:123456789012:trust-anchor/nope' },
      'ARN_INVALID',
    ],
  ];
  for (const [name, input, code] of refusals) {
    it(`${code}: ${name}`, () => {
      assert.throws(
        () => resolveEndpoint(input),
        (e: Error & { code?: string; hint?: string }) => {
          assert.equal(e.code, code);
          assert.ok(e.hint && e.hint.length > 0);
          return true;
        },
      );
    });
  }
});

describe('partitions and loopback', () => {
  it('maps regions to partitions, most specific first', () => {
    assert.equal(partitionOfRegion('us-gov-west-1')?.id, 'aws-us-gov');
    assert.equal(partitionOfRegion('us-isob-east-1')?.id, 'aws-iso-b');
    assert.equal(partitionOfRegion('us-east-1')?.id, 'aws');
    assert.equal(partitionOfRegion('cn-north-1')?.id, 'aws-cn');
    assert.equal(partitionOfRegion('moon-base-1'), undefined);
  });

  it('recognises loopback hosts only', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '[::1]', '::1', 'localhost', 'LOCALHOST', 'a.localhost']) assert.equal(isLoopbackHost(h), true, h);
    for (const h of ['10.0.0.1', '128.0.0.1', '[::2]', 'localhost.example.com', 'example.com', '0.0.0.0']) assert.equal(isLoopbackHost(h), false, h);
  });
});
