import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLoopbackHost } from '../../src/core/net.js';

describe('core/net isLoopbackHost (the one loopback test)', () => {
  it('accepts localhost names, 127.0.0.0/8, ::1 and IPv4-mapped loopback (as a peer address reads)', () => {
    for (const h of [
      'localhost',
      'LOCALHOST',
      'a.localhost',
      '127.0.0.1',
      '127.1.2.3',
      '127.255.255.255',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
      '[::ffff:127.0.0.2]',
    ])
      assert.equal(isLoopbackHost(h), true, h);
  });
  it('refuses everything else, including look-alikes that a prefix test would pass', () => {
    for (const h of [
      '',
      '10.0.0.1',
      '128.0.0.1',
      '0.0.0.0',
      '::',
      '::2',
      '[::2]',
      '::ffff:10.0.0.1',
      '127.999.0.1',
      '127.0.0.1.example.com',
      'localhost.example.com',
      'example.com',
      '127',
    ])
      assert.equal(isLoopbackHost(h), false, h);
  });
});
