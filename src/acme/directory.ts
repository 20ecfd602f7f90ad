import path from 'node:path';
import { AgentError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { getJson, LETSENCRYPT_PRODUCTION, LETSENCRYPT_STAGING, type TransportContext } from './transport.js';

/** The parts of an RFC 8555 §7.1.1 directory the agent reads. */
export interface AcmeDirectory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
  /** RFC 9773 §3: present when the CA serves ACME Renewal Information */
  renewalInfo?: string;
  meta?: {
    termsOfService?: string;
    externalAccountRequired?: boolean;
    /** draft-ietf-acme-profiles: profile name → description */
    profiles?: Record<string, string>;
  };
}

/**
 * `letsencrypt-staging` (default), `letsencrypt`, or any directory URL. Production Let's Encrypt works for ACME but
 * AWS documents that certificates from public CAs cannot be IAM Roles Anywhere trust anchors, so it warns.
 */
export function resolveDirectoryUrl(directory: string | undefined, logger: Logger): string {
  const d = directory ?? 'letsencrypt-staging';
  if (d === 'letsencrypt-staging') return LETSENCRYPT_STAGING;
  if (d === 'letsencrypt') {
    logger.warn("acme.directory is production Let's Encrypt: AWS does not accept public-CA certificates as IAM Roles Anywhere trust anchors", {
      directory: LETSENCRYPT_PRODUCTION,
    });
    return LETSENCRYPT_PRODUCTION;
  }
  let u: URL;
  try {
    u = new URL(d);
  } catch (e) {
    throw new AgentError({
      code: 'ACME_DIRECTORY_INVALID',
      component: 'acme',
      message: `acme.directory ${d} is not a URL`,
      hint: 'use letsencrypt-staging, letsencrypt, or an https:// directory URL',
      cause: e,
    });
  }
  if (u.protocol !== 'https:') {
    throw new AgentError({
      code: 'ACME_DIRECTORY_INVALID',
      component: 'acme',
      message: `acme.directory ${d} is not https`,
      hint: 'RFC 8555 §6.1 requires HTTPS for ACME',
    });
  }
  return u.toString();
}

/** `<state.dir>/account/<directory-host>/`: one account per CA host (staging and production accounts differ). */
export function accountDirFor(stateDir: string, directoryUrl: string): string {
  return path.join(stateDir, 'account', new URL(directoryUrl).host.replace(/[^A-Za-z0-9.-]/g, '_'));
}

export async function fetchDirectory(ctx: TransportContext, directoryUrl: string): Promise<AcmeDirectory> {
  const r = await getJson(ctx, directoryUrl, 'directory');
  const d = r.body as Partial<AcmeDirectory> | undefined;
  if (r.status !== 200 || !d || typeof d !== 'object' || typeof d.newOrder !== 'string' || typeof d.newAccount !== 'string') {
    throw new AgentError({
      code: r.status >= 500 ? 'ACME_SERVER_ERROR' : 'ACME_DIRECTORY_INVALID',
      component: 'acme',
      message: `GET ${directoryUrl} returned ${r.status} and no ACME directory`,
      // a 5xx says the CA (or a proxy before it) is down, not that the URL is wrong
      hint:
        r.status >= 500
          ? 'the CA is failing or overloaded; the agent retried with backoff: retry later'
          : 'check acme.directory: it must be the directory URL of an RFC 8555 server',
      details: { status: r.status, retryable: r.status >= 500 },
    });
  }
  return d as AcmeDirectory;
}

/**
 * draft-ietf-acme-profiles §4: clients SHOULD NOT request a profile the directory does not list. Returns the
 * profile to send, or undefined when none was asked for.
 */
export function chooseProfile(dir: AcmeDirectory, wanted: string | undefined, directoryUrl: string): string | undefined {
  if (wanted === undefined) return undefined;
  const profiles = dir.meta?.profiles;
  if (!profiles || Object.keys(profiles).length === 0) {
    throw new AgentError({
      code: 'ACME_PROFILES_UNSUPPORTED',
      component: 'acme',
      message: `acme.profile is ${wanted} but the directory ${directoryUrl} advertises no profiles (meta.profiles)`,
      hint: "remove acme.profile, or use a CA that implements ACME profiles (Let's Encrypt, Pebble >= 2.7)",
    });
  }
  if (!(wanted in profiles)) {
    const available = Object.keys(profiles).sort();
    throw new AgentError({
      code: 'ACME_INVALID_PROFILE',
      component: 'acme',
      message: `acme.profile ${wanted} is not offered by ${directoryUrl}; available: ${available.join(', ')}`,
      hint: `set acme.profile to one of: ${available.join(', ')}`,
      details: { available },
    });
  }
  return wanted;
}
