import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { durationMs } from '../../src/config/schema.js';
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
  assert.equal(durationMs(c.renewal.maxAge), 7 * 86400_000);
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
