import type { VerifyReport } from '../renew/verify.js';
import type { AgentState } from '../store/index.js';

/**
 * The facts `status` judges, gathered beforehand (gather.ts) so every verdict is a pure function of them and `now`.
 */

/** What the config says, as far as status needs it. */
export interface ConfigFacts {
  file: string;
  names: string[];
  maxAgeMs: number;
  ari: boolean;
  rolesAnywhere: boolean;
  /** a TXT record younger than this may belong to a run in progress, so it is not a leftover yet */
  pendingGraceMs: number;
  /**
   * how long past the renewal point before "overdue" is a WARNING: the twice-daily timer with its randomized delay
   * renews within about 13 h of the point, so a fleet would otherwise warn on every routine renewal
   */
  overdueGraceMs: number;
}

export interface ConfigFailure {
  file: string;
  error: string;
  problems?: string[];
}

export interface IdentityFacts {
  version: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  names: string[];
  subject: string;
  issuer: string;
  /** when the version was staged (the end of the enrolment that made it) */
  createdAt?: Date;
  /** RFC 9773 §4.1 CertID of the certificate, to tell whether a stored ARI answer is about it */
  certId?: string;
}

export type KeyFacts = { present: true; describe: string } | { present: false; reason: string };

export type AnchorFacts = { source: 'configured'; count: number } | { source: 'chain-top' } | { source: 'error'; error: string };

export type CredentialFacts =
  | { source: 'state' | 'probe'; ok: true; at: Date; expiration?: Date }
  | { source: 'state' | 'probe'; ok: false; at: Date; error: string };

/** How the Route 53 client gets credentials (dns.route53.credentials) and which static keys it could still find. */
export interface Route53CredentialFacts {
  mode: 'sdk' | 'rolesAnywhere' | 'auto';
  roleArn?: string;
  /** where long-term keys are reachable (never the keys), or why that could not be told */
  staticSources: string[] | { error: string };
}

export interface StatusInput {
  now: Date;
  config: ConfigFacts | ConfigFailure;
  /** undefined: no live identity; { error }: the live identity could not be read */
  identity?: IdentityFacts | { error: string };
  key?: KeyFacts;
  verify?: VerifyReport | { error: string };
  anchors?: AnchorFacts;
  state?: AgentState | { error: string };
  /** the result of `--probe` (a live CreateSession); replaces the recorded one */
  probe?: CredentialFacts;
  route53?: Route53CredentialFacts;
}
