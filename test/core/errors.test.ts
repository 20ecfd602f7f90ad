import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgentError, formatError, isAgentError } from '../../src/core/errors.js';

test('an AgentError made by another copy of core/errors (another bundle) is an AgentError here, with its hint', async () => {
  // a second instance of the module, as the credential_process hot path and its rare branches each have
  const other = (await import(`../../src/core/errors.js?copy=${Date.now()}`)) as typeof import('../../src/core/errors.js');
  assert.notEqual(other.AgentError, AgentError);
  const e = new other.AgentError({ code: 'KEY_PKCS11_NOT_FOUND', component: 'keys', message: 'no key labelled id', hint: 'check key.pkcs11.uri' });
  assert.ok(e instanceof AgentError);
  assert.ok(isAgentError(e));
  assert.equal(formatError(e), 'keys: no key labelled id; check key.pkcs11.uri');
  assert.ok(new AgentError({ code: 'X', component: 'c', message: 'm' }) instanceof other.AgentError);
  // only AgentErrors: a plain Error or an object with the same fields is not one
  assert.equal(new Error('m') instanceof AgentError, false);
  assert.equal({ code: 'X', component: 'c', message: 'm' } instanceof AgentError, false);
  assert.equal(formatError(new Error('plain')), 'plain');
  // the mark is not an enumerable field: errors compare and serialise as before
  assert.deepEqual(Object.keys(e).sort(), ['code', 'component', 'details', 'hint', 'name'].sort());
});
