import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, isCreateSession } from '../../src/envsense/audit.js';
import { totpAt } from '../../src/envsense/totp.js';
import { createSessionRecord, type CreateSessionCall } from '../../src/sandbox/iamra/cloudtrail.js';

/**
 * The sandbox's CloudTrail record of a CreateSession, built by one pure function: the record-contents fields
 * (eventVersion 1.08), the request parameters with roleSessionName, the subject in responseElements and
 * additionalEventData, and the record `audit` classifies.
 */

const ACCOUNT = '111122223333';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/agent`;
const PROFILE = `arn:aws:rolesanywhere:us-east-1:${ACCOUNT}:profile/p1`;
const ANCHOR = `arn:aws:rolesanywhere:us-east-1:${ACCOUNT}:trust-anchor/t1`;
const HEX = 'c0ffee00112233445566778899aabbccddeeff00';
const TOTP = { digest: 'sha1', period: 30, digits: 6 } as const;
const time = new Date('2026-12-01T10:20:30.456Z');
const code = totpAt(HEX, TOTP, time);

const good: CreateSessionCall = {
  time,
  requestId: 'req-1',
  eventId: '6f1c2a9e-0000-4000-8000-000000000001',
  region: 'us-east-1',
  accountId: ACCOUNT,
  sourceIp: '127.0.0.1',
  userAgent: 'iamra-agent/0.1.0',
  params: { profileArn: PROFILE, roleArn: ROLE, trustAnchorArn: ANCHOR, durationSeconds: 3600, roleSessionName: code },
  certificate: { subject: 'CN=host1.example.com', issuer: 'CN=Pebble Intermediate CA', serialHex: '0a1b' },
  issued: {
    credentialSet: [
      {
        assumedRoleUser: { arn: `arn:aws:sts::${ACCOUNT}:assumed-role/agent/${code}`, assumedRoleId: `AROAEXAMPLE:${code}` },
        credentials: { accessKeyId: 'ASIAEXAMPLE', expiration: '2026-12-01T11:20:30Z' },
        roleArn: ROLE,
        sourceIdentity: 'CN=host1.example.com',
      },
    ],
    subjectArn: `arn:aws:rolesanywhere:us-east-1:${ACCOUNT}:subject/0000`,
    x509Subject: 'CN=host1.example.com',
  },
};

test('a granted CreateSession: the record-contents fields, the session name and the subject', () => {
  const r = createSessionRecord(good);
  assert.deepEqual(
    {
      eventVersion: r.eventVersion,
      eventTime: r.eventTime,
      eventSource: r.eventSource,
      eventName: r.eventName,
      awsRegion: r.awsRegion,
      sourceIPAddress: r.sourceIPAddress,
      userAgent: r.userAgent,
      requestID: r.requestID,
      eventID: r.eventID,
      eventType: r.eventType,
      recipientAccountId: r.recipientAccountId,
      readOnly: r.readOnly,
      managementEvent: r.managementEvent,
      eventCategory: r.eventCategory,
    },
    {
      eventVersion: '1.08',
      eventTime: '2026-12-01T10:20:30Z',
      eventSource: 'rolesanywhere.amazonaws.com',
      eventName: 'CreateSession',
      awsRegion: 'us-east-1',
      sourceIPAddress: '127.0.0.1',
      userAgent: 'iamra-agent/0.1.0',
      requestID: 'req-1',
      eventID: good.eventId,
      eventType: 'AwsApiCall',
      recipientAccountId: ACCOUNT,
      readOnly: false,
      managementEvent: true,
      eventCategory: 'Management',
    },
  );
  assert.deepEqual(r.requestParameters, good.params);
  assert.equal(r.responseElements?.x509Subject, 'CN=host1.example.com');
  assert.equal(r.additionalEventData.x509Subject, 'CN=host1.example.com');
  assert.equal(r.additionalEventData.x509CertificateSerialNumber, '0a1b');
  assert.equal(r.errorCode, undefined);
  assert.deepEqual(
    r.resources.map((x) => [x.type, x.ARN]),
    [
      ['AWS::RolesAnywhere::TrustAnchor', ANCHOR],
      ['AWS::RolesAnywhere::Profile', PROFILE],
      ['AWS::IAM::Role', ROLE],
    ],
  );
  assert.doesNotMatch(JSON.stringify(r), /secretAccessKey|sessionToken/);
  assert.deepEqual(createSessionRecord(good), r, 'pure: the same call gives the same record');
});

test('audit reads the record as written: legit with the right code, mismatch with another', () => {
  const db = new Map([['CN=host1.example.com', HEX]]);
  const p = { ...TOTP, latencyMs: 30_000 };
  const r = createSessionRecord(good);
  assert.ok(isCreateSession(r));
  assert.deepEqual(classify(r, db, p), { verdict: 'legit', subject: 'CN=host1.example.com', time: '2026-12-01T10:20:30Z', sourceIp: '127.0.0.1', code });
  const other = createSessionRecord({ ...good, params: { ...good.params, roleSessionName: code === '000000' ? '111111' : '000000' } });
  assert.equal(classify(other, db, p).verdict, 'mismatch');
});

test('a refused CreateSession: error code and message, the sandbox reason, no responseElements; the subject stays', () => {
  const r = createSessionRecord({
    ...good,
    issued: undefined,
    failure: { code: 'AccessDeniedException', message: 'Unable to assume role', reason: 'trust policy: sts:AssumeRole ExplicitlyDenied' },
  });
  assert.equal(r.responseElements, null);
  assert.equal(r.errorCode, 'AccessDeniedException');
  assert.equal(r.errorMessage, 'Unable to assume role');
  assert.equal(r.additionalEventData.failureReason, 'trust policy: sts:AssumeRole ExplicitlyDenied');
  assert.equal(r.additionalEventData.x509Subject, 'CN=host1.example.com');
});

test('an unreadable request: no parameters, no certificate, no resources', () => {
  const r = createSessionRecord({ ...good, params: null, certificate: undefined, issued: undefined, failure: { code: 'ValidationException', message: 'bad' } });
  assert.equal(r.requestParameters, null);
  assert.deepEqual(r.additionalEventData, {});
  assert.deepEqual(r.resources, []);
  assert.equal(r.userIdentity.principalId, '');
  const p = createSessionRecord({ ...good, params: {}, issued: undefined, failure: { code: 'ValidationException', message: 'bad' } });
  assert.deepEqual(p.requestParameters, {});
  assert.deepEqual(p.resources, []);
});
