/**
 * One HTTP(S) POST over node:http / node:https. CreateSession is the only request the credential path makes, and
 * the global fetch would load undici (~15 ms of module evaluation, more than the request itself on a cold
 * `credential-process`). node:https (and TLS under it) is loaded only for an https: endpoint.
 */
import http from 'node:http';

export interface PostResult {
  status: number;
  /** response headers, lower-case names (repeated headers joined with ", ") */
  header(name: string): string | undefined;
  text: string;
}

/** A body larger than this is not a CreateSession answer; reading it whole would only cost memory. */
const MAX_BODY_BYTES = 1024 * 1024;

/**
 * POSTs `body` with exactly `headers` (Host included: it is signed, so it is sent as signed). Never follows a
 * redirect (a 3xx is a status like any other). Rejects on a network failure, with the socket error itself (its
 * `code`, e.g. ECONNREFUSED), or with the signal's reason once `signal` fires.
 */
export async function post(url: URL, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<PostResult> {
  const client = url.protocol === 'https:' ? (await import('node:https')).default : http;
  const payload = Buffer.from(body, 'utf8');
  return new Promise((resolve, reject) => {
    const req = client.request(url, { method: 'POST', headers: { ...headers, 'content-length': String(payload.length) }, signal }, (res) => {
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
    req.on('error', reject);
    req.end(payload);
  });
}
