import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { createLineLogger } from '../../src/core/line-logger.js';
import type { Logger } from '../../src/core/log-types.js';
import { createLogger } from '../../src/core/logger.js';

/** The same calls through a logger, and the lines it wrote. */
async function lines(make: (stream: NodeJS.WritableStream) => Logger): Promise<string[]> {
  const stream = new PassThrough();
  let out = '';
  stream.on('data', (d: Buffer) => (out += d.toString()));
  const log = make(stream);
  log.info('imds listening', { url: 'http://127.0.0.1:9911/', hopLimit: 1 });
  log.debug('dropped at info level', { n: 1 });
  log.warn('credentials refresh failed', { code: 'X', nested: { z: 1, a: [1, 'two'], secretAccessKey: 'AKIA' }, when: new Date(0), missing: undefined });
  log.child({ component: 'rolesanywhere', endpoint: 'http://e' }).error('CreateSession failed', { status: 500, token: 'sekrit' });
  await new Promise((r) => setImmediate(r)); // winston writes through its streams asynchronously
  return out.split('\n').filter((l) => l !== '');
}

const AT = new Date('2026-03-01T10:00:00.000Z');

describe('line logger (serve) writes what the winston logger (CLI) writes', () => {
  it('json: the same objects, keys sorted at every level, secrets redacted, disabled levels dropped', async () => {
    const winstonLines = await lines((stream) => createLogger({ level: 'info', format: 'json', stream }));
    const ours = await lines((stream) => createLineLogger({ level: 'info', format: 'json', stream, now: () => AT }));
    assert.equal(ours.length, 3);
    assert.equal(winstonLines.length, 3);
    // winston stamps its own clock: compare with the timestamp set aside, and the byte shape with it replaced
    for (let i = 0; i < 3; i++) {
      const w = JSON.parse(winstonLines[i]!) as Record<string, unknown>;
      const o = JSON.parse(ours[i]!) as Record<string, unknown>;
      assert.match(String(w.timestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.equal(o.timestamp, AT.toISOString());
      assert.equal(ours[i], winstonLines[i]!.replace(String(w.timestamp), AT.toISOString()));
    }
    assert.doesNotMatch(ours.join('\n'), /sekrit|AKIA/);
  });

  it('text: identical lines', async () => {
    const winstonLines = await lines((stream) => createLogger({ level: 'info', format: 'text', stream }));
    const ours = await lines((stream) => createLineLogger({ level: 'info', format: 'text', stream, now: () => AT }));
    assert.deepEqual(ours, winstonLines);
    assert.equal(ours[0], 'info: imds listening url=http://127.0.0.1:9911/ hopLimit=1');
  });

  it('debug level: debug lines are written', async () => {
    const ours = await lines((stream) => createLineLogger({ level: 'debug', format: 'text', stream, now: () => AT }));
    assert.equal(ours[1], 'debug: dropped at info level n=1');
  });
});
