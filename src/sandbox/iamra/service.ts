import { createHash, randomBytes, randomUUID, verify } from 'node:crypto';
import { canonicalRequest, credentialScope, parseAuthorization, sha256Hex, stringToSign } from '../../signer/canonical.js';
import { generateAccessKeyId, generateSecretAccessKey } from '../aws/principals.js';
import { AwsApiError, type AwsHttpRequest, type AwsHttpResponse, type AwsService, type PolicyDocument, type SandboxContext } from '../aws/types.js';
import { AgentError } from '../../core/errors.js';
import {
  buildChain,
  issuerString,
  leafProblem,
  parseCertificateDer,
  serialHex,
  subjectString,
  type CertificateField,
  type ParsedCertificate,
} from './certs.js';
import { cloudTrailSink, createSessionRecord, isoSeconds, type CreateSessionEvent, type IssuedSession, type SessionParameters } from './cloudtrail.js';
import { mapSessionTags, sourceIdentity } from './identity.js';
import type { IamraRegistry } from './registry.js';
import { evaluateTrustPolicy } from './trust.js';

/**
 * The IAM Roles Anywhere CreateSession stand-in (`POST /sessions`, iamra-protocol §1–§3). It verifies what the
 * service verifies, in this order: the AWS4-X509 Authorization header and X-Amz-Date (±5 min), the signature over
 * the SigV4 StringToSign with the leaf's public key, the leaf's profile (§3) and its chain to the trust anchor
 * named in the request, then the profile (role list, duration, roleSessionName), the session-tag mapping and the
 * role's trust policy. On success it mints ASIA… credentials, registers them as an assumed-role principal so the
 * STS and Route 53 stand-ins accept them, and answers 201 with the credentialSet JSON of §2.3. Every call, good or
 * bad, becomes a CloudTrail-shaped event.
 */

const SERVICE = 'rolesanywhere';
const ALGORITHMS: Record<string, 'rsa' | 'ec'> = { 'AWS4-X509-RSA-SHA256': 'rsa', 'AWS4-X509-ECDSA-SHA256': 'ec' };
/** "X-Amz-X509-Chain … MUST NOT exceed the maximum depth of 5 certificates" (User Guide, signing process). */
const MAX_CHAIN = 5;
const MIN_DURATION = 900;
const MAX_DURATION = 43200;
/** STS RoleSessionName: 2–64 characters of `[\w+=,.@-]` (iamra-protocol §2.2, [INF] from STS AssumeRole). */
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** A refusal; `reason` is the sandbox's own explanation, recorded when the wire message is deliberately generic. */
class CreateSessionError extends AwsApiError {
  constructor(
    status: number,
    code: string,
    message: string,
    readonly reason?: string,
  ) {
    super(status, code, message);
  }
}

const accessDenied = (message: string, reason?: string) => new CreateSessionError(403, 'AccessDeniedException', message, reason);
const invalidSignature = (reason: string) => accessDenied('Invalid signature', reason);
const untrusted = (reason: string) => accessDenied('Untrusted Signing Certificate', reason);
const validation = (message: string) => new CreateSessionError(400, 'ValidationException', message);
/** Smithy's wording for a member constraint, as every restJson1 AWS service reports it. */
const constraint = (value: unknown, member: string, rule: string) =>
  validation(
    `1 validation error detected: Value ${value === null ? 'null' : `'${String(value)}'`} at '${member}' failed to satisfy constraint: Member must ${rule}`,
  );

export interface IamraServiceOptions {
  registry: IamraRegistry;
  /** JSON-lines file receiving one CloudTrail-shaped event per CreateSession */
  cloudTrailFile?: string;
  /** accepted |X-Amz-Date − now|; SigV4's 5 minutes by default (iamra-protocol §7) */
  maxClockSkewMs?: number;
}

export interface IamraService extends AwsService {
  /** every CreateSession event so far, oldest first */
  readonly events: readonly CreateSessionEvent[];
}

