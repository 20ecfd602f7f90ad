import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { InvalidChangeBatch, NoSuchHostedZone, PriorRequestNotComplete, Route53ServiceException, ThrottlingException } from '@aws-sdk/client-route-53';
import { AgentError } from '../../../src/core/errors.js';
import { systemClock } from '../../../src/core/clock.js';
import { memoryLogger } from '../../../src/core/logger.js';
import { createRoute53Client, createRoute53Provider } from '../../../src/dns/route53/index.js';
import { errorName, isTransient, translate } from '../../../src/dns/route53/errors.js';

/**
 * The provider's error classification reads only the SDK's structured fields. The exceptions here are the SDK's own
 * classes (as its deserializer builds them); their messages are deliberately misleading, to show that no verdict
 * comes from message text.
 */

const meta = (httpStatusCode: number) => ({ httpStatusCode, requestId: 'req-1', attempts: 1, totalRetryDelay: 0 });
const site = {
  action: 'ChangeResourceRecordSets',
  zoneId: 'Z1',
  record: '_acme-challenge.a.example.com',
  doing: 'change TXT _acme-challenge.a.example.com in zone Z1',
};

function codeOf(e: unknown): string {
  assert.ok(e instanceof AgentError, `expected AgentError, got ${String(e)}`);
  return e.code;
}

describe('Route 53 error classification (SDK fields, not message text)', () => {
  it('maps modelled exceptions by name', () => {
    const invalid = new InvalidChangeBatch({ message: 'throttled credential not found', $metadata: meta(400) });
    assert.equal(errorName(invalid), 'InvalidChangeBatch');
    assert.equal(isTransient(invalid), false);
    assert.equal(codeOf(translate(invalid, site, 8)), 'ROUTE53_INVALID_CHANGE');
    const zone = new NoSuchHostedZone({ message: 'AccessDenied', $metadata: meta(404) });
    assert.equal(codeOf(translate(zone, site, 8)), 'ROUTE53_NO_SUCH_ZONE');
    const prior = new PriorRequestNotComplete({ message: 'x', $metadata: meta(400) });
    assert.equal(isTransient(prior), true);
    const throttled = new ThrottlingException({ message: 'x', $metadata: meta(400) });
    const e = translate(throttled, site, 3);
    assert.equal(codeOf(e), 'ROUTE53_THROTTLED');
    assert.match((e as AgentError).message, /after 3 attempts/);
  });

  it('maps unmodelled service errors by their code, and 5xx / 429 as transient', () => {
    const denied = new Route53ServiceException({ name: 'AccessDenied', $fault: 'client', message: 'InvalidChangeBatch', $metadata: meta(403) });
    const t = translate(denied, site, 8) as AgentError;
    assert.equal(codeOf(t), 'ROUTE53_ACCESS_DENIED');
    assert.equal(t.details?.['awsCode'], 'AccessDenied');
    assert.match(t.hint ?? '', /iamra-agent policy route53/);
    const busy = new Route53ServiceException({ name: 'SomethingNew', $fault: 'server', message: 'Throttling', $metadata: meta(503) });
    assert.equal(isTransient(busy), true);
    assert.equal(codeOf(translate(busy, site, 8)), 'ROUTE53_API_ERROR');
    const tooMany = new Route53ServiceException({ name: 'SlowDown', $fault: 'client', message: '', $metadata: meta(429) });
    assert.equal(isTransient(tooMany), true);
    const client = new Route53ServiceException({ name: 'InvalidInput', $fault: 'client', message: 'Throttling credential', $metadata: meta(400) });
    assert.equal(isTransient(client), false);
    assert.equal(codeOf(translate(client, site, 8)), 'ROUTE53_API_ERROR');
  });

  it('treats dropped connections as transient and leaves aborts and AgentErrors alone', () => {
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    assert.equal(isTransient(reset), true);
    const wrapped = Object.assign(new Error('fetch failed'), { cause: { code: 'ETIMEDOUT' } });
    assert.equal(isTransient(wrapped), true);
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    assert.equal(isTransient(refused), false);
    const abort = Object.assign(new Error('throttled'), { name: 'AbortError' });
    assert.equal(translate(abort, site, 8), abort);
    const agent = new AgentError({ code: 'X', component: 'route53', message: 'Throttling' });
    assert.equal(translate(agent, site, 8), agent);
    // an Error whose message mentions credentials is still just an API error
    assert.equal(codeOf(translate(new Error('missing credentials'), site, 8)), 'ROUTE53_API_ERROR');
  });

  it('reports a missing shared-config profile as ROUTE53_NO_CREDENTIALS before any request is sent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'r53-cred-'));
    const saved = { config: process.env['AWS_CONFIG_FILE'], creds: process.env['AWS_SHARED_CREDENTIALS_FILE'] };
    process.env['AWS_CONFIG_FILE'] = join(dir, 'config');
    process.env['AWS_SHARED_CREDENTIALS_FILE'] = join(dir, 'credentials');
    try {
      // the discard port: the credential chain fails first, so nothing is ever sent there
      const client = createRoute53Client({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9', profile: 'iamra-agent-no-such-profile' });
      const p = createRoute53Provider(
        { clock: systemClock, logger: memoryLogger(), client },
        {
          hostedZoneId: 'Z1',
          ttl: 10,
          resolvers: ['127.0.0.1:9'],
          propagationTimeoutMs: 1_000,
          pollIntervalMs: 100,
          retry: { attempts: 1, baseMs: 1, maxMs: 1 },
        },
      );
      await assert.rejects(p.present('_acme-challenge.a.example.com', 'v'), (e: unknown) => {
        assert.equal(codeOf(e), 'ROUTE53_NO_CREDENTIALS');
        assert.equal((e as AgentError).details?.['awsCode'], 'CredentialsProviderError');
        return true;
      });
    } finally {
      for (const [k, v] of [
        ['AWS_CONFIG_FILE', saved.config],
        ['AWS_SHARED_CREDENTIALS_FILE', saved.creds],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
