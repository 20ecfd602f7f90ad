import { createWriteStream } from 'node:fs';
import type { CommandModule } from 'yargs';
import type { ServeOptions } from '../compose/serve.js';
import { SERVE_PLAN_FD_ENV, type ServePlan } from './serve-front.js';
import type { DropInFlags } from '../compose/dropin.js';
import type { CliDeps, GlobalArgs } from './context.js';
import { helperOptions } from './dropin.js';
import { runCommand, runtimeOf } from './run.js';

interface Args extends GlobalArgs {
  listen?: string;
  socket?: string;
  endpoint?: string;
  withProxy?: boolean;
  port?: number;
  hopLimit?: number;
  certificate?: string;
  debug?: boolean;
}

export function serveCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'serve',
    describe: 'IMDSv2-compatible credentials endpoint (loopback TCP or unix socket), plus container credentials',
    builder: (y) =>
      helperOptions(y, { arnOverrides: false })
        .option('listen', { type: 'string', describe: 'host:port on loopback (default vend.serve.listen, 127.0.0.1:9911)' })
        .option('socket', { type: 'string', describe: 'unix socket path instead of TCP (default vend.serve.socket)' })
        .option('endpoint', { type: 'string', describe: "CreateSession endpoint URL (default rolesAnywhere.endpoint, else the region's)" })
        // the AWS credential helper's serve flags: --port N is 127.0.0.1:N, as the helper listens
        .option('port', {
          type: 'number',
          describe: 'TCP port on 127.0.0.1 (the AWS credential helper flag; same as --listen 127.0.0.1:PORT; with --certificate default 9911)',
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
        .check((argv) => {
          if (argv.certificate !== undefined && (argv.listen !== undefined || argv.socket !== undefined)) {
            throw new Error('--certificate (drop-in) serves on 127.0.0.1:--port, as the AWS credential helper does; --listen and --socket need a config file');
          }
          return true;
        })
        .example(
          '$0 serve & AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9911/ aws sts get-caller-identity',
          'vend credentials to every AWS client on the host',
        )
        .example(
          '$0 serve --certificate c.pem --private-key k.pem --trust-anchor-arn … --profile-arn … --role-arn …',
          'an AWS credential helper serve line with the binary name changed: no config file needed',
        ),
    handler: async (a) => {
      const args = a as unknown as Args;
      if (args.debug) args.logLevel = 'debug';
      setExit(
        await runCommand(deps, args, async (logger) => {
          const planFd = deps.io.env[SERVE_PLAN_FD_ENV];
          const log = { logLevel: args.logLevel, logFormat: args.logFormat ?? (deps.io.isTTY ? 'text' : 'json') } as const;
          if (args.certificate !== undefined) {
            // the helper's way: the identity on the command line, no config file, nothing to reload
            const dropIn = {
              flags: dropInFlags(args as unknown as DropInFlags),
              options: { ...(args.port !== undefined ? { port: args.port } : {}), ...(args.hopLimit !== undefined ? { hopLimit: args.hopLimit } : {}) },
            };
            if (planFd !== undefined) {
              await writePlan(Number(planFd), { dropIn, ...log });
              return 0;
            }
            const { serveDropIn } = await import('../compose/dropin-vend.js');
            await serveDropIn(dropIn.flags, runtimeOf(deps, logger), dropIn.options);
            return 0;
          }
          const cfg = await deps.loadConfig(args);
          const options: ServeOptions = {
            // --port N is the AWS credential helper's 127.0.0.1:N (yargs keeps it exclusive with --listen/--socket)
            ...(args.port !== undefined ? { listen: `127.0.0.1:${args.port}` } : args.listen !== undefined ? { listen: args.listen } : {}),
            ...(args.socket !== undefined ? { socket: args.socket } : {}),
            ...(args.hopLimit !== undefined ? { hopLimit: args.hopLimit } : {}),
            ...(args.endpoint !== undefined ? { endpoint: args.endpoint } : {}),
            ...(args.withProxy !== undefined ? { withProxy: args.withProxy } : {}),
          };
          // the planning child of cli/serve-front.ts: hand the resolved plan to the lean process that serves it
          if (planFd !== undefined) {
            // the overrides are applied (and validated) here, so the serving process needs no config schema
            const { withOverrides } = await import('../compose/vend.js');
            const { endpoint, withProxy, ...rest } = options;
            await writePlan(Number(planFd), { cfg: await withOverrides(cfg, { endpoint, withProxy }), options: rest, ...log });
            return 0;
          }
          // the IMDS server and the watcher load on use, so every other command starts fast
          const { serveCredentials } = await import('../compose/serve.js');
          await serveCredentials(cfg, runtimeOf(deps, logger), options);
          return 0;
        }),
      );
    },
  };
}

function writePlan(fd: number, plan: ServePlan): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = createWriteStream('', { fd });
    out.on('error', reject);
    out.end(JSON.stringify(plan), () => resolve());
  });
}

/** The drop-in flags alone (yargs' argv also holds aliases and globals), as plain data for the plan. */
function dropInFlags(a: DropInFlags): DropInFlags {
  const keys: (keyof DropInFlags)[] = [
    'certificate',
    'privateKey',
    'intermediates',
    'trustAnchorArn',
    'profileArn',
    'roleArn',
    'region',
    'endpoint',
    'sessionDuration',
    'roleSessionName',
    'pkcs11Lib',
    'pinFile',
    'reusePin',
    'verifySsl',
    'tpmKeyPassword',
    'withProxy',
  ];
  return Object.fromEntries(keys.filter((k) => a[k] !== undefined).map((k) => [k, a[k]])) as unknown as DropInFlags;
}
