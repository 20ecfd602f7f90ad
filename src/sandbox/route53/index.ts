import { systemClock, type Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import { createAwsSandbox, type AwsSandbox } from '../aws/server.js';
import type { AwsService } from '../aws/types.js';
import { startAuthoritativeDns, type AuthoritativeDns, type DnsZoneSource } from '../dns/server.js';
import { createRoute53Service as createService } from './service.js';
import { Route53ZoneStore, type HostedZone, type ZoneConfig } from './store.js';

export { Route53ZoneStore } from './store.js';
export type { Change, ChangeInfo, HostedZone, RecordSet, RecordSetInput, ZoneConfig } from './store.js';

export interface Route53ServiceOptions {
  clock: Clock;
  zones?: ZoneConfig[];
  /** how long a change stays PENDING before GetChange says INSYNC and the name servers serve it (default 0) */
  insyncDelayMs?: number;
  /** an existing store to serve (zones and insyncDelayMs are then ignored) */
  store?: Route53ZoneStore;
}

/** The Route 53 stand-in as an AwsService for the sandbox front, with its zone store. */
export function createRoute53Service(o: Route53ServiceOptions): AwsService & { readonly store: Route53ZoneStore } {
  let store = o.store;
  if (!store) {
    store = new Route53ZoneStore(o.clock, o.insyncDelayMs ?? 0);
    for (const z of o.zones ?? []) store.addZone(z);
  }
  return createService({ store });
}

/** What the authoritative name server serves: the public zones, each as of its newest INSYNC change. */
export function dnsZonesOf(store: Route53ZoneStore): DnsZoneSource {
  return {
    zones: () =>
      store
        .listZones()
        .filter((z) => !z.private)
        .map((z) => ({ name: z.name, records: store.liveRecords(z.id) })),
  };
}

export interface Route53SandboxOptions {
  clock?: Clock;
  zones: ZoneConfig[];
  insyncDelayMs?: number;
  /** account-wide Route 53 rate limit (AWS: 5 requests/s); 0 disables it */
  ratePerSec?: number;
  burst?: number;
  logger?: Logger;
  callLog?: string;
  /** default 127.0.0.1; HTTP and DNS listen on ephemeral ports unless given */
  host?: string;
  port?: number;
  dnsPort?: number;
}

export interface Route53Sandbox {
  /** the AWS endpoint, e.g. http://127.0.0.1:43121 (pass as endpoint / --endpoint-url) */
  readonly url: string;
  readonly dnsHost: string;
  readonly dnsPort: number;
  /** the front: principals, calls, faults; more services (IAMRA, STS) can be added to it */
  readonly aws: AwsSandbox;
  readonly store: Route53ZoneStore;
  readonly zones: HostedZone[];
  close(): Promise<void>;
}

/** Starts the AWS front with Route 53 plus the authoritative DNS server for its zones, all on loopback. */
export async function startRoute53Sandbox(o: Route53SandboxOptions): Promise<Route53Sandbox> {
  const clock = o.clock ?? systemClock;
  const service = createRoute53Service({ clock, zones: o.zones, insyncDelayMs: o.insyncDelayMs ?? 0 });
  const aws = createAwsSandbox({
    clock,
    // Route 53's account-wide quota only: IAM Roles Anywhere and STS, added to this front later, have their own
    throttle: { ratePerSec: o.ratePerSec ?? 5, burst: o.burst ?? o.ratePerSec ?? 5, services: ['route53'] },
    ...(o.logger ? { logger: o.logger } : {}),
    ...(o.callLog ? { callLog: o.callLog } : {}),
  });
  aws.addService(service);
  const host = o.host ?? '127.0.0.1';
  const url = await aws.listen(o.port ?? 0, host);
  let dns: AuthoritativeDns;
  try {
    dns = await startAuthoritativeDns({ host, port: o.dnsPort ?? 0, zones: dnsZonesOf(service.store), ...(o.logger ? { logger: o.logger } : {}) });
  } catch (e) {
    await aws.close();
    throw e;
  }
  return {
    url,
    dnsHost: host,
    dnsPort: dns.port,
    aws,
    store: service.store,
    get zones() {
      return service.store.listZones();
    },
    async close() {
      await Promise.all([aws.close(), dns.close()]);
    },
  };
}
