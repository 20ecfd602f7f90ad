import { isLoopbackHost } from '../core/net.js';
import { AgentError } from '../core/errors.js';
import { checkAnchorAndProfile, partitionMismatch } from './checks.js';

/**
 * Where CreateSession goes. The hostnames follow the Smithy endpoint ruleset every AWS SDK uses for
 * rolesanywhere (iamra-protocol.md §2.1): `rolesanywhere[-fips].{region}.{dnsSuffix | dualStackDnsSuffix}`.
 */

const component = 'rolesanywhere';

export interface Partition {
  id: string;
  regions: RegExp;
  dnsSuffix: string;
  /** undefined where the partition has no dual-stack (IPv4+IPv6) endpoints */
  dualStackDnsSuffix?: string;
}

/** Most specific first: `us-gov-west-1` and `us-iso-east-1` must not fall into `aws`. */
export const PARTITIONS: readonly Partition[] = [
  { id: 'aws-us-gov', regions: /^us-gov-\w+-\d+$/, dnsSuffix: 'amazonaws.com', dualStackDnsSuffix: 'api.aws' },
  { id: 'aws-iso', regions: /^us-iso-\w+-\d+$/, dnsSuffix: 'c2s.ic.gov' },
  { id: 'aws-iso-b', regions: /^us-isob-\w+-\d+$/, dnsSuffix: 'sc2s.sgov.gov' },
  { id: 'aws-iso-e', regions: /^eu-isoe-\w+-\d+$/, dnsSuffix: 'cloud.adc-e.uk' },
  { id: 'aws-iso-f', regions: /^us-isof-\w+-\d+$/, dnsSuffix: 'csp.hci.ic.gov' },
  { id: 'aws-cn', regions: /^cn-\w+-\d+$/, dnsSuffix: 'amazonaws.com.cn', dualStackDnsSuffix: 'api.amazonwebservices.com.cn' },
  { id: 'aws', regions: /^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$/, dnsSuffix: 'amazonaws.com', dualStackDnsSuffix: 'api.aws' },
];

export function partitionOfRegion(region: string): Partition | undefined {
  return PARTITIONS.find((p) => p.regions.test(region));
}

export interface EndpointInput {
  trustAnchorArn: string;
  profileArn: string;
  /**
   * Signing region; default the trust anchor's. The legacy pseudo-regions `fips-<region>` are accepted and mean
   * `<region>` with fips (as in the SDKs).
   */
  region?: string;
  fips?: boolean;
  dualStack?: boolean;
  /** explicit endpoint URL (sandbox, VPC endpoint DNS name, proxy); http:// only for loopback hosts */
  endpoint?: string;
}

export interface ResolvedEndpoint {
  /** origin of the service, path `/`; CreateSession is POST /sessions on it */
  url: URL;
  /** the region in the credential scope */
  region: string;
  /** the partition of the region; undefined for an explicit endpoint in a region the table does not know */
  partition: string | undefined;
}

/** A config's rolesAnywhere section (or any object of that shape) as EndpointInput, unset fields left out. */
export function endpointInputOf(ra: {
  trustAnchorArn: string;
  profileArn: string;
  region?: string | undefined;
  fips: boolean;
  dualStack: boolean;
  endpoint?: string | undefined;
}): EndpointInput {
  return {
    trustAnchorArn: ra.trustAnchorArn,
    profileArn: ra.profileArn,
    ...(ra.region ? { region: ra.region } : {}),
    fips: ra.fips,
    dualStack: ra.dualStack,
    ...(ra.endpoint ? { endpoint: ra.endpoint } : {}),
  };
}

export function resolveEndpoint(i: EndpointInput): ResolvedEndpoint {
  let region = i.region;
  let fips = i.fips ?? false;
  if (region?.startsWith('fips-')) {
    region = region.slice('fips-'.length);
    fips = true;
  }
  const anchor = checkAnchorAndProfile({ trustAnchorArn: i.trustAnchorArn, profileArn: i.profileArn, region });
  region = anchor.region;
  const partition = partitionOfRegion(region);
  if (partition && partition.id !== anchor.partition) {
    throw partitionMismatch(`region ${region}`, partition.id, anchor.partition, { region, trustAnchorArn: i.trustAnchorArn });
  }

  if (i.endpoint !== undefined) {
    if (fips || i.dualStack) {
      throw new AgentError({
        code: 'ENDPOINT_INVALID',
        component,
        message: `an explicit endpoint (${i.endpoint}) cannot be combined with ${fips ? 'fips' : 'dualStack'}`,
        hint: 'either set the endpoint URL (and choose its hostname yourself) or use fips/dualStack, not both',
      });
    }
    return { url: explicitEndpoint(i.endpoint), region, partition: partition?.id };
  }
  if (!partition) {
    throw new AgentError({
      code: 'UNKNOWN_REGION',
      component,
      message: `region ${region} belongs to no known AWS partition`,
      hint: 'check the region in the trust anchor ARN, or set rolesAnywhere.endpoint to the CreateSession URL',
      details: { region },
    });
  }
  let suffix = partition.dnsSuffix;
  if (i.dualStack) {
    if (!partition.dualStackDnsSuffix) {
      throw new AgentError({
        code: 'ENDPOINT_INVALID',
        component,
        message: `partition ${partition.id} (region ${region}) has no dual-stack endpoint`,
        hint: 'turn dualStack off for this region',
      });
    }
    suffix = partition.dualStackDnsSuffix;
  }
  const url = new URL(`https://rolesanywhere${fips ? '-fips' : ''}.${region}.${suffix}/`);
  return { url, region, partition: partition.id };
}

/** localhost, 127.0.0.0/8 and ::1 (core/net.ts): the only hosts that may be reached without TLS. */
export { isLoopbackHost };

function explicitEndpoint(value: string): URL {
  let url: URL;
  const invalid = (why: string, hint: string) =>
    new AgentError({ code: 'ENDPOINT_INVALID', component, message: `endpoint ${value} ${why}`, hint, details: { endpoint: value } });
  try {
    url = new URL(value);
  } catch {
    throw invalid('is not a URL', 'give an absolute URL such as https://rolesanywhere.eu-west-1.amazonaws.com');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid(`uses ${url.protocol}`, 'use https://');
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw invalid('uses plain http to a non-loopback host', 'use https://; plain http is allowed only for 127.0.0.1, ::1 and localhost (the sandbox)');
  }
  if (url.username || url.password) throw invalid('contains credentials', 'remove user:password from the URL');
  // The canonical URI is the literal /sessions (the credential helper hard-codes it too), so a base path could
  // only produce signatures the service rejects.
  if (url.pathname !== '/' || url.search || url.hash)
    throw invalid('has a path, query or fragment', 'give only scheme, host and port; the agent posts to /sessions');
  return url;
}
