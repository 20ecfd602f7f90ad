import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify as toYaml } from 'yaml';
import { tempDir } from '../helpers/paths.js';
import { cleanEnv, runCli } from '../helpers/sandbox.js';
import { assertCleanFailure, exists } from '../helpers/enrol.js';

/**
 * Issue 2, "What must be shown" 6: bad input to the built `bootstrap` — a config with several bad fields, an
 * unwritable state directory — gives one clear error (all config problems at once, keyed by path), exit 1, no stack
 * trace, and nothing half-written. The unreadable and mismatched CSR cases are in enrol-modes.test.ts. These fail
 * before any network use, so no sandbox is started; the ACME directory points at a closed loopback port.
 */

const dir = tempDir('enrol-input');
after(() => rmSync(dir, { recursive: true, force: true }));

function config(file: string, cfg: Record<string, unknown>): string {
  const p = path.join(dir, file);
  writeFileSync(p, toYaml(cfg), { mode: 0o600 });
  return p;
}

const valid = (stateDir: string) => ({
  identity: { name: 'agent.example.com' },
  acme: { directory: 'https://127.0.0.1:9/dir', profile: 'classic' },
  dns: { route53: { hostedZoneId: 'Z0SANDBOX0EXAMPLE0001', endpoint: 'http://127.0.0.1:9' } },
  state: { dir: stateDir, runtimeDir: path.join(dir, 'run') },
});

describe('bootstrap with bad input', () => {
  it('names every bad config field at once, keyed by path', async () => {
    const file = config('bad.yaml', {
      identity: { name: 'Not A Host Name' },
      key: { algorithm: 'dsa-1024' },
      acme: { directory: 'ftp://ca.example/dir', email: 'not-an-email' },
      dns: { route53: { hostedZoneId: 'hostedzone-1' }, ttl: 0, pollInterval: 'soon' },
      state: { dir: path.join(dir, 'state-bad') },
      rolesAnywhere: { trustAnchorArn: 'arn:aws:iam::123:role/x', profileArn: 'p', roleArn: 'r' },
      colour: 'blue',
    });
    const r = await runCli(['--config', file, 'bootstrap'], cleanEnv());
    assertCleanFailure(r, /^iamra-agent: config: .*bad\.yaml has 11 problem\(s\):$/);
    for (const p of [
      'identity.name: must be a lower-case fully qualified DNS name',
      'key.algorithm: ',
      'acme.directory: must be letsencrypt-staging, letsencrypt, or an https:// directory URL',
      'acme.email: ',
      'dns.route53.hostedZoneId: must look like Z…',
      'dns.ttl: ',
      'dns.pollInterval: must be a duration',
      // the signer's own words (core/aws-ids.ts), keyed by the config path
      'rolesAnywhere.trustAnchorArn: trust anchor ARN "arn:aws:iam::123:role/x" is malformed: service is "iam", not rolesanywhere',
      'rolesAnywhere.profileArn: profile ARN "p" is malformed: not of the form arn:partition:service:region:account:resource',
      'rolesAnywhere.roleArn: role ARN "r" is malformed',
      '(top level): unknown field(s) colour',
    ]) {
      assert.ok(r.stderr.includes(`  ${p}`), `missing "${p}" in\n${r.stderr}`);
    }
    assert.equal(exists(path.join(dir, 'state-bad')), false, 'nothing created for an invalid config');
  });

  it('a config file that is missing, or not YAML, is one clear line', async () => {
    const missing = await runCli(['--config', path.join(dir, 'nope.yaml'), 'bootstrap'], cleanEnv());
    assertCleanFailure(missing, /cannot read .*nope\.yaml: ENOENT/, /agent\.example\.yaml/);
    const broken = path.join(dir, 'broken.yaml');
    writeFileSync(broken, 'identity: [unclosed\n');
    assertCleanFailure(await runCli(['--config', broken, 'bootstrap'], cleanEnv()), /broken\.yaml is not valid YAML/);
  });

  it('a state directory under a regular file: clear error naming the path, nothing written', async () => {
    const blocker = path.join(dir, 'a-file');
    writeFileSync(blocker, 'not a directory\n');
    const state = path.join(blocker, 'state');
    const r = await runCli(['--config', config('under-file.yaml', valid(state)), 'bootstrap'], cleanEnv());
    assertCleanFailure(r, /a-file\/state/, /ENOTDIR/);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('a-file')),
      ['a-file'],
    );
  });

  it('a state directory the kernel refuses (/proc): clear error, exit 1', async () => {
    const state = '/proc/iamra-agent-e2e/state';
    // node's recursive mkdir never settles there (src/core/fs.ts mkdirp): a hang would be killed and fail here
    const r = await runCli(['--config', config('proc.yaml', valid(state)), 'bootstrap'], cleanEnv(), { timeoutMs: 20_000 });
    assertCleanFailure(r, /\/proc\/iamra-agent-e2e/, /(ENOENT|EACCES|EPERM)/);
    assert.equal(exists('/proc/iamra-agent-e2e'), false);
  });
});
