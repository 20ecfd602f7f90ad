import type { AgentConfig } from '../config/schema.js';
import { durationMs } from '../config/schema.js';
import { readTextFile } from '../core/fs.js';
import { readPemCertificates } from '../core/pem.js';
import type { Logger } from '../core/logger.js';
import { eabFromFile } from './account.js';
import { accountDirFor, resolveDirectoryUrl } from './directory.js';
import type { AcmeSettings } from './order.js';

/** config (acme.*, state.dir) → AcmeSettings: resolves the directory alias and reads the CA bundle and EAB key files. */
export async function acmeSettingsFromConfig(cfg: AgentConfig, deps: { logger: Logger }): Promise<AcmeSettings> {
  const a = cfg.acme;
  const directoryUrl = resolveDirectoryUrl(a.directory, deps.logger);
  const settings: AcmeSettings = {
    directoryUrl,
    accountDir: accountDirFor(cfg.state.dir, directoryUrl),
    timeoutMs: durationMs(a.timeout),
    attempts: a.attempts,
    termsOfServiceAgreed: a.termsOfServiceAgreed,
  };
  if (a.caBundle) settings.caBundlePem = await readCaBundle(a.caBundle);
  if (a.email) settings.email = a.email;
  if (a.profile) settings.profile = a.profile;
  if (a.eab) settings.eab = eabFromFile(a.eab.kid, await readTextFile(a.eab.hmacKeyFile, 'acme.eab.hmacKeyFile'), a.eab.hmacKeyFile);
  return settings;
}

/** acme.caBundle: readable, and holding at least one PEM certificate (a key or a DER file would fail every TLS call). */
export async function readCaBundle(file: string): Promise<string> {
  const pem = await readTextFile(file, 'acme.caBundle');
  readPemCertificates(pem, {
    what: `acme.caBundle ${file}`,
    component: 'config',
    hint: 'acme.caBundle must hold the PEM certificate(s) of the CA that signed the ACME server TLS certificate',
  });
  return pem;
}
