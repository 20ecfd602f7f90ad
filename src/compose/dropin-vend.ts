/**
 * `serve` and `update` the AWS credential helper's way: the identity from the command line (compose/dropin.ts), no
 * config file and no identity store, so there is nothing to reload — the certificate and key named are used until
 * the process stops, as the helper does. Credentials are refreshed 5 minutes before expiry (the helper's rule and
 * vend.refreshBefore's default).
 */
import { once } from 'node:events';
import { createSession, credentialsProvider, type CredentialsProvider } from '../signer/index.js';
import { defaultCredentialsFile, runUpdater } from '../vend/credfile.js';
import { startImdsServer } from '../vend/imds.js';
import { lastGoodWhileRefreshing } from '../vend/last-good.js';
import { dropInRequest, type DropInFlags } from './dropin.js';
import type { Runtime } from './runtime.js';

const REFRESH_BEFORE_MS = 5 * 60_000;
/** How long an IMDS request waits for a refresh before it is answered with the last good credentials (as serve). */
const REFRESH_WAIT_MS = 300;
/** the helper's `serve --port` default */
export const HELPER_PORT = 9911;

async function dropInProvider(f: DropInFlags, rt: Runtime): Promise<{ provider: CredentialsProvider; roleName: string }> {
  const req = await dropInRequest(f, rt.env);
  const deps = { clock: rt.clock, logger: rt.logger };
  const provider = credentialsProvider(deps, () => createSession(deps, req, { signal: rt.signal }), { refreshBeforeMs: REFRESH_BEFORE_MS });
  return { provider, roleName: req.roleArn.slice(req.roleArn.lastIndexOf('/') + 1) };
}

/** Serves IMDSv2 on 127.0.0.1:port (the helper's address) until rt.signal fires. */
export async function serveDropIn(f: DropInFlags, rt: Runtime, o: { port?: number; hopLimit?: number }): Promise<void> {
  const { provider: inner, roleName } = await dropInProvider(f, rt);
  const provider = lastGoodWhileRefreshing(inner, { clock: rt.clock }, REFRESH_WAIT_MS);
  const server = await startImdsServer({
    roles: new Map([[roleName, provider]]),
    // hop limit 1 unless asked: the agent's default (vend.serve.hopLimit), so a reply cannot leave the host
    listen: { host: '127.0.0.1', port: o.port ?? HELPER_PORT, hopLimit: o.hopLimit ?? 1 },
    clock: rt.clock,
    logger: rt.logger,
  });
  rt.logger.info('serving credentials', { url: server.url, role: roleName, certificate: f.certificate });
  // warm the cache so the first client does not wait for CreateSession; a failure is answered as 503 until it works
  provider.get().catch(() => undefined);
  if (!rt.signal.aborted) await once(rt.signal, 'abort');
  await server.close();
  rt.logger.info('stopped serving credentials');
}

/** Writes the profile (default "default") in ~/.aws/credentials once, or keeps it fresh until rt.signal fires. */
export async function updateDropIn(f: DropInFlags, rt: Runtime, o: { once: boolean; file?: string; profile?: string }): Promise<void> {
  const { provider } = await dropInProvider(f, rt);
  await runUpdater({
    provider,
    file: o.file ?? defaultCredentialsFile(rt.env),
    profile: o.profile ?? 'default',
    clock: rt.clock,
    logger: rt.logger,
    refreshBeforeMs: REFRESH_BEFORE_MS,
    signal: rt.signal,
    once: o.once,
  });
}
