import { homedir } from 'node:os';
import path from 'node:path';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { getProfileName, loadSharedConfigFiles } from '@smithy/core/config';
import type { Route53Credentials } from './index.js';

/**
 * Where the Route 53 client's SDK credentials could come from (the only importer of the SDK's credential chain and
 * shared-file loader). Two jobs: the SDK chain as an explicit provider, so the composition root can turn "nothing
 * found" into its own error; and a network-free look at the static (long-term) keys the chain would find, so
 * `status` can warn while a host that renews through its fleet DNS role still holds one.
 */

/** The standard SDK chain (env, shared files for `profile`, credential_process, SSO, web identity, ECS/IMDS). */
export function sdkCredentialChain(profile?: string): () => Promise<Route53Credentials> {
  return defaultProvider(profile ? { profile } : {}) as () => Promise<Route53Credentials>;
}

/**
 * The long-term keys the SDK chain would find without any call: `AWS_ACCESS_KEY_ID` without a session token in the
 * environment, and `aws_access_key_id` without `aws_session_token` in the profile's section of the shared
 * credentials or config file (AWS_SHARED_CREDENTIALS_FILE — the units point it at the systemd credential —,
 * AWS_CONFIG_FILE, or ~/.aws/). Each entry names the place, never the key.
 */
export async function staticCredentialSources(o: { profile?: string; env: NodeJS.ProcessEnv }): Promise<string[]> {
  const found: string[] = [];
  if (o.env['AWS_ACCESS_KEY_ID'] && o.env['AWS_SECRET_ACCESS_KEY'] && !o.env['AWS_SESSION_TOKEN']) found.push('environment (AWS_ACCESS_KEY_ID)');
  const home = o.env['HOME'] ?? homedir();
  const filepath = o.env['AWS_SHARED_CREDENTIALS_FILE'] ?? path.join(home, '.aws', 'credentials');
  const configFilepath = o.env['AWS_CONFIG_FILE'] ?? path.join(home, '.aws', 'config');
  const profile = o.profile ?? getProfileName({ profile: o.env['AWS_PROFILE'] });
  // ignoreCache: a key removed since the last look must not be reported from memory
  const files = await loadSharedConfigFiles({ filepath, configFilepath, ignoreCache: true });
  for (const [where, section] of [
    [filepath, files.credentialsFile[profile]],
    [configFilepath, files.configFile[profile]],
  ] as const) {
    if (section?.['aws_access_key_id'] && section['aws_secret_access_key'] && !section['aws_session_token']) found.push(`profile ${profile} in ${where}`);
  }
  return found;
}
