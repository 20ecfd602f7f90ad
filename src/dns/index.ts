export type { DnsChallengeProvider } from './types.js';
export {
  createRoute53Client,
  createRoute53Provider,
  mayListHostedZones,
  type Route53ClientSettings,
  type Route53Credentials,
  type Route53ProviderConfig,
  type Route53ProviderDeps,
} from './route53/index.js';
export {
  parseServer,
  formatServer,
  queryServer,
  queryTxt,
  waitForTxt,
  type NameServer,
  type QueryOptions,
  type TxtAnswer,
  type WaitOptions,
} from './authoritative.js';
export { sdkCredentialChain, staticCredentialSources } from './route53/credentials.js';
