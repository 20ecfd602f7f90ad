import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  amzDate,
  canonicalHeaders,
  canonicalQuery,
  canonicalRequest,
  canonicalUri,
  credentialScope,
  parseAuthorization,
  sha256Hex,
  stringToSign,
  uriEncode,
} from '../../src/signer/canonical.js';

/**
 * Cases of the AWS SigV4 test suite (awslabs/aws-c-auth tests/aws-signing-test-suite/v4/<case>, originally the
 * "Signature Version 4 Test Suite" of the AWS General Reference): credentials AKIDEXAMPLE /
 * wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, region us-east-1, service `service`, 2015-08-30T12:36:00Z.
 * Each case lists the request, its expected canonical request, and the published AWS4-HMAC-SHA256 signature.
 * Recomputing that HMAC signature from our canonical request is an independent check of every byte of it.
 */
interface SuiteCase {
  name: string;
  method: string;
  path: string;
  query: string;
  headers: [string, string][];
  body: string;
  creq: string;
  signature: string;
}

const DATE = '20150830T123600Z';
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const HOST: [string, string] = ['Host', 'example.amazonaws.com'];
const XDATE: [string, string] = ['X-Amz-Date', DATE];
const vanillaCreq = (path: string, query = '') => `GET\n${path}\n${query}\nhost:example.amazonaws.com\nx-amz-date:${DATE}\n\nhost;x-amz-date\n${EMPTY}`;
const UNRESERVED = '-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

const SUITE: SuiteCase[] = [
  // get-vanilla
  {
    name: 'get-vanilla',
    method: 'GET',
    path: '/',
    query: '',
    headers: [HOST, XDATE],
    body: '',
    creq: vanillaCreq('/'),
    signature: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
  },
  // get-relative-relative-normalized
  {
    name: 'get-relative-relative-normalized',
    method: 'GET',
    path: '/example1/example2/../..',
    query: '',
    headers: [HOST, XDATE],
    body: '',
    creq: vanillaCreq('/'),
    signature: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
  },
  // get-vanilla-query-order-key-case
  {
    name: 'get-vanilla-query-order-key-case',
    method: 'GET',
    path: '/',
    query: 'Param2=value2&Param1=value1',
    headers: [HOST, XDATE],
    body: '',
    creq: vanillaCreq('/', 'Param1=value1&Param2=value2'),
    signature: 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500',
  },
  // get-vanilla-query-unreserved
  {
    name: 'get-vanilla-query-unreserved',
    method: 'GET',
    path: '/',
    query: `${UNRESERVED}=${UNRESERVED}`,
    headers: [HOST, XDATE],
    body: '',
    creq: vanillaCreq('/', `${UNRESERVED}=${UNRESERVED}`),
    signature: '9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197',
  },
  // get-utf8
  {
    name: 'get-utf8',
    method: 'GET',
    path: '/ሴ',
    query: '',
    headers: [HOST, XDATE],
    body: '',
    creq: vanillaCreq('/%E1%88%B4'),
    signature: '8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85',
  },
  // get-space-normalized
  {
    name: 'get-space-normalized',
    method: 'GET',
    path: '/example space/',
    query: '',
    headers: [HOST, XDATE],
    body: '',
    creq: vanillaCreq('/example%20space/'),
    signature: '652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741',
  },
  // get-header-value-trim
  {
    name: 'get-header-value-trim',
    method: 'GET',
    path: '/',
    query: '',
    headers: [HOST, ['My-Header1', ' value1'], ['My-Header2', ' "a   b   c"'], XDATE],
    body: '',
    creq: `GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:"a b c"\nx-amz-date:${DATE}\n\nhost;my-header1;my-header2;x-amz-date\n${EMPTY}`,
    signature: 'acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736',
  },
  // get-header-key-duplicate
  {
    name: 'get-header-key-duplicate',
    method: 'GET',
    path: '/',
    query: '',
    headers: [HOST, ['My-Header1', 'value2'], ['My-Header1', 'value2'], ['My-Header1', 'value1'], XDATE],
    body: '',
    creq: `GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\nx-amz-date:${DATE}\n\nhost;my-header1;x-amz-date\n${EMPTY}`,
    signature: 'c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea',
  },
  // post-header-key-sort
  {
    name: 'post-header-key-sort',
    method: 'POST',
    path: '/',
    query: '',
    headers: [HOST, ['My-Header1', 'value1'], XDATE],
    body: '',
    creq: `POST\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nx-amz-date:${DATE}\n\nhost;my-header1;x-amz-date\n${EMPTY}`,
    signature: 'c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c',
  },
  // post-x-www-form-urlencoded (aws-c-auth variant: signs content-length and x-amz-content-sha256)
  {
    name: 'post-x-www-form-urlencoded',
    method: 'POST',
    path: '/',
    query: '',
    headers: [
      ['Content-Type', 'application/x-www-form-urlencoded'],
      HOST,
      ['Content-Length', '13'],
      ['x-amz-content-sha256', '9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e'],
      XDATE,
    ],
    body: 'Param1=value1',
    creq:
      'POST\n/\n\ncontent-length:13\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\n' +
      `x-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\nx-amz-date:${DATE}\n\n` +
      'content-length;content-type;host;x-amz-content-sha256;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e',
    signature: 'd3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b',
  },
];

