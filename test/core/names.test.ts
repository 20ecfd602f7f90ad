import assert from 'node:assert/strict';
import { test } from 'node:test';
import { identityNames } from '../../src/config/schema.js';
import { nameSet, sameNames } from '../../src/core/names.js';

test('identity names compare as a case-insensitive set (RFC 4343): order and repeats do not matter', () => {
  assert.deepEqual(nameSet(['www.Example.com', 'example.com', 'EXAMPLE.com']), ['example.com', 'www.example.com']);
  assert.equal(sameNames(['b.example.com', 'A.example.com'], ['a.example.com', 'b.example.com', 'b.example.com']), true);
  assert.equal(sameNames(['a.example.com'], ['a.example.com', 'b.example.com']), false);
  assert.equal(sameNames([], []), true);
});

test('identityNames: the CN first, then the extra SANs', () => {
  assert.deepEqual(identityNames({ identity: { name: 'h.example.com', extraNames: ['x.example.com', 'y.example.com'] } }), [
    'h.example.com',
    'x.example.com',
    'y.example.com',
  ]);
});
