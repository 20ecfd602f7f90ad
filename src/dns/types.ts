/**
 * DNS-01 port (RFC 8555 §8.4). present() resolves only once the value is visible where the CA will look (the
 * provider's own change tracking, then the zone's authoritative nameservers), so the ACME flow can call
 * completeChallenge straight after. cleanup() removes only our value and never throws for "already gone".
 */
export interface DnsChallengeProvider {
  present(fqdn: string, value: string, signal?: AbortSignal): Promise<void>;
  cleanup(fqdn: string, value: string): Promise<void>;
}
