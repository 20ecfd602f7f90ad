import { CloudTrailClient, paginateLookupEvents, type Event } from '@aws-sdk/client-cloudtrail';
import { AgentError } from '../core/errors.js';

/**
 * `audit --lookup`: IAM Roles Anywhere CreateSession records from CloudTrail's LookupEvents (the account's 90-day
 * event history), through the CloudTrail SDK client, the only importer of @aws-sdk/client-cloudtrail. Pages are
 * followed with the SDK's paginator; throttling (LookupEvents allows 2 calls per second per account and region)
 * is retried by the SDK's standard retry strategy, tuned the SDK's way (AWS_MAX_ATTEMPTS, `max_attempts`).
 * Credentials, region and endpoint come from the SDK's own chains (`--profile`/AWS_PROFILE, AWS_REGION,
 * AWS_ENDPOINT_URL_CLOUDTRAIL) unless given.
 */

export interface CloudTrailLookupOptions {
  region?: string;
  endpoint?: string;
  profile?: string;
  /** MaxResults per LookupEvents call, 1–50 */
  pageSize: number;
}

export interface LookupRange {
  start?: Date;
  end?: Date;
}

/** One looked-up event: its id and time from LookupEvents, and the CloudTrail record it carries. */
export interface LookedUpEvent {
  id: string;
  time: Date;
  record: unknown;
}

const component = 'audit';

/** The record inside an Event; a record that is not JSON keeps the event's own fields, so audit reports it malformed. */
function recordOf(e: Event): unknown {
  try {
    return JSON.parse(e.CloudTrailEvent ?? '') as unknown;
  } catch {
    return { eventID: e.EventId, eventName: e.EventName, eventSource: e.EventSource, eventTime: e.EventTime?.toISOString() };
  }
}

function hintFor(e: Error & { $metadata?: unknown; code?: string }): string {
  switch (e.name) {
    case 'CredentialsProviderError':
      return 'give the auditor credentials the SDK way: --profile NAME (or AWS_PROFILE), environment keys or a role; they need cloudtrail:LookupEvents';
    case 'AccessDeniedException':
      return 'the caller needs cloudtrail:LookupEvents on "*"';
    case 'ThrottlingException':
      return 'CloudTrail allows 2 LookupEvents calls per second per account and region: run again later, or raise AWS_MAX_ATTEMPTS';
    case 'UnrecognizedClientException':
    case 'InvalidClientTokenId':
    case 'SignatureDoesNotMatch':
    case 'ExpiredTokenException':
      return 'the credentials are not valid for this account: check --profile / AWS_PROFILE';
  }
  if (/region is missing/i.test(e.message)) return 'pass --region or set AWS_REGION';
  if (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || e.code === 'ETIMEDOUT' || e.name === 'TimeoutError')
    return 'CloudTrail could not be reached: check the network, --endpoint or AWS_ENDPOINT_URL_CLOUDTRAIL';
  return 'see the message; --log-level debug shows the SDK error';
}

function lookupError(e: unknown, o: CloudTrailLookupOptions): AgentError {
  if (e instanceof AgentError) return e;
  const err = e instanceof Error ? (e as Error & { code?: string }) : new Error(String(e));
  const where = [o.profile && `profile ${o.profile}`, o.region && `region ${o.region}`, o.endpoint && `endpoint ${o.endpoint}`].filter(Boolean).join(', ');
  return new AgentError({
    code: 'AUDIT_LOOKUP_FAILED',
    component,
    message: `CloudTrail LookupEvents failed${where ? ` (${where})` : ''}: ${err.name === 'Error' ? '' : `${err.name}: `}${err.message}`,
    hint: hintFor(err),
  });
}

/**
 * Every event CloudTrail lists for EventName=CreateSession in the range (StartTime and EndTime included), in the
 * order LookupEvents gives them: newest first. Other services' CreateSession calls come along; audit skips them.
 */
export async function* lookupCreateSessions(o: CloudTrailLookupOptions, range: LookupRange): AsyncGenerator<LookedUpEvent> {
  const client = new CloudTrailClient({
    ...(o.region !== undefined && { region: o.region }),
    ...(o.endpoint !== undefined && { endpoint: o.endpoint }),
    ...(o.profile !== undefined && { profile: o.profile }),
  });
  try {
    const pages = paginateLookupEvents(
      { client, pageSize: o.pageSize },
      {
        LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'CreateSession' }],
        ...(range.start && { StartTime: range.start }),
        ...(range.end && { EndTime: range.end }),
      },
    );
    for await (const page of pages) {
      for (const e of page.Events ?? []) {
        // LookupEvents always sets both; an event without them could not be kept in the cursor
        if (e.EventId === undefined || e.EventTime === undefined) continue;
        yield { id: e.EventId, time: e.EventTime, record: recordOf(e) };
      }
    }
  } catch (e) {
    throw lookupError(e, o);
  } finally {
    client.destroy();
  }
}
