import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { Clock } from '../core/clock.js';
import { AgentError } from '../core/errors.js';
import { atomicWriteFile, ensurePrivateDir } from '../core/fs.js';
import type { Logger } from '../core/logger.js';
import { fleetDnsPolicy, fleetDnsTrustPolicy, profileSettings, roleTrustPolicy, route53Policy } from '../policy/index.js';
import { IamraRegistry } from './iamra/registry.js';
import { createIamraService } from './iamra/service.js';
import { createCloudTrailService } from './iamra/lookup-events.js';
import { startPebble, type PebbleInstance } from './pebble.js';
import { createSandboxToken, type SandboxToken } from './softhsm.js';
import { startSwtpm, type Swtpm } from './swtpm.js';
import { startRoute53Sandbox, type Route53Sandbox } from './route53/index.js';
import { createStsService } from './sts/service.js';

/**
 * The sandbox: the product's offline stand-in for everything the agent talks to, on loopback — Pebble (a real ACME
 * CA), and one HTTP front serving Route 53, IAM Roles Anywhere and STS, plus the zone's authoritative DNS server.
 * `sandbox run` is this process; `sandbox up` starts it in the background and waits for sandbox.json.
 */

export const SANDBOX_ACCOUNT = '111122223333';
export const SANDBOX_REGION = 'us-east-1';
export const SANDBOX_ZONE_ID = 'Z0SANDBOX0EXAMPLE0001';
/** the Route 53 writer's test key: in the sandbox only, written to D/aws/credentials (0600) */
const DNS_USER = 'iamra-agent-dns';
/** the operator's audit key (`audit --lookup --profile iamra-agent-audit`): cloudtrail:LookupEvents only, in D/aws/credentials */
const AUDIT_USER = 'iamra-agent-audit';
/** the fleet DNS role (`policy route53 --fleet`): every host's IAMRA session may write only its own challenge record */
const FLEET_DNS_ROLE = 'iamra-agent-fleet-dns';
/** where `sandbox up --key tpm`'s agent.yaml keeps the identity key */
export const SANDBOX_TPM_HANDLE = '0x81000010';

export interface SandboxOptions {
  dir: string;
  /** the identity the generated agent.yaml enrols */
  name: string;
  /** hosted zone (default: the name's parent) */
  zone?: string;
  /** how long Route 53 changes stay PENDING */
  insyncDelayMs: number;
  /** Route 53 account-wide rate limit (AWS: 5/s); 0 = off */
  ratePerSec: number;
  /** extra Pebble environment (PEBBLE_WFE_NONCEREJECT=…) */
  pebbleEnv: Record<string, string>;
  /** when set, Pebble requires External Account Binding with this key id; the HMAC key is made here (D/eab.key) */
  eabKid?: string;
  /**
   * TOTP session names end to end: the profile accepts session names, the role's trust policy is
   * `policy trust --cn <name> --totp`'s, and agent.yaml sets rolesAnywhere.roleSessionName: totp with an envsense
   * source file inside the sandbox directory (D/envsense/host-id), so a test can "move" the host by changing it.
   */
  totp?: boolean;
  /** the command that runs the agent, for the AWS config's credential_process line */
  agentCommand: string[];
  /** where the generated agent.yaml keeps the key: a file (default) or a SoftHSM2 token in D/softhsm */
  key?: 'file' | 'pkcs11' | 'tpm';
}

/** What a running sandbox publishes in D/sandbox.json (tests read it). */
export interface SandboxInfo {
  pid: number;
  pebblePid: number;
  awsUrl: string;
  dnsServer: string;
  directoryUrl: string;
  managementUrl: string;
  zone: string;
  zoneId: string;
  name: string;
  accountId: string;
  dnsUser: { arn: string; accessKeyId: string };
  /** may call cloudtrail:LookupEvents and nothing else (profile iamra-agent-audit) */
  auditUser: { arn: string; accessKeyId: string };
  trustAnchorArn: string;
  profileArn: string;
  roleArn: string;
  /** the fleet DNS role: permission policy `policy route53 --fleet`, trust policy `policy trust --role dns` */
  dnsRoleArn: string;
  /** `--key tpm`: the swtpm process serving the agent's TPM (stopped with the sandbox) */
  swtpmPid?: number;
  startedAt: string;
}

export interface RunningSandbox {
  info: SandboxInfo;
  route53: Route53Sandbox;
  pebble: PebbleInstance;
  close(): Promise<void>;
}

