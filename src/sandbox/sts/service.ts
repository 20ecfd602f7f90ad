import { parseAuthorization } from '../../signer/canonical.js';
import { AwsApiError, type AwsHttpRequest, type AwsHttpResponse, type AwsService, type SandboxContext } from '../aws/types.js';

/**
 * The STS stand-in: GetCallerIdentity over the AWS Query protocol (`POST /` with a form body, or the same
 * parameters in the query string), authenticated with SigV4 by the sandbox front (ctx.authenticate, which checks
 * the session token and expiry of IAM Roles Anywhere sessions). Answers in the 2011-06-15 XML the AWS CLI v2 and
 * the SDKs parse; failures in STS's ErrorResponse XML.
 */

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const VERSION = '2011-06-15';

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Query-protocol parameters: the form body of a POST, merged over the URL query (either may carry them). */
function queryParams(req: AwsHttpRequest): URLSearchParams {
  const params = new URLSearchParams(req.query);
  const type = req.headers['content-type'] ?? '';
  if (req.method === 'POST' && req.body.length > 0 && type.startsWith('application/x-www-form-urlencoded')) {
    for (const [k, v] of new URLSearchParams(req.body.toString('utf8'))) params.set(k, v);
  }
  return params;
}

function xmlResponse(status: number, body: string, requestId: string): AwsHttpResponse {
  return { status, headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId }, body: `<?xml version="1.0" encoding="UTF-8"?>\n${body}` };
}

export function errorXml(code: string, message: string, type: 'Sender' | 'Receiver', requestId: string): string {
  return `<ErrorResponse xmlns="${NS}">
  <Error>
    <Type>${type}</Type>
    <Code>${xmlEscape(code)}</Code>
    <Message>${xmlEscape(message)}</Message>
  </Error>
  <RequestId>${requestId}</RequestId>
</ErrorResponse>
`;
}

export interface StsServiceOptions {
  /**
   * the region the credential scope must name; by default the region the client signed with is accepted, since
   * one sandbox URL stands in for the global endpoint (us-east-1) and every regional one
   */
  region?: string;
}

export function createStsService(o: StsServiceOptions = {}): AwsService {
  function getCallerIdentity(req: AwsHttpRequest, ctx: SandboxContext, requestId: string): { status: number; body: string; principalArn: string } {
    const region = o.region ?? parseAuthorization(req.headers['authorization'] ?? '')?.region;
    const p = ctx.authenticate(req, 'sts', region === undefined ? undefined : { region });
    ctx.admit('sts', p);
    // GetCallerIdentity needs no permission: "No permissions are required to perform this operation" (STS API
    // reference), even an explicit deny does not stop it, so ctx.authorize is not consulted.
    const userId = p.userId ?? p.accessKeyId;
    const body = `<GetCallerIdentityResponse xmlns="${NS}">
  <GetCallerIdentityResult>
    <Arn>${xmlEscape(p.arn)}</Arn>
    <UserId>${xmlEscape(userId)}</UserId>
    <Account>${p.accountId}</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata>
    <RequestId>${requestId}</RequestId>
  </ResponseMetadata>
</GetCallerIdentityResponse>
`;
    return { status: 200, body, principalArn: p.arn };
  }

  return {
    name: 'sts',
    matches: (req) => (req.method === 'POST' || req.method === 'GET') && req.path === '/' && queryParams(req).has('Action'),
    async handle(req, ctx): Promise<AwsHttpResponse> {
      const requestId = ctx.requestId;
      const params = queryParams(req);
      const action = params.get('Action') ?? '';
      const time = ctx.clock.now().toISOString();
      try {
        const version = params.get('Version');
        if (version !== null && version !== VERSION) throw new AwsApiError(400, 'InvalidAction', `Could not find operation ${action} for version ${version}`);
        if (action !== 'GetCallerIdentity') throw new AwsApiError(400, 'InvalidAction', `Could not find operation ${action} for version ${VERSION}`);
        const r = getCallerIdentity(req, ctx, requestId);
        ctx.record({ time, service: 'sts', action, principalArn: r.principalArn, status: r.status });
        return xmlResponse(r.status, r.body, requestId);
      } catch (e) {
        const err =
          e instanceof AwsApiError
            ? e
            : new AwsApiError(500, 'InternalFailure', 'The request processing has failed because of an unknown error, exception or failure.');
        ctx.record({ time, service: 'sts', action, status: err.status, errorCode: err.code, ...(err !== e && { detail: { cause: (e as Error).message } }) });
        return xmlResponse(err.status, errorXml(err.code, err.message, err.type, requestId), requestId);
      }
    },
  };
}
