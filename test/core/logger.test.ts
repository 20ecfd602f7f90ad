import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../../src/core/logger.js';

function sink() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString('utf8')));
  return { stream, lines: () => text.split('\n').filter(Boolean) };
}

test('entries below the level are dropped; the rest reach the stream as JSON lines with child fields, secrets redacted', async () => {
  const s = sink();
  const log = createLogger({ level: 'warn', format: 'json', stream: s.stream });
  log.info('not written');
  log.debug('not written either');
  const child = log.child({ component: 'rolesanywhere', sessionToken: 'tok' });
  child.info('still not written');
  child.warn('CreateSession failed; retrying', { attempt: 1, secretAccessKey: 'abc', credentialsFile: '/etc/x' });
  log.error('plain');
  await new Promise((r) => setImmediate(r));
  const [a, b, ...rest] = s.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(rest.length, 0);
  assert.equal(a!.message, 'CreateSession failed; retrying');
  assert.equal(a!.level, 'warn');
  assert.equal(a!.component, 'rolesanywhere');
  assert.equal(a!.sessionToken, '[redacted]');
  assert.equal(a!.secretAccessKey, '[redacted]');
  assert.equal(a!.credentialsFile, '/etc/x');
  assert.equal(a!.attempt, 1);
  assert.ok(typeof a!.timestamp === 'string');
  assert.deepEqual([b!.level, b!.message, b!.component], ['error', 'plain', undefined]);
});

test('text format: level, sentence and fields on one line', async () => {
  const s = sink();
  const log = createLogger({ level: 'debug', format: 'text', stream: s.stream });
  log.child({ component: 'vend' }).debug('cache hit', { file: '/run/c.json', left: { s: 5 } });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(s.lines(), ['debug: cache hit component=vend file=/run/c.json left={"s":5}']);
});
