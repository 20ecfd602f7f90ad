import path from 'node:path';
import * as z from 'zod';
import { type ArnKind, arnExample, checkArns, checkRoleSessionName, parseArn } from '../core/aws-ids.js';
import { isAgentError } from '../core/errors.js';
import { duration } from './duration.js';
import { envsenseRules, envsenseSchema } from './envsense.js';

/**
 * The agent's configuration: one zod schema gives the TypeScript type, the defaults, validation with every
 * problem keyed by path, and (scripts: `iamra-agent config schema`) the JSON Schema published in config/.
 */

const dnsName = z
  .string()
  .regex(
    /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/,
    'must be a lower-case fully qualified DNS name such as host1.example.com',
  );

/** An ARN of the kind, checked by the same parser the signer uses (core/aws-ids.ts), so the words are the same. */
const arn = (kind: ArnKind) =>
  z
    .string()
    .superRefine((v, ctx) => {
      const problem = ruleProblem(() => parseArn(v, kind));
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe(`${kind} ARN, of the form ${arnExample(kind)}`);

/** An AgentError of a core rule as one config problem line: what is wrong, then what to do. */
function ruleProblem(check: () => unknown): string | undefined {
  try {
    check();
    return undefined;
  } catch (e) {
    if (!isAgentError(e)) throw e;
    return e.hint ? `${e.message}; ${e.hint}` : e.message;
  }
}

/** rolesAnywhere: on its own so that command-line overrides (--role-arn …) are validated and defaulted by it too. */
export const rolesAnywhereSchema = z
  .object({
    trustAnchorArn: arn('trust anchor'),
    profileArn: arn('profile'),
    roleArn: arn('role'),
    region: z.string().optional().describe('default: the trust anchor ARN region'),
    endpoint: z.string().url().optional().describe('override of the CreateSession endpoint URL'),
    fips: z.boolean().default(false).describe('use the FIPS endpoint of the region'),
    dualStack: z.boolean().default(false).describe('use the dual-stack (IPv4+IPv6) endpoint'),
    durationSeconds: z.number().int().min(900).max(43200).default(3600),
    roleSessionName: z
      .string()
      .superRefine((v, ctx) => {
        const problem = ruleProblem(() => checkRoleSessionName(v));
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional()
      .describe('sent as roleSessionName; `totp`: the current TOTP code of the envsense fingerprint, computed for every CreateSession'),
    verifyBeforeActivate: z.boolean().default(false),
    withProxy: z
      .boolean()
      .default(false)
      .describe(
        "CreateSession through the HTTP proxy the environment names, as the AWS credential helper's --with-proxy (Go ProxyFromEnvironment): $HTTPS_PROXY/$https_proxy for an https endpoint (a CONNECT tunnel; TLS stays end to end), $HTTP_PROXY/$http_proxy for http, except hosts in $NO_PROXY/$no_proxy and localhost/loopback; false: always direct",
      ),
  })
  .strict()
  .superRefine((ra, ctx) => {
    // each ARN on its own was checked above; here the partition/region agreement, by the signer's own rule
    let ok = true;
    for (const [field, kind] of [
      ['trustAnchorArn', 'trust anchor'],
      ['profileArn', 'profile'],
      ['roleArn', 'role'],
    ] as const) {
      if (ruleProblem(() => parseArn(ra[field], kind))) ok = false;
    }
    if (!ok) return;
    const problem = ruleProblem(() => checkArns({ ...ra, ...(ra.region === undefined ? {} : { region: ra.region }) }));
    if (problem) ctx.addIssue({ code: 'custom', path: ra.region === undefined ? [] : ['region'], message: problem });
  });

export const configSchema = z
  .object({
    identity: z
      .object({
        name: dnsName.describe('the host identity: certificate CN and first SAN'),
        extraNames: z.array(dnsName).default([]).describe('additional SANs'),
      })
      .strict(),
    key: z
      .object({
        source: z
          .enum(['file', 'csr', 'pkcs11', 'tpm'])
          .default('file')
          .describe(
            'file: the agent makes and keeps the key; csr: the key lives elsewhere (YubiKey, TPM) and key.csrFile is enrolled; pkcs11: the key is made and used in a PKCS#11 token (key.pkcs11); tpm: in a TPM 2.0 (key.tpm)',
          ),
        algorithm: z.enum(['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096']).default('ec-p256'),
        csrFile: z.string().optional().describe('PEM CSR to enrol when source is csr'),
        rotateOnRenew: z.boolean().default(true).describe('make a new key at every renewal (file keys; pkcs11: a new token object per version)'),
        pkcs11: z
          .object({
            module: z.string().min(1).optional().describe('path of the PKCS#11 library; default p11-kit-proxy.so when installed'),
            uri: z
              .string()
              .startsWith('pkcs11:', 'must be an RFC 7512 URI such as pkcs11:token=iamra;object=host-key')
              // the message never repeats the value: it would carry the PIN
              .refine((u) => !/(^|[;?&:])pin-(value|source)=/i.test(u), 'must not carry a PIN (pin-value/pin-source); put the PIN in key.pkcs11.pinFile')
              .describe('RFC 7512 URI selecting the token and the key object (its label is the one bootstrap generates)'),
            pinFile: z.string().min(1).optional().describe('0600 file holding the token user PIN; default the systemd credential pkcs11-pin'),
          })
          .strict()
          .optional(),
        tpm: z
          .object({
            tcti: z.string().min(1).default('device:/dev/tpmrm0').describe('TPM2 TCTI: device:/dev/tpmrm0, or swtpm:host=127.0.0.1,port=P'),
            handle: z
              .string()
              .regex(/^0x81[0-9a-fA-F]{6}$/, 'must be a persistent handle such as 0x81000010')
              .optional()
              .describe('persistent handle of the identity key; bootstrap creates it there when it is empty'),
            keyFile: z
              .string()
              .refine(
                (f) =>
                  (path.isAbsolute(f) || /^[\w.-]+$/.test(f)) &&
                  !['key.pem', 'key.ref', 'cert.pem', 'chain.pem', 'fullchain.pem', 'meta.json', '.', '..'].includes(f),
                'must be a file name such as key.tpm.pem (the agent makes the key), or the absolute path of an existing TSS2 PRIVATE KEY PEM',
              )
              .optional()
              .describe(
                'instead of handle: the key is a TSS2 PRIVATE KEY PEM of this name in each version directory, made by bootstrap under parent; an absolute path enrols an existing one',
              ),
            parent: z
              .string()
              .regex(/^0x81[0-9a-fA-F]{6}$/, 'must be a persistent handle such as 0x81000001')
              .default('0x81000001')
              .describe('storage key (SRK) the identity key is created under; created when missing'),
            authFile: z.string().min(1).optional().describe('0600 file with the key password, passed to tpm2-tools as file:'),
            pcrs: z
              .string()
              .regex(/^(sha1|sha256|sha384|sha512):([0-9]|1[0-9]|2[0-3])(,([0-9]|1[0-9]|2[0-3]))*$/, 'must be a PCR selection such as sha256:0,7')
              .optional()
              .describe('bind new keys to these PCRs (their values when the key is made): the TPM signs only in that measured boot state'),
          })
          .strict()
          .optional(),
      })
      .strict()
      .superRefine((k, ctx) => {
        if (k.source === 'pkcs11' && !k.pkcs11)
          ctx.addIssue({ code: 'custom', path: ['pkcs11'], message: 'is required when key.source is pkcs11 (module, uri, pinFile)' });
        if (k.source === 'tpm' && !k.tpm) ctx.addIssue({ code: 'custom', path: ['tpm'], message: 'is required when key.source is tpm (tcti, handle)' });
        if (k.tpm && (k.tpm.handle === undefined) === (k.tpm.keyFile === undefined))
          ctx.addIssue({ code: 'custom', path: ['tpm'], message: 'needs exactly one of handle (a persistent key) and keyFile (a TSS2 PEM key file)' });
        if (k.tpm?.pcrs && k.tpm.authFile)
          ctx.addIssue({ code: 'custom', path: ['tpm', 'pcrs'], message: 'cannot be combined with authFile yet: a PCR-bound key has no password' });
      })
      .prefault({}),
    acme: z
      .object({
        directory: z
          .string()
          .default('letsencrypt-staging')
          .refine(
            (v) => v === 'letsencrypt-staging' || v === 'letsencrypt' || /^https?:\/\/\S+$/.test(v),
            'must be letsencrypt-staging, letsencrypt, or an https:// directory URL',
          ),
        email: z.string().email().optional(),
        profile: z.string().min(1).optional().describe('ACME profile (e.g. shortlived, tlsserver, classic); sent in newOrder'),
        termsOfServiceAgreed: z.boolean().default(true),
        caBundle: z.string().optional().describe('PEM file trusted for the ACME server TLS (e.g. Pebble); default the system store'),
        eab: z
          .object({ kid: z.string().min(1), hmacKeyFile: z.string().min(1).describe('file holding the base64url HMAC key') })
          .strict()
          .optional(),
        timeout: duration.prefault('30s').describe('per HTTP request'),
        attempts: z.number().int().min(1).max(20).default(5),
      })
      .strict()
      .prefault({}),
    dns: z
      .object({
        provider: z.literal('route53').default('route53'),
        route53: z
          .object({
            hostedZoneId: z
              .string()
              .regex(/^(\/hostedzone\/)?Z[A-Z0-9]{1,32}$/, 'must look like Z…')
              .optional(),
            region: z.string().default('us-east-1'),
            endpoint: z.string().url().optional().describe('override of the Route 53 API URL (sandbox, tests)'),
            profile: z.string().optional().describe('AWS shared-config profile for the Route 53 credentials'),
            credentials: z
              .enum(['sdk', 'rolesAnywhere', 'auto'])
              .optional()
              .describe(
                'sdk: the AWS SDK chain (env, profile, credential_process…); rolesAnywhere: a CreateSession with the live identity for dns.route53.roleArn; auto (default when roleArn is set): rolesAnywhere while a valid identity is live, the SDK chain only before the first enrolment or after the identity expired',
              ),
            roleArn: arn('role')
              .optional()
              .describe('the fleet DNS role (`policy route53 --fleet`), assumed through rolesAnywhere.profileArn, which must list it'),
          })
          .strict()
          .prefault({}),
        ttl: z.number().int().min(1).max(86400).default(10),
        resolvers: z.array(z.string()).default([]).describe('host:port of nameservers to check the TXT at; default the zone authoritative nameservers'),
        propagationTimeout: duration.prefault('5m'),
        pollInterval: duration.prefault('2s'),
      })
      .strict()
      .prefault({}),
    state: z
      .object({
        dir: z.string().default('/var/lib/iamra-agent'),
        runtimeDir: z.string().default('/run/iamra-agent'),
        keepVersions: z.number().int().min(2).max(100).default(5),
        lockTimeout: duration.prefault('10m'),
      })
      .strict()
      .prefault({}),
    trust: z
      .object({
        anchors: z.array(z.string()).default([]).describe('PEM files of the CAs a new identity must chain to before it goes live'),
      })
      .strict()
      .prefault({}),
    renewal: z
      .object({
        maxAge: duration.prefault('7d').describe('renew once the certificate is this old, whatever its lifetime; 0 turns the weekly rotation off'),
        ari: z.boolean().default(true).describe('ask the CA for ACME Renewal Information (RFC 9773) when it offers it'),
      })
      .strict()
      .prefault({}),
    hooks: z
      .object({
        afterRenew: z
          .array(z.array(z.string().min(1)).min(1))
          .default([])
          .describe('commands run after a new identity goes live, each an argv array (no shell); IAMRA_AGENT_CERT, _CHAIN, _FULLCHAIN, _KEY, _VERSION in env'),
        timeout: duration.prefault('60s').describe('per hook; a hook that fails or times out is reported, not fatal'),
        env: z
          .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'))
          .default([])
          .describe('names of variables of the agent environment also passed to hooks; hooks otherwise get only PATH, HOME, LANG and the IAMRA_AGENT_* paths'),
      })
      .strict()
      .prefault({}),
    status: z
      .object({
        prometheusFile: z.string().optional().describe('default target of status --prometheus (node_exporter textfile collector)'),
        overdueGrace: duration
          .prefault('1d')
          .describe('how long past its renewal point a certificate may stay before status warns; covers the twice-daily timer and its random delay'),
      })
      .strict()
      .prefault({}),
    rolesAnywhere: rolesAnywhereSchema.optional(),
    vend: z
      .object({
        cache: z.boolean().default(true).describe('credential-process: reuse credentials from a 0600 cache in state.runtimeDir'),
        refreshBefore: duration.prefault('5m').describe('refresh credentials this long before they expire'),
        serve: z
          .object({
            enabled: z.boolean().default(false).describe('this host runs `serve` (iamra-agent-serve.service): `doctor` checks that it answers'),
            listen: z.string().default('127.0.0.1:9911').describe('host:port on loopback'),
            socket: z.string().optional().describe('unix socket path instead of TCP'),
            socketGroup: z.string().optional(),
            hopLimit: z.number().int().min(1).max(255).default(1).describe('IP TTL of responses, so they cannot leave the host'),
            containerTokenFile: z.string().optional().describe('file holding the AWS_CONTAINER_AUTHORIZATION_TOKEN'),
          })
          .strict()
          .prefault({}),
        update: z
          .object({
            enabled: z.boolean().default(false).describe('this host runs `update`: `doctor` checks that the file is there, 0600 and fresh'),
            file: z.string().optional().describe('default AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials'),
            profile: z.string().default('default'),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    envsense: envsenseSchema.optional().describe('environment fingerprint sources for TOTP session names (rolesAnywhere.roleSessionName: totp)'),
  })
  .strict()
  .superRefine((c, ctx) => {
    envsenseRules(c, ctx);
    // The Route 53 credentials choice needs its role and the Roles Anywhere section it signs with.
    const mode = route53CredentialsMode(c);
    if (mode !== 'sdk') {
      if (!c.dns.route53.roleArn)
        ctx.addIssue({ code: 'custom', path: ['dns', 'route53', 'roleArn'], message: `is required when dns.route53.credentials is ${mode}` });
      // auto without it is the SDK chain (no identity can sign); an explicit rolesAnywhere could never work
      if (mode === 'rolesAnywhere' && !c.rolesAnywhere)
        ctx.addIssue({ code: 'custom', path: ['rolesAnywhere'], message: 'is required when dns.route53.credentials is rolesAnywhere' });
    }
  });

export type AgentConfig = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** The identity's DNS names, certificate CN first: identity.name, then identity.extraNames. */
export function identityNames(c: { identity: { name: string; extraNames: string[] } }): string[] {
  return [c.identity.name, ...c.identity.extraNames];
}

/** dns.route53.credentials with its default: auto when a fleet DNS role is configured, else the SDK chain. */
export function route53CredentialsMode(c: { dns: { route53: { credentials?: 'sdk' | 'rolesAnywhere' | 'auto' | undefined; roleArn?: string | undefined } } }) {
  return c.dns.route53.credentials ?? (c.dns.route53.roleArn ? 'auto' : 'sdk');
}

export { parseDurationMs } from './duration.js';

export function jsonSchema(): unknown {
  return z.toJSONSchema(configSchema, { io: 'input' });
}
