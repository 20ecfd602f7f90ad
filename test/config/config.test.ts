import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { parseDurationMs } from '../../src/config/schema.js';
import { parseArn } from '../../src/core/aws-ids.js';
import { isAgentError } from '../../src/core/errors.js';
import { tempDir } from '../helpers/paths.js';

function write(yaml: string): string {
  const f = path.join(tempDir('cfg'), 'agent.yaml');
  writeFileSync(f, yaml);
  return f;
}

test('minimal config gets documented defaults', async () => {
  const c = await loadConfig({ file: write('identity:\n  name: host1.example.com\n') });
  assert.equal(c.key.algorithm, 'ec-p256');
  assert.equal(c.acme.directory, 'letsencrypt-staging');
  assert.equal(c.state.dir, '/var/lib/iamra-agent');
  assert.equal(c.dns.ttl, 10);
  assert.equal(c.renewal.maxAge, 7 * 86400_000);
});

test('every bad field is reported at once, keyed by path', async () => {
  const f = write(['identity:', '  name: Not_A_Name', 'dns:', '  route53:', '    hostedZoneId: nope', 'key:', '  algorithm: dsa', 'bogus: 1'].join('\n'));
  await assert.rejects(loadConfig({ file: f }), (e: unknown) => {
    assert.ok(isAgentError(e));
    assert.equal(e.code, 'CONFIG_INVALID');
    for (const p of ['identity.name:', 'dns.route53.hostedZoneId: must look like Z', 'key.algorithm:', 'unknown field(s) bogus']) {
      assert.match(e.message, new RegExp(p.replace(/[.()]/g, '\\$&')), p);
    }
    return true;
  });
});

test('env then --set override the file', async () => {
  const f = write('identity:\n  name: host1.example.com\nacme:\n  profile: classic\n');
  const c = await loadConfig({
    file: f,
    env: { IAMRA_AGENT_ACME__PROFILE: 'tlsserver', IAMRA_AGENT_DNS__ROUTE53__HOSTED_ZONE_ID: 'Z123', IAMRA_AGENT_CONFIG: '/ignored' },
    sets: ['dns.ttl=30'],
  });
  assert.equal(c.acme.profile, 'tlsserver');
  assert.equal(c.dns.route53.hostedZoneId, 'Z123');
  assert.equal(c.dns.ttl, 30);
});

test('missing file and broken YAML give clear errors', async () => {
  await assert.rejects(loadConfig({ file: '/nonexistent/agent.yaml' }), /cannot read \/nonexistent\/agent.yaml: ENOENT/);
  await assert.rejects(loadConfig({ file: write('identity: [unclosed\n') }), /not valid YAML/);
});

const RA = {
  trustAnchorArn: 'arn:aws:rolesanywhere:eu-west-1:123456789012:trust-anchor/11111111-2222-3333-4444-555555555555',
  profileArn: 'arn:aws:rolesanywhere:eu-west-1:123456789012:profile/11111111-2222-3333-4444-555555555555',
  roleArn: 'arn:aws:iam::123456789012:role/iamra-agent',
};
const withRa = (ra: Record<string, string>) =>
  write(['identity:', '  name: host1.example.com', 'rolesAnywhere:', ...Object.entries(ra).map(([k, v]) => `  ${k}: "${v}"`)].join('\n'));

test('ARNs and the session name are refused by the signer rule itself (core/aws-ids.ts): the same words in config check and before CreateSession', async () => {
  const bad = { ...RA, roleArn: 'arn:aws:iam::12345:role/x', profileArn: 'arn:aws:rolesanywhere:eu-west-1:123456789012:profile/nope' };
  let signerWords = '';
  try {
    parseArn(bad.roleArn, 'role');
  } catch (e) {
    signerWords = (e as Error).message;
  }
  assert.match(signerWords, /account "12345" is not 12 digits/);
  await assert.rejects(loadConfig({ file: withRa({ ...bad, roleSessionName: 'x' }) }), (e: unknown) => {
    assert.ok(isAgentError(e));
    assert.ok(e.message.includes(`rolesAnywhere.roleArn: ${signerWords}`), e.message);
    assert.match(e.message, /rolesAnywhere\.profileArn: profile ARN "[^"]+" is malformed: resource "profile\/nope" is not a profile/);
    assert.match(e.message, /rolesAnywhere\.roleSessionName: roleSessionName "x" is not 2-64 characters/);
    return true;
  });
});

test('a trust anchor and profile in different regions, or a region that is not theirs, is refused at config load', async () => {
  await assert.rejects(
    loadConfig({ file: withRa({ ...RA, profileArn: RA.profileArn.replace('eu-west-1', 'us-east-1') }) }),
    /rolesAnywhere: the profile is in us-east-1 but the trust anchor is in eu-west-1/,
  );
  await assert.rejects(
    loadConfig({ file: withRa({ ...RA, region: 'us-east-2' }) }),
    /rolesAnywhere\.region: region us-east-2 is configured but the trust anchor and profile are in eu-west-1/,
  );
  await assert.rejects(
    loadConfig({ file: withRa({ ...RA, roleArn: 'arn:aws-cn:iam::123456789012:role/x' }) }),
    /rolesAnywhere: the role is in partition aws-cn but the trust anchor is in aws/,
  );
});

test('durations are milliseconds once parsed, whatever unit the file used; --set values go through the same rule', async () => {
  const c = await loadConfig({
    file: write('identity:\n  name: host1.example.com\nacme:\n  timeout: 45\nvend:\n  refreshBefore: 90s\n'),
    sets: ['dns.pollInterval=500ms'],
  });
  assert.equal(c.acme.timeout, 45_000);
  assert.equal(c.vend.refreshBefore, 90_000);
  assert.equal(c.dns.pollInterval, 500);
  assert.equal(c.dns.propagationTimeout, 5 * 60_000);
  assert.equal(c.hooks.timeout, 60_000);
  await assert.rejects(
    loadConfig({ file: write('identity:\n  name: host1.example.com\n'), sets: ['renewal.maxAge=soon'] }),
    /renewal\.maxAge: must be a duration like 30s/,
  );
  assert.equal(parseDurationMs('30s'), 30_000);
  assert.equal(parseDurationMs('30'), 30_000);
  assert.equal(parseDurationMs('half a minute'), undefined);
});
