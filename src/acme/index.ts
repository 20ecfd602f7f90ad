/** ACME (RFC 8555) for the agent: account, profiles, ARI (RFC 9773) and the DNS-01 order flow. */
export { issueCertificate, type AcmeSettings, type IssueRequest, type IssuedCertificate, type IssueDeps } from './order.js';
export {
  certId,
  certIdFromParts,
  serialContentOctets,
  getRenewalInfo,
  type RenewalInfo,
  type AriConnection,
} from './ari.js';
export { resolveDirectoryUrl, accountDirFor, chooseProfile, type AcmeDirectory } from './directory.js';
export { readCaBundle } from './ca-bundle.js';
export { ACCOUNT_KEY_FILE, REGISTRATION_FILE, eabFromFile, type Registration } from './account.js';
export { retryAfterMs, problemShortType, type AcmeProblem } from './problems.js';
