import { appendFile } from 'node:fs/promises';

/**
 * CloudTrail-shaped records of CreateSession calls, so the agent's audit command (src/envsense) can be tested on
 * the events a trail would deliver. Field names follow the CloudTrail record contents (eventVersion 1.08); the
 * secret access key and the session token are never written.
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
  requestParameters: {
    profileArn?: string;
    roleArn?: string;
    trustAnchorArn?: string;
    durationSeconds?: number;
    roleSessionName?: string;
  } | null;
  responseElements: {
    credentialSet: {
      assumedRoleUser: { arn: string; assumedRoleId: string };
      credentials: { accessKeyId: string; expiration: string };
      roleArn: string;
      sourceIdentity: string;
    }[];
    subjectArn: string;
  } | null;
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
