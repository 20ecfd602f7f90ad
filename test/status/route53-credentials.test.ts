import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluate, type Route53CredentialFacts, type StatusInput } from '../../src/status/checks.js';
import { emptyState } from '../../src/store/index.js';

/** Issue 9: `status` warns while static Route 53 credentials are reachable although the fleet DNS role renews. */

const D = 86_400_000;
const issued = new Date('2026-11-01T00:00:00Z');
const ROLE = 'arn:aws:iam::111122223333:role/iamra-agent-fleet-dns';
const FILE = 'profile iamra-agent-dns in /run/credentials/iamra-agent-renew.service/route53-credentials';

function input(now: Date, route53: Route53CredentialFacts | undefined, identity = true): StatusInput {
  return {
    now,
    config: {
      file: '/etc/iamra-agent/agent.yaml',
      names: ['a.example.com'],
      maxAgeMs: 7 * D,
      ari: true,
      rolesAnywhere: true,
      pendingGraceMs: 900_000,
      overdueGraceMs: 0,
    },
    ...(identity
      ? {
          identity: {
            version: '0001',
            serial: '0A1B',
            notBefore: issued,
            notAfter: new Date(issued.getTime() + 90 * D),
            names: ['a.example.com'],
            subject: 'CN=a.example.com',
            issuer: 'CN=Test CA',
          },
        }
      : {}),
    state: emptyState(),
    ...(route53 ? { route53 } : {}),
  };
}

const r53 = (i: StatusInput) => evaluate(i).checks.find((c) => c.name === 'route53-credentials')!;
const day1 = new Date(issued.getTime() + D);

test('fleet role + valid identity: WARNING naming where a static key is still reachable; OK once it is gone', () => {
  const warn = r53(input(day1, { mode: 'auto', roleArn: ROLE, staticSources: [FILE] }));
  assert.deepEqual([warn.status, warn.code, warn.value], ['WARNING', 'static-credentials', 1]);
  assert.match(
    warn.reason,
    new RegExp(`fleet DNS role ${ROLE} but static Route 53 credentials are still reachable: ${FILE.replace(/[./]/g, '\\$&')}; remove them`),
  );
  const ok = r53(input(day1, { mode: 'rolesAnywhere', roleArn: ROLE, staticSources: [] }));
  assert.deepEqual([ok.status, ok.code], ['OK', 'ok']);
  assert.match(ok.reason, /no static Route 53 credentials reachable/);
  assert.equal(
    evaluate(input(day1, { mode: 'auto', roleArn: ROLE, staticSources: [] })).checks.find((c) => c.status === 'WARNING'),
    undefined,
  );
});

test('before enrolment or after expiry: the static key is the auto fallback (OK); without one CRITICAL with the recovery', () => {
  const expired = new Date(issued.getTime() + 91 * D);
  assert.equal(r53(input(expired, { mode: 'auto', roleArn: ROLE, staticSources: [FILE] })).code, 'sdk-fallback');
  assert.equal(r53(input(day1, { mode: 'auto', roleArn: ROLE, staticSources: [FILE] }, false)).code, 'sdk-fallback');
  for (const mode of ['auto', 'rolesAnywhere'] as const) {
    const c = r53(input(expired, { mode, roleArn: ROLE, staticSources: mode === 'auto' ? [] : [FILE] }));
    assert.deepEqual([c.status, c.code], ['CRITICAL', 'no-route53-credentials'], mode);
    assert.match(c.reason, /bootstrap --force/);
  }
});

test('sdk mode (or no facts) is OK: the static key is the design there', () => {
  assert.deepEqual([r53(input(day1, { mode: 'sdk', staticSources: [FILE] })).status, r53(input(day1, undefined)).status], ['OK', 'OK']);
  const unknown = r53(input(day1, { mode: 'auto', roleArn: ROLE, staticSources: { error: 'cannot read /root/.aws/config: EACCES' } }));
  assert.deepEqual([unknown.status, unknown.code], ['UNKNOWN', 'not-checked']);
});
