/**
 * The server side of `npm run bench -- imds`, run in its own process so the load generator does not share its
 * event loop: `node imds-server.js imds|bare` listens on 127.0.0.1:0 and prints `<url> <token>` on stdout.
 * - imds: startImdsServer with one role whose provider holds fresh credentials in memory (peek answers, as a warm `serve`)
 * - bare: node:http answering the same path with a JSON body of the same size, nothing else (the floor)
 */
import http from 'node:http';
import type net from 'node:net';
import { systemClock } from '../../src/core/clock.js';
import { memoryLogger } from '../../src/core/logger.js';
import { startImdsServer } from '../../src/vend/imds.js';
import { fakeCreds } from '../vend/fixtures.js';

const kind = process.argv[2];
// exit (not die) on SIGTERM, so --cpu-prof can write its profile when the bench stops the server
process.on('SIGTERM', () => process.exit(0));
const creds = fakeCreds(new Date(Date.now() + 3600_000), 'BENCH');
if (kind === 'imds') {
  const logger = { ...memoryLogger(), debug: () => undefined }; // as `serve` at the default level: debug is off
  const s = await startImdsServer({
    roles: new Map([['app', { get: async () => creds, peek: () => creds }]]),
    listen: { host: '127.0.0.1', port: 0 },
    clock: systemClock,
    logger,
  });
  const res = await fetch(new URL('/latest/api/token', s.url), { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '21600' } });
  process.stdout.write(`${s.url} ${await res.text()}\n`);
} else if (kind === 'bare') {
  const body = JSON.stringify({
    Code: 'Success',
    LastUpdated: new Date().toISOString(),
    Type: 'AWS-HMAC',
    AccessKeyId: creds.accessKeyId,
    SecretAccessKey: creds.secretAccessKey,
    Token: creds.sessionToken,
    Expiration: creds.expiration.toISOString(),
  });
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/ none\n`));
} else {
  process.stderr.write('usage: imds-server.js imds|bare\n');
  process.exit(2);
}
