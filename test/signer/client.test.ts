import assert from 'node:assert/strict';
import { X509Certificate, verify } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fixedClock } from '../../src/core/clock.js';
import type { AgentError } from '../../src/core/errors.js';
import { memoryLogger } from '../../src/core/logger.js';
import { canonicalRequest, parseAuthorization, sha256Hex, stringToSign } from '../../src/signer/canonical.js';
import { createSession, type CreateSessionInput } from '../../src/signer/client.js';
import { serialDecimal } from '../../src/signer/sign.js';
import { makePki, type TestPki } from '../helpers/pki.js';
import { PROFILE, ROLE, TA } from './fixtures.js';

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}
type Reply = { status: number; headers?: Record<string, string>; body: unknown } | 'hang';

/** A loopback stand-in answering like CreateSession: replies are taken from a queue, requests recorded. */
let server: Server;
let endpoint: URL;
const seen: Seen[] = [];
let replies: Reply[] = [];
let pki: TestPki;

const CREDS = { accessKeyId: 'ASIAEXAMPLEEXAMPLE01', secretAccessKey: 'secret/EXAMPLE', sessionToken: 'token+EXAMPLE==', expiration: '2030-01-16T00:02:43Z' };
const OK: Reply = {
  status: 201,
  body: {
    credentialSet: [
      {
        assumedRoleUser: { arn: 'arn:aws:sts::123456789012:assumed-role/iamra-agent/6c8a648800b353455b5520636b775431', assumedRoleId: 'AROAEXAMPLE:6c8a' },
        credentials: CREDS,
        packedPolicySize: 46,
        roleArn: ROLE,
        sourceIdentity: 'CN=host1.example.com',
      },
    ],
    subjectArn: 'arn:aws:rolesanywhere:eu-west-1:123456789012:subject/0b3f3fbe-9a2d-4e65-a0a4-0d3a8b8c0a11',
  },
};

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

