import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fixedClock } from '../../../src/core/clock.js';
import { createTokenIssuer } from '../../../src/vend/imds/tokens.js';

const T0 = new Date('2026-03-01T10:00:00.000Z');

describe('stateless IMDSv2 tokens', () => {
  it('56 base64url characters, unique, valid for their TTL by the clock (remaining seconds rounded up)', () => {
    const clock = fixedClock(T0);
    const tokens = createTokenIssuer(clock);
    const a = tokens.issue(60);
    const b = tokens.issue(60);
    assert.match(a, /^[A-Za-z0-9_-]{56}$/);
    assert.notEqual(a, b);
    assert.equal(tokens.remainingSeconds(a), 60);
    clock.set(new Date(T0.getTime() + 59_500));
    assert.equal(tokens.remainingSeconds(a), 1);
    clock.set(new Date(T0.getTime() + 60_000));
    assert.equal(tokens.remainingSeconds(a), undefined);
  });

  it('any change, another key, or a malformed string is refused', () => {
    const clock = fixedClock(T0);
    const key = Buffer.alloc(32, 7);
    const tokens = createTokenIssuer(clock, key);
    const t = tokens.issue(21600);
    for (let i = 0; i < t.length; i++) {
      const altered = t.slice(0, i) + (t[i] === 'x' ? 'y' : 'x') + t.slice(i + 1);
      assert.equal(tokens.remainingSeconds(altered), undefined, `changed at ${i}`);
    }
    assert.equal(createTokenIssuer(clock, Buffer.alloc(32, 8)).remainingSeconds(t), undefined);
    assert.equal(createTokenIssuer(clock, key).remainingSeconds(t), 21600, 'the same key validates (tokens carry no server state)');
    for (const bad of ['', 'x', t.slice(1), `${t}A`, `${t.slice(0, 55)}=`, `${t.slice(0, 55)}+`, t.replace(/./, ' ')])
      assert.equal(tokens.remainingSeconds(bad), undefined, bad);
  });

  it('a million issued tokens need no memory: nothing is stored per token', () => {
    const tokens = createTokenIssuer(fixedClock(T0));
    const first = tokens.issue(600);
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1_000_000; i++) tokens.issue(600);
    assert.ok(process.memoryUsage().heapUsed - before < 64 * 1024 * 1024);
    assert.equal(tokens.remainingSeconds(first), 600);
  });
});
