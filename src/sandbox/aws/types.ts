import type { Clock } from '../../core/clock.js';

/**
 * The contract between the sandbox's one HTTP front (src/sandbox/aws/server.ts) and the AWS stand-ins plugged into
 * it (Route 53, IAM Roles Anywhere, STS). One loopback URL serves every service; a request is routed to the first
 * service whose matches() accepts it.
 */
export interface AwsHttpRequest {
  method: string;
  /** raw path, still percent-encoded, without the query */
  path: string;
  query: URLSearchParams;
  /** lower-cased header names */
  headers: Record<string, string>;
  body: Buffer;
  remoteAddress: string;
  /** the query string exactly as sent (no leading '?'); SigV4 canonicalizes from it, since URLSearchParams turns '+' into ' ' */
  rawQuery?: string;
}

export interface AwsHttpResponse {
  status: number;
  headers?: Record<string, string>;
  body: string | Buffer;
}

export interface PolicyDocument {
  Version: string;
  Statement: unknown[];
}

/** An IAM user or an assumed-role session known to the sandbox. */
export interface Principal {
  /** arn:aws:iam::<acct>:user/<name> or arn:aws:sts::<acct>:assumed-role/<role>/<session> */
  arn: string;
  accountId: string;
  /** for assumed-role sessions: the role's ARN (arn:aws:iam::<acct>:role/<name>) */
  roleArn?: string;
  userId?: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
  /** identity policies evaluated for every call this principal makes */
  policies: PolicyDocument[];
  sessionTags?: Record<string, string>;
}

export interface PrincipalRegistry {
  add(p: Principal): void;
  get(accessKeyId: string): Principal | undefined;
  /** replace a principal's identity policies (tests scope the agent's key to one record) */
  setPolicies(accessKeyId: string, policies: PolicyDocument[]): void;
}

export interface CallRecord {
  time: string;
  service: string;
  action: string;
  principalArn?: string;
  resource?: string;
  status: number;
  errorCode?: string;
  detail?: Record<string, unknown>;
}

export interface SandboxContext {
  clock: Clock;
  principals: PrincipalRegistry;
  record(c: CallRecord): void;
  /**
   * verifies SigV4 (AWS4-HMAC-SHA256) for `service`, clock skew, session token, expiry; throws AwsApiError.
   * The credential scope must name `service` and `opts.region` (default: the front's region, us-east-1).
   */
  authenticate(req: AwsHttpRequest, service: string, opts?: { region?: string }): Principal;
  /** evaluates the principal's policies with a real IAM evaluator; throws AwsApiError AccessDenied */
  authorize(p: Principal, action: string, resource: string, context?: Record<string, string | string[]>): void;
  /**
   * Admission control, called after authenticate: the account-wide token bucket per service and injected
   * throttle storms. Throws AwsApiError(400, 'Throttling', 'Rate exceeded'); JSON services may re-map the code.
   */
  admit(service: string, principal: Principal | undefined): void;
  /** id of this request, also sent as x-amzn-RequestId; error bodies echo it */
  readonly requestId: string;
}

export interface AwsService {
  readonly name: string;
  matches(req: AwsHttpRequest): boolean;
  handle(req: AwsHttpRequest, ctx: SandboxContext): Promise<AwsHttpResponse>;
  /** optional admin actions, served at /_sandbox/<name>/<action> (loopback only, JSON in and out) */
  admin?(action: string, method: string, body: unknown): Promise<unknown>;
  /** takes the keys it understands from a POST /_sandbox/faults body and returns them */
  applyFaults?(faults: Record<string, unknown>): string[];
  /** current fault settings, shown by GET /_sandbox/faults */
  faults?(): Record<string, unknown>;
}

/** A failure as AWS reports it; each service renders it in its own wire format (XML or JSON). */
export class AwsApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly type: 'Sender' | 'Receiver' = status >= 500 ? 'Receiver' : 'Sender',
  ) {
    super(message);
    this.name = 'AwsApiError';
  }
}
