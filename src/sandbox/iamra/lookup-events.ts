import { createHash } from 'node:crypto';
import { AwsApiError, type AwsHttpRequest, type AwsHttpResponse, type AwsService, type SandboxContext } from '../aws/types.js';
import type { CreateSessionEvent } from './cloudtrail.js';

/**
 * The CloudTrail `LookupEvents` stand-in over the CreateSession records the IAM Roles Anywhere stand-in keeps, so
 * `audit --lookup` can be shown with the real @aws-sdk/client-cloudtrail and AWS CLI v2. Protocol: AWS JSON 1.1
 * (`POST /`, `X-Amz-Target: <prefix>.LookupEvents`: botocore sends the model's full target prefix
 * `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101`, the JS SDK v3 only `CloudTrail_20131101`), SigV4 verified
 * by the sandbox front for service `cloudtrail`, authorized as `cloudtrail:LookupEvents`, admitted by the front's
 * rate limit and throttle storms (fault `throttleStorm` with `throttleStormService: cloudtrail`), answered as
 * ThrottlingException, which the SDKs retry.
 *
 * Semantics from the CloudTrail API reference (LookupEvents): at most one lookup attribute; StartTime and EndTime
 * include events at those instants; MaxResults 1–50 (default 50); events newest first; NextToken is opaque and is
 * refused with other parameters than the ones it came from; `CloudTrailEvent` is the record as a JSON string.
 */

const TARGET = /^(?:com\.amazonaws\.cloudtrail\.v20131101\.)?CloudTrail_20131101\.(\w+)$/;
const SERVICE = 'cloudtrail';
const MAX_RESULTS = 50;
const ATTRIBUTE_KEYS = ['EventId', 'EventName', 'ReadOnly', 'Username', 'ResourceType', 'ResourceName', 'EventSource', 'AccessKeyId'] as const;
type AttributeKey = (typeof ATTRIBUTE_KEYS)[number];

export interface CloudTrailServiceOptions {
  /** the records to look up, oldest first; read afresh on each call (the list only grows) */
  events: () => readonly CreateSessionEvent[];
}

interface Query {
  attribute?: { key: AttributeKey; value: string };
  startMs?: number;
  endMs?: number;
  maxResults: number;
  nextToken?: string;
  insight: boolean;
}

/** Where a page ended: the last event returned, by time and by its place in the record list. */
interface Cursor {
  t: number;
  i: number;
  q: string;
}

const invalid = (code: string, message: string) => new AwsApiError(400, code, message);

function epochMs(v: unknown, member: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  // JSON 1.1 timestamps are epoch seconds (the SDKs send fractions); a string here is a client bug
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid('SerializationException', `${member} must be a timestamp in epoch seconds`);
  return Math.round(v * 1000);
}

