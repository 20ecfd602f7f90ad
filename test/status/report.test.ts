import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { evaluate, type StatusInput } from '../../src/status/checks.js';
import { renderPrometheus, renderText, toStatusJson } from '../../src/status/report.js';
import { statusJsonSchema, statusJsonSchemaDocument } from '../../src/status/schema.js';
import { emptyState } from '../../src/store/index.js';
import { repoRoot } from '../helpers/paths.js';
import { parseExposition } from './promtext.js';

const D = 86_400_000;
const issued = new Date('2026-11-01T00:00:00Z');
const at = (ms: number) => new Date(issued.getTime() + ms);
const publishedFile = path.join(repoRoot, 'config', 'status.schema.json');

function fullInput(): StatusInput {
  const state = emptyState();
  state.lastRenewal = { at: at(60_000).toISOString(), ok: false, error: 'acme: order invalid "quoted" \\ backslash' };
  state.ari = { windowStart: at(50 * D).toISOString(), windowEnd: at(52 * D).toISOString(), checkedAt: at(D).toISOString(), certId: 'a.b' };
  state.lastCreateSession = { at: at(D).toISOString(), ok: true, expiration: at(D + 3600_000).toISOString() };
  state.pendingTxt = [{ fqdn: '_acme-challenge.host1.example.com', value: 'x', createdAt: at(0).toISOString() }];
  state.counters = { renewals: 3, renewal_failures: 1, 'odd-name.x': 2 };
  return {
    now: at(D + 60_000),
    config: {
      file: '/etc/iamra-agent/agent.yaml',
      names: ['host1.example.com', 'alt.example.com'],
      maxAgeMs: 7 * D,
      ari: true,
      rolesAnywhere: true,
      pendingGraceMs: 900_000,
      overdueGraceMs: 0,
    },
    identity: {
      version: '0002',
      serial: '7F01',
      notBefore: issued,
      notAfter: at(90 * D),
      names: ['host1.example.com', 'alt.example.com'],
      subject: 'CN=host1.example.com',
      issuer: 'CN=CA "x"',
      createdAt: at(120_000),
      certId: 'a.b',
    },
    key: { present: true, describe: 'file key P-256' },
    verify: { failures: [] },
    anchors: { source: 'configured', count: 1 },
    state,
  };
}

/** The published file, validated through zod's own JSON Schema reader: an independent path from the zod source. */
const published = z.fromJSONSchema(JSON.parse(readFileSync(publishedFile, 'utf8')) as Parameters<typeof z.fromJSONSchema>[0]);

test('config/status.schema.json is exactly what the zod schema generates (status --schema)', () => {
  assert.deepEqual(JSON.parse(readFileSync(publishedFile, 'utf8')), JSON.parse(JSON.stringify(statusJsonSchemaDocument())));
});

test('JSON output validates against the zod schema and the published JSON Schema, for every shape of report', () => {
  const noIdentity = fullInput();
  delete noIdentity.identity;
  const reports = [
    evaluate(fullInput()),
    evaluate(noIdentity),
    evaluate({ now: at(0), config: { file: '/x.yaml', error: 'config: cannot read /x.yaml: ENOENT' } }),
    evaluate({ ...fullInput(), probe: { source: 'probe', ok: false, at: at(D), error: 'rolesanywhere: AccessDeniedException' } }),
  ];
  for (const r of reports) {
    const j = JSON.parse(JSON.stringify(toStatusJson(r)));
    assert.equal(j.schemaVersion, 1);
    assert.deepEqual(statusJsonSchema.parse(j), j);
    const p = published.safeParse(j);
    assert.ok(p.success, JSON.stringify(p.error?.issues));
  }
  // the validators are not vacuous: they reject what breaks the contract
  const good = JSON.parse(JSON.stringify(toStatusJson(reports[0]!)));
  for (const bad of [
    { ...good, schemaVersion: 2 },
    { ...good, overall: 'FINE' },
    { ...good, exitCode: 4 },
    { ...good, checks: [{ name: 'config', status: 'OK' }] },
    { ...good, generatedAt: 'yesterday' },
    { ...good, surprise: true },
    (({ checks: _c, ...rest }) => rest)(good),
  ]) {
    assert.equal(statusJsonSchema.safeParse(bad).success, false, JSON.stringify(bad).slice(0, 80));
    assert.equal(published.safeParse(bad).success, false, JSON.stringify(bad).slice(0, 80));
  }
});

