import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostAllowed } from '../../../src/vend/imds/host.js';

describe('Host check against DNS rebinding', () => {
  it('TCP: localhost or the connection’s local address, with or without a port', () => {
    for (const [host, local] of [
      ['localhost', '127.0.0.1'],
      ['LOCALHOST:9911', '127.0.0.1'],
      ['127.0.0.1', '127.0.0.1'],
      ['127.0.0.1:9911', '127.0.0.1'],
      ['127.0.0.1:9911', '::ffff:127.0.0.1'],
      ['[::1]:9911', '::1'],
      ['[0:0:0:0:0:0:0:1]', '::1'],
      ['172.17.0.1:9911', '172.17.0.1'],
    ] as const)
      assert.equal(hostAllowed(host, local), true, `${host} on ${local}`);
    for (const [host, local] of [
      [undefined, '127.0.0.1'],
      ['', '127.0.0.1'],
      ['evil.example.com', '127.0.0.1'],
      ['evil.example.com:9911', '127.0.0.1'],
      ['localhost.evil.example.com', '127.0.0.1'],
      ['localhost.', '127.0.0.1'],
      ['sub.localhost', '127.0.0.1'],
      ['127.0.0.2', '127.0.0.1'],
      ['127.1', '127.0.0.1'],
      ['[::1]', '127.0.0.1'],
      ['127.0.0.1', '::1'],
      ['[::ffff:127.0.0.1]', '127.0.0.1'],
      ['127.0.0.1:99999', '127.0.0.1'],
      ['127.0.0.1:', '127.0.0.1'],
      ['user@127.0.0.1', '127.0.0.1'],
      ['127.0.0.1/x', '127.0.0.1'],
      ['127.0.0.1 ', '127.0.0.1'],
    ] as const)
      assert.equal(hostAllowed(host, local), false, `${String(host)} on ${local}`);
  });

  it('unix socket: only localhost', () => {
    assert.equal(hostAllowed('localhost', undefined), true);
    assert.equal(hostAllowed('localhost:80', undefined), true);
    for (const host of ['127.0.0.1', '[::1]', 'evil.example.com', '/run/iamra-agent/imds.sock', undefined])
      assert.equal(hostAllowed(host, undefined), false, String(host));
  });
});