function readQuery(body: Buffer): Query {
  let doc: unknown = {};
  if (body.length > 0) {
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch {
      throw invalid('SerializationException', 'the request body is not valid JSON');
    }
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw invalid('SerializationException', 'the request body must be a JSON object');
  const b = doc as Record<string, unknown>;
  const attrs = b['LookupAttributes'] ?? [];
  if (!Array.isArray(attrs)) throw invalid('SerializationException', 'LookupAttributes must be a list');
  if (attrs.length > 1) throw invalid('InvalidLookupAttributesException', 'You can only specify one lookup attribute.');
  let attribute: Query['attribute'];
  if (attrs.length === 1) {
    const a = attrs[0] as { AttributeKey?: unknown; AttributeValue?: unknown } | null;
    const key = a?.AttributeKey;
    const value = a?.AttributeValue;
    if (typeof key !== 'string' || !(ATTRIBUTE_KEYS as readonly string[]).includes(key))
      throw invalid('InvalidLookupAttributesException', `AttributeKey must be one of ${ATTRIBUTE_KEYS.join(', ')}`);
    if (typeof value !== 'string' || value.length < 1 || value.length > 2000)
      throw invalid('InvalidLookupAttributesException', 'AttributeValue must be 1 to 2000 characters');
    attribute = { key: key as AttributeKey, value };
  }
  const startMs = epochMs(b['StartTime'], 'StartTime');
  const endMs = epochMs(b['EndTime'], 'EndTime');
  if (startMs !== undefined && endMs !== undefined && startMs > endMs) throw invalid('InvalidTimeRangeException', 'Start time must be before end time.');
  const m = b['MaxResults'];
  if (m !== undefined && m !== null && (typeof m !== 'number' || !Number.isInteger(m) || m < 1 || m > MAX_RESULTS))
    throw invalid('InvalidMaxResultsException', `MaxResults must be between 1 and ${MAX_RESULTS}.`);
  const category = b['EventCategory'];
  if (category !== undefined && category !== null && category !== 'insight') throw invalid('InvalidEventCategoryException', 'EventCategory must be insight.');
  const token = b['NextToken'];
  if (token !== undefined && token !== null && typeof token !== 'string') throw invalid('InvalidNextTokenException', 'Invalid NextToken.');
  return {
    ...(attribute && { attribute }),
    ...(startMs !== undefined && { startMs }),
    ...(endMs !== undefined && { endMs }),
    maxResults: typeof m === 'number' ? m : MAX_RESULTS,
    ...(typeof token === 'string' && { nextToken: token }),
    insight: category === 'insight',
  };
}

/** The parameters a NextToken is bound to: everything but MaxResults and the token itself. */
function queryDigest(q: Query): string {
  return createHash('sha256')
    .update(JSON.stringify([q.attribute ?? null, q.startMs ?? null, q.endMs ?? null, q.insight]))
    .digest('base64url')
    .slice(0, 16);
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeCursor(token: string, digest: string): Cursor {
  let c: Partial<Cursor> | null = null;
  try {
    c = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<Cursor>;
  } catch {
    c = null;
  }
  if (!c || typeof c.t !== 'number' || typeof c.i !== 'number' || c.q !== digest) {
    throw invalid('InvalidNextTokenException', 'A token that is not valid, or a token that was previously used in a request with different parameters.');
  }
  return c as Cursor;
}

function matches(e: CreateSessionEvent, a: NonNullable<Query['attribute']>): boolean {
  switch (a.key) {
    case 'EventId':
      return e.eventID === a.value;
    case 'EventName':
      return e.eventName === a.value;
    case 'EventSource':
      return e.eventSource === a.value;
    case 'ReadOnly':
      return String(e.readOnly) === a.value;
    case 'ResourceType':
      return e.resources.some((r) => r.type === a.value);
    case 'ResourceName':
      return e.resources.some((r) => r.ARN === a.value);
    // CreateSession callers have no IAM user name or access key: the request is signed with a certificate
    case 'Username':
    case 'AccessKeyId':
      return false;
  }
}

/** LookupEvents' Event shape; EventTime in epoch seconds, as JSON 1.1 sends timestamps. */
function toEvent(e: CreateSessionEvent) {
  return {
    EventId: e.eventID,
    EventName: e.eventName,
    ReadOnly: String(e.readOnly),
    EventTime: Date.parse(e.eventTime) / 1000,
    EventSource: e.eventSource,
    Resources: e.resources.map((r) => ({ ResourceType: r.type, ResourceName: r.ARN })),
    CloudTrailEvent: JSON.stringify(e),
  };
}

function lookupEvents(all: readonly CreateSessionEvent[], q: Query): { Events: ReturnType<typeof toEvent>[]; NextToken?: string } {
  if (q.insight) return { Events: [] };
  const digest = queryDigest(q);
  const after = q.nextToken === undefined ? undefined : decodeCursor(q.nextToken, digest);
  // newest first; ties in time keep the later record first, so the order is total and a cursor is exact
  const older = (t: number, i: number, than: Cursor) => t < than.t || (t === than.t && i < than.i);
  const hits = all
    .map((e, i) => ({ e, i, t: Date.parse(e.eventTime) }))
    .filter(({ e, i, t }) => {
      if (q.startMs !== undefined && t < q.startMs) return false;
      if (q.endMs !== undefined && t > q.endMs) return false;
      if (q.attribute && !matches(e, q.attribute)) return false;
      return after === undefined || older(t, i, after);
    })
    .sort((a, b) => b.t - a.t || b.i - a.i);
  const page = hits.slice(0, q.maxResults);
  const last = page.at(-1);
  return {
    Events: page.map(({ e }) => toEvent(e)),
    ...(hits.length > page.length && last && { NextToken: encodeCursor({ t: last.t, i: last.i, q: digest }) }),
  };
}

function jsonResponse(status: number, body: unknown, requestId: string): AwsHttpResponse {
  return { status, headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': requestId }, body: JSON.stringify(body) };
}

/** The front's SigV4/IAM/throttle codes in the names JSON services answer with. */
function jsonCode(e: AwsApiError): string {
  if (e.code === 'Throttling') return 'ThrottlingException';
  if (e.code === 'AccessDenied') return 'AccessDeniedException';
  return e.code;
}

export function createCloudTrailService(o: CloudTrailServiceOptions): AwsService {
  return {
    name: SERVICE,
    matches: (req) => req.method === 'POST' && req.path === '/' && TARGET.test(req.headers['x-amz-target'] ?? ''),
    async handle(req: AwsHttpRequest, ctx: SandboxContext): Promise<AwsHttpResponse> {
      const action = TARGET.exec(req.headers['x-amz-target'] ?? '')?.[1] ?? '';
      const time = ctx.clock.now().toISOString();
      let principalArn: string | undefined;
      try {
        const p = ctx.authenticate(req, SERVICE);
        principalArn = p.arn;
        if (action !== 'LookupEvents') throw invalid('UnknownOperationException', `The sandbox's CloudTrail has no operation ${action}`);
        ctx.authorize(p, 'cloudtrail:LookupEvents', '*');
        ctx.admit(SERVICE, p);
        const q = readQuery(req.body);
        const out = lookupEvents(o.events(), q);
        ctx.record({ time, service: SERVICE, action, principalArn, status: 200, detail: { returned: out.Events.length, more: out.NextToken !== undefined } });
        return jsonResponse(200, out, ctx.requestId);
      } catch (e) {
        const err = e instanceof AwsApiError ? e : new AwsApiError(500, 'InternalFailure', 'The request processing has failed because of an unknown error.');
        const code = jsonCode(err);
        ctx.record({ time, service: SERVICE, action, ...(principalArn && { principalArn }), status: err.status, errorCode: code });
        return jsonResponse(err.status, { __type: code, message: err.message }, ctx.requestId);
      }
    },
  };
}
