import { ListHostedZonesByNameCommand, type Route53Client } from '@aws-sdk/client-route-53';
import type { Clock } from '../../core/clock.js';
import { retry } from '../../core/retry.js';
import { DENIED, errorName, isTransient } from './errors.js';

/**
 * Whether these credentials may list every hosted zone of the account: a read, so doctor can probe it to tell
 * credentials wider than the configured zone needs (`policy route53 --zone-id` grants no ListHostedZonesByName).
 * AccessDenied is the answer "no"; throttling is retried with the provider's backoff; any other failure is the
 * caller's to report.
 */
export async function mayListHostedZones(client: Route53Client, deps: { clock: Clock; signal?: AbortSignal }): Promise<boolean> {
  try {
    await retry(() => client.send(new ListHostedZonesByNameCommand({ MaxItems: 1 }), deps.signal ? { abortSignal: deps.signal } : {}), {
      attempts: 8,
      baseMs: 250,
      maxMs: 5_000,
      clock: deps.clock,
      retryable: isTransient,
      ...(deps.signal ? { signal: deps.signal } : {}),
    });
    return true;
  } catch (e) {
    if (DENIED.has(errorName(e))) return false;
    throw e;
  }
}
