import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { certId } from '../../src/acme/index.js';
import { systemClock } from '../../src/core/clock.js';
import { memoryLogger } from '../../src/core/logger.js';
import { FileKeyHandle } from '../../src/keys/file.js';
import { statusJsonSchema, type StatusJson } from '../../src/status/schema.js';
import { IdentityStore, StateFile } from '../../src/store/index.js';
import { repoRoot, tempDir } from '../helpers/paths.js';
import { cleanEnv, runCli, startSandbox, type CliResult, type E2eSandbox } from '../helpers/sandbox.js';
import { makeCa, makeLeaf } from '../helpers/pki.js';
import { parseExposition, type MetricFamily } from '../status/promtext.js';

/**
 * `iamra-agent status` as monitoring runs it: the built CLI, against an identity enrolled from the sandbox (Pebble +
 * Route 53 + IAM Roles Anywhere stand-ins), in each state issue 4 names: fresh (0), renewal overdue (1), key
 * mismatched or missing and certificate expired (2), config unreadable (3).
 */

const published = z.fromJSONSchema(
  JSON.parse(readFileSync(path.join(repoRoot, 'config', 'status.schema.json'), 'utf8')) as Parameters<typeof z.fromJSONSchema>[0],
);
const deps = { clock: systemClock, logger: memoryLogger() };

let sb: E2eSandbox;
let stateDir: string;
let scratch: string;

before(async () => {
  scratch = tempDir('status');
  sb = await startSandbox({ bootstrap: true });
  stateDir = path.join(sb.dir, 'state');
  // As after a real bootstrap, the one-time Route 53 key leaves the host (renewals use the fleet DNS role); while it
  // is reachable, status warns about it (test/e2e/no-static-keys.test.ts).
  await fsp.rm(path.join(sb.dir, 'aws', 'credentials'));
});

after(async () => {
  await sb?.stop(); // removes the sandbox directory once the sandbox is gone
  await fsp.rm(scratch, { recursive: true, force: true });
});

interface StatusRun extends CliResult {
  json: StatusJson;
  ms: number;
}

/** Runs status --json (plus args), checks the JSON against both schemas and that the exit code is the JSON's. */
async function status(args: string[], run: (a: string[]) => Promise<CliResult> = (a) => sb.cli(a)): Promise<StatusRun> {
  const t0 = performance.now();
  const r = await run(['status', '--json', ...args]);
  const ms = performance.now() - t0;
  let json: unknown;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    assert.fail(`status printed no JSON (exit ${r.code}): ${r.stdout}${r.stderr}`);
  }
  assert.deepEqual(statusJsonSchema.parse(json), json);
  const p = published.safeParse(json);
  assert.ok(p.success, JSON.stringify(p.error?.issues));
  const j = json as StatusJson;
  assert.equal(r.code, j.exitCode, r.stderr);
  return { ...r, json: j, ms };
}

const check = (j: StatusJson, name: string) => j.checks.find((c) => c.name === name)!;
const notOk = (j: StatusJson) => j.checks.filter((c) => c.status !== 'OK').map((c) => `${c.name}=${c.status}`);

async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { recursive: true, withFileTypes: true })) {
    const p = path.join(e.parentPath, e.name);
    const st = await fsp.lstat(p);
    out.push(`${path.relative(dir, p)} ${st.mode} ${st.size} ${st.mtimeMs}`);
  }
  return out.sort();
}

