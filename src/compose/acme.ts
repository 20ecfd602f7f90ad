/** Composition of the ACME client's settings from the config. */
import type { AgentConfig } from '../config/schema.js';
import { readTextFile } from '../core/fs.js';
import type { Logger } from '../core/logger.js';
import { accountDirFor, eabFromFile, readCaBundle, resolveDirectoryUrl, type AcmeSettings } from '../acme/index.js';

/** config (acme.*, state.dir) → AcmeSettings: resolves the directory alias and reads the CA bundle and EAB key files. */
export async function acmeSettingsFromConfig(cfg: AgentConfig, deps: { logger: Logger }): Promise<AcmeSettings> {
  const a = cfg.acme;
  const directoryUrl = resolveDirectoryUrl(a.directory, deps.logger);
  const settings: AcmeSettings = {
    directoryUrl,
    accountDir: accountDirFor(cfg.state.dir, directoryUrl),
    timeoutMs: a.timeout,
    attempts: a.attempts,
    termsOfServiceAgreed: a.termsOfServiceAgreed,
  };
  if (a.caBundle) settings.caBundlePem = await readCaBundle(a.caBundle);
  if (a.email) settings.email = a.email;
  if (a.profile) settings.profile = a.profile;
  if (a.eab) settings.eab = eabFromFile(a.eab.kid, await readTextFile(a.eab.hmacKeyFile, 'acme.eab.hmacKeyFile'), a.eab.hmacKeyFile);
  return settings;
}
