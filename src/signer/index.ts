/**
 * The embedded IAM Roles Anywhere client: AWS4-X509 signing of CreateSession, endpoint resolution, local
 * pre-flight checks, the CreateSession call, and the memoised credentials provider the vending code uses.
 */
export {
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
  type CanonicalHeaders,
  type CanonicalRequestInput,
  type HeaderInput,
  type ParsedAuthorization,
} from './canonical.js';
export {
  CREATE_SESSION_PATH,
  MAX_CHAIN,
  SERVICE,
  algorithmFor,
  serialDecimal,
  signCreateSession,
  type SignCreateSessionInput,
  type SignedCreateSession,
  type X509Algorithm,
} from './sign.js';
export {
  checkAnchorAndProfile,
  checkArns,
  checkBeforeCreateSession,
  checkChain,
  checkDuration,
  checkKeyMatchesCertificate,
  checkRoleSessionName,
  checkValidity,
  parseArn,
  parseCertificates,
  parseLeaf,
  type Arn,
  type ArnKind,
  type CheckedAnchor,
  type CheckedArns,
  type PreflightInput,
} from './checks.js';
export {
  PARTITIONS,
  endpointInputOf,
  isLoopbackHost,
  partitionOfRegion,
  resolveEndpoint,
  type EndpointInput,
  type Partition,
  type ResolvedEndpoint,
} from './endpoint.js';
export {
  createSession,
  parseServiceError,
  type CreateSessionDeps,
  type CreateSessionInput,
  type CreateSessionOptions,
  type SessionCredentials,
} from './client.js';
export {
  credentialsProvider,
  type CredentialsProvider,
  type CredentialsProviderOptions,
  type CredentialsProviderStatus,
  type ProviderFailure,
} from './provider.js';
