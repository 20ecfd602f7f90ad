import { once } from 'node:events';
import type { CommandModule } from 'yargs';
import { AgentError } from '../core/errors.js';
import type { ImdsListen } from '../vend/imds.js';
import type { CliDeps, GlobalArgs } from './context.js';
import { runCommand } from './run.js';

interface Args extends GlobalArgs {
  listen?: string;
  socket?: string;
  endpoint?: string;
  port?: number;
  hopLimit?: number;
}

/** How long an IMDS request waits for a refresh before it is answered with the last good credentials. */
const REFRESH_WAIT_MS = 300;

export function serveCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'serve',
    describe: 'IMDSv2-compatible credentials endpoint (loopback TCP or unix socket), plus container credentials',
    builder: (y) =>
      y
        .option('listen', { type: 'string', describe: 'host:port on loopback (default vend.serve.listen, 127.0.0.1:9911)' })
        .option('socket', { type: 'string', describe: 'unix socket path instead of TCP (default vend.serve.socket)' })
        .option('endpoint', { type: 'string', describe: "CreateSession endpoint URL (default rolesAnywhere.endpoint, else the region's)" })
        // the AWS credential helper's serve flags: --port N is 127.0.0.1:N, as the helper listens
        .option('port', {
          type: 'number',
          describe: 'TCP port on 127.0.0.1 (the AWS credential helper flag; same as --listen 127.0.0.1:PORT)',
          conflicts: ['listen', 'socket'],
        })
        .option('hop-limit', {
          type: 'number',
          describe: 'IP TTL of responses, 1-255 (default vend.serve.hopLimit, 1)',
          coerce: (v: number) => {
            if (!Number.isInteger(v) || v < 1 || v > 255) throw new Error(`--hop-limit must be an integer 1-255, got ${v}`);
            return v;
          },
        })
        .example(
          '$0 serve & AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9911/ aws sts get-caller-identity',
          'vend credentials to every AWS client on the host',
        ),
    handler: async (a) => {
      const args = a as unknown as Args;
      setExit(
        await runCommand(deps, args, async (logger) => {
          const [{ CONTAINER_CREDENTIALS_PATH, readContainerToken, startImdsServer }, { watchLive }, { lastGoodWhileRefreshing, openVend }] = await Promise.all(
            [import('../vend/imds.js'), import('../vend/reload.js'), import('../vend/wiring.js')],
          );
          const cfg = await deps.loadConfig(args);
          const s = cfg.vend.serve;
          const vend = await openVend(cfg, { clock: deps.clock, logger, signal: deps.signal }, args.endpoint !== undefined ? { endpoint: args.endpoint } : {});
          const provider = lastGoodWhileRefreshing(vend.provider, { clock: deps.clock }, REFRESH_WAIT_MS);
          const socket = args.socket ?? (args.listen === undefined ? s.socket : undefined);
          const listen: ImdsListen =
            socket !== undefined
              ? { socket, mode: 0o660, ...(s.socketGroup ? { group: s.socketGroup } : {}) }
              : { ...parseListen(args.port !== undefined ? `127.0.0.1:${args.port}` : (args.listen ?? s.listen)), hopLimit: args.hopLimit ?? s.hopLimit };
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
              clock: deps.clock,
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
            if (!deps.signal.aborted) await once(deps.signal, 'abort');
            await server.close();
            logger.info('stopped serving credentials');
          } finally {
            await watcher.close();
          }
          return 0;
        }),
      );
    },
  };
}

/** host:port, [v6]:port */
function parseListen(v: string): { host: string; port: number } {
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
