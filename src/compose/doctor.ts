/**
 * Part of the composition root: `doctor`'s checks built from the config (status/doctor.ts runs and judges them).
 * Every check talks to the real service: the ACME directory, the AWS endpoint's Date, the status evaluation with a
 * live CreateSession (`status --probe`), the zone's delegation at the configured nameservers, a Route 53 UPSERT +
 * DELETE of a probe value in this host's own challenge record through the same credentials choice as renew (and a
 * ListHostedZonesByName read, to tell credentials wider than needed), serve and update's file when enabled, the
 * systemd units. The store is opened read-only.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { type AgentConfig, route53CredentialsMode } from '../config/schema.js';
import { acmeSettingsFromConfig } from './acme.js';
import { sessionRequest } from './signing.js';
import { statusInput } from './status.js';
import type { Clock } from '../core/clock.js';
import { formatError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { createRoute53Provider, mayListHostedZones, parseServer } from '../dns/index.js';
import { judgeDelegation, viewFrom, zoneNameservers } from '../status/doctor-dns.js';
import { checkSystemd } from '../status/doctor-systemd.js';
import { clockSkew, type DoctorOutcome, type DoctorReport, type DoctorStep, fail, failFrom, ok, runDoctor, skip, warn } from '../status/doctor.js';
import { judgeCredentialsFile, probeServe, readCredentialsFile } from '../status/doctor-vend.js';
import { defaultCredentialsFile } from '../vend/credfile.js';
import { parseListen } from './serve.js';
import { evaluate } from '../status/index.js';
import { IdentityStore } from '../store/index.js';
import { route53Client, route53Credentials } from './route53-credentials.js';

export interface DoctorDeps {
  clock: Clock;
  logger: Logger;
  /** for the default credentials file (AWS_SHARED_CREDENTIALS_FILE, HOME) */
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

interface Answer {
  status: number;
  date: string | undefined;
  body: string;
}