function metric(fams: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number {
  const s = fams.get(name)?.samples.find((x) => JSON.stringify(x.labels) === JSON.stringify(labels));
  assert.ok(s, `${name}${JSON.stringify(labels)} missing`);
  return s.value;
}

test('fresh identity after bootstrap: OK, exit 0; read-only and lock-free; JSON and Prometheus agree', async (t) => {
  const prom = path.join(scratch, 'textfile', 'iamra-agent.prom');
  await fsp.mkdir(path.dirname(prom));
  // a renewal holding the run lock must not block status
  const lock = await (await IdentityStore.open(stateDir, deps)).lock();
  try {
    const before = await snapshot(stateDir);
    const r = await status(['--prometheus', prom]);
    assert.equal(r.code, 0, `${notOk(r.json).join(' ')} ${r.stderr}`);
    assert.equal(r.json.overall, 'OK');
    assert.deepEqual(notOk(r.json), []);
    assert.deepEqual(await snapshot(stateDir), before, 'status wrote into the state directory');
    t.diagnostic(`status --json --prometheus took ${Math.round(r.ms)} ms (process start included)`);
    assert.ok(r.ms < 5000, `status took ${Math.round(r.ms)} ms`);

    const j = r.json;
    assert.deepEqual(j.identity?.names, [sb.info.name]);
    assert.equal(j.renewal?.reason, 'max-age');
    assert.equal(j.renewal?.due, false);
    assert.match(check(j, 'chain').reason, /^chains to a configured trust anchor: .*Pebble Intermediate CA.*Pebble Root CA/);
    assert.match(check(j, 'key').reason, /^file key P-256 .* matches the certificate$/);
    assert.equal(j.counters.renewals, 1);

    const text = await fsp.readFile(prom, 'utf8');
    assert.equal((await fsp.stat(prom)).mode & 0o777, 0o644);
    const fams = parseExposition(text);
    assert.equal(metric(fams, 'iamra_agent_certificate_not_after_seconds'), Date.parse(j.identity!.notAfter) / 1000);
    assert.equal(metric(fams, 'iamra_agent_certificate_not_before_seconds'), Date.parse(j.identity!.notBefore) / 1000);
    assert.equal(metric(fams, 'iamra_agent_renewal_due_seconds'), Date.parse(j.renewal!.renewAt) / 1000);
    assert.equal(metric(fams, 'iamra_agent_last_renewal_ok'), 1);
    assert.equal(metric(fams, 'iamra_agent_renewals_total'), 1);
    assert.equal(metric(fams, 'iamra_agent_status'), 0);
    for (const c of j.checks) assert.equal(metric(fams, 'iamra_agent_check_status', { check: c.name }), 0);
    // no stray temporary files next to the metrics file (node_exporter reads every *.prom there)
    assert.deepEqual(await fsp.readdir(path.dirname(prom)), ['iamra-agent.prom']);
  } finally {
    await lock.release();
  }
});

test('--probe makes a live CreateSession against the sandbox and reports the credential expiry', async () => {
  const r = await status(['--probe']);
  assert.equal(r.code, 0, r.stderr);
  const c = r.json.credentials;
  assert.equal(c?.source, 'probe');
  assert.equal(c?.ok, true);
  const left = Date.parse(c!.expiration!) - Date.now();
  assert.ok(left > 50 * 60_000 && left <= 3600_000, `expiration ${c!.expiration}`);
  assert.match(check(r.json, 'create-session').reason, /^live CreateSession \(--probe\) at .* succeeded; credentials expire at/);
});

test('renewal overdue: renewal.maxAge of 1 s → WARNING "renewal overdue", exit 1 (text and JSON)', async () => {
  const notBefore = Date.parse((await status([])).json.identity!.notBefore);
  const wait = notBefore + 1500 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const r = await status(['--set', 'renewal.maxAge=1s', '--set', 'status.overdueGrace=0s']);
  assert.equal(r.code, 1, r.stderr);
  assert.deepEqual(notOk(r.json), ['validity=WARNING', 'renewal=WARNING']);
  assert.match(check(r.json, 'validity').reason, /^renewal overdue: valid until /);
  assert.deepEqual([r.json.renewal?.reason, r.json.renewal?.due], ['max-age', true]);
  // text output, with the metrics file taken from the config (status.prometheusFile)
  const prom = path.join(scratch, 'from-config.prom');
  const text = await sb.cli(['status', '--set', 'renewal.maxAge=1s', '--set', 'status.overdueGrace=0s', '--set', `status.prometheusFile=${prom}`]);
  assert.equal(text.code, 1);
  assert.match(text.stdout.split('\n')[0]!, /^IAMRA-AGENT WARNING: validity: renewal overdue: /);
  const fams = parseExposition(await fsp.readFile(prom, 'utf8'));
  assert.equal(metric(fams, 'iamra_agent_renewal_overdue'), 1);
  assert.equal(metric(fams, 'iamra_agent_check_status', { check: 'validity' }), 1);
});

test('renewal overdue: an ARI window two days in the past, recorded in state.json as renew records it → exit 1', async () => {
  const state = new StateFile(stateDir, deps);
  const live = (await (await IdentityStore.open(stateDir, deps, { readOnly: true })).live())!;
  const now = Date.now();
  await state.update((s) => {
    s.ari = {
      // past the 1-day default status.overdueGrace: a day and more behind the window
      windowStart: new Date(now - 50 * 3600_000).toISOString(),
      windowEnd: new Date(now - 49 * 3600_000).toISOString(),
      checkedAt: new Date(now - 60_000).toISOString(),
      retryAfter: new Date(now + 6 * 3600_000).toISOString(),
      certId: certId(live.certPem),
    };
  });
  try {
    const r = await status([]);
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual([r.json.renewal?.reason, r.json.renewal?.due, r.json.ari?.appliesToLive], ['ari-window-passed', true, true]);
    assert.match(check(r.json, 'validity').reason, /^renewal overdue/);
    assert.match(check(r.json, 'ari').reason, /^suggested window .*; next ARI check at /);
  } finally {
    await state.update((s) => {
      delete s.ari;
    });
  }
  assert.equal((await status([])).code, 0);
});

test('key replaced by another key → CRITICAL (2); key deleted → CRITICAL (2); restored → OK', async () => {
  const liveDir = await fsp.realpath(path.join(stateDir, 'live'));
  const keyFile = path.join(liveDir, 'key.pem');
  const original = await fsp.readFile(keyFile);
  try {
    await FileKeyHandle.generate({ type: 'ec', curve: 'P-256' }).save(keyFile);
    const mismatch = await status([]);
    assert.equal(mismatch.code, 2, mismatch.stderr);
    assert.deepEqual(notOk(mismatch.json), ['key=CRITICAL']);
    assert.match(check(mismatch.json, 'key').reason, /^the certificate's public key does not match file key P-256/);

    await fsp.rm(keyFile);
    const missing = await status([]);
    assert.equal(missing.code, 2);
    assert.deepEqual(notOk(missing.json), ['key=CRITICAL']);
    assert.match(check(missing.json, 'key').reason, /^the key is missing: version 0001 .* has neither key.pem nor key.ref/);
    // the chain is still checked with the certificate's own key
    assert.equal(check(missing.json, 'chain').status, 'OK');
  } finally {
    await fsp.writeFile(keyFile, original, { mode: 0o600 });
  }
  assert.equal((await status([])).code, 0);
});

/** An identity staged with the store API, as bootstrap would, from an in-test CA; plus a config pointing at it. */
async function stagedIdentity(name: string, validity: { notBefore: Date; notAfter: Date }): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(scratch, 'own-'));
  const day = 86_400_000;
  const ca = await makeCa({ name: 'Status Test CA', notBefore: new Date(Date.now() - 400 * day), notAfter: new Date(Date.now() + 400 * day) });
  const key = FileKeyHandle.generate({ type: 'ec', curve: 'P-256' });
  const certPem = await makeLeaf({ issuer: ca, names: [name], publicKey: await key.publicKey(), ...validity });
  const store = await IdentityStore.open(path.join(dir, 'state'), deps);
  const v = await store.stage({ certPem, chainPem: '', fullchainPem: certPem, keyPem: key.pem(), meta: { names: [name] } });
  await store.activate(v);
  await fsp.writeFile(path.join(dir, 'ca.pem'), ca.pem);
  const config = path.join(dir, 'agent.yaml');
  await fsp.writeFile(
    config,
    `identity:\n  name: ${name}\nstate:\n  dir: ${path.join(dir, 'state')}\n  runtimeDir: ${path.join(dir, 'run')}\ntrust:\n  anchors: [${path.join(dir, 'ca.pem')}]\n`,
  );
  return config;
}

