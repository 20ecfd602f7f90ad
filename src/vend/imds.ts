import { promises as fsp } from 'node:fs';
import http from 'node:http';
import type { Clock } from '../core/clock.js';
import { AgentError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { AwsCredentials, Provider } from '../core/provider.js';
import { closeServer, listenTcp, listenUnix, type TcpListen, type UnixListen } from './imds/listen.js';
import { installHotLane } from './imds/hot-lane.js';
import { imdsRoutes } from './imds/routes.js';
import { createTokenIssuer } from './imds/tokens.js';

export { CONTAINER_CREDENTIALS_PATH } from './imds/routes.js';
export { readContainerToken } from './imds/container-token.js';

/** EC2 caps IMDSv2 session tokens at 6 hours. */
export const MAX_TOKEN_TTL_SECONDS = 21600;

export type ImdsListen = TcpListen | UnixListen;

export interface ImdsOptions {
  /** role name (the last segment of the role ARN) → its credentials; one server vends several roles */
  roles: Map<string, Provider<AwsCredentials>>;
  listen: ImdsListen;
  clock: Clock;
  logger: Logger;
  /**
   * Enables the container-credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI +
   * AWS_CONTAINER_AUTHORIZATION_TOKEN): requests must carry exactly this value in Authorization.
   */
  containerToken?: string;
  /** role served at /v1/credentials (without a role segment); default: the only role */
  containerRole?: string;
  /** upper bound for X-aws-ec2-metadata-token-ttl-seconds; default and maximum 21600 */
  maxTokenTtl?: number;
}

export interface ImdsServer {
  /** http://host:port/ (TCP, with the trailing slash AWS_EC2_METADATA_SERVICE_ENDPOINT needs) */
  url?: string;
  /** unix socket path */
  socket?: string;
  /** the hop limit read back from the listening socket after setting it (TCP with hopLimit only) */
  hopLimit?: number;
  /** the underlying server, e.g. to observe connections */
  server: http.Server;
  close(): Promise<void>;
}

/**
 * An IMDSv2-compatible credentials endpoint (the subset AWS SDKs and the AWS CLI use), following
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html and the AWS
 * credential helper's `serve` (reference/iamra-protocol.md §4.4), plus the container-credentials protocol.
 * Differences from the helper, deliberate: a missing TTL header is a 400 (as on EC2), unknown paths below
 * security-credentials/ are 404, a provider failure is a 503 with an error body, never a 200 with empty fields
 * (an SDK would cache those), a Host that does not name this endpoint is a 403 (DNS rebinding, imds/host.ts), and
 * tokens are stateless (imds/tokens.ts), so no client can evict another's.
 *
 * Several roles: the listing names them one per line, but the AWS CLI and SDKs take the whole listing as one role
 * name (an EC2 instance profile has exactly one role) and the JS SDK drops any base path of
 * AWS_EC2_METADATA_SERVICE_ENDPOINT. So standard IMDS clients need a server with one role; for several roles on one
 * server, point each client at its role's container URI, http://host:port/v1/credentials/<roleName>.
 */
export async function startImdsServer(o: ImdsOptions): Promise<ImdsServer> {
  validateRoles(o);
  const unixSocket = 'socket' in o.listen;
  const routes = imdsRoutes({
    roles: o.roles,
    tokens: createTokenIssuer(o.clock),
    maxTtl: Math.min(o.maxTokenTtl ?? MAX_TOKEN_TTL_SECONDS, MAX_TOKEN_TTL_SECONDS),
    clock: o.clock,
    logger: o.logger,
    ...(o.containerToken !== undefined ? { containerToken: o.containerToken } : {}),
    ...(o.containerRole !== undefined ? { containerRole: o.containerRole } : {}),
    unixSocket,
  });
  const server = http.createServer(routes.handle);
  const lane = installHotLane(server, routes.hot, { unixSocket });

  if ('socket' in o.listen) {
    const { socket, mode = 0o660, group } = o.listen;
    await listenUnix(server, o.listen);
    o.logger.info('imds listening', { socket, mode: mode.toString(8), group });
    return {
      socket,
      server,
      close: async () => {
        lane.closeAll();
        await closeServer(server);
        await fsp.rm(socket, { force: true });
      },
    };
  }
  const { url, hopLimit } = await listenTcp(server, o.listen, o.logger);
  o.logger.info('imds listening', { url, hopLimit });
  return {
    url,
    server,
    ...(hopLimit !== undefined ? { hopLimit } : {}),
    close: () => {
      lane.closeAll();
      return closeServer(server);
    },
  };
}

function validateRoles(o: ImdsOptions): void {
  if (o.roles.size === 0)
    throw new AgentError({ code: 'VEND_NO_ROLES', component: 'vend', message: 'serve needs at least one role', hint: 'configure rolesAnywhere.roleArn' });
  for (const name of o.roles.keys()) {
    if (!/^[\w+=,.@-]{1,64}$/.test(name)) {
      throw new AgentError({
        code: 'VEND_BAD_ROLE_NAME',
        component: 'vend',
        message: `role name ${JSON.stringify(name)} is not an IAM role name`,
        hint: 'use the last segment of the role ARN (letters, digits, +=,.@_-)',
      });
    }
  }
  if (o.containerToken !== undefined) {
    if (o.containerToken === '' || /[\r\n]/.test(o.containerToken)) {
      throw new AgentError({
        code: 'VEND_BAD_CONTAINER_TOKEN',
        component: 'vend',
        message: 'the container authorization token is empty or contains a line break',
        hint: 'write a single-line token to vend.serve.containerTokenFile',
      });
    }
    const role = o.containerRole ?? (o.roles.size === 1 ? [...o.roles.keys()][0] : undefined);
    if (role === undefined || !o.roles.has(role)) {
      throw new AgentError({
        code: 'VEND_CONTAINER_ROLE',
        component: 'vend',
        message: `container credentials role ${role ?? '(unset)'} is not one of ${[...o.roles.keys()].join(', ')}`,
        hint: 'set containerRole to one of the served roles',
      });
    }
  }
}
