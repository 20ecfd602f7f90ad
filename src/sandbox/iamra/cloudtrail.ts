import { appendFile } from 'node:fs/promises';

/**
 * CloudTrail records of CreateSession calls, so the agent's audit command (src/envsense) can be tested on the
 * events a trail would deliver and LookupEvents would return. Field names follow the CloudTrail record contents
 * (eventVersion 1.08, https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html);
 * the secret access key and the session token are never written.
 *
 * Where the subject goes: the CreateSession response and the Subject resource both name the certificate's subject
 * `x509Subject` (SubjectDetail/SubjectSummary in the IAM Roles Anywhere API reference), as RFC 4514-style
 * `CN=host1.example.com`, the form `fingerprint --json` keys its database entry with. A successful call carries it
 * in responseElements next to subjectArn; every call whose certificate could be read (refused ones too) carries it
 * in additionalEventData with the serial and issuer. AWS publishes no sample CreateSession record, so `audit` reads
 * either place.
 */
export interface CreateSessionEvent {
  eventVersion: '1.08';
  userIdentity: { type: 'Unknown'; principalId: string };
  eventTime: string;
  eventSource: 'rolesanywhere.amazonaws.com';
  eventName: 'CreateSession';
  awsRegion: string;
  sourceIPAddress: string;
  userAgent: string;
  requestParameters: SessionParameters | null;
  responseElements: IssuedSession | null;
  errorCode?: string;
  errorMessage?: string;
  additionalEventData: {
    /** lower-case hex, as in the default session name */
    x509CertificateSerialNumber?: string;
    x509Subject?: string;
    x509Issuer?: string;
    /** sandbox only: why a request was refused when the wire message is generic */
    failureReason?: string;
  };
  requestID: string;
  eventID: string;
  readOnly: false;
  resources: { accountId: string; type: string; ARN: string }[];
  eventType: 'AwsApiCall';
  managementEvent: true;
  recipientAccountId: string;
  eventCategory: 'Management';
}

/** The CreateSession request fields CloudTrail records (the certificate headers are not parameters). */
export interface SessionParameters {
  profileArn?: string;
  roleArn?: string;
  trustAnchorArn?: string;
  durationSeconds?: number;
  roleSessionName?: string;
}

/** The response as recorded: the credentialSet without secretAccessKey and sessionToken, plus the subject. */
export interface IssuedSession {
  credentialSet: {
    assumedRoleUser: { arn: string; assumedRoleId: string };
    credentials: { accessKeyId: string; expiration: string };
    roleArn: string;
    sourceIdentity: string;
  }[];
  subjectArn: string;
  x509Subject: string;
}

/** Everything one CreateSession call contributes to its record; the ids and the time come from the caller. */
export interface CreateSessionCall {
  time: Date;
  requestId: string;
  eventId: string;
  region: string;
  accountId: string;
  sourceIp: string;
  userAgent: string;
  /** null when the body could not be read */
  params: SessionParameters | null;
  /** the leaf, when its header could be parsed */
  certificate?: { subject: string; issuer: string; serialHex: string };
  issued?: IssuedSession;
  failure?: { code: string; message: string; reason?: string };
}

/** Timestamps as CloudTrail and the service print them: RFC 3339 UTC, whole seconds. */
export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The CloudTrail record of one CreateSession call, good or refused. Pure: same call, same record. */
export function createSessionRecord(c: CreateSessionCall): CreateSessionEvent {
  const p = c.params;
  const resource = (type: string, arn: string | undefined) => (arn ? [{ accountId: c.accountId, type, ARN: arn }] : []);
  return {
    eventVersion: '1.08',
    userIdentity: { type: 'Unknown', principalId: c.certificate?.subject ?? '' },
    eventTime: isoSeconds(c.time),
    eventSource: 'rolesanywhere.amazonaws.com',
    eventName: 'CreateSession',
    awsRegion: c.region,
    sourceIPAddress: c.sourceIp,
    userAgent: c.userAgent,
    requestParameters: p && {
      ...(p.profileArn !== undefined && { profileArn: p.profileArn }),
      ...(p.roleArn !== undefined && { roleArn: p.roleArn }),
      ...(p.trustAnchorArn !== undefined && { trustAnchorArn: p.trustAnchorArn }),
      ...(p.durationSeconds !== undefined && { durationSeconds: p.durationSeconds }),
      ...(p.roleSessionName !== undefined && { roleSessionName: p.roleSessionName }),
    },
    responseElements: c.issued ?? null,
    ...(c.failure && { errorCode: c.failure.code, errorMessage: c.failure.message }),
    additionalEventData: {
      ...(c.certificate && {
        x509CertificateSerialNumber: c.certificate.serialHex,
        x509Subject: c.certificate.subject,
        x509Issuer: c.certificate.issuer,
      }),
      ...(c.failure?.reason !== undefined && { failureReason: c.failure.reason }),
    },
    requestID: c.requestId,
    eventID: c.eventId,
    readOnly: false,
    resources: [
      ...resource('AWS::RolesAnywhere::TrustAnchor', p?.trustAnchorArn),
      ...resource('AWS::RolesAnywhere::Profile', p?.profileArn),
      ...resource('AWS::IAM::Role', p?.roleArn),
    ],
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: c.accountId,
    eventCategory: 'Management',
  };
}

export interface CloudTrailSink {
  readonly events: CreateSessionEvent[];
  append(e: CreateSessionEvent): Promise<void>;
}

/** Keeps events in memory and, when `file` is given, appends each as one JSON line (created 0600). */
export function cloudTrailSink(file?: string): CloudTrailSink {
  const events: CreateSessionEvent[] = [];
  let tail: Promise<void> = Promise.resolve();
  return {
    events,
    append(e) {
      events.push(e);
      if (file === undefined) return Promise.resolve();
      // serialised so lines never interleave when requests overlap; one failed write does not block the next
      const written = tail.then(() => appendFile(file, JSON.stringify(e) + '\n', { mode: 0o600 }));
      tail = written.catch(() => undefined);
      return written;
    },
  };
}