export function files(dir: string) {
  return {
    info: path.join(dir, 'sandbox.json'),
    log: path.join(dir, 'sandbox.log'),
    agentYaml: path.join(dir, 'agent.yaml'),
    env: path.join(dir, 'env'),
    roots: path.join(dir, 'pebble-roots.pem'),
    intermediates: path.join(dir, 'pebble-intermediates.pem'),
    awsCredentials: path.join(dir, 'aws', 'credentials'),
    awsConfig: path.join(dir, 'aws', 'config'),
    calls: path.join(dir, 'calls.jsonl'),
    cloudTrail: path.join(dir, 'cloudtrail.jsonl'),
    iamra: path.join(dir, 'iamra.json'),
    state: path.join(dir, 'state'),
    run: path.join(dir, 'run'),
    eabKey: path.join(dir, 'eab.key'),
    hostId: path.join(dir, 'envsense', 'host-id'),
  };
}

export async function runSandbox(o: SandboxOptions, deps: { clock: Clock; logger: Logger }): Promise<RunningSandbox> {
  const f = files(o.dir);
  await ensurePrivateDir(o.dir);
  await ensurePrivateDir(path.dirname(f.awsCredentials));
  const zone = o.zone ?? o.name.split('.').slice(1).join('.');
  if (!zone) {
    throw new AgentError({ code: 'SANDBOX_BAD_NAME', component: 'sandbox', message: `cannot derive a zone from ${o.name}`, hint: 'pass --zone' });
  }

  const route53 = await startRoute53Sandbox({
    clock: deps.clock,
    zones: [{ name: zone, id: SANDBOX_ZONE_ID }],
    insyncDelayMs: o.insyncDelayMs,
    ratePerSec: o.ratePerSec,
    logger: deps.logger,
    callLog: f.calls,
  });
  let pebble: PebbleInstance | undefined;
  let swtpm: Swtpm | undefined;
  try {
    if (o.key === 'tpm') swtpm = await startSwtpm(path.join(o.dir, 'tpm'), { clock: deps.clock });
    // EAB (RFC 8555 §7.3.4): a fresh HMAC key per sandbox, handed to the agent as a 0600 file, never on argv
    const eab = o.eabKid ? { kid: o.eabKid, hmacKey: randomBytes(32).toString('base64url') } : undefined;
    if (eab) await atomicWriteFile(f.eabKey, eab.hmacKey + '\n', 0o600);
    pebble = await startPebble({
      dir: path.join(o.dir, 'pebble'),
      dnsServer: `127.0.0.1:${route53.dnsPort}`,
      env: o.pebbleEnv,
      logger: deps.logger,
      ...(eab ? { eabKeys: { [eab.kid]: eab.hmacKey } } : {}),
    });
    await atomicWriteFile(f.roots, pebble.rootsPem, 0o644);
    await atomicWriteFile(f.intermediates, pebble.intermediatesPem, 0o644);

    // The agent's Route 53 writer may do exactly what `policy route53` prints, nothing more.
    const secret = randomBytes(30).toString('base64');
    const accessKeyId = 'AKIA' + randomBytes(8).toString('hex').toUpperCase();
    const dnsUserArn = `arn:aws:iam::${SANDBOX_ACCOUNT}:user/${DNS_USER}`;
    route53.aws.principals.add({
      arn: dnsUserArn,
      accountId: SANDBOX_ACCOUNT,
      userId: 'AIDA' + randomBytes(8).toString('hex').toUpperCase(),
      accessKeyId,
      secretAccessKey: secret,
      policies: [route53Policy({ zoneId: SANDBOX_ZONE_ID, names: [o.name] })],
    });

    const registry = new IamraRegistry(SANDBOX_ACCOUNT, SANDBOX_REGION);
    const anchor = registry.addTrustAnchor({ name: 'sandbox-pebble-root', certificateBundlePem: pebble.rootsPem });
    const role = registry.addRole({
      name: 'iamra-agent-sandbox',
      // --totp: exactly what `policy trust --trust-anchor-arn <anchor> --cn <name> --totp` prints
      trustPolicy: o.totp
        ? roleTrustPolicy({ trustAnchorArns: [anchor.arn], cn: o.name, totp: true })
        : {
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Principal: { Service: 'rolesanywhere.amazonaws.com' },
                Action: ['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity'],
                // Bind the host name from the certificate and the trust anchor, as the README recommends for real use.
                Condition: { StringEquals: { 'aws:PrincipalTag/x509SAN/DNS': o.name }, ArnEquals: { 'aws:SourceArn': anchor.arn } },
              },
            ],
          },
      permissionPolicies: [
        {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: ['route53:ListHostedZonesByName', 'route53:ListResourceRecordSets'], Resource: '*' }],
        },
      ],
    });
    // Exactly what `policy route53 --fleet` and `policy trust --role dns --domain <zone>` print.
    const dnsRole = registry.addRole({
      name: FLEET_DNS_ROLE,
      trustPolicy: fleetDnsTrustPolicy({ trustAnchorArn: anchor.arn, domain: zone }),
      permissionPolicies: [fleetDnsPolicy({ zoneId: SANDBOX_ZONE_ID })],
    });
    const profile = registry.addProfile({
      name: 'iamra-agent-sandbox',
      roleArns: [role.arn, dnsRole.arn],
      durationSeconds: 3600,
      // --totp: what `policy profile --totp` prints
      ...(o.totp ? profileSettings({ totp: true }) : {}),
    });
    if (o.totp) {
      await ensurePrivateDir(path.dirname(f.hostId));
      await atomicWriteFile(f.hostId, `sandbox host ${randomBytes(16).toString('hex')}\n`, 0o600);
    }
    const iamra = createIamraService({ registry, cloudTrailFile: f.cloudTrail });
    route53.aws.addService(iamra);
    route53.aws.addService(createCloudTrailService({ events: () => iamra.events }));
    const auditor = route53.aws.principals.createUser({
      accountId: SANDBOX_ACCOUNT,
      name: AUDIT_USER,
      policies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'cloudtrail:LookupEvents', Resource: '*' }] }],
    });
    route53.aws.addService(createStsService());
    await atomicWriteFile(f.iamra, JSON.stringify(registry.toSpec(), null, 2) + '\n', 0o600);

    const info: SandboxInfo = {
      pid: process.pid,
      pebblePid: pebble.pid,
      awsUrl: route53.url,
      dnsServer: `127.0.0.1:${route53.dnsPort}`,
      directoryUrl: pebble.directoryUrl,
      managementUrl: pebble.managementUrl,
      zone,
      zoneId: SANDBOX_ZONE_ID,
      name: o.name,
      accountId: SANDBOX_ACCOUNT,
      dnsUser: { arn: dnsUserArn, accessKeyId },
      auditUser: { arn: auditor.arn, accessKeyId: auditor.accessKeyId },
      trustAnchorArn: anchor.arn,
      profileArn: profile.arn,
      roleArn: role.arn,
      dnsRoleArn: dnsRole.arn,
      ...(swtpm ? { swtpmPid: swtpm.pid } : {}),
      startedAt: deps.clock.now().toISOString(),
    };
    await atomicWriteFile(
      f.awsCredentials,
      `[${DNS_USER}]\naws_access_key_id = ${accessKeyId}\naws_secret_access_key = ${secret}\n\n` +
        `[${AUDIT_USER}]\naws_access_key_id = ${auditor.accessKeyId}\naws_secret_access_key = ${auditor.secretAccessKey}\n`,
      0o600,
    );
    const token = o.key === 'pkcs11' ? await createSandboxToken(o.dir) : undefined;
    await atomicWriteFile(f.awsConfig, awsConfig(o, f.agentYaml), 0o600);
    await atomicWriteFile(f.agentYaml, agentYaml(o, info, pebble.tlsCaPemPath, f, token, swtpm), 0o600);
    await atomicWriteFile(f.env, envFile(info, f, token, swtpm), 0o600);
    // Last: its presence means "ready" to `sandbox up`.
    await atomicWriteFile(f.info, JSON.stringify(info, null, 2) + '\n', 0o600);
    const p = pebble;
    const t = swtpm;
    return {
      info,
      route53,
      pebble: p,
      close: async () => {
        await Promise.allSettled([route53.close(), p.stop(), t?.stop()]);
        await fsp.rm(f.info, { force: true });
      },
    };
  } catch (e) {
    await Promise.allSettled([route53.close(), pebble?.stop(), swtpm?.stop()]);
    throw e;
  }
}

