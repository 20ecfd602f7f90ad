import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { openVend } from '../../src/compose/vend.js';
import { loadConfig } from '../../src/config/load.js';
import { fixedClock } from '../../src/core/clock.js';
import { isAgentError } from '../../src/core/errors.js';
import { memoryLogger } from '../../src/core/logger.js';
import { tempDir } from '../helpers/paths.js';

const TA = 'arn:aws:rolesanywhere:eu-west-1:123456789012:trust-anchor/11111111-2222-3333-4444-555555555555';
const PROFILE = 'arn:aws:rolesanywhere:eu-west-1:123456789012:profile/11111111-2222-3333-4444-555555555555';

async function configWithout(rolesAnywhere: boolean) {
  const dir = tempDir('vend');
  const f = path.join(dir, 'agent.yaml');
  const ra = rolesAnywhere ? `rolesAnywhere:\n  trustAnchorArn: ${TA}\n  profileArn: ${PROFILE}\n  roleArn: arn:aws:iam::123456789012:role/base\n` : '';
  writeFileSync(f, `identity:\n  name: host1.example.com\nstate:\n  dir: ${path.join(dir, 'state')}\n  runtimeDir: ${path.join(dir, 'run')}\n${ra}`);
  return loadConfig({ file: f });
}

const deps = () => ({ clock: fixedClock('2026-12-01T00:00:00Z'), logger: memoryLogger() });

test('command-line ARN overrides are held to the config schema rules and named by their flag, before the store is opened', async () => {
  const cfg = await configWithout(true);
  await assert.rejects(openVend(cfg, deps(), { roleArn: 'arn:aws:iam::123456789012:user/not-a-role' }), (e: unknown) => {
    assert.ok(isAgentError(e));
    assert.equal(e.code, 'CONFIG_INVALID');
    assert.match(e.message, /^--role-arn: role ARN "arn:aws:iam::123456789012:user\/not-a-role" is malformed: resource "user\/not-a-role" is not a role/);
    return true;
  });
  await assert.rejects(
    openVend(cfg, deps(), { profileArn: PROFILE.replace('eu-west-1', 'us-west-2') }),
    /rolesAnywhere with --profile-arn: the profile is in us-west-2 but the trust anchor is in eu-west-1/,
  );
});

test('without rolesAnywhere in the config, the three ARN flags stand in for it and the schema supplies its defaults', async () => {
  const cfg = await configWithout(false);
  await assert.rejects(openVend(cfg, deps(), { roleArn: 'arn:aws:iam::123456789012:role/x' }), /does not name all of trust anchor, profile and role/);
  // valid flags: past the config stage, the next thing missing is the identity itself
  await assert.rejects(openVend(cfg, deps(), { trustAnchorArn: TA, profileArn: PROFILE, roleArn: 'arn:aws:iam::123456789012:role/x' }), (e: unknown) => {
    assert.ok(isAgentError(e));
    assert.notEqual(e.code, 'CONFIG_INVALID', e.message);
    return true;
  });
});
