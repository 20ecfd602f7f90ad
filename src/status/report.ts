import { EXIT_CODES, type StatusReport } from './checks.js';
import { STATUS_SCHEMA_VERSION, type StatusJson } from './schema.js';

/** The report as `status --json` prints it (config/status.schema.json). */
export function toStatusJson(r: StatusReport): StatusJson {
  const { configFile, checks, ...rest } = r;
  // the codes are for in-process readers (renderText); the published schema (v1) has no field for them yet
  const published = checks.map(({ code: _code, ...c }) => c);
  const { generatedAt, overall, exitCode, ...after } = rest;
  return { schemaVersion: STATUS_SCHEMA_VERSION, generatedAt, overall, exitCode, checks: published, ...after, config: { file: configFile } };
}

/**
 * A Nagios-style first line (`IAMRA-AGENT WARNING: …`, what monitoring shows in one line) and then one row per
 * check.
 */
export function renderText(r: StatusReport): string {
  // the causes, not the checks that could not run because of them
  const bad = r.checks.filter((c) => c.status !== 'OK');
  const causes = bad.filter((c) => c.code !== 'not-checked');
  const summary = bad.length ? (causes.length ? causes : bad).map((c) => `${c.name}: ${c.reason}`).join('; ') : `all ${r.checks.length} checks OK`;
  const w = Math.max(...r.checks.map((c) => c.name.length), 5);
  const rows = r.checks.map((c) => `${c.name.padEnd(w)}  ${c.status.padEnd(8)}  ${c.reason}`);
  return [`IAMRA-AGENT ${r.overall}: ${summary}`, '', `${'CHECK'.padEnd(w)}  ${'STATUS'.padEnd(8)}  REASON`, ...rows, ''].join('\n');
}

interface Family {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  samples: { labels?: Record<string, string>; value: number }[];
}

/**
 * node_exporter textfile collector format (Prometheus text exposition format 0.0.4,
 * https://prometheus.io/docs/instrumenting/exposition_formats/): HELP and TYPE before each family, every sample of
 * a family together, times as Unix seconds (the *_seconds convention), a final newline. A value that is not known
 * (no identity, no recorded renewal) is left out rather than exported as 0, so alerts on `time() > …` never fire on
 * a missing fact; `iamra_agent_check_status` says why it is missing.
 */
export function renderPrometheus(r: StatusReport): string {
  const fams: Family[] = [];
  const add = (name: string, help: string, type: Family['type'], samples: Family['samples']) => {
    if (samples.length) fams.push({ name, help, type, samples });
  };
  const t = (iso: string | undefined) => (iso === undefined ? [] : [{ value: Date.parse(iso) / 1000 }]).filter((s) => Number.isFinite(s.value));
  const one = (v: number | undefined) => (v === undefined ? [] : [{ value: v }]);

  add('iamra_agent_status_generated_seconds', 'Unix time this status report was generated.', 'gauge', t(r.generatedAt));
  add('iamra_agent_status', 'Overall status as a Nagios exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.', 'gauge', one(EXIT_CODES[r.overall]));
  add(
    'iamra_agent_check_status',
    'Status of each check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.',
    'gauge',
    r.checks.map((c) => ({ labels: { check: c.name }, value: EXIT_CODES[c.status] })),
  );
  add('iamra_agent_identity_present', '1 when a live identity could be read, else 0.', 'gauge', one(r.identity ? 1 : 0));
  if (r.identity) {
    add('iamra_agent_identity_info', 'The live identity (value always 1).', 'gauge', [
      { labels: { version: r.identity.version, serial: r.identity.serial, names: r.identity.names.join(',') }, value: 1 },
    ]);
  }
  add('iamra_agent_certificate_not_before_seconds', 'Unix time the live certificate becomes valid.', 'gauge', t(r.identity?.notBefore));
  add('iamra_agent_certificate_not_after_seconds', 'Unix time the live certificate expires.', 'gauge', t(r.identity?.notAfter));
  add(
    'iamra_agent_renewal_due_seconds',
    'Unix time of the renewal point of the live certificate (ARI window, lifetime rule or renewal.maxAge).',
    'gauge',
    t(r.renewal?.renewAt),
  );
  add(
    'iamra_agent_renewal_overdue',
    '1 when the renewal point has passed and the certificate has not been renewed.',
    'gauge',
    one(r.renewal ? (r.renewal.due ? 1 : 0) : undefined),
  );
  const ari = r.ari?.appliesToLive ? r.ari : undefined;
  add('iamra_agent_ari_window_start_seconds', 'Start of the ACME Renewal Information suggested window for the live certificate.', 'gauge', t(ari?.windowStart));
  add('iamra_agent_ari_window_end_seconds', 'End of the ACME Renewal Information suggested window for the live certificate.', 'gauge', t(ari?.windowEnd));
  add('iamra_agent_last_renewal_seconds', 'Unix time of the last renewal attempt.', 'gauge', t(r.lastRenewal?.at));
  add(
    'iamra_agent_last_renewal_ok',
    '1 when the last renewal attempt succeeded, 0 when it failed.',
    'gauge',
    one(r.lastRenewal ? (r.lastRenewal.ok ? 1 : 0) : undefined),
  );
  add(
    'iamra_agent_last_renewal_success_seconds',
    'Unix time of the last successful enrolment (renewal or bootstrap) of the live identity.',
    'gauge',
    t(r.lastRenewalSuccess),
  );
  add(
    'iamra_agent_last_create_session_ok',
    '1 when the last CreateSession (recorded, or made by --probe) succeeded, 0 when it failed.',
    'gauge',
    one(r.credentials ? (r.credentials.ok ? 1 : 0) : undefined),
  );
  add(
    'iamra_agent_credentials_expiry_seconds',
    'Unix time the credentials of the last successful CreateSession expire.',
    'gauge',
    t(r.credentials?.ok ? r.credentials.expiration : undefined),
  );
  add(
    'iamra_agent_pending_txt_records',
    'DNS-01 TXT records of ours not yet removed (a crashed run leaves them; the next run removes them).',
    'gauge',
    one(r.pendingTxt.length),
  );
  for (const [k, v] of Object.entries(r.counters).sort(([a], [b]) => a.localeCompare(b))) {
    const base = k
      .toLowerCase()
      .replace(/[^a-z0-9_]/g, '_')
      .replace(/_total$/, '');
    // two state keys that sanitise alike would make a duplicate family, which the format forbids
    if (fams.some((f) => f.name === `iamra_agent_${base}_total`)) continue;
    add(`iamra_agent_${base}_total`, `Count of ${k.replace(/_/g, ' ')} recorded in state.json.`, 'counter', [{ value: v }]);
  }

  const lines: string[] = [];
  for (const f of fams) {
    lines.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
    lines.push(`# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) lines.push(`${f.name}${labels(s.labels)} ${num(s.value)}`);
  }
  return lines.join('\n') + '\n';
}

function labels(l: Record<string, string> | undefined): string {
  if (!l) return '';
  const parts = Object.entries(l).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return `{${parts.join(',')}}`;
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
