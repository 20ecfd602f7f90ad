/** Puts the IMDS server on a loopback TCP address (with an optional hop limit) or on a unix socket. */
import { promises as fsp } from 'node:fs';
import type http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { AgentError, formatError } from '../../core/errors.js';
import { groupId } from '../../core/groups.js';
import { isLoopbackHost } from '../../core/net.js';
import type { Logger } from '../../core/logger.js';
import { setListenerHopLimit } from './hop-limit.js';

export interface TcpListen {
  host: string;
  /** 0 = ephemeral (tests) */
  port: number;
  /**
   * IP TTL (IPv4) / unicast hop limit (IPv6) of every accepted connection. 1 gives EC2 IMDSv2 parity: a reply
   * cannot cross a router, e.g. out of a container bridge. Omitted: the kernel default (64) is left alone.
   */
  hopLimit?: number;
}

export interface UnixListen {
  socket: string;
  /** default 0o660: owner and group may connect (connect(2) on a unix socket needs write permission) */
  mode?: number;
  /** group name (looked up in /etc/group) or numeric gid that may connect */
  group?: string;
}

/** Listens on host:port; resolves with the URL clients use and the hop limit read back from the socket. */
export async function listenTcp(server: http.Server, o: TcpListen, logger: Logger): Promise<{ url: string; hopLimit?: number }> {
  await listen(server, { host: o.host, port: o.port }, `${o.host}:${o.port}`);
  if (!isLoopbackHost(o.host))
    logger.warn('imds listening beyond loopback', {
      host: o.host,
      hint: 'any host that reaches this address gets credentials; prefer 127.0.0.1 or a unix socket',
    });
  const addr = server.address() as net.AddressInfo;
  let applied: number | undefined;
  if (o.hopLimit !== undefined) {
    try {
      applied = await setListenerHopLimit(server, addr.family === 'IPv6' ? 6 : 4, o.hopLimit);
    } catch (e) {
      await closeServer(server);
      throw e;
    }
  }
  const hostPart = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return { url: `http://${hostPart}:${addr.port}/`, ...(applied !== undefined ? { hopLimit: applied } : {}) };
}

/**
 * Listens on a unix socket that is never reachable with a wider mode than `mode`. bind(2) creates the socket file
 * with the process umask's mode (0777 under umask 000) and Node has no way to pass a mode, so the socket is bound
 * inside a fresh 0700 directory next to its final path (same file system), given its mode and group there, and only
 * then renamed into place: before the rename nobody else can reach it (connect(2) needs search permission on the
 * directory), after it the file already has its final mode. Changing the process umask instead would race every
 * other file the process creates meanwhile.
 */
export async function listenUnix(server: http.Server, o: UnixListen): Promise<void> {
  const { socket, mode = 0o660 } = o;
  const gid = o.group === undefined ? undefined : await resolveGroup(o.group);
  await removeStaleSocket(socket);
  let dir: string;
  try {
    dir = await fsp.mkdtemp(path.join(path.dirname(socket), '.imds'));
    await fsp.chmod(dir, 0o700); // mkdtemp asks for 0700, but a umask such as 0777 would narrow even that
  } catch (e) {
    throw new AgentError({
      code: 'VEND_LISTEN',
      component: 'vend',
      message: `cannot listen on ${socket}: cannot create a private directory in ${path.dirname(socket)}: ${(e as NodeJS.ErrnoException).code ?? formatError(e)}`,
      hint: 'the agent needs write permission on the socket directory; point vend.serve.socket at a path in the runtime directory',
      cause: e,
    });
  }
  const bound = path.join(dir, 's');
  try {
    await listen(server, { path: bound }, socket);
    try {
      await fsp.chmod(bound, mode);
      if (gid !== undefined) await fsp.chown(bound, -1, gid);
    } catch (e) {
      throw new AgentError({
        code: 'VEND_SOCKET_MODE',
        component: 'vend',
        message: `cannot set mode/group of ${socket}: ${(e as NodeJS.ErrnoException).code ?? formatError(e)}`,
        hint: 'the agent must own the socket and belong to the group it hands it to',
        cause: e,
      });
    }
    await fsp.rename(bound, socket);
  } catch (e) {
    if (server.listening) await closeServer(server);
    throw e instanceof AgentError
      ? e
      : new AgentError({
          code: 'VEND_LISTEN',
          component: 'vend',
          message: `cannot listen on ${socket}: ${(e as NodeJS.ErrnoException).code ?? formatError(e)}`,
          hint: 'check vend.serve.socket',
          cause: e,
        });
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

/** Stops accepting and drops kept-alive connections (SDKs keep them open; close() alone would wait for them). */
export function closeServer(server: http.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function listen(server: http.Server, opts: net.ListenOptions, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      reject(
        new AgentError({
          code: 'VEND_LISTEN',
          component: 'vend',
          message: `cannot listen on ${what}: ${e.code ?? e.message}`,
          hint:
            e.code === 'EADDRINUSE'
              ? 'another process (another iamra-agent serve?) uses it; pick another port/socket'
              : 'check vend.serve.listen / vend.serve.socket',
          cause: e,
        }),
      );
    };
    server.once('error', onError);
    server.listen(opts, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

async function resolveGroup(group: string): Promise<number> {
  const gid = await groupId(group);
  if (gid !== undefined) return gid;
  throw new AgentError({
    code: 'VEND_UNKNOWN_GROUP',
    component: 'vend',
    message: `group ${group} not found in /etc/group`,
    hint: 'create the group (groupadd) or set vend.serve.socketGroup to an existing one',
  });
}

/**
 * A socket file left by a crashed run blocks the path. Remove it only if nobody answers on it (ECONNREFUSED); a
 * live server keeps its socket and we fail instead. Non-socket files are never removed.
 */
async function removeStaleSocket(file: string): Promise<void> {
  const st = await fsp.lstat(file).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket()) {
    throw new AgentError({
      code: 'VEND_SOCKET_PATH',
      component: 'vend',
      message: `${file} exists and is not a socket`,
      hint: 'point vend.serve.socket at a path in the runtime directory',
    });
  }
  const alive = await new Promise<boolean>((resolve) => {
    const c = net.connect({ path: file });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive)
    throw new AgentError({
      code: 'VEND_SOCKET_IN_USE',
      component: 'vend',
      message: `another server is listening on ${file}`,
      hint: 'stop the other iamra-agent serve, or use another socket path',
    });
  await fsp.rm(file, { force: true });
}
