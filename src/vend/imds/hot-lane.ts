/**
 * The hot lane in front of Node's HTTP server. Nearly every request an IMDS endpoint gets is the same one: a
 * keep-alive GET of the role's credentials with a token, answered from memory. Node's http module spends most of
 * that request's CPU on its own machinery (an IncomingMessage and a ServerResponse stream per request, header
 * objects, events), which capped `serve` below the AWS helper's Go server (a single-threaded bare node:http server
 * is at the same ceiling). So each accepted connection first meets this lane:
 *
 * - a data chunk that is exactly one complete request head in the strict form below is answered here, with the
 *   same bytes Node would send, when the routes say it is the hot request (`HotAnswer`: same Host, token, method
 *   and freshness checks as the full handler);
 * - anything else (another route, a refusal, a partial or pipelined chunk, a body, `Connection: close`, HTTP/1.0,
 *   an unusual header, a duplicate Host) hands the connection, with that chunk, to the http.Server for good: its
 *   parser (llhttp), timeouts and error handling are unchanged for everything that is not the hot request.
 *
 * The strict form accepts only what has one reading in every HTTP/1.1 parser, so the lane and llhttp can never
 * disagree about a request: `GET <plain path> HTTP/1.1`, header lines `name: value` of a token name and visible
 * ASCII, no obs-fold, no bare CR or LF, no header that changes framing or the connection (Content-Length,
 * Transfer-Encoding, Connection other than keep-alive, Upgrade, Expect, TE, Trailer), Host and the token once each.
 */
import type http from 'node:http';
import type { Socket } from 'node:net';

/** The hot request's fields, as the routes check them. */
export interface HotRequest {
  path: string;
  host: string;
  token: string;
}

/**
 * The complete response (status line, headers, body) for a hot request, or undefined when the full handler must
 * answer it (any refusal, a refresh due, another route): the routes decide, the lane only parses.
 */
export type HotAnswer = (r: HotRequest, localAddress: string | undefined, keepAliveSeconds: number) => string | undefined;

export interface HotLane {
  /** destroys the connections the lane still holds (the http.Server's closeAllConnections knows only its own) */
  closeAll(): void;
}

/**
 * After an answer the event loop keeps polling (without blocking) this long before it sleeps in epoll_wait. A
 * client's next request usually follows within microseconds (an SDK's token PUT then its GET; any keep-alive loop),
 * and on a virtual machine an idle CPU that went to sleep takes tens of microseconds to wake: measured here, a
 * single keep-alive client got 3× the answers per second with it (wrk -c1: ~11k → ~33k req/s). Go's scheduler does
 * the same (its threads spin before they park). The cost is bounded: at most this much CPU per burst of requests.
 */
const POLL_AFTER_ANSWER_NS = 50_000n;

/** Heads longer than this go to llhttp (client requests for credentials are a few hundred bytes). */
const MAX_HEAD = 4096;
const REQUEST_LINE = /^GET (\/[\w\-/]*) HTTP\/1\.1$/;
/** a token name, the colon, then a visible-ASCII value with optional surrounding blanks (RFC 9110 §5) */
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?)?[ \t]*$/;
/** headers whose presence sends the request to llhttp: they frame a body or change the connection */
const FULL_PARSER_HEADERS = new Set(['content-length', 'transfer-encoding', 'upgrade', 'expect', 'te', 'trailer', 'x-forwarded-for']);

/** The hot request in `head`, or undefined when it is not exactly one request head in the strict form. */
export function parseHotHead(head: string): HotRequest | undefined {
  if (head.length > MAX_HEAD || head.indexOf('\r\n\r\n') !== head.length - 4) return undefined;
  let eol = head.indexOf('\r\n');
  const line = REQUEST_LINE.exec(head.slice(0, eol));
  if (!line) return undefined;
  let host: string | undefined;
  let token: string | undefined;
  const end = head.length - 2;
  for (let at = eol + 2; at < end; at = eol + 2) {
    eol = head.indexOf('\r\n', at);
    const h = HEADER_LINE.exec(head.slice(at, eol));
    if (!h) return undefined;
    const name = h[1]!.toLowerCase();
    const value = h[2] ?? '';
    if (name === 'host') {
      if (host !== undefined) return undefined;
      host = value;
    } else if (name === 'x-aws-ec2-metadata-token') {
      if (token !== undefined) return undefined;
      token = value;
    } else if (name === 'connection') {
      if (value.toLowerCase() !== 'keep-alive') return undefined;
    } else if (FULL_PARSER_HEADERS.has(name)) return undefined;
  }
  if (host === undefined || token === undefined || token === '') return undefined;
  return { path: line[1]!, host, token };
}

/**
 * Puts the lane in front of `server` (before it listens): the server's own 'connection' listener (Node's HTTP
 * connection setup) runs only when a connection is handed over.
 */
export function installHotLane(server: http.Server, answer: HotAnswer, o: { unixSocket: boolean }): HotLane {
  const [nodeHttp, ...others] = server.listeners('connection') as ((s: Socket) => void)[];
  if (!nodeHttp || others.length > 0) throw new Error('installHotLane: expected exactly the http.Server connection listener');
  server.removeListener('connection', nodeHttp);
  const held = new Set<Socket>();
  // one poll window for the whole server, moved forward by every answer; setImmediate makes libuv poll with a zero
  // timeout instead of blocking
  let pollUntil = 0n;
  let polling = false;
  const poll = () => {
    if (process.hrtime.bigint() < pollUntil) setImmediate(poll);
    else polling = false;
  };
  const keepPolling = () => {
    pollUntil = process.hrtime.bigint() + POLL_AFTER_ANSWER_NS;
    if (!polling) {
      polling = true;
      setImmediate(poll);
    }
  };

  server.on('connection', (socket: Socket) => {
    held.add(socket);
    // before the first request the server's header timeout applies, between requests its keep-alive timeout
    socket.setTimeout(server.headersTimeout || server.keepAliveTimeout);
    const keepAliveSeconds = Math.floor(server.keepAliveTimeout / 1000);
    let answered = false;

    const onData = (chunk: Buffer) => {
      const req = parseHotHead(chunk.toString('latin1'));
      const reply = req && answer(req, o.unixSocket ? undefined : socket.localAddress, keepAliveSeconds);
      if (reply === undefined) return handOver(chunk);
      if (!answered) {
        answered = true;
        socket.setTimeout(server.keepAliveTimeout);
      }
      // a client that sends without reading must not grow our write buffer: stop reading until it drains
      if (!socket.write(reply)) {
        socket.pause();
        socket.once('drain', () => socket.resume());
      }
      keepPolling();
    };
    const onTimeout = () => socket.destroy();
    // http.Server sockets are half-open capable (so Node can finish a response): every answer here is already
    // written when the client's FIN arrives
    const onEnd = () => socket.end();
    const onError = () => socket.destroy();
    const forget = () => held.delete(socket);

    const handOver = (chunk: Buffer) => {
      socket.off('data', onData);
      socket.off('timeout', onTimeout);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.off('close', forget);
      held.delete(socket);
      socket.setTimeout(0);
      // the chunk goes back in front of the stream; Node's connection setup then reads it as the first bytes
      socket.pause();
      socket.unshift(chunk);
      nodeHttp.call(server, socket);
      socket.resume();
    };

    socket.on('data', onData);
    socket.on('timeout', onTimeout);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', forget);
  });

  return {
    closeAll() {
      for (const s of held) s.destroy();
      held.clear();
    },
  };
}