const plain = (a: string[]) => runCli(a, cleanEnv());

test('expired certificate → CRITICAL (2); no identity at all → CRITICAL (2)', async () => {
  const day = 86_400_000;
  const config = await stagedIdentity('expired.example.com', { notBefore: new Date(Date.now() - 30 * day), notAfter: new Date(Date.now() - day) });
  const prom = path.join(scratch, 'expired.prom');
  const r = await status(['--config', config, '--prometheus', prom], plain);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.json.overall, 'CRITICAL');
  assert.deepEqual(notOk(r.json), ['validity=CRITICAL', 'renewal=CRITICAL']);
  assert.match(check(r.json, 'validity').reason, /^expired at .* \(1d 0h ago\)/);
  assert.equal(r.json.renewal?.reason, 'expired');
  assert.match(check(r.json, 'chain').reason, /CN=expired.example.com → CN=Status Test CA/);
  const fams = parseExposition(await fsp.readFile(prom, 'utf8'));
  assert.ok(metric(fams, 'iamra_agent_certificate_not_after_seconds') < metric(fams, 'iamra_agent_status_generated_seconds'));
  assert.equal(metric(fams, 'iamra_agent_check_status', { check: 'validity' }), 2);
  assert.equal(metric(fams, 'iamra_agent_status'), 2);

  const empty = path.join(scratch, 'empty.yaml');
  await fsp.writeFile(empty, `identity:\n  name: none.example.com\nstate:\n  dir: ${path.join(scratch, 'no-state')}\n`);
  const none = await status(['--config', empty], plain);
  assert.equal(none.code, 2);
  assert.equal(check(none.json, 'identity').reason, 'no live identity: run iamra-agent bootstrap');
  assert.equal(none.json.identity, undefined);
  await assert.rejects(fsp.access(path.join(scratch, 'no-state')), 'status created the state directory');
});

