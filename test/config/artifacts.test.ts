import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { jsonSchema } from '../../src/config/schema.js';
import { repoRoot } from '../helpers/paths.js';

test('config/agent.schema.json is the schema the agent validates with', () => {
  const published = JSON.parse(readFileSync(path.join(repoRoot, 'config', 'agent.schema.json'), 'utf8'));
  assert.deepEqual(published, JSON.parse(JSON.stringify(jsonSchema())), 'regenerate: iamra-agent config schema > config/agent.schema.json');
});

test('the annotated example config is valid', async () => {
  const c = await loadConfig({ file: path.join(repoRoot, 'config', 'agent.example.yaml') });
  assert.equal(c.identity.name, 'host1.example.com');
  assert.equal(c.rolesAnywhere?.verifyBeforeActivate, true);
});