/** One GET with the given TLS trust; any HTTP answer resolves (the Date header is what some checks want). */
function get(url: string, o: { caPem?: string; timeoutMs: number }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const lib = u.protocol === 'https:' ? https : http;
    // RFC 8555 §6.1: every ACME request carries a User-Agent
    const req = lib.get(
      u,
      { timeout: o.timeoutMs, headers: { 'user-agent': 'iamra-agent-doctor' }, ...(o.caPem && u.protocol === 'https:' ? { ca: o.caPem } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, date: res.headers.date, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${u.origin} within ${o.timeoutMs} ms`)));
    req.on('error', reject);
  });
}

const STATUS_PARTS = {
  identity: ['identity', 'validity', 'key', 'chain', 'certificate'],
  'create-session': ['create-session'],
  'route53-credentials': ['route53-credentials'],
} as const;

export async function runDoctorFor(cfg: AgentConfig, configFile: string, deps: DoctorDeps): Promise<DoctorReport> {
  const { clock, logger } = deps;
  const timeoutMs = cfg.acme.timeout;
  const acme = await acmeSettingsFromConfig(cfg, { logger });
  let directory: Answer | undefined;

  // one status evaluation with a live CreateSession (as `status --probe`), shared by the checks built from it
  let report: ReturnType<typeof evaluate> | undefined;
  const statusReport = async () => {
    report ??= evaluate(
      (
        await statusInput(
          { clock, logger, ...(deps.signal ? { signal: deps.signal } : {}) },
          { configFile, loadConfig: async () => cfg, probe: true, probeTimeoutMs: timeoutMs },
        )
      ).input,
    );
    return report;
  };
  const fromStatus = (names: readonly string[], fix: string) => async (): Promise<DoctorOutcome> => {
    const r = await statusReport();
    const parts = r.checks.filter((c) => names.includes(c.name));
    const bad = parts.filter((c) => c.status !== 'OK');
    if (!bad.length) return ok(parts.map((c) => c.reason).join('; '));
    const text = bad.map((c) => `${c.name} ${c.status}: ${c.reason}`).join('; ');
    return bad.some((c) => c.status === 'CRITICAL') ? fail(text, fix) : warn(text, fix);
  };

  // the Route 53 credentials renew would use (and their client), shared by the probe and the scope check
  let r53client: Promise<{ creds: Awaited<ReturnType<typeof route53Credentials>>; client: ReturnType<typeof route53Client> }> | undefined;
  const route53 = () =>
    (r53client ??= (async () => {
      const store = await IdentityStore.open(cfg.state.dir, { clock, logger }, { readOnly: true });
      const live = route53CredentialsMode(cfg) === 'sdk' ? undefined : await store.live().catch(() => undefined);
      const creds = await route53Credentials(cfg, deps, live);
      return { creds, client: route53Client(cfg.dns.route53, creds.credentials) };
    })());

  const steps: DoctorStep[] = [
    { name: 'config', run: async () => ok(`${configFile} is valid`) },
    {
      name: 'acme-directory',
      run: async () => {
        try {
          directory = await get(acme.directoryUrl, { ...(acme.caBundlePem ? { caPem: acme.caBundlePem } : {}), timeoutMs });
        } catch (e) {
          return fail(
            `cannot reach the ACME directory ${acme.directoryUrl}: ${formatError(e)}`,
            'check acme.directory, acme.caBundle and the network path (proxy, firewall) to the CA',
          );
        }
        if (directory.status !== 200) return fail(`${acme.directoryUrl} answered HTTP ${directory.status}`, 'check acme.directory');
        let dir: { newOrder?: string; meta?: { profiles?: Record<string, string> } };
        try {
          dir = JSON.parse(directory.body) as typeof dir;
        } catch {
          return fail(`${acme.directoryUrl} is not an ACME directory (no JSON)`, 'check acme.directory');
        }
        if (!dir.newOrder) return fail(`${acme.directoryUrl} has no newOrder: not an ACME directory`, 'check acme.directory');
        const profiles = Object.keys(dir.meta?.profiles ?? {});
        if (acme.profile && !profiles.includes(acme.profile)) {
          return fail(`the CA does not offer profile ${acme.profile} (offered: ${profiles.join(', ') || 'none'})`, 'set acme.profile to an offered profile');
        }
        return ok(`${acme.directoryUrl} answers${acme.profile ? `; profile ${acme.profile} offered` : ''}`);
      },
    },
    { name: 'clock-acme', needs: ['acme-directory'], run: async () => clockSkew('the ACME server', directory?.date, clock.now()) },
    {
      name: 'clock-aws',
      run: async () => {
        const url = cfg.rolesAnywhere ? sessionRequest(cfg).endpoint : (cfg.dns.route53.endpoint ?? 'https://route53.amazonaws.com/');
        try {
          const a = await get(new URL('/', url).toString(), { timeoutMs });
          return clockSkew(`the AWS endpoint ${new URL(url).host}`, a.date, clock.now());
        } catch (e) {
          return fail(`cannot reach the AWS endpoint ${url}: ${formatError(e)}`, 'check the network path to AWS (proxy, firewall) and rolesAnywhere.endpoint');
        }
      },
    },
    { name: 'identity', run: fromStatus(STATUS_PARTS.identity, 'iamra-agent renew --force (or bootstrap --force) makes a fresh, verified identity') },
    {
      name: 'create-session',
      needs: ['identity'],
      run: fromStatus(
        STATUS_PARTS['create-session'],
        'check rolesAnywhere.* against the trust anchor, profile and role (the role must trust rolesanywhere.amazonaws.com for this certificate)',
      ),
    },
    {
      name: 'route53-credentials',
      run: fromStatus(
        STATUS_PARTS['route53-credentials'],
        'remove the static Route 53 key once the fleet DNS role renews (/etc/iamra-agent/route53-credentials, AWS_* env), or see the evidence',
      ),
    },
    {
      name: 'dns-delegation',
      run: async () => {
        const record = `_acme-challenge.${cfg.identity.name}`;
        const configured = cfg.dns.resolvers.length > 0;
        const servers = configured ? cfg.dns.resolvers.map(parseServer) : await zoneNameservers(record);
        const views = await Promise.all(servers.map((s) => viewFrom(record, s, Math.min(timeoutMs, 5000))));
        return judgeDelegation(record, views, configured ? 'dns.resolvers' : "the zone's NS hosts, from the system resolver");
      },
    },
    {
      name: 'route53-probe',
      run: async () => {
        const { creds, client } = await route53();
        const r53 = cfg.dns.route53;
        const dns = createRoute53Provider(
          { clock, logger, client },
          {
            ...(r53.hostedZoneId ? { hostedZoneId: r53.hostedZoneId } : {}),
            ttl: cfg.dns.ttl,
            resolvers: cfg.dns.resolvers,
            propagationTimeoutMs: cfg.dns.propagationTimeout,
            pollIntervalMs: cfg.dns.pollInterval,
          },
        );
        const record = `_acme-challenge.${cfg.identity.name}`;
        // the shape of a DNS-01 value (base64url SHA-256), random so it cannot be mistaken for a real challenge
        const value = randomBytes(32).toString('base64url');
        try {
          await dns.present(record, value, deps.signal);
        } catch (e) {
          await dns.cleanup(record, value).catch(() => undefined);
          return failFrom(e, 'grant the policy printed by `iamra-agent policy route53 --from-config` (or --fleet for the fleet DNS role)');
        }
        await dns.cleanup(record, value);
        const at = cfg.dns.resolvers.length ? cfg.dns.resolvers.join(', ') : "the zone's authoritative nameservers";
        return ok(`UPSERT + DELETE of a probe TXT at ${record} (seen at ${at}), signed with ${creds.source}: ${creds.reason}`);
      },
    },
    {
      name: 'route53-scope',
      needs: ['route53-probe'],
      run: async () => {
        if (!cfg.dns.route53.hostedZoneId) return skip('dns.route53.hostedZoneId is not set: the agent needs ListHostedZonesByName to find the zone');
        const { creds, client } = await route53();
        if (await mayListHostedZones(client, { clock, ...(deps.signal ? { signal: deps.signal } : {}) })) {
          return warn(
            `the ${creds.source} credentials may list every hosted zone (ListHostedZonesByName allowed) although dns.route53.hostedZoneId is set: wider than needed`,
            'grant exactly the policy `iamra-agent policy route53 --from-config` prints (--fleet for the fleet DNS role): with a zone id it has no ListHostedZonesByName',
          );
        }
        return ok(
          `ListHostedZonesByName denied to the ${creds.source} credentials: no wider than the zone needs (the one probe doctor can make; writes are proven by route53-probe)`,
        );
      },
    },
    {
      name: 'serve',
      needs: ['create-session'],
      run: async () => {
        const s = cfg.vend.serve;
        if (!s.enabled) return skip('vend.serve.enabled is false: this host does not run serve');
        return probeServe(s.socket !== undefined ? { socket: s.socket } : parseListen(s.listen), { now: () => clock.now(), timeoutMs });
      },
    },
    {
      name: 'credentials-file',
      run: async () => {
        const u = cfg.vend.update;
        if (!u.enabled) return skip('vend.update.enabled is false: this host does not run update');
        const facts = await readCredentialsFile(u.file ?? defaultCredentialsFile(deps.env), u.profile);
        return judgeCredentialsFile(facts, clock.now(), cfg.vend.refreshBefore);
      },
    },
    { name: 'systemd', run: () => checkSystemd({ serve: cfg.vend.serve.enabled, timeoutMs }) },
  ];
  return runDoctor(steps);
}

/** The report of a config that does not load: only that check, the rest cannot be located. */
export async function doctorWithoutConfig(configFile: string, e: unknown): Promise<DoctorReport> {
  return runDoctor([{ name: 'config', run: async () => failFrom(e, `fix ${configFile} (iamra-agent config check)`) }]);
}