interface Issued {
  body: Record<string, unknown>;
  principalArn: string;
  event: IssuedSession;
}

function amzDateToDate(v: string): Date | undefined {
  const m = AMZ_DATE.exec(v);
  if (!m) return undefined;
  const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function toAmzDate(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** A UUID-formatted id derived from the certificate subject, so one identity keeps one subject ARN. */
function subjectId(leaf: ParsedCertificate): string {
  const h = createHash('sha256').update(leaf.cert.subject).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** ARNs may come in the query (the credential helper's Smithy serializer) or the JSON body (everyone else). */
function readParams(req: AwsHttpRequest): SessionParameters {
  let body: Record<string, unknown> = {};
  if (req.body.length > 0) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(req.body.toString('utf8'));
    } catch {
      throw validation('Could not parse request body into json: the body is not valid JSON');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw validation('Could not parse request body into json: expected an object');
    body = parsed as Record<string, unknown>;
  }
  const pick = (name: string): unknown => req.query.get(name) ?? body[name];
  const str = (name: string): string | undefined => {
    const v = pick(name);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw constraint(v, name, 'be a string');
    return v;
  };
  const d = body.durationSeconds ?? req.query.get('durationSeconds') ?? undefined;
  let durationSeconds: number | undefined;
  if (d !== undefined && d !== null) {
    // The service models it as a Number; 3600.0 (Python/Envoy clients) is the same value as 3600.
    const n = typeof d === 'number' ? d : Number(d);
    if (!Number.isInteger(n)) throw constraint(d, 'durationSeconds', 'be a whole number of seconds');
    durationSeconds = n;
  }
  return {
    profileArn: str('profileArn'),
    roleArn: str('roleArn'),
    trustAnchorArn: str('trustAnchorArn'),
    durationSeconds,
    roleSessionName: str('roleSessionName'),
  };
}

/**
 * The front's admission control (rate limit, injected throttle storms), re-mapped to the restJson1 throttling
 * shape (429 ThrottlingException; the exact RA shape is unverified, iamra-protocol §2.4).
 */
function admit(ctx: SandboxContext): void {
  try {
    ctx.admit(SERVICE, undefined);
  } catch (e) {
    if (e instanceof AwsApiError && e.code === 'Throttling') throw new CreateSessionError(429, 'ThrottlingException', 'Rate exceeded');
    throw e;
  }
}

/**
 * Injected failures (POST /_sandbox/faults), so clients' handling of a failing service can be shown against the
 * real protocol: an outage answering 5xx, a service too slow to answer before the client's timeout, and sessions
 * that end within seconds instead of the 15-minute minimum, so "the last good credentials have expired" happens in
 * test time with the real clock rather than a faked one.
 */
interface IamraFaults {
  /** the next n authenticated CreateSession calls answer 500 InternalServerException; -1: every call until reset */
  iamraServerErrors: number;
  /** every CreateSession waits this long before it is processed */
  iamraDelayMs: number;
  /** issued credentials expire this many seconds after issue instead of after the session duration; 0: off */
  iamraCredentialTtlSeconds: number;
}

export function createIamraService(o: IamraServiceOptions): IamraService {
  const { registry } = o;
  const skewMs = o.maxClockSkewMs ?? 5 * 60_000;
  const trail = cloudTrailSink(o.cloudTrailFile);
  const faults: IamraFaults = { iamraServerErrors: 0, iamraDelayMs: 0, iamraCredentialTtlSeconds: 0 };

  /** Authorization, X-Amz-Date, certificate headers and the signature: who is calling. */
  function authenticate(req: AwsHttpRequest, now: Date): { leaf: ParsedCertificate; intermediates: ParsedCertificate[] } {
    const header = req.headers['authorization'];
    if (!header) throw new CreateSessionError(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
    const auth = parseAuthorization(header);
    if (!auth)
      throw new CreateSessionError(
        400,
        'IncompleteSignatureException',
        "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.",
      );
    const keyType = ALGORITHMS[auth.algorithm];
    if (!keyType) throw new CreateSessionError(400, 'IncompleteSignatureException', `Unsupported AWS 'algorithm': '${auth.algorithm}'.`);

    const xAmzDate = req.headers['x-amz-date'] ?? '';
    const signedAt = amzDateToDate(xAmzDate);
    if (!signedAt)
      throw new CreateSessionError(400, 'IncompleteSignatureException', `X-Amz-Date '${xAmzDate}' must be in the ISO8601 basic format YYYYMMDD'T'HHMMSS'Z'.`);
    // SigV4's own wording for a stale or future request.
    if (signedAt.getTime() < now.getTime() - skewMs) {
      throw new CreateSessionError(
        403,
        'InvalidSignatureException',
        `Signature expired: ${xAmzDate} is now earlier than ${toAmzDate(new Date(now.getTime() - skewMs))} (${toAmzDate(now)} - ${skewMs / 60000} min.)`,
      );
    }
    if (signedAt.getTime() > now.getTime() + skewMs) {
      throw new CreateSessionError(
        403,
        'InvalidSignatureException',
        `Signature not yet current: ${xAmzDate} is still later than ${toAmzDate(new Date(now.getTime() + skewMs))} (${toAmzDate(now)} + ${skewMs / 60000} min.)`,
      );
    }
    if (auth.date !== xAmzDate.slice(0, 8)) {
      throw new CreateSessionError(
        403,
        'InvalidSignatureException',
        `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.date}' != '${xAmzDate.slice(0, 8)}', from '${xAmzDate}'.`,
      );
    }
    if (auth.service !== SERVICE)
      throw new CreateSessionError(403, 'InvalidSignatureException', `Credential should be scoped to correct service: '${SERVICE}'.`);
    if (auth.region !== registry.region)
      throw new CreateSessionError(403, 'InvalidSignatureException', `Credential should be scoped to a valid region. This region is '${registry.region}'.`);
    const signed = new Set(auth.signedHeaders);
    const required = ['host', 'x-amz-date', 'x-amz-x509', ...(req.headers['x-amz-x509-chain'] !== undefined ? ['x-amz-x509-chain'] : [])];
    for (const h of required) {
      if (!signed.has(h)) throw new CreateSessionError(403, 'InvalidSignatureException', `'${h}' must be a 'SignedHeader' in the AWS Authorization.`);
    }

    const leafB64 = req.headers['x-amz-x509'];
    if (!leafB64) throw validation('Missing required header X-Amz-X509');
    let leaf: ParsedCertificate;
    try {
      leaf = parseCertificateDer(Buffer.from(leafB64, 'base64'));
    } catch {
      throw validation('X-Amz-X509 is not a base64 DER X.509 certificate');
    }
    const chainHeader = req.headers['x-amz-x509-chain'];
    const chainParts = chainHeader ? chainHeader.split(',').filter((s) => s.trim() !== '') : [];
    if (chainParts.length > MAX_CHAIN) throw validation(`X-Amz-X509-Chain holds ${chainParts.length} certificates; at most ${MAX_CHAIN} are allowed`);
    let intermediates: ParsedCertificate[];
    try {
      intermediates = chainParts.map((b) => parseCertificateDer(Buffer.from(b.trim(), 'base64')));
    } catch {
      throw validation('X-Amz-X509-Chain is not a comma-separated list of base64 DER X.509 certificates');
    }

    if (auth.credential !== leaf.serial.toString(10)) {
      throw invalidSignature(`Credential=${auth.credential} is not the decimal serial ${leaf.serial.toString(10)} of X-Amz-X509`);
    }
    const leafKeyType = leaf.node.publicKey.asymmetricKeyType;
    if (leafKeyType !== keyType) throw invalidSignature(`${auth.algorithm} does not fit the certificate's ${leafKeyType} key`);

    let creq: string;
    try {
      creq = canonicalRequest({
        method: req.method,
        path: req.path,
        query: req.rawQuery ?? [...req.query],
        headers: req.headers,
        signedHeaders: auth.signedHeaders,
        payloadHash: sha256Hex(req.body),
      });
    } catch (e) {
      throw invalidSignature((e as Error).message);
    }
    const sts = stringToSign(auth.algorithm, xAmzDate, credentialScope(xAmzDate, auth.region, SERVICE), creq);
    let ok = false;
    try {
      ok =
        /^[0-9a-f]+$/i.test(auth.signature) &&
        verify('sha256', Buffer.from(sts, 'utf8'), { key: leaf.node.publicKey, dsaEncoding: 'der' }, Buffer.from(auth.signature, 'hex'));
    } catch {
      ok = false;
    }
    if (!ok) throw invalidSignature('the signature does not verify with the public key of X-Amz-X509 over the recomputed StringToSign');
    return { leaf, intermediates };
  }

  async function createSession(
    ctx: SandboxContext,
    now: Date,
    params: SessionParameters,
    leaf: ParsedCertificate,
    intermediates: ParsedCertificate[],
  ): Promise<Issued> {
    if (params.profileArn === undefined) throw constraint(null, 'profileArn', 'not be null');
    if (params.roleArn === undefined) throw constraint(null, 'roleArn', 'not be null');
    if (params.trustAnchorArn === undefined) throw constraint(null, 'trustAnchorArn', 'not be null');

    const anchor = registry.trustAnchor(params.trustAnchorArn);
    if (!anchor) throw new CreateSessionError(404, 'ResourceNotFoundException', `Trust anchor ${params.trustAnchorArn} was not found`);
    if (!anchor.enabled) throw untrusted(`trust anchor ${anchor.arn} is disabled`);
    const problem = leafProblem(leaf, now);
    if (problem) throw untrusted(problem);
    const chain = buildChain(leaf, intermediates, anchor.certificates, now);
    if (!chain.ok) throw untrusted(chain.reason);

    const profile = registry.profile(params.profileArn);
    if (!profile) throw new CreateSessionError(404, 'ResourceNotFoundException', `Profile ${params.profileArn} was not found`);
    if (!profile.enabled) throw accessDenied('Profile is disabled.');
    if (!profile.roleArns.includes(params.roleArn)) throw accessDenied("Requested Role isn't one of those listed in the Profile.");
    const role = registry.role(params.roleArn);
    if (!role) throw accessDenied(`Unable to assume role for arn: ${params.roleArn}`, 'the role does not exist');

    if (params.roleSessionName !== undefined) {
      if (!profile.acceptRoleSessionName) throw accessDenied('Not authorized to set roleSessionName.');
      if (!SESSION_NAME.test(params.roleSessionName))
        throw constraint(params.roleSessionName, 'roleSessionName', 'satisfy regular expression pattern: [\\w+=,.@-]{2,64}');
    }
    if (params.durationSeconds !== undefined) {
      if (params.durationSeconds < MIN_DURATION)
        throw constraint(params.durationSeconds, 'durationSeconds', `have value greater than or equal to ${MIN_DURATION}`);
      if (params.durationSeconds > MAX_DURATION)
        throw constraint(params.durationSeconds, 'durationSeconds', `have value less than or equal to ${MAX_DURATION}`);
    }
    // "Expiration = now + min(profile.durationSeconds, request.durationSeconds)" (§2.3).
    const duration = Math.min(profile.durationSeconds, params.durationSeconds ?? profile.durationSeconds);
    if (duration > role.maxSessionDuration) throw validation('The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');

    const tags = mapSessionTags(leaf, profile.attributeMappings);
    if (!tags.ok) throw accessDenied(tags.message);
    const sessionName = params.roleSessionName ?? serialHex(leaf.serial);
    const identity = sourceIdentity(leaf);

    const context: Record<string, string | string[]> = {
      'aws:SourceArn': anchor.arn,
      'aws:SourceAccount': registry.accountId,
      'aws:CurrentTime': isoSeconds(now),
      'aws:EpochTime': String(Math.floor(now.getTime() / 1000)),
      'sts:RoleSessionName': sessionName,
      'sts:SourceIdentity': identity,
      'aws:TagKeys': Object.keys(tags.tags),
    };
    for (const [k, v] of Object.entries(tags.tags)) {
      context[`aws:PrincipalTag/${k}`] = v;
      context[`aws:RequestTag/${k}`] = v;
    }
    const decision = await evaluateTrustPolicy(role, registry.accountId, context);
    if (!decision.allowed) throw accessDenied(`Unable to assume role for arn: ${role.arn}`, `trust policy: ${decision.action} ${decision.result}`);

    const accessKeyId = generateAccessKeyId('ASIA');
    const secretAccessKey = generateSecretAccessKey();
    const sessionToken = randomBytes(192).toString('base64');
    const lifetime = faults.iamraCredentialTtlSeconds > 0 ? faults.iamraCredentialTtlSeconds : duration;
    const expiration = new Date(Math.floor(now.getTime() / 1000) * 1000 + lifetime * 1000);
    const principalArn = `arn:aws:sts::${registry.accountId}:assumed-role/${role.name}/${sessionName}`;
    const assumedRoleId = `${role.roleId}:${sessionName}`;
    ctx.principals.add({
      arn: principalArn,
      accountId: registry.accountId,
      roleArn: role.arn,
      userId: assumedRoleId,
      accessKeyId,
      secretAccessKey,
      sessionToken,
      expiration,
      policies: role.permissionPolicies,
      sessionTags: tags.tags,
    });
    // packedPolicySize: the session tags' share of STS's packed 2048-byte budget, in percent.
    const packedPolicySize = Math.min(100, Math.ceil((JSON.stringify(tags.tags).length * 100) / 2048));
    const subjectArn = `arn:aws:rolesanywhere:${registry.region}:${registry.accountId}:subject/${subjectId(leaf)}`;
    const assumedRoleUser = { arn: principalArn, assumedRoleId };
    const body = {
      credentialSet: [
        {
          assumedRoleUser,
          credentials: { accessKeyId, expiration: isoSeconds(expiration), secretAccessKey, sessionToken },
          packedPolicySize,
          roleArn: role.arn,
          sourceIdentity: identity,
        },
      ],
      subjectArn,
    };
    return {
      body,
      principalArn,
      event: {
        credentialSet: [{ assumedRoleUser, credentials: { accessKeyId, expiration: isoSeconds(expiration) }, roleArn: role.arn, sourceIdentity: identity }],
        subjectArn,
        x509Subject: subjectString(leaf),
      },
    };
  }

  return {
    name: SERVICE,
    get events() {
      return trail.events;
    },
    matches: (req) => req.method === 'POST' && req.path === '/sessions',
    applyFaults(f) {
      const taken: string[] = [];
      for (const k of Object.keys(faults) as (keyof IamraFaults)[]) {
        if (!(k in f)) continue;
        const v = Number(f[k]);
        faults[k] = Number.isFinite(v) ? v : 0;
        taken.push(k);
      }
      return taken;
    },
    faults: () => ({ ...faults }),
    /**
     * Loopback admin at /_sandbox/rolesanywhere/<action>: `GET events` (the CloudTrail events), `GET registry` (the
     * spec with generated ids), `POST delete-attribute-mapping` and `POST put-attribute-mapping`
     * ({profileArn, certificateField, specifiers?}), `POST update-profile` ({profileArn, acceptRoleSessionName}) and
     * `POST update-assume-role-policy` ({roleArn, policyDocument}), as the AWS CLI commands of the same names.
     */
    async admin(action, method, body) {
      const b = (body ?? {}) as {
        profileArn?: string;
        roleArn?: string;
        certificateField?: CertificateField;
        specifiers?: string[];
        acceptRoleSessionName?: boolean;
        policyDocument?: PolicyDocument;
      };
      switch (`${method} ${action}`) {
        case 'GET events':
          return { events: trail.events };
        case 'GET registry':
          return registry.toSpec();
        case 'POST delete-attribute-mapping':
          registry.deleteAttributeMapping(String(b.profileArn), b.certificateField as CertificateField, b.specifiers);
          return { profile: registry.profile(String(b.profileArn)) };
        case 'POST put-attribute-mapping':
          registry.putAttributeMapping(String(b.profileArn), b.certificateField as CertificateField, b.specifiers ?? ['*']);
          return { profile: registry.profile(String(b.profileArn)) };
        case 'POST update-profile':
          registry.setAcceptRoleSessionName(String(b.profileArn), b.acceptRoleSessionName === true);
          return { profile: registry.profile(String(b.profileArn)) };
        case 'POST update-assume-role-policy':
          registry.updateAssumeRolePolicy(String(b.roleArn), b.policyDocument as PolicyDocument);
          return { role: registry.role(String(b.roleArn)) };
        default:
          throw new AgentError({
            code: 'SANDBOX_ADMIN_UNKNOWN',
            component: 'sandbox.iamra',
            message: `no admin action ${method} ${action}`,
            hint: 'use GET events, GET registry, POST delete-attribute-mapping, put-attribute-mapping, update-profile or update-assume-role-policy',
          });
      }
    },
    async handle(req, ctx): Promise<AwsHttpResponse> {
      if (faults.iamraDelayMs > 0) await ctx.clock.sleep(faults.iamraDelayMs);
      const now = ctx.clock.now();
      const requestId = ctx.requestId;
      let params: SessionParameters | null = null;
      let leaf: ParsedCertificate | undefined;
      let response: AwsHttpResponse;
      let issued: Issued | undefined;
      let failure: CreateSessionError | undefined;
      try {
        const who = authenticate(req, now);
        leaf = who.leaf;
        if (faults.iamraServerErrors !== 0) {
          if (faults.iamraServerErrors > 0) faults.iamraServerErrors--;
          throw new CreateSessionError(500, 'InternalServerException', 'An internal error has occurred.', 'sandbox fault iamraServerErrors');
        }
        admit(ctx);
        params = readParams(req);
        issued = await createSession(ctx, now, params, who.leaf, who.intermediates);
        response = { status: 201, headers: { 'content-type': 'application/json', 'x-amzn-requestid': requestId }, body: JSON.stringify(issued.body) };
      } catch (e) {
        failure = e instanceof CreateSessionError ? e : new CreateSessionError(500, 'InternalServerException', 'Internal server error', (e as Error).message);
        // restJson1 errors: the type in X-Amzn-ErrorType, the text in `message` (read by the Go SDK and by boto).
        response = {
          status: failure.status,
          headers: { 'content-type': 'application/json', 'x-amzn-errortype': failure.code, 'x-amzn-requestid': requestId },
          body: JSON.stringify({ message: failure.message }),
        };
      }
      if (params === null) {
        try {
          params = readParams(req);
        } catch {
          params = null;
        }
      }
      const event = createSessionRecord({
        time: now,
        requestId,
        eventId: randomUUID(),
        region: registry.region,
        accountId: registry.accountId,
        sourceIp: req.remoteAddress,
        userAgent: req.headers['user-agent'] ?? '',
        params,
        ...(leaf && { certificate: { subject: subjectString(leaf), issuer: issuerString(leaf), serialHex: serialHex(leaf.serial) } }),
        ...(issued && { issued: issued.event }),
        ...(failure && { failure: { code: failure.code, message: failure.message, ...(failure.reason !== undefined && { reason: failure.reason }) } }),
      });
      await trail.append(event);
      ctx.record({
        time: event.eventTime,
        service: SERVICE,
        action: 'CreateSession',
        ...(issued && { principalArn: issued.principalArn }),
        ...(params?.roleArn !== undefined && { resource: params.roleArn }),
        status: response.status,
        ...(failure && { errorCode: failure.code }),
        detail: { ...event.additionalEventData, ...(params?.roleSessionName !== undefined && { roleSessionName: params.roleSessionName }) },
      });
      return response;
    },
  };
}