test('Prometheus textfile: strict exposition format, the documented metric names, labels and values', () => {
  const r = evaluate(fullInput());
  const text = renderPrometheus(r);
  const fams = parseExposition(text);
  const v = (name: string, labels: Record<string, string> = {}) => {
    const f = fams.get(name);
    assert.ok(f, `${name} missing`);
    const s = f.samples.find((x) => JSON.stringify(x.labels) === JSON.stringify(labels));
    assert.ok(s, `${name}${JSON.stringify(labels)} missing`);
    return s.value;
  };
  for (const f of fams.values()) assert.ok(f.help && f.type !== 'untyped', `${f.name} lacks HELP or TYPE`);
  const sec = (d: Date) => d.getTime() / 1000;
  assert.equal(v('iamra_agent_status_generated_seconds'), sec(at(D + 60_000)));
  assert.equal(v('iamra_agent_certificate_not_before_seconds'), sec(issued));
  assert.equal(v('iamra_agent_certificate_not_after_seconds'), sec(at(90 * D)));
  assert.equal(v('iamra_agent_renewal_due_seconds'), sec(at(7 * D)));
  assert.equal(v('iamra_agent_ari_window_start_seconds'), sec(at(50 * D)));
  assert.equal(v('iamra_agent_last_renewal_ok'), 0);
  assert.equal(v('iamra_agent_last_renewal_seconds'), sec(at(60_000)));
  assert.equal(v('iamra_agent_last_renewal_success_seconds'), sec(at(120_000)));
  assert.equal(v('iamra_agent_credentials_expiry_seconds'), sec(at(D + 3600_000)));
  assert.equal(v('iamra_agent_last_create_session_ok'), 1);
  assert.equal(v('iamra_agent_pending_txt_records'), 1);
  assert.equal(v('iamra_agent_renewals_total'), 3);
  assert.equal(v('iamra_agent_renewal_failures_total'), 1);
  assert.equal(v('iamra_agent_odd_name_x_total'), 2);
  assert.equal(fams.get('iamra_agent_renewals_total')?.type, 'counter');
  assert.equal(v('iamra_agent_identity_info', { version: '0002', serial: '7F01', names: 'host1.example.com,alt.example.com' }), 1);
  // one series per check, value = Nagios code; the failed renewal and the old TXT record warn
  assert.equal(fams.get('iamra_agent_check_status')?.samples.length, r.checks.length);
  assert.equal(v('iamra_agent_check_status', { check: 'last-renewal' }), 1);
  assert.equal(v('iamra_agent_check_status', { check: 'pending-txt' }), 1);
  assert.equal(v('iamra_agent_check_status', { check: 'key' }), 0);
  assert.equal(v('iamra_agent_status'), 1);
});

test('Prometheus textfile when nothing is known: only the status families, still valid', () => {
  const r = evaluate({ now: at(0), config: { file: '/x.yaml', error: 'config: cannot read /x.yaml: ENOENT' } });
  const fams = parseExposition(renderPrometheus(r));
  assert.deepEqual([...fams.keys()].sort(), [
    'iamra_agent_check_status',
    'iamra_agent_identity_present',
    'iamra_agent_pending_txt_records',
    'iamra_agent_status',
    'iamra_agent_status_generated_seconds',
  ]);
  assert.ok(fams.get('iamra_agent_check_status')!.samples.every((s) => s.value === 3));
  assert.equal(fams.get('iamra_agent_status')!.samples[0]!.value, 3);
});

test('the exposition parser rejects what promtool rejects', () => {
  const bad = [
    'a 1', // no final newline
    'a{l="x} 1\n',
    'a{l="\\q"} 1\n',
    '# TYPE a gauge\n# TYPE a gauge\na 1\n',
    'a 1\nb 1\na 2\n',
    'a{l="1"} 1\na{l="1"} 2\n',
    'a one\n',
    '1a 1\n',
    'a{__x="1"} 1\n',
    '# TYPE a counter\na -1\n',
    '# TYPE a nonsense\na 1\n',
    'a 1\n# TYPE a gauge\n',
  ];
  for (const t of bad) assert.throws(() => parseExposition(t), Error, JSON.stringify(t));
  const ok = parseExposition('# HELP a x\\ny \\\\\n# TYPE a gauge\na{l="q\\"\\\\\\n",m="2"} -1.5e3 1700000000000\nb +Inf\n');
  assert.deepEqual(ok.get('a'), {
    name: 'a',
    help: 'x\ny \\',
    type: 'gauge',
    samples: [{ name: 'a', labels: { l: 'q"\\\n', m: '2' }, value: -1500, timestamp: 1700000000000 }],
  });
});

test('text output: a Nagios first line naming the causes, then one row per check', () => {
  const r = evaluate(fullInput());
  const lines = renderText(r).split('\n');
  assert.match(lines[0]!, /^IAMRA-AGENT WARNING: last-renewal: failed at .*acme: order invalid.*; pending-txt: 1 TXT record\(s\) left by an interrupted run/);
  assert.match(lines[2]!, /^CHECK\s+STATUS\s+REASON$/);
  assert.equal(
    lines.filter((l) =>
      /^(config|identity|validity|renewal|ari|key|chain|certificate|last-renewal|create-session|route53-credentials|pending-txt)\s+(OK|WARNING|CRITICAL|UNKNOWN)\s+\S/.test(
        l,
      ),
    ).length,
    12,
  );

  const noConfig = renderText(evaluate({ now: at(0), config: { file: '/x.yaml', error: 'config: cannot read /x.yaml: ENOENT' } }));
  assert.equal(noConfig.split('\n')[0], 'IAMRA-AGENT UNKNOWN: config: config: cannot read /x.yaml: ENOENT');
});
