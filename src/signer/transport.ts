/**
 * One HTTP(S) POST over node:http / node:https. CreateSession is the only request the credential path makes, and
 * the global fetch would load undici (~15 ms of module evaluation, more than the request itself on a cold
 * `credential-process`). node:https (and TLS under it) is loaded only for an https: endpoint, the proxy code
 * (signer/proxy.ts and its agents) only for a request that goes through a proxy.
 */
import http from 'node:http';

export interface PostResult {
  status: number;
  /** response headers, lower-case names (repeated headers joined with ", ") */
  header(name: string): string | undefined;
  text: string;
}

export interface PostOptions {
  /**
   * rolesAnywhere.withProxy (the helper's --with-proxy): go through the proxy $HTTPS_PROXY / $HTTP_PROXY name,
   * by Go's ProxyFromEnvironment rules (signer/proxy.ts), which is loaded only when such a variable is set.
   */
  proxy?: boolean;
  /** where the proxy variables are read (default process.env) */
  env?: NodeJS.ProcessEnv;
}

const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'] as const;

/** A body larger than this is not a CreateSession answer; reading it whole would only cost memory. */
const MAX_BODY_BYTES = 1024 * 1024;

/**
 * POSTs `body` with exactly `headers` (Host included: it is signed, so it is sent as signed). Never follows a
 * redirect (a 3xx is a status like any other). Rejects on a network failure, with the socket error itself (its
 * `code`, e.g. ECONNREFUSED), or with the signal's reason once `signal` fires; through a proxy, the proxy's own
 * failures (unreachable, a refused CONNECT) reject with an AgentError that names it, without its credentials.
 */
export async function post(url: URL, headers: Record<string, string>, body: string, signal: AbortSignal, opts: PostOptions = {}): Promise<PostResult> {
  const client = url.protocol === 'https:' ? (await import('node:https')).default : http;
  const payload = Buffer.from(body, 'utf8');
  const env = opts.env ?? process.env;
  const proxy = opts.proxy && PROXY_VARIABLES.some((v) => env[v]) ? await import('./proxy.js') : undefined;
  const choice = proxy?.proxyFor(url, env);
  const agent = choice ? proxy!.proxyAgent(choice, url) : undefined;
  return new Promise((resolve, reject) => {
    const options = { method: 'POST', headers: { ...headers, 'content-length': String(payload.length) }, signal, ...(agent ? { agent } : {}) };
    const req = client.request(url, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES) {
          res.destroy(new Error(`response body larger than ${MAX_BODY_BYTES} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('error', reject);
      res.on('end', () => {
        const h = res.headers;
        resolve({
          status: res.statusCode ?? 0,
          header: (name) => {
            const v = h[name.toLowerCase()];
            return Array.isArray(v) ? v.join(', ') : v;
          },
          text: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    // first, so that the proxy's own failures reject with an error naming it
    if (choice) proxy!.watchProxy(req, choice, url, reject);
    req.on('error', reject);
    req.end(payload);
  });
}
