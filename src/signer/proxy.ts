/**
 * CreateSession through an HTTP proxy: the AWS credential helper's --with-proxy, which is Go's
 * `http.ProxyFromEnvironment` (golang.org/x/net/http/httpproxy). Loaded by transport.ts only when
 * rolesAnywhere.withProxy is set and a proxy variable is, so the direct path never evaluates this or the agents.
 *
 * The decision follows Go's rules, not proxy-from-env's (curl/npm conventions): a drop-in must proxy exactly the
 * requests the helper proxies.
 * - $HTTPS_PROXY, else $https_proxy, for an https: URL; $HTTP_PROXY, else $http_proxy, for an http: one (refused when
 *   $REQUEST_METHOD is set: a CGI request can set HTTP_PROXY through a `Proxy:` header, golang.org/s/cgihttpproxy).
 *   No ALL_PROXY. A value without a scheme is http://VALUE.
 * - Never for `localhost` or a loopback IP.
 * - $NO_PROXY, else $no_proxy: comma-separated; `*` is everything; an IP or CIDR matches addresses; `example.com`
 *   matches it and its subdomains, `.example.com` and `*.example.com` the subdomains only; `:PORT` restricts an entry.
 *
 * The transport itself is TooTallNate's agents: https-proxy-agent (CONNECT, then TLS with the endpoint through the
 * tunnel, so the proxy never sees the signed request) and http-proxy-agent (absolute-form request).
 */
import type { Agent, ClientRequest } from 'node:http';
import net from 'node:net';
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { AgentError } from '../core/errors.js';

const component = 'rolesanywhere';

export interface ProxyChoice {
  /** the proxy without user:password, safe to show */
  proxy: URL;
  /** the environment variable it came from */
  variable: string;
  /** `Basic …` from the proxy URL's user:password, sent as Proxy-Authorization */
  authorization?: string;
}

const pick = (env: NodeJS.ProcessEnv, ...names: string[]): [string, string] | undefined => {
  for (const n of names) {
    const v = env[n];
    if (v) return [n, v];
  }
  return undefined;
};

/** The proxy Go's ProxyFromEnvironment picks for `url`, or undefined for a direct connection. */
export function proxyFor(url: URL, env: NodeJS.ProcessEnv): ProxyChoice | undefined {
  const https = url.protocol === 'https:';
  const found = https ? pick(env, 'HTTPS_PROXY', 'https_proxy') : url.protocol === 'http:' ? pick(env, 'HTTP_PROXY', 'http_proxy') : undefined;
  if (!found) return undefined;
  const [variable, value] = found;
  if (!https && env.REQUEST_METHOD) {
    throw new AgentError({
      code: 'PROXY_INVALID',
      component,
      message: `refusing to use ${variable} in a CGI environment (REQUEST_METHOD is set)`,
      hint: 'a CGI request can set HTTP_PROXY through its Proxy: header (golang.org/s/cgihttpproxy); unset it or drop --with-proxy',
    });
  }
  const hostname = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port || (https ? '443' : '80');
  if (hostname === 'localhost' || isLoopbackIp(hostname)) return undefined;
  if (excluded(hostname, port, pick(env, 'NO_PROXY', 'no_proxy')?.[1] ?? '')) return undefined;
  return parseProxy(variable, value);
}

/** 127.0.0.0/8 and ::1; an IPv4-mapped IPv6 address (::ffff:7f00:1) is checked by the IPv4 rule (as Go's IsLoopback) */
function isLoopbackIp(host: string): boolean {
  const v = net.isIP(host);
  if (!v) return false;
  const block = new net.BlockList();
  block.addSubnet('127.0.0.0', 8, 'ipv4');
  block.addAddress('::1', 'ipv6');
  return block.check(host, v === 4 ? 'ipv4' : 'ipv6');
}

/** httpproxy's useProxy, the NO_PROXY half: true when an entry matches host:port. */
function excluded(host: string, port: string, noProxy: string): boolean {
  const ipKind = net.isIP(host);
  for (const raw of noProxy.split(',')) {
    const p = raw.trim().toLowerCase();
    if (!p) continue;
    if (p === '*') return true;
    const cidr = /^(.+)\/(\d{1,3})$/.exec(p);
    if (cidr) {
      const kind = net.isIP(cidr[1]!);
      if (kind && ipKind === kind) {
        const block = new net.BlockList();
        try {
          block.addSubnet(cidr[1]!, Number(cidr[2]), kind === 4 ? 'ipv4' : 'ipv6');
          if (block.check(host, kind === 4 ? 'ipv4' : 'ipv6')) return true;
        } catch {
          // a prefix length out of range: Go's ParseCIDR rejects it too, and the entry then matches nothing
        }
      }
      continue;
    }
    // host:port, [v6]:port, or a bare host / IP
    const hp = /^\[([^\]]*)\](?::(\d*))?$/.exec(p) ?? (net.isIP(p) ? undefined : /^([^:]*):(\d*)$/.exec(p));
    let entryHost = hp ? hp[1]! : p;
    const entryPort = hp?.[2] ?? '';
    if (!entryHost) continue;
    if (net.isIP(entryHost)) {
      if (ipKind && sameIp(entryHost, host) && (entryPort === '' || entryPort === port)) return true;
      continue;
    }
    if (ipKind) continue;
    if (entryHost.startsWith('*.')) entryHost = entryHost.slice(1);
    const matchHost = !entryHost.startsWith('.');
    const suffix = matchHost ? `.${entryHost}` : entryHost;
    if ((host.endsWith(suffix) || (matchHost && host === entryHost)) && (entryPort === '' || entryPort === port)) return true;
  }
  return false;
}

