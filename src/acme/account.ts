import { generateKeyPairSync } from 'node:crypto';
import path from 'node:path';
import { AgentError } from '../core/errors.js';
import { atomicWriteFile, ensurePrivateDir, readFileOrUndefined } from '../core/fs.js';
import type { Logger } from '../core/logger.js';
import type { Clock } from '../core/clock.js';
import { createClient, inContext, type AcmeClient, type TransportContext } from './transport.js';

/**
 * The ACME account (RFC 8555 §7.3): one key per directory host, created once and kept (0600) with the registration
 * (account URL), so later runs sign with the same account and make no newAccount request. An account key is never a
 * certificate key (Let's Encrypt rejects that).
 */

export const ACCOUNT_KEY_FILE = 'account.key';
export const REGISTRATION_FILE = 'registration.json';

export interface Registration {
  directoryUrl: string;
  accountUrl: string;
  createdAt: string;
  contact?: string[];
  eabKid?: string;
}

export interface AccountSettings {
  directoryUrl: string;
  accountDir: string;
  email?: string | undefined;
  termsOfServiceAgreed?: boolean | undefined;
  /** External Account Binding (RFC 8555 §7.3.4): kid and the base64url HMAC key */
  eab?: { kid: string; hmacKey: string } | undefined;
}

export interface Account {
  client: AcmeClient;
  accountUrl: string;
  /** true when this call registered the account */
  created: boolean;
  /** forget the stored URL and register the same key again (the CA lost the account, e.g. a test CA restart) */
  reRegister(): Promise<void>;
}

async function loadOrCreateKey(dir: string, logger: Logger): Promise<string> {
  const file = path.join(dir, ACCOUNT_KEY_FILE);
  const existing = await readFileOrUndefined(file);
  if (existing) return existing;
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  await atomicWriteFile(file, pem, 0o600);
  logger.info('acme account key created', { file });
  return pem;
}

async function readRegistration(dir: string, directoryUrl: string, logger: Logger): Promise<Registration | undefined> {
  const file = path.join(dir, REGISTRATION_FILE);
  const text = await readFileOrUndefined(file);
  if (!text) return undefined;
  try {
    const r = JSON.parse(text) as Registration;
    if (typeof r.accountUrl === 'string' && r.directoryUrl === directoryUrl) return r;
    logger.warn('acme registration is for another directory; registering again', { file, stored: r.directoryUrl, directoryUrl });
  } catch {
    logger.warn('acme registration file is unreadable; registering again', { file });
  }
  return undefined;
}

export async function openAccount(deps: { logger: Logger; clock: Clock }, s: AccountSettings, ctx: TransportContext): Promise<Account> {
  await ensurePrivateDir(s.accountDir);
  const keyPem = await loadOrCreateKey(s.accountDir, deps.logger);
  const reg = await readRegistration(s.accountDir, s.directoryUrl, deps.logger);
  const contact = s.email ? [`mailto:${s.email}`] : undefined;

  const register = async (): Promise<{ client: AcmeClient; accountUrl: string }> => {
    const client = createClient({ directoryUrl: s.directoryUrl, accountKeyPem: keyPem, eab: s.eab });
    try {
      await inContext(ctx, 'newAccount', () => client.createAccount({ termsOfServiceAgreed: s.termsOfServiceAgreed ?? true, ...(contact ? { contact } : {}) }));
    } catch (e) {
      // newAccount answered 200: the CA already has an account for this key (RFC 8555 §7.3.1) and gave its URL.
      // acme-client then posts an account update, which some CAs (Pebble) refuse when it changes nothing; the URL
      // is all we need, so only a failure of that follow-up update is tolerated.
      const known = (() => {
        try {
          return client.getAccountUrl();
        } catch {
          return undefined;
        }
      })();
      if (!known || !(e instanceof AgentError) || e.details?.['url'] !== known) throw e;
      deps.logger.debug('acme account exists for this key; its no-op update was refused', { accountUrl: known, error: e.message });
    }
    const accountUrl = client.getAccountUrl();
    const out: Registration = {
      directoryUrl: s.directoryUrl,
      accountUrl,
      createdAt: deps.clock.now().toISOString(),
      ...(contact ? { contact } : {}),
      ...(s.eab ? { eabKid: s.eab.kid } : {}),
    };
    await atomicWriteFile(path.join(s.accountDir, REGISTRATION_FILE), JSON.stringify(out, null, 2) + '\n', 0o600);
    deps.logger.info('acme account registered', { accountUrl, directoryUrl: s.directoryUrl, eab: s.eab ? s.eab.kid : false });
    return { client, accountUrl };
  };

  if (reg) {
    deps.logger.debug('acme account reused', { accountUrl: reg.accountUrl });
    const account: Account = {
      client: createClient({ directoryUrl: s.directoryUrl, accountKeyPem: keyPem, accountUrl: reg.accountUrl, eab: s.eab }),
      accountUrl: reg.accountUrl,
      created: false,
      async reRegister() {
        const r = await register();
        account.client = r.client;
        account.accountUrl = r.accountUrl;
        account.created = true;
      },
    };
    return account;
  }
  const r = await register();
  const account: Account = {
    ...r,
    created: true,
    async reRegister() {
      const again = await register();
      account.client = again.client;
      account.accountUrl = again.accountUrl;
    },
  };
  return account;
}

export function eabFromFile(kid: string, hmacKeyText: string, file: string): { kid: string; hmacKey: string } {
  const hmacKey = hmacKeyText.trim();
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(hmacKey)) {
    throw new AgentError({
      code: 'ACME_EAB_KEY_INVALID',
      component: 'acme',
      message: `acme.eab.hmacKeyFile ${file} does not hold a base64url HMAC key`,
      hint: 'put the HMAC key exactly as the CA issued it (base64url, one line) in the file',
    });
  }
  return { kid, hmacKey };
}