function agentYaml(o: SandboxOptions, info: SandboxInfo, tlsCa: string, f: ReturnType<typeof files>, token?: SandboxToken, tpm?: Swtpm): string {
  const cfg = {
    identity: { name: o.name },
    key: token
      ? { source: 'pkcs11', algorithm: 'ec-p256', pkcs11: { module: token.module, uri: token.uri, pinFile: token.pinFile } }
      : tpm
        ? { source: 'tpm', algorithm: 'ec-p256', tpm: { tcti: tpm.tcti, handle: SANDBOX_TPM_HANDLE } }
        : { source: 'file', algorithm: 'ec-p256' },
    // classic: LE's default, and the only LE profile whose leaves have a CN (IAMRA rejects empty subjects)
    acme: {
      directory: info.directoryUrl,
      caBundle: tlsCa,
      email: 'sandbox@example.com',
      profile: 'classic',
      ...(o.eabKid ? { eab: { kid: o.eabKid, hmacKeyFile: f.eabKey } } : {}),
    },
    dns: {
      provider: 'route53',
      // The static key (profile iamra-agent-dns) is for the first enrolment only: renewals go through the fleet DNS
      // role with the live identity, so removing the key after bootstrap leaves a host that still renews.
      route53: {
        hostedZoneId: info.zoneId,
        region: SANDBOX_REGION,
        endpoint: info.awsUrl,
        profile: DNS_USER,
        credentials: 'auto',
        roleArn: info.dnsRoleArn,
      },
      ttl: 10,
      // Pebble and the agent both ask the sandbox's authoritative server
      resolvers: [info.dnsServer],
      propagationTimeout: '60s',
      pollInterval: '200ms',
    },
    state: { dir: f.state, runtimeDir: f.run },
    trust: { anchors: [f.roots] },
    rolesAnywhere: {
      trustAnchorArn: info.trustAnchorArn,
      profileArn: info.profileArn,
      roleArn: info.roleArn,
      endpoint: info.awsUrl,
      durationSeconds: 3600,
      ...(o.totp ? { roleSessionName: 'totp' } : {}),
    },
    ...(o.totp ? { envsense: { sources: [{ file: f.hostId }], digest: 'sha1', period: 30, digits: 6 } } : {}),
  };
  return `# Written by \`iamra-agent sandbox up\`: an agent config pointing at the local sandbox.\n${toYaml(cfg)}`;
}