/** AWS4-HMAC-SHA256 signature (SigV4 signing key derivation), used only to check the canonical request. */
function hmacSignature(sts: string): string {
  const h = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  const kSigning = h(h(h(h('AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', '20150830'), 'us-east-1'), 'service'), 'aws4_request');
  return createHmac('sha256', kSigning).update(sts).digest('hex');
}

describe('canonicalRequest: AWS SigV4 test suite', () => {
  for (const c of SUITE) {
    it(c.name, () => {
      const creq = canonicalRequest({ method: c.method, path: c.path, query: c.query, headers: c.headers, payloadHash: sha256Hex(c.body) });
      assert.equal(creq, c.creq);
      const sts = stringToSign('AWS4-HMAC-SHA256', DATE, credentialScope(DATE, 'us-east-1', 'service'), creq);
      assert.equal(hmacSignature(sts), c.signature);
    });
  }
});

describe('canonical pieces', () => {
  it('uriEncode keeps only RFC 3986 unreserved characters', () => {
    assert.equal(
      uriEncode('arn:aws:rolesanywhere:us-east-1:123456789012:profile/ab cd+é~'),
      'arn%3Aaws%3Arolesanywhere%3Aus-east-1%3A123456789012%3Aprofile%2Fab%20cd%2B%C3%A9~',
    );
    assert.equal(uriEncode('a/b', false), 'a/b');
  });

  it('canonicalQuery sorts by name then value and re-encodes', () => {
    assert.equal(canonicalQuery('b=2&a=z&a=y&c'), 'a=y&a=z&b=2&c=');
    assert.equal(canonicalQuery('roleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fx'), 'roleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fx');
    assert.equal(canonicalQuery([['x y', 'a:b']]), 'x%20y=a%3Ab');
    assert.equal(canonicalQuery(''), '');
  });

  it('canonicalUri: /sessions is itself, dot segments resolve, already-encoded paths are encoded again', () => {
    assert.equal(canonicalUri('/sessions'), '/sessions');
    assert.equal(canonicalUri('/a/./b/../c/'), '/a/c/');
    assert.equal(canonicalUri('/%E1%88%B4'), '/%25E1%2588%25B4');
  });

  it('canonicalHeaders restricted to a SignedHeaders list, and refuses a listed header that is absent', () => {
    const h = { Host: 'x', 'X-Amz-Date': DATE, 'User-Agent': 'ua' };
    assert.deepEqual(canonicalHeaders(h, ['x-amz-date', 'host']), { canonical: `host:x\nx-amz-date:${DATE}\n`, signed: 'host;x-amz-date' });
    assert.throws(() => canonicalHeaders(h, ['host', 'x-amz-x509']), /x-amz-x509/);
  });

  it('amzDate and credentialScope', () => {
    assert.equal(amzDate(new Date('2025-01-01T12:00:00.999Z')), '20250101T120000Z');
    assert.equal(credentialScope('20250101T120000Z', 'eu-west-1', 'rolesanywhere'), '20250101/eu-west-1/rolesanywhere/aws4_request');
  });

  it('parseAuthorization reads AWS4-X509 and HMAC headers, and rejects malformed ones', () => {
    const p = parseAuthorization(
      'AWS4-X509-ECDSA-SHA256 Credential=5215639076998761095638506031589467414/20260304/us-east-1/rolesanywhere/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-x509, Signature=3045abcd',
    );
    assert.deepEqual(p, {
      algorithm: 'AWS4-X509-ECDSA-SHA256',
      credential: '5215639076998761095638506031589467414',
      scope: '20260304/us-east-1/rolesanywhere/aws4_request',
      date: '20260304',
      region: 'us-east-1',
      service: 'rolesanywhere',
      signedHeaders: ['content-type', 'host', 'x-amz-date', 'x-amz-x509'],
      signature: '3045abcd',
    });
    assert.equal(parseAuthorization('AWS4-X509-RSA-SHA256 Credential=1/20260304/us-east-1/rolesanywhere, SignedHeaders=host, Signature=00'), undefined);
    assert.equal(parseAuthorization('Bearer xyz'), undefined);
  });
});
