/**
 * Composition for the vending commands (credential-process, serve, update): config + the identity store → one
 * memoised Provider<AwsCredentials> that signs CreateSession with the live identity, follows identity changes
 * (hot reload) and records each CreateSession outcome in state.json. The vending modules (src/vend/) know only the
 * provider; this is the one place that knows where credentials come from.
 */
import { createHash } from 'node:crypto';
import type { AgentConfig } from '../config/schema.js';
import { liveKey, runtimeDir, sessionNames, sessionRequest } from './signing.js';
import type { Clock } from '../core/clock.js';
import { AgentError, formatError, isAgentError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { KeyHandle } from '../keys/types.js';
import { createSession, credentialsProvider, type CredentialsProvider } from '../signer/index.js';
import { IdentityStore, StateFile, type Identity } from '../store/index.js';
import type { CacheKey, CacheOptions } from '../vend/process.js';

/** Command-line overrides, as the AWS credential helper takes them. */
export interface VendOverrides {
  roleArn?: string;
  profileArn?: string;
  trustAnchorArn?: string;
  /** CreateSession endpoint URL; wins over rolesAnywhere.endpoint and the region's endpoint */
  endpoint?: string;
  /** --with-proxy: rolesAnywhere.withProxy */
  withProxy?: boolean;
}

export interface VendDeps {
  clock: Clock;
  logger: Logger;
  /** aborts a CreateSession in flight (SIGTERM) */
  signal?: AbortSignal;
  /** a process that vends once and exits (credential-process): its reads and its record are synchronous */
  oneShot?: boolean;
}

/** The identity credentials are currently signed with. */
export interface LoadedIdentity {
  version: string;
  serial: string;
  /** SHA-256 (hex) of the leaf certificate's DER: the credential cache key, so a renewal misses the cache */
  fingerprint: string;
  certPem: string;
  chainPem: string;
  key: KeyHandle;
}

export interface Vend {
  provider: CredentialsProvider;
  roleArn: string;
  profileArn: string;
  /** the role ARN's last path segment: the role name IMDS lists */
  roleName: string;
  stateDir: string;
  identity(): LoadedIdentity;
  /** the credential-process cache settings for the current identity and role (vend.cache decides whether to use it) */
  cache(): Omit<CacheOptions, 'clock' | 'logger'>;
  /**
   * Re-reads the live identity; when it changed, signs with the new one from now on and drops the cached
   * credentials (requests already in flight finish with the old ones). Resolves true when it changed. A version that
   * cannot be loaded is reported and the current identity kept.
   */
  reload(): Promise<boolean>;
}

/**
 * Builds the vending provider from the config. Every mistake that can be seen locally (no rolesAnywhere section,
 * malformed ARNs, a trust anchor and profile in different regions, a bad endpoint, no live identity) fails here,
 * before any network call; the key/certificate/chain checks run in createSession before its request.
 */
export async function openVend(cfg: AgentConfig, deps: VendDeps, overrides: VendOverrides = {}): Promise<Vend> {
  const { clock, logger } = deps;
  // the schema checked the ARNs (overrides included) by the signer's rules; sessionRequest resolves the endpoint
  const req = sessionRequest(await withOverrides(cfg, overrides));
  // the session name is computed for every CreateSession (envsense TOTP), never once at start-up
  const sessionName = sessionNames(cfg, clock);
  const oneShot = deps.oneShot ?? false;
  const store = await IdentityStore.open(cfg.state.dir, { clock, logger }, { readOnly: true, oneShot });
  const state = new StateFile(cfg.state.dir, { clock, logger });
  let current = await load(await store.live(), cfg, oneShot);

  const record = async (entry: { ok: boolean; error?: string; expiration?: string }) => {
    try {
      await state.recordCreateSession({ at: clock.now().toISOString(), ...entry }, { sync: oneShot });
    } catch (e) {
      // A reader without write access to the state directory still vends credentials; status just knows less.
      logger.debug('CreateSession outcome not recorded', { error: formatError(e) });
    }
  };

  const fetchCreds = async () => {
    const id = current;
    try {
      const roleSessionName = await sessionName();
      const creds = await createSession(
        { clock, logger },
        { ...req, ...(roleSessionName === undefined ? {} : { roleSessionName }), certPem: id.certPem, chainPem: id.chainPem, key: id.key },
        deps.signal ? { signal: deps.signal } : {},
      );
      await record({ ok: true, expiration: creds.expiration.toISOString() });
      return creds;
    } catch (e) {
      await record({ ok: false, error: isAgentError(e) ? `${e.code}: ${formatError(e)}` : formatError(e) });
      throw e;
    }
  };
  const refreshBeforeMs = cfg.vend.refreshBefore;
  const provider = credentialsProvider({ clock, logger }, fetchCreds, { refreshBeforeMs });

  let reloading: Promise<boolean> | undefined;
  const reloadOnce = async (): Promise<boolean> => {
    let version: string | undefined;
    try {
      version = await store.liveVersion();
      if (version === undefined || version === current.version) return false;
      const next = await load(await store.read(version), cfg, oneShot);
      current = next;
      provider.invalidate();
      logger.info('identity reloaded', { version: next.version, serial: next.serial });
      return true;
    } catch (e) {
      logger.warn('identity not reloaded; keeping the current one', { version, current: current.version, error: formatError(e) });
      return false;
    }
  };

  return {
    provider,
    roleArn: req.roleArn,
    profileArn: req.profileArn,
    roleName: req.roleArn.slice(req.roleArn.lastIndexOf('/') + 1),
    stateDir: cfg.state.dir,
    identity: () => current,
    cache: () => {
      const key: CacheKey = {
        certFingerprint: current.fingerprint,
        roleArn: req.roleArn,
        profileArn: req.profileArn,
        ...(req.roleSessionName ? { sessionName: req.roleSessionName } : {}),
      };
      return { dir: runtimeDir(cfg, 'cache'), key, refreshBeforeMs };
    },
    // Serialised: two change events in a row must not load the same version twice or race each other.
    reload: async () => {
      while (reloading) await reloading;
      reloading = reloadOnce().finally(() => (reloading = undefined));
      return reloading;
    },
  };
}

/** The flag each override comes from, to name it in errors. */
const OVERRIDE_FLAGS: Record<keyof VendOverrides, string> = {
  roleArn: '--role-arn',
  profileArn: '--profile-arn',
  trustAnchorArn: '--trust-anchor-arn',
  endpoint: '--endpoint',
  withProxy: '--with-proxy',
};

/**
 * --role-arn/--profile-arn/--trust-anchor-arn/--endpoint over rolesAnywhere (which they can also stand in for),
 * validated and defaulted by the config schema's own rolesAnywhere rules, so a flag is held to the same rule as the
 * field it replaces. The schema (zod) loads only when there is an override: `serve` applies its overrides while
 * planning (cli/serve-front.ts), so the serving process never loads it.
 */
export async function withOverrides(cfg: AgentConfig, o: VendOverrides): Promise<AgentConfig> {
  const given = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as VendOverrides;
  if (Object.keys(given).length === 0) return cfg;
  const ra = cfg.rolesAnywhere;
  if (!ra && (!given.trustAnchorArn || !given.profileArn || !given.roleArn)) {
    throw new AgentError({
      code: 'CONFIG_INVALID',
      component: 'config',
      message: 'rolesAnywhere is not configured and the command line does not name all of trust anchor, profile and role',
      hint: 'set rolesAnywhere in the config, or pass --trust-anchor-arn, --profile-arn and --role-arn',
    });
  }
  const { rolesAnywhereSchema } = await import('../config/schema.js');
  const r = rolesAnywhereSchema.safeParse({ ...ra, ...given });
  if (!r.success) {
    const problems = r.error.issues.map((i) => {
      const field = i.path[0] as keyof VendOverrides | undefined;
      const flags = (Object.keys(given) as (keyof VendOverrides)[]).map((k) => OVERRIDE_FLAGS[k]).join(' ');
      const from = field && field in given ? OVERRIDE_FLAGS[field] : i.path.length ? `rolesAnywhere.${i.path.join('.')}` : `rolesAnywhere with ${flags}`;
      return `${from}: ${i.message}`;
    });
    throw new AgentError({
      code: 'CONFIG_INVALID',
      component: 'config',
      message: problems.join('; '),
      hint: 'fix the command-line value (or the config field it overrides)',
    });
  }
  return { ...cfg, rolesAnywhere: r.data };
}

async function load(id: Identity | undefined, cfg: AgentConfig, oneShot: boolean): Promise<LoadedIdentity> {
  if (!id) {
    throw new AgentError({
      code: 'IDENTITY_MISSING',
      component: 'store',
      message: `no live identity in ${cfg.state.dir}`,
      hint: 'enrol first: iamra-agent bootstrap',
    });
  }
  return {
    version: id.version,
    serial: id.serial,
    fingerprint: createHash('sha256').update(id.certificate.raw).digest('hex'),
    certPem: id.certPem,
    chainPem: id.chainPem,
    key: await liveKey(id, cfg, { oneShot }),
  };
}