function awsConfig(o: SandboxOptions, agentYamlPath: string): string {
  const cmd = [...o.agentCommand, '--config', agentYamlPath, 'credential-process'].map(quoteIni).join(' ');
  return `[profile iamra]\ncredential_process = ${cmd}\nregion = ${SANDBOX_REGION}\n\n[profile ${DNS_USER}]\nregion = ${SANDBOX_REGION}\n\n[profile ${AUDIT_USER}]\nregion = ${SANDBOX_REGION}\n`;
}

function quoteIni(s: string): string {
  return /[\s"]/.test(s) ? `"${s.replace(/"/g, '\\"')}"` : s;
}

function envFile(info: SandboxInfo, f: ReturnType<typeof files>, token?: SandboxToken, tpm?: Swtpm): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const vars: Record<string, string> = {
    IAMRA_AGENT_CONFIG: f.agentYaml,
    IAMRA_SANDBOX_AWS_URL: info.awsUrl,
    IAMRA_SANDBOX_DNS: info.dnsServer,
    IAMRA_SANDBOX_ACME_DIRECTORY: info.directoryUrl,
    // the Route 53 writer's key (profile iamra-agent-dns) and the `iamra` credential_process profile
    AWS_SHARED_CREDENTIALS_FILE: f.awsCredentials,
    AWS_CONFIG_FILE: f.awsConfig,
    AWS_REGION: SANDBOX_REGION,
    // the SDKs' service-specific endpoint variable: `audit --lookup` reaches the sandbox's CloudTrail
    AWS_ENDPOINT_URL_CLOUDTRAIL: info.awsUrl,
    // the CA of Pebble's HTTPS listener, for curl and other clients of the ACME server
    IAMRA_SANDBOX_CA_BUNDLE: path.join(path.dirname(f.info), 'pebble', 'tls-ca.pem'),
    // the sandbox token: SoftHSM finds it through its config, for the agent and for pkcs11-tool alike
    ...(token ? { SOFTHSM2_CONF: token.conf, IAMRA_SANDBOX_PKCS11_MODULE: token.module } : {}),
    // the sandbox TPM, for tpm2-tools (tpm2_getcap handles-persistent, tpm2_readpublic -c 0x81000010)
    ...(tpm ? { TPM2TOOLS_TCTI: tpm.tcti } : {}),
    // the same TPM as a unix socket, where the AWS credential helper looks for it
    ...(tpm ? { TPM_DEVICE: tpm.device } : {}),
  };
  return `# iamra-agent sandbox: source this file (. ${f.env})\n${Object.entries(vars)
    .map(([k, v]) => `export ${k}=${q(v)}`)
    .join('\n')}\n`;
}