test('unreadable or invalid config → UNKNOWN (3), still valid JSON and a metrics file', async () => {
  const prom = path.join(scratch, 'unknown.prom');
  const missing = await status(['--config', path.join(scratch, 'nope.yaml'), '--prometheus', prom], plain);
  assert.equal(missing.code, 3);
  assert.match(check(missing.json, 'config').reason, /cannot read .*nope.yaml: ENOENT/);
  assert.ok(missing.json.checks.every((c) => c.status === 'UNKNOWN'));
  const fams = parseExposition(await fsp.readFile(prom, 'utf8'));
  assert.equal(metric(fams, 'iamra_agent_status'), 3);
  assert.equal(metric(fams, 'iamra_agent_check_status', { check: 'config' }), 3);

  const isDir = await status(['--config', scratch], plain);
  assert.equal(isDir.code, 3);
  assert.match(check(isDir.json, 'config').reason, /EISDIR/);

  const invalid = path.join(scratch, 'invalid.yaml');
  await fsp.writeFile(invalid, 'identity:\n  name: Not A Name\nrenewal:\n  maxAge: soon\n');
  const bad = await status(['--config', invalid], plain);
  assert.equal(bad.code, 3);
  assert.match(check(bad.json, 'config').reason, /is invalid: identity.name: must be a lower-case .*; renewal.maxAge: must be a duration/);

  await fsp.writeFile(invalid, 'identity: [unclosed\n');
  const yaml = await plain(['status', '--config', invalid]);
  assert.equal(yaml.code, 3);
  assert.match(yaml.stdout.split('\n')[0]!, /^IAMRA-AGENT UNKNOWN: config: config: .*invalid.yaml is not valid YAML/);
});

test('--schema prints the published JSON Schema', async () => {
  const r = await plain(['status', '--schema']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), JSON.parse(readFileSync(path.join(repoRoot, 'config', 'status.schema.json'), 'utf8')));
});