before(async () => {
  pki = await makePki();
  server = createServer(async (req, res) => {
    const body = await readBody(req);
    seen.push({ method: req.method!, url: req.url!, headers: req.headers as Record<string, string>, body });
    const reply = replies.shift() ?? OK;
    if (reply === 'hang') return; // never answers: the client's timeout must fire
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  seen.length = 0;
  replies = [];
});

function input(over: Partial<CreateSessionInput> = {}): CreateSessionInput {
  return {
    certPem: pki.leafPem,
    chainPem: pki.intPem,
    key: pki.leafKey,
    trustAnchorArn: TA,
    profileArn: PROFILE,
    roleArn: ROLE,
    durationSeconds: 3600,
    endpoint,
    ...over,
  };
}

function deps() {
  // one hour into the leaf's validity; sleep() advances this clock, so retries see later times
  const clock = fixedClock(new Date(new Date(pki.leaf.validFrom).getTime() + 3_600_000));
  return { clock, logger: memoryLogger(), random: () => 0.99 };
}

/** Server-side verification with the shared canonical functions, as the sandbox stand-in does it. */
function verifySeen(s: Seen): boolean {
  const auth = parseAuthorization(s.headers.authorization!)!;
  const creq = canonicalRequest({
    method: s.method,
    path: s.url.split('?')[0]!,
    query: s.url.split('?')[1] ?? '',
    headers: s.headers,
    signedHeaders: auth.signedHeaders,
    payloadHash: sha256Hex(s.body),
  });
  const sts = stringToSign(auth.algorithm, s.headers['x-amz-date']!, auth.scope, creq);
  const leaf = new X509Certificate(Buffer.from(s.headers['x-amz-x509']!, 'base64'));
  return verify('sha256', Buffer.from(sts), leaf.publicKey, Buffer.from(auth.signature, 'hex'));
}

describe('createSession against a loopback CreateSession server', () => {
  it('201: returns credentialSet[0].credentials and the session details; the request is a verifiable AWS4-X509 POST /sessions', async () => {
    const d = deps();
    const c = await createSession(d, input({ roleSessionName: 'host1' }));
    assert.deepEqual(
      { ...c },
      {
        accessKeyId: CREDS.accessKeyId,
        secretAccessKey: CREDS.secretAccessKey,
        sessionToken: CREDS.sessionToken,
        expiration: new Date(CREDS.expiration),
        subjectArn: (OK as { body: { subjectArn: string } }).body.subjectArn,
        assumedRoleArn: 'arn:aws:sts::123456789012:assumed-role/iamra-agent/6c8a648800b353455b5520636b775431',
        sourceIdentity: 'CN=host1.example.com',
      },
    );
    assert.equal(seen.length, 1);
    const s = seen[0]!;
    assert.equal(s.method, 'POST');
    assert.equal(s.url, '/sessions');
    assert.equal(s.headers['content-type'], 'application/json');
    assert.equal(s.headers.host, endpoint.host);
    assert.deepEqual(JSON.parse(s.body), { durationSeconds: 3600, profileArn: PROFILE, roleArn: ROLE, roleSessionName: 'host1', trustAnchorArn: TA });
    assert.match(s.body, /"durationSeconds":3600,/);
    assert.equal(s.headers['x-amz-x509'], Buffer.from(pki.leaf.raw).toString('base64'));
    assert.equal(s.headers['x-amz-x509-chain'], Buffer.from(pki.int.raw).toString('base64'));
    const auth = parseAuthorization(s.headers.authorization!)!;
    assert.equal(auth.algorithm, 'AWS4-X509-ECDSA-SHA256');
    assert.equal(auth.credential, serialDecimal(Buffer.from(pki.leaf.raw)));
    assert.equal(auth.credential, BigInt('0x6c8a648800b353455b5520636b775431').toString(10));
    assert.equal(auth.region, 'eu-west-1');
    assert.equal(auth.service, 'rolesanywhere');
    assert.deepEqual(auth.signedHeaders, ['content-type', 'host', 'x-amz-date', 'x-amz-x509', 'x-amz-x509-chain']);
    assert.equal(
      s.headers['x-amz-date'],
      d.clock
        .now()
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d{3}/, ''),
    );
    assert.ok(verifySeen(s), 'the server-side verification with canonical.ts accepts the request');
    assert.ok(d.logger.entries.some((e) => e.msg === 'CreateSession succeeded'));
  });

  it('retries 5xx and throttling, re-signing every attempt with a new X-Amz-Date', async () => {
    replies = [
      { status: 500, headers: { 'x-amzn-errortype': 'InternalServerException' }, body: { message: 'internal error' } },
      { status: 429, headers: { 'x-amzn-errortype': 'ThrottlingException', 'retry-after': '3' }, body: { message: 'Rate exceeded' } },
      OK,
    ];
    const d = deps();
    const c = await createSession(d, input(), { attempts: 3, baseMs: 2000, maxMs: 10_000 });
    assert.equal(c.accessKeyId, CREDS.accessKeyId);
    assert.equal(seen.length, 3);
    const dates = seen.map((s) => s.headers['x-amz-date']);
    assert.equal(new Set(dates).size, 3, `three distinct X-Amz-Date values: ${dates.join(' ')}`);
    assert.equal(new Set(seen.map((s) => s.headers.authorization)).size, 3);
    for (const s of seen) assert.ok(verifySeen(s));
    // backoff: 0.99 × 2000 ms after the 500, then the server's Retry-After of 3 s
    const t = dates.map((x) => Date.parse(x!.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z')));
    assert.ok(t[1]! - t[0]! >= 1000 && t[1]! - t[0]! <= 2000, `first backoff ${t[1]! - t[0]!} ms`);
    assert.equal(t[2]! - t[1]!, 3000);
    assert.equal(d.logger.entries.filter((e) => e.msg === 'CreateSession failed; retrying').length, 2);
  });

  it('a request that times out is retried and re-signed', async () => {
    replies = ['hang', OK];
    const d = deps();
    const c = await createSession(d, input(), { attempts: 2, timeoutMs: 300, baseMs: 2000 });
    assert.equal(c.accessKeyId, CREDS.accessKeyId);
    assert.equal(seen.length, 2);
    assert.notEqual(seen[0]!.headers['x-amz-date'], seen[1]!.headers['x-amz-date']);
    assert.equal(d.logger.entries.find((e) => e.msg === 'CreateSession failed; retrying')?.fields.code, 'CREATE_SESSION_TIMEOUT');
  });

  it('gives up after the last attempt with the last error', async () => {
    replies = [
      { status: 503, body: { message: 'Service Unavailable' } },
      { status: 503, body: { message: 'Service Unavailable' } },
    ];
    await assert.rejects(createSession(deps(), input(), { attempts: 2 }), { code: 'CREATE_SESSION_SERVER_ERROR' });
    assert.equal(seen.length, 2);
  });

  // §2.4 error shapes: restJson1 with the type in X-Amzn-ErrorType (possibly with a `:…` suffix) or `__type`.
  const failures: [string, Reply, string, RegExp][] = [
    [
      'Untrusted Signing Certificate',
      {
        status: 403,
        headers: { 'x-amzn-errortype': 'AccessDeniedException:http://internal.amazon.com/coral/com.amazonaws.rolesanywhere/' },
        body: { message: 'Untrusted Signing Certificate' },
      },
      'UNTRUSTED_CERTIFICATE',
      /trust anchor arn:aws:rolesanywhere:eu-west-1:123456789012:trust-anchor\/.*chain sent.*Signer Test Intermediate/,
    ],
    [
      'Not authorized to set roleSessionName.',
      { status: 403, body: { __type: 'com.amazonaws.rolesanywhere#AccessDeniedException', message: 'Not authorized to set roleSessionName.' } },
      'ROLE_SESSION_NAME_NOT_ALLOWED',
      /acceptRoleSessionName.*--profile-id 66666666-7777-8888-9999-000000000000/,
    ],
    [
      'Some attributes failed to be mapped into session tags',
      { status: 403, headers: { 'x-amzn-errortype': 'AccessDeniedException' }, body: { message: 'Some attributes failed to be mapped into session tags' } },
      'SESSION_TAGS_FAILED',
      /issuer attribute mapping.*x509Issuer.*Let's Encrypt staging issuer/,
    ],
    [
      'Signature expired',
      {
        status: 403,
        headers: { 'x-amzn-errortype': 'AccessDeniedException' },
        body: { Message: 'Signature expired: 20250101T000000Z is now earlier than 20250101T000500Z' },
      },
      'CLOCK_SKEW',
      /NTP/,
    ],
    [
      'Invalid signature',
      { status: 403, headers: { 'x-amzn-errortype': 'AccessDeniedException' }, body: { message: 'Invalid signature' } },
      'INVALID_SIGNATURE',
      /proxy/,
    ],
    [
      'role not in profile',
      { status: 403, headers: { 'x-amzn-errortype': 'AccessDeniedException' }, body: { message: "Requested Role isn't one of those listed in the Profile." } },
      'CREATE_SESSION_DENIED',
      /lists role arn:aws:iam::123456789012:role\/iamra-agent/,
    ],
    [
      'ResourceNotFoundException',
      { status: 404, headers: { 'x-amzn-errortype': 'ResourceNotFoundException' }, body: { message: 'Profile not found' } },
      'CREATE_SESSION_NOT_FOUND',
      /ARNs/,
    ],
    [
      'ValidationException',
      { status: 400, headers: { 'x-amzn-errortype': 'ValidationException' }, body: { message: 'Invalid duration' } },
      'CREATE_SESSION_INVALID',
      /MaxSessionDuration/,
    ],
    ['201 without credentials', { status: 201, body: { credentialSet: [] } }, 'CREATE_SESSION_BAD_RESPONSE', /endpoint/],
    [
      '201 with empty credentials',
      { status: 201, body: { credentialSet: [{ credentials: { ...CREDS, sessionToken: '' } }] } },
      'CREATE_SESSION_BAD_RESPONSE',
      /endpoint/,
    ],
    ['201 that is not JSON', { status: 201, body: '<html>' }, 'CREATE_SESSION_BAD_RESPONSE', /endpoint/],
  ];
  for (const [name, reply, code, hint] of failures) {
    it(`${code}: ${name} (not retried)`, async () => {
      replies = [reply, OK];
      await assert.rejects(createSession(deps(), input(), { attempts: 3 }), (e: AgentError) => {
        assert.equal(e.code, code);
        assert.match(e.hint ?? '', hint);
        if (reply !== 'hang' && reply.status !== 201) {
          const msg = (reply.body as { message?: string; Message?: string }).message ?? (reply.body as { Message?: string }).Message!;
          assert.ok(e.message.includes(msg), `service message kept: ${e.message}`);
          assert.ok(e.message.includes(`HTTP ${reply.status}`));
          if (reply.status === 403) assert.equal(e.details?.type, 'AccessDeniedException');
        }
        return true;
      });
      assert.equal(seen.length, 1);
    });
  }

  it('local checks fail before any network call', async () => {
    await assert.rejects(createSession(deps(), input({ key: pki.otherKey })), { code: 'KEY_CERT_MISMATCH' });
    await assert.rejects(createSession(deps(), input({ chainPem: pki.rootPem })), { code: 'CHAIN_BROKEN' });
    await assert.rejects(createSession(deps(), input({ durationSeconds: 100 })), { code: 'DURATION_OUT_OF_RANGE' });
    await assert.rejects(createSession(deps(), input({ profileArn: PROFILE.replace('eu-west-1', 'us-east-1') })), { code: 'REGION_MISMATCH' });
    assert.equal(seen.length, 0);
  });

  it('an unreachable endpoint is retried, then reported', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const d = deps();
    await assert.rejects(createSession(d, input({ endpoint: new URL(`http://127.0.0.1:${port}/`) }), { attempts: 2 }), (e: AgentError) => {
      assert.equal(e.code, 'CREATE_SESSION_UNREACHABLE');
      assert.match(e.message, /ECONNREFUSED/);
      return true;
    });
    assert.equal(d.logger.entries.filter((e) => e.msg === 'CreateSession failed; retrying').length, 1);
  });
});
