/**
 * Composition of `serve`: the vending provider behind the IMDSv2 server (and container credentials), following the
 * live identity (hot reload) until the signal fires.
 */
import { once } from 'node:events';
import type { AgentConfig } from '../config/schema.js';
import { AgentError } from '../core/errors.js';
import { CONTAINER_CREDENTIALS_PATH, readContainerToken, startImdsServer, type ImdsListen } from '../vend/imds.js';
import { lastGoodWhileRefreshing } from '../vend/last-good.js';
import { watchLive } from '../vend/reload.js';
import type { Runtime } from './runtime.js';
import { openVend } from './vend.js';

/** How long an IMDS request waits for a refresh before it is answered with the last good credentials. */
const REFRESH_WAIT_MS = 300;

export interface ServeOptions {
  /** host:port; wins over vend.serve.listen and vend.serve.socket */
  listen?: string;
  /** unix socket path; wins over vend.serve.socket */
  socket?: string;
  endpoint?: string;
  /** --with-proxy: rolesAnywhere.withProxy */
  withProxy?: boolean;
  /** IP TTL of TCP responses; wins over vend.serve.hopLimit */
  hopLimit?: number;
}

/** Serves until rt.signal fires; resolves once the server and the watcher are closed. */
export async function serveCredentials(cfg: AgentConfig, rt: Runtime, o: ServeOptions): Promise<void> {
  const { clock, logger, signal } = rt;
  const s = cfg.vend.serve;
  const vend = await openVend(cfg, rt, { endpoint: o.endpoint, withProxy: o.withProxy });
  const provider = lastGoodWhileRefreshing(vend.provider, { clock }, REFRESH_WAIT_MS);
  const socket = o.socket ?? (o.listen === undefined ? s.socket : undefined);
  const listen: ImdsListen =
    socket !== undefined
      ? { socket, mode: 0o660, ...(s.socketGroup ? { group: s.socketGroup } : {}) }
      : { ...parseListen(o.listen ?? s.listen), hopLimit: o.hopLimit ?? s.hopLimit };
  const containerToken = s.containerTokenFile ? await readContainerToken(s.containerTokenFile) : undefined;
  const watcher = await watchLive(
    vend.stateDir,
    async () => {
      if (await vend.reload()) provider.invalidate();
    },
    logger,
  );
  try {
    // a switch between reading the identity and the watch starting would otherwise go unnoticed
    if (await vend.reload()) provider.invalidate();
    const server = await startImdsServer({
      roles: new Map([[vend.roleName, provider]]),
      listen,
      clock,
      logger,
      ...(containerToken !== undefined ? { containerToken } : {}),
    });
    const id = vend.identity();
    logger.info('serving credentials', {
      ...(server.url ? { url: server.url } : { socket: server.socket }),
      role: vend.roleName,
      ...(containerToken !== undefined && server.url ? { containerUri: new URL(CONTAINER_CREDENTIALS_PATH, server.url).href } : {}),
      version: id.version,
      serial: id.serial,
    });
    // Warm the cache so the first client does not wait for CreateSession; a failure here is logged by the
    // provider and answered as 503 until it works.
    provider.get().catch(() => undefined);
    if (!signal.aborted) await once(signal, 'abort');
    await server.close();
    logger.info('stopped serving credentials');
  } finally {
    await watcher.close();
  }
}

/** host:port, [v6]:port */
export function parseListen(v: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new AgentError({
      code: 'CONFIG_INVALID',
      component: 'config',
      message: `listen address ${JSON.stringify(v)} is not host:port`,
      hint: 'e.g. 127.0.0.1:9911 or [::1]:9911',
    });
  }
  return { host: (m[1] ?? m[2])!, port };
}
