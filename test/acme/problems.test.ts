import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { problemError } from '../../src/acme/problems.js';

const at = { url: 'https://ca.example/acme/new-acct', method: 'POST', retryAfter: undefined };

describe('problemError', () => {
  it('shows an HTML error page from a proxy as one line of text, with the status and request', () => {
    const e = problemError({ ...at, status: 503, body: '<html><body>\n<h1>503 Service Unavailable</h1>\n</body></html>\n' }, 'newAccount');
    assert.equal(e.code, 'ACME_SERVER_ERROR');
    assert.equal(e.message, 'newAccount: 503 Service Unavailable [POST https://ca.example/acme/new-acct → 503]');
    assert.equal(e.details?.['retryable'], true);
  });

  it('falls back to the HTTP status for an empty or long body, and prefers the problem detail', () => {
    assert.match(problemError({ ...at, status: 502, body: '' }, 'newOrder').message, /^newOrder: HTTP 502 \[/);
    assert.match(problemError({ ...at, status: 500, body: 'x'.repeat(500) }, 'newOrder').message, /^newOrder: HTTP 500 \[/);
    const p = problemError({ ...at, status: 400, body: {}, problem: { type: 'urn:ietf:params:acme:error:malformed', detail: 'bad JWS' } }, 'newOrder');
    assert.equal(p.code, 'ACME_MALFORMED');
    assert.match(p.message, /^newOrder: bad JWS \[POST .* → 400 malformed\]$/);
  });
});
