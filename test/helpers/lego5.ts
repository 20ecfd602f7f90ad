import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { lego5Bin } from './paths.js';

/**
 * lego v5.6.0 (test/peers/lego5: lego's library and its route53 provider, aws-sdk-go-v2) as an interop peer and
 * benchmark baseline. It reaches the Route 53 stand-in the way lego's users point it anywhere, with
 * AWS_ENDPOINT_URL_ROUTE_53; it checks propagation at the sandbox's DNS server only (-dns-resolver, with the
 * authoritative-NS lookup off), so it never asks the machine's own resolver — `traceConnects` proves it.
 */

export interface Lego5Options {
  /** HOME and working directory (lego reads no files from it; the strace log goes here) */
  dir: string;
  directoryUrl: string;
  /** PEM of the CA of the ACME server's TLS listener (LEGO_CA_CERTIFICATES) */
  acmeCaPath: string;
  /** host:port of the sandbox's DNS server */
  dnsServer: string;
  /** the sandbox's AWS front (AWS_ENDPOINT_URL_ROUTE_53) */
  route53Url: string;
  domains: string[];
  /** AWS credentials for Route 53, by environment as lego's users give them */
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** AWS_HOSTED_ZONE_ID: then lego needs no ListHostedZonesByName */
  hostedZoneId?: string;
  /** route53 PollingInterval (GetChange polling and the wait before each propagation check); unset: lego's 4 s */
  pollingIntervalMs?: number;
  /** route53 PropagationTimeout; unset: lego's 2 min */
  propagationTimeoutMs?: number;
  profile?: string;
  /** where lego writes the certificate (leaf, then the issuer) */
  certPath: string;
  keyPath?: string;
  /** run lego under strace and return every address it connected or sent to */
  traceConnects?: boolean;
  timeoutMs?: number;
}

/** lego5's one JSON line on stdout */
export interface Lego5Timings {
  registerMs: number;
  obtainMs: number;
  totalMs: number;
  pollingIntervalMs: number;
  propagationTimeoutMs: number;
}

export interface Lego5Result {
  code: number | null;
  stdout: string;
  stderr: string;
  /** wall time of the process, as the caller saw it */
  ms: number;
  timings?: Lego5Timings;
  /** with traceConnects: "inet 127.0.0.1:443", "inet6 ::1:53", "unix /path" for each connect/sendto/sendmsg */
  connects?: string[];
}

/** one lego v5 order for `domains` with the route53 DNS-01 provider; resolves with the exit code (never rejects on failure) */
export function lego5Run(o: Lego5Options): Promise<Lego5Result> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: o.dir,
    AWS_ENDPOINT_URL_ROUTE_53: o.route53Url,
    AWS_ACCESS_KEY_ID: o.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: o.credentials.secretAccessKey,
    ...(o.credentials.sessionToken ? { AWS_SESSION_TOKEN: o.credentials.sessionToken } : {}),
    AWS_REGION: 'us-east-1',
    // no shared config files and no instance metadata: the keys above are the only credentials lego sees
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...(o.hostedZoneId ? { AWS_HOSTED_ZONE_ID: o.hostedZoneId } : {}),
    LEGO_CA_CERTIFICATES: o.acmeCaPath,
  };
  const args = ['-server', o.directoryUrl, '-domains', o.domains.join(','), '-dns-resolver', o.dnsServer, '-cert', o.certPath];
  if (o.keyPath) args.push('-key', o.keyPath);
  if (o.pollingIntervalMs !== undefined) args.push('-polling-interval', `${o.pollingIntervalMs}ms`);
  if (o.propagationTimeoutMs !== undefined) args.push('-propagation-timeout', `${o.propagationTimeoutMs}ms`);
  if (o.profile) args.push('-profile', o.profile);
  const trace = path.join(o.dir, 'lego5.strace');
  const [cmd, argv] = o.traceConnects
    ? ['strace', ['-f', '-qq', '-e', 'signal=none', '-e', 'trace=connect,sendto,sendmsg,sendmmsg', '-o', trace, lego5Bin, ...args]]
    : [lego5Bin, args];
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, argv, { env, cwd: o.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      const line = stdout.trim().split('\n').pop() ?? '';
      const timings = code === 0 && line.startsWith('{') ? (JSON.parse(line) as Lego5Timings) : undefined;
      resolve({
        code,
        stdout,
        stderr,
        ms,
        ...(timings ? { timings } : {}),
        ...(o.traceConnects ? { connects: socketAddresses(readFileSync(trace, 'utf8')) } : {}),
      });
    });
  });
}

/** the socket addresses in an strace log, in order */
export function socketAddresses(trace: string): string[] {
  const out: string[] = [];
  const re =
    /sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)|sa_family=AF_INET6, sin6_port=htons\((\d+)\),[^}]*?inet_pton\(AF_INET6, "([^"]+)"|sa_family=AF_UNIX, sun_path=("[^"]*"|@"[^"]*")|sa_family=(AF_[A-Z0-9]+)/g;
  for (const m of trace.matchAll(re)) {
    if (m[2] !== undefined) out.push(`inet ${m[2]}:${m[1]}`);
    else if (m[4] !== undefined) out.push(`inet6 ${m[4]}:${m[3]}`);
    else if (m[5] !== undefined) out.push(`unix ${m[5]}`);
    else out.push(`${m[6]}`);
  }
  return out;
}

/** an address socketAddresses returned is on loopback (a unix socket counts: it never leaves the machine) */
export function isLoopbackAddress(a: string): boolean {
  return /^inet 127\.\d+\.\d+\.\d+:\d+$/.test(a) || /^inet6 ::1:\d+$/.test(a) || /^inet6 ::ffff:127\.[\d.]+:\d+$/.test(a) || a.startsWith('unix ');
}
