import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { decideRoute53Credentials, route53Credentials } from '../../src/compose/route53-credentials.js';
import { configSchema } from '../../src/config/schema.js';
import { fixedClock } from '../../src/core/clock.js';
import { AgentError } from '../../src/core/errors.js';
import { memoryLogger } from '../../src/core/logger.js';
import { staticCredentialSources } from '../../src/dns/index.js';
import type { Identity } from '../../src/store/index.js';
import { tempDir } from '../helpers/paths.js';

/**
 * Issue 9, "What must be shown" 3: `auto` falls back to the SDK chain only when no valid identity is live (first
 * enrolment, expired); with neither a valid identity nor SDK credentials, a clear CRITICAL with the recovery steps.
 * Time is a parameter; the SDK chain is the real one (@aws-sdk/credential-provider-node) reading a temp credentials
 * file, with IMDS disabled so nothing leaves the host.
 */

const NOT_BEFORE = new Date('2026-12-01T00:00:00Z');
const NOT_AFTER = new Date('2026-12-07T16:00:00Z');
const live = { version: '0003', serial: 'AB12', notBefore: NOT_BEFORE, notAfter: NOT_AFTER } as unknown as Identity;
const ROLE = 'arn:aws:iam::111122223333:role/iamra-agent-fleet-dns';
const RA = {
  trustAnchorArn: 'arn:aws:rolesanywhere:us-east-1:111122223333:trust-anchor/0f0e0d0c-0b0a-4908-8706-050403020100',
  profileArn: 'arn:aws:rolesanywhere:us-east-1:111122223333:profile/1f0e0d0c-0b0a-4908-8706-050403020100',
  roleArn: 'arn:aws:iam::111122223333:role/iamra-agent',
};

function config(route53: Record<string, unknown>, withRa = true) {
  return configSchema.parse({
    identity: { name: 'a.example.com' },
    dns: { route53: { region: 'us-east-1', ...route53 } },
    ...(withRa ? { rolesAnywhere: RA } : {}),
  });
}

describe('decideRoute53Credentials (pure: mode, live identity, now)', () => {
  const during = new Date('2026-12-03T00:00:00Z');
  const afterExpiry = new Date('2026-12-07T16:00:00Z');
  it('auto: rolesAnywhere while the identity is valid; the SDK chain before the first enrolment and from the expiry instant on', () => {
    assert.equal(decideRoute53Credentials('auto', live, during).source, 'rolesAnywhere');
    assert.equal(decideRoute53Credentials('auto', live, new Date(NOT_AFTER.getTime() - 1)).source, 'rolesAnywhere');
    const expired = decideRoute53Credentials('auto', live, afterExpiry);
    assert.deepEqual(expired, {
      source: 'sdk',
      reason: 'identity 0003 expired at 2026-12-07T16:00:00.000Z; auto uses the SDK chain until a valid identity is live',
    });
    assert.match(decideRoute53Credentials('auto', undefined, during).reason, /^no identity is live yet \(first enrolment\)/);
    assert.equal(decideRoute53Credentials('auto', live, new Date(NOT_BEFORE.getTime() - 1)).source, 'sdk');
  });
  it('sdk: always the SDK chain, even with a valid identity', () => {
    assert.equal(decideRoute53Credentials('sdk', live, during).source, 'sdk');
  });
  it('rolesAnywhere without a valid identity: CRITICAL with the recovery steps, never a fallback', () => {
    assert.equal(decideRoute53Credentials('rolesAnywhere', live, during).source, 'rolesAnywhere');
    for (const l of [live, undefined]) {
      assert.throws(
        () => decideRoute53Credentials('rolesAnywhere', l, afterExpiry),
        (e: unknown) =>
          e instanceof AgentError &&
          e.code === 'ROUTE53_NO_IDENTITY' &&
          /^CRITICAL: dns.route53.credentials is rolesAnywhere but/.test(e.message) &&
          /bootstrap --force/.test(e.hint ?? ''),
      );
    }
  });
});