function sameIp(a: string, b: string): boolean {
  const kind = net.isIP(a);
  if (kind !== net.isIP(b)) return false;
  const block = new net.BlockList();
  block.addAddress(a, kind === 4 ? 'ipv4' : 'ipv6');
  return block.check(b, kind === 4 ? 'ipv4' : 'ipv6');
}

function parseProxy(variable: string, value: string): ProxyChoice {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    // Go: a value that does not parse with a scheme and host is tried as http://VALUE
  }
  if (!url?.host) {
    try {
      url = new URL(`http://${value}`);
    } catch {
      url = undefined;
    }
  }
  const invalid = (why: string, hint: string) =>
    new AgentError({ code: 'PROXY_INVALID', component, message: `${variable} ${why}`, hint, details: { variable } });
  if (!url?.hostname) throw invalid('is not a proxy URL', `set ${variable} to http://HOST:PORT (or unset it, or drop --with-proxy)`);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid(`names a ${url.protocol.slice(0, -1)} proxy`, 'only http:// and https:// proxies are supported for CreateSession');
  }
  const authorization =
    url.username || url.password
      ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`
      : undefined;
  // from here on the URL holds no secret: neither our messages nor the agents' debug output can show one
  url.username = '';
  url.password = '';
  return { proxy: url, variable, ...(authorization ? { authorization } : {}) };
}

/** The proxy as a message shows it: origin only, never user:password. */
export function shownProxy(c: ProxyChoice): string {
  return `${c.proxy.origin} (from ${c.variable})`;
}

/** An agent for one request through the chosen proxy (no keep-alive: one CreateSession per attempt). */
export function proxyAgent(c: ProxyChoice, target: URL): Agent {
  const headers = c.authorization ? { 'Proxy-Authorization': c.authorization } : {};
  return target.protocol === 'https:' ? new HttpsProxyAgent(c.proxy, { headers }) : new HttpProxyAgent(c.proxy, { headers });
}

/**
 * Turns the proxy's own failures into errors that name it: an unreachable proxy (before the tunnel or the request
 * reached it), or a CONNECT answer other than 200 (https-proxy-agent would hand that answer to the request as if
 * the endpoint had sent it). `fail` rejects the request's promise; it is called once at most.
 */
export function watchProxy(req: ClientRequest, c: ProxyChoice, target: URL, fail: (e: AgentError) => void): void {
  let reached = false;
  req.once('proxyConnect', (res: { statusCode: number; statusText?: string }) => {
    reached = true;
    if (res.statusCode === 200) return;
    const retryable = res.statusCode >= 500;
    fail(
      new AgentError({
        code: res.statusCode === 407 ? 'PROXY_AUTH_REQUIRED' : 'PROXY_REFUSED',
        component,
        message: `proxy ${shownProxy(c)} refused the tunnel to ${target.host}: HTTP ${res.statusCode}${res.statusText ? ` ${res.statusText}` : ''}`,
        hint:
          res.statusCode === 407
            ? `the proxy wants credentials: put them in ${c.variable} (http://USER:PASSWORD@HOST:PORT), or check the ones there`
            : retryable
              ? `the proxy could not reach ${target.host}: check its outbound access and DNS for that name`
              : `check that the proxy allows CONNECT to ${target.host}:${target.port || 443}, or add ${target.hostname} to NO_PROXY`,
        details: { proxy: c.proxy.origin, variable: c.variable, status: res.statusCode, ...(retryable ? { retryable: true } : {}) },
      }),
    );
    req.destroy();
  });
  // the agents hand the request its socket only once the proxy is connected (and, for https, the tunnel is up)
  req.once('socket', () => {
    reached = true;
  });
  req.on('error', (e: NodeJS.ErrnoException) => {
    // a failure after the proxy answered belongs to the endpoint (TLS through the tunnel, a reset): the caller's
    if (reached) return;
    fail(
      new AgentError({
        code: 'PROXY_UNREACHABLE',
        component,
        message: `cannot reach proxy ${shownProxy(c)} for ${target.origin}: ${e.code ?? e.message}`,
        hint: `check ${c.variable} (host and port), that the proxy runs and accepts connections from this host, or add ${target.hostname} to NO_PROXY`,
        cause: e,
        details: { proxy: c.proxy.origin, variable: c.variable, retryable: true },
      }),
    );
  });
}