describe('route53Credentials: the auto fallback through the real SDK chain', () => {
  const dir = tempDir('r53creds');
  const saved = { ...process.env };
  after(() => {
    process.env = saved;
  });
  const isolate = (files: { credentials?: string }) => {
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
    process.env['AWS_EC2_METADATA_DISABLED'] = 'true';
    process.env['AWS_CONFIG_FILE'] = path.join(dir, 'no-config');
    process.env['AWS_SHARED_CREDENTIALS_FILE'] = files.credentials ?? path.join(dir, 'no-credentials');
  };
  const deps = (now: Date) => ({ clock: fixedClock(now), logger: memoryLogger() });
  const expired = new Date('2026-12-08T00:00:00Z');

  it('expired identity + a bootstrap key in the shared credentials file: the SDK chain signs, with that key', async () => {
    const file = path.join(dir, 'credentials');
    writeFileSync(file, '[iamra-agent-dns]\naws_access_key_id = AKIAEXAMPLEEXAMPLE01\naws_secret_access_key = secretsecretsecretsecretsecretsecret1234\n', {
      mode: 0o600,
    });
    isolate({ credentials: file });
    const c = await route53Credentials(config({ profile: 'iamra-agent-dns', credentials: 'auto', roleArn: ROLE }), deps(expired), live);
    assert.equal(c.source, 'sdk');
    assert.ok(c.credentials);
    assert.equal((await c.credentials()).accessKeyId, 'AKIAEXAMPLEEXAMPLE01');
  });

  it('expired identity and no SDK credentials: a CRITICAL error with the recovery steps', async () => {
    isolate({});
    const c = await route53Credentials(config({ credentials: 'auto', roleArn: ROLE }), deps(expired), live);
    assert.ok(c.credentials);
    await assert.rejects(c.credentials(), (e: unknown) => {
      assert.ok(e instanceof AgentError, String(e));
      assert.equal(e.code, 'ROUTE53_NO_CREDENTIALS');
      assert.match(e.message, /^CRITICAL: no credentials for Route 53: identity 0003 expired at 2026-12-07T16:00:00.000Z/);
      assert.match(e.hint ?? '', /route53-credentials.*bootstrap --force.*remove it/);
      return true;
    });
  });

  it('sdk mode leaves the client its own chain (no provider injected)', async () => {
    const c = await route53Credentials(config({ credentials: 'sdk' }, false), deps(expired), live);
    assert.deepEqual([c.source, c.credentials], ['sdk', undefined]);
  });
});

describe('config: dns.route53.credentials and roleArn', () => {
  it('defaults to auto with a roleArn, sdk without', async () => {
    const { route53CredentialsMode } = await import('../../src/config/schema.js');
    assert.equal(route53CredentialsMode(config({ roleArn: ROLE })), 'auto');
    assert.equal(route53CredentialsMode(config({}, false)), 'sdk');
  });
  it('rolesAnywhere/auto need the role and the rolesAnywhere section, each reported at its path', () => {
    const r = configSchema.safeParse({ identity: { name: 'a.example.com' }, dns: { route53: { credentials: 'rolesAnywhere' } } });
    assert.equal(r.success, false);
    const issues = r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).sort();
    assert.deepEqual(issues, [
      'dns.route53.roleArn: is required when dns.route53.credentials is rolesAnywhere',
      'rolesAnywhere: is required when dns.route53.credentials is rolesAnywhere',
    ]);
    assert.equal(configSchema.safeParse({ identity: { name: 'a.example.com' }, dns: { route53: { roleArn: 'arn:aws:iam::1:role/x' } } }).success, false);
    const noRole = configSchema.safeParse({ identity: { name: 'a.example.com' }, dns: { route53: { credentials: 'auto' } }, rolesAnywhere: RA });
    assert.deepEqual(
      noRole.error?.issues.map((i) => i.path.join('.')),
      ['dns.route53.roleArn'],
    );
  });
  it('auto without a rolesAnywhere section is valid and means the SDK chain, said so', async () => {
    const cfg = config({ credentials: 'auto', roleArn: ROLE }, false);
    const c = await route53Credentials(cfg, { clock: fixedClock(new Date('2026-12-03T00:00:00Z')), logger: memoryLogger() }, live);
    assert.deepEqual([c.source, c.reason], ['sdk', 'rolesAnywhere is not configured; auto uses the SDK chain']);
  });
});

describe('staticCredentialSources (network-free)', () => {
  const dir = tempDir('static');
  it('names the environment and the profile file holding long-term keys, not temporary ones, never the key', async () => {
    const creds = path.join(dir, 'credentials');
    const cfgFile = path.join(dir, 'config');
    writeFileSync(
      creds,
      '[dns]\naws_access_key_id = AKIAEXAMPLEEXAMPLE01\naws_secret_access_key = s\n[temp]\naws_access_key_id = ASIAX\naws_secret_access_key = s\naws_session_token = t\n',
    );
    writeFileSync(cfgFile, '[profile dns]\nregion = us-east-1\n[profile proc]\ncredential_process = /bin/false\n');
    const env = { AWS_SHARED_CREDENTIALS_FILE: creds, AWS_CONFIG_FILE: cfgFile, HOME: dir };
    assert.deepEqual(await staticCredentialSources({ profile: 'dns', env }), [`profile dns in ${creds}`]);
    assert.deepEqual(await staticCredentialSources({ profile: 'temp', env }), []);
    assert.deepEqual(await staticCredentialSources({ profile: 'proc', env }), []);
    assert.deepEqual(await staticCredentialSources({ env: { ...env, AWS_ACCESS_KEY_ID: 'AKIAX', AWS_SECRET_ACCESS_KEY: 's' } }), [
      'environment (AWS_ACCESS_KEY_ID)',
    ]);
    assert.deepEqual(await staticCredentialSources({ env: { ...env, AWS_ACCESS_KEY_ID: 'ASIAX', AWS_SECRET_ACCESS_KEY: 's', AWS_SESSION_TOKEN: 't' } }), []);
    const found = await staticCredentialSources({ profile: 'dns', env });
    assert.ok(
      found.every((f) => !f.includes('AKIA')),
      'the key itself is never named',
    );
  });
});
