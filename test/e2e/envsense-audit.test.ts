import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { AuditResult } from '../../src/envsense/audit.js';
import type { AuditCursor } from '../../src/envsense/audit-state.js';
import type { CallRecord } from '../../src/sandbox/aws/types.js';
import { runCli, startSandbox, type E2eSandbox } from '../helpers/sandbox.js';
import { repoRoot, tempDir } from '../helpers/paths.js';

/**
 * Issue 8, "What must be shown" 3 and 5: enrol with `sandbox up --totp`, put the host's `fingerprint --json` entry
 * into a database, make CreateSessions → `audit` exit 0; change one fingerprint source (the stolen key used on
 * another machine) and make another CreateSession → exit 1 naming that event `mismatch`. `audit --lookup` through
 * the sandbox's CloudTrail LookupEvents (the real @aws-sdk/client-cloudtrail, pages of 2) gives the same verdicts
 * as the trail file; with `--state` a second run audits only the events since the first. Bad input exits 2.
 */

let sb: E2eSandbox;
const work = tempDir('envsense-audit');
const db = path.join(work, 'db.json');
before(async () => {
  sb = await startSandbox({ args: ['--totp'], bootstrap: true });
});
after(async () => {
  await sb?.stop();
});

const trail = () => path.join(sb.dir, 'cloudtrail.jsonl');
const audit = (args: string[], input?: string) => runCli(['audit', '--db', db, ...args], sb.env, input === undefined ? {} : { input });
/** the sandbox env has AWS_ENDPOINT_URL_CLOUDTRAIL and the auditor's key as profile iamra-agent-audit */
const lookup = (args: string[]) => audit(['--lookup', '--profile', 'iamra-agent-audit', '--json', ...args]);
const hostId = () => path.join(sb.dir, 'envsense', 'host-id');
let enrolledHostId: Buffer;
/** the verdicts of the whole trail file, set by the first test */
let fileResults: AuditResult[] = [];
type Report = { results: AuditResult[]; skipped: number; lookup?: { alreadyAudited: number } };
const lookupCalls = async () => (await sb.admin<CallRecord[]>('calls?service=cloudtrail')).filter((c) => c.action === 'LookupEvents');

it('legit sessions pass (exit 0); a session from a changed environment is a mismatch (exit 1), in every input format', async () => {
  const fp = await sb.cli(['fingerprint', '--json']);
  assert.equal(fp.code, 0, fp.stderr);
  writeFileSync(db, JSON.stringify([JSON.parse(fp.stdout)]));
  for (let i = 0; i < 2; i++) assert.equal((await sb.cli(['credential-process', '--no-cache'])).code, 0);

  const ok = await audit(['--json', trail()]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  const okResults = (JSON.parse(ok.stdout) as { results: AuditResult[] }).results;
  assert.ok(okResults.length >= 2);
  assert.ok(okResults.every((r) => r.verdict === 'legit' && r.subject === `CN=${sb.info.name}` && /^\d{6}$/.test(r.code ?? '')));

  enrolledHostId = readFileSync(hostId());
  writeFileSync(hostId(), 'the same key, another machine\n');
  assert.equal((await sb.cli(['credential-process', '--no-cache'])).code, 0);
  const lines = readFileSync(trail(), 'utf8').trim().split('\n');
  const stolen = JSON.parse(lines[lines.length - 1]!) as { eventID: string; requestParameters: { roleSessionName: string }; eventTime: string };

  const bad = await audit(['--json', trail()]);
  assert.equal(bad.code, 1, bad.stderr);
  const results = (JSON.parse(bad.stdout) as { results: AuditResult[] }).results;
  assert.deepEqual(
    results.filter((r) => r.verdict !== 'legit').map((r) => [r.verdict, r.code, r.time]),
    [['mismatch', stolen.requestParameters.roleSessionName, stolen.eventTime]],
  );
  fileResults = results;

  const text = await audit([trail()]);
  assert.equal(text.code, 1);
  assert.match(
    text.stdout,
    new RegExp(`^mismatch +${stolen.eventTime} +CN=${sb.info.name.replace(/\./g, '\\.')} +127\\.0\\.0\\.1 +${stolen.requestParameters.roleSessionName}`, 'm'),
  );

  // The same verdicts from CloudTrail's log-file format, gzipped, and from stdin.
  const records = path.join(work, 'trail.json.gz');
  writeFileSync(records, gzipSync(JSON.stringify({ Records: lines.map((l) => JSON.parse(l)) })));
  const gz = await audit(['--json', records]);
  assert.equal(gz.code, 1);
  assert.deepEqual((JSON.parse(gz.stdout) as { results: AuditResult[] }).results, results);
  const stdin = await audit(['--json'], lines.join('\n'));
  assert.equal(stdin.code, 1);
  assert.deepEqual((JSON.parse(stdin.stdout) as { results: AuditResult[] }).results, results);
});

it('--lookup: the same verdicts from LookupEvents as from the trail file, across pages of 2', async () => {
  await sb.admin('reset-calls', {});
  const r = await lookup(['--page-size', '2']);
  assert.equal(r.code, 1, r.stderr);
  assert.deepEqual((JSON.parse(r.stdout) as Report).results, fileResults);
  const calls = await lookupCalls();
  assert.equal(calls.length, Math.ceil(fileResults.length / 2), 'one LookupEvents call per page of 2');
  assert.ok(calls.every((c) => c.status === 200));
  // --since as a duration back from now takes them all; an --until before them takes none (exit 0)
  const since = await lookup(['--since', '1h']);
  assert.deepEqual((JSON.parse(since.stdout) as Report).results, fileResults);
  const none = await lookup(['--until', '2026-01-01T00:00:00Z']);
  assert.equal(none.code, 0, none.stderr);
  assert.deepEqual((JSON.parse(none.stdout) as Report).results, []);
});

it('--lookup --state: a second run audits only the events since the first; the cursor is 0600', async () => {
  const state = path.join(work, 'cursor.json');
  const first = await lookup(['--state', state]);
  assert.equal(first.code, 1, first.stderr);
  assert.equal((JSON.parse(first.stdout) as Report).results.length, fileResults.length);
  assert.equal(statSync(state).mode & 0o777, 0o600);
  const cursor = JSON.parse(readFileSync(state, 'utf8')) as AuditCursor;
  assert.equal(cursor.lastEventTime, fileResults.at(-1)?.time);

  // the host is back in its enrolled environment: one new, legit CreateSession
  writeFileSync(hostId(), enrolledHostId);
  assert.equal((await sb.cli(['credential-process', '--no-cache'])).code, 0);
  const second = await lookup(['--state', state, '--page-size', '2']);
  assert.equal(second.code, 0, second.stdout + second.stderr);
  const report = JSON.parse(second.stdout) as Report;
  assert.deepEqual(
    report.results.map((x) => x.verdict),
    ['legit'],
  );
  assert.equal(report.lookup?.alreadyAudited, fileResults.length, 'the earlier events came back in the overlap and were skipped');

  const third = await runCli(['audit', '--db', db, '--lookup', '--profile', 'iamra-agent-audit', '--state', state], sb.env);
  assert.equal(third.code, 0, third.stderr);
  assert.equal(third.stdout, 'no new IAM Roles Anywhere CreateSession events\n');

  // a corrupt cursor is named, and left for the operator to remove
  writeFileSync(state, '{"version":1,"lastEventTime":');
  const bad = await lookup(['--state', state]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /cursor\.json: is not an audit cursor \(not JSON.*remove the file/);
  assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace');
});

it('--lookup: throttling is retried by the SDK; throttling that does not stop, or no credentials, exit 2', async () => {
  await sb.admin('faults', { throttleStorm: 2, throttleStormService: 'cloudtrail' });
  await sb.admin('reset-calls', {});
  const retried = await lookup([]);
  assert.equal(retried.code, 1, retried.stderr);
  assert.equal((JSON.parse(retried.stdout) as Report).results.length, fileResults.length + 1);
  assert.deepEqual(
    (await lookupCalls()).map((c) => c.errorCode ?? c.status),
    ['ThrottlingException', 'ThrottlingException', 200],
  );

  await sb.admin('faults', { throttleStorm: 100, throttleStormService: 'cloudtrail' });
  try {
    const r = await lookup([]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /CloudTrail LookupEvents failed \(profile iamra-agent-audit\): ThrottlingException: Rate exceeded.*2 LookupEvents calls per second/);
  } finally {
    await sb.admin('faults', { throttleStorm: 0 });
  }

  // no instance metadata: the SDK chain would otherwise try 169.254.169.254 after the missing profile
  const r = await runCli(['audit', '--db', db, '--lookup', '--profile', 'nobody-here'], { ...sb.env, AWS_EC2_METADATA_DISABLED: 'true' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /CloudTrail LookupEvents failed \(profile nobody-here\): CredentialsProviderError: .*--profile NAME/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

it("the audit unit's command line, as systemd runs it (credentials in %d, audit.env), audits the sandbox", async () => {
  const unit = readFileSync(path.join(repoRoot, 'units', 'iamra-agent-audit.service'), 'utf8');
  const exec = /^ExecStart=\/usr\/local\/bin\/iamra-agent (.+)$/m.exec(unit)![1]!.split(' ');
  const creds = path.join(work, 'credentials-dir');
  mkdirSync(creds, { recursive: true, mode: 0o700 });
  copyFileSync(db, path.join(creds, 'fleet-db'));
  copyFileSync(path.join(sb.dir, 'aws', 'credentials'), path.join(creds, 'cloudtrail-credentials'));
  const cursor = path.join(work, 'unit-cursor.json');
  const args = exec.map((a) => a.replace('%d', creds).replace('/var/lib/iamra-agent-audit/cursor.json', cursor));
  const env = {
    ...sb.env,
    // the unit's Environment= lines, then what an operator puts in audit.env
    AWS_SHARED_CREDENTIALS_FILE: path.join(creds, 'cloudtrail-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PROFILE: 'iamra-agent-audit',
  };
  const r = await runCli(args, env);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /^mismatch /m);
  assert.equal(statSync(cursor).mode & 0o777, 0o600);
});

it('bad input: exit 2 with one line naming it, no stack', async () => {
  const gz = gzipSync(readFileSync(trail()));
  const truncated = path.join(work, 'truncated.json.gz');
  writeFileSync(truncated, gz.subarray(0, Math.floor(gz.length / 2)));
  const badDb = path.join(work, 'bad-db.json');
  writeFileSync(badDb, JSON.stringify([{ 'CN=a.example.com': 'not-hex' }]));
  const other = path.join(work, 'other.json');
  writeFileSync(other, JSON.stringify({ Records: [{ eventSource: 'sts.amazonaws.com', eventName: 'AssumeRole', eventTime: '2026-12-01T00:00:00Z' }] }));

  const cases: [string[], RegExp][] = [
    [[truncated], /truncated\.json\.gz: is not a complete gzip file/],
    [[other], /no IAM Roles Anywhere CreateSession events in .*other\.json \(1 other event\(s\)\)/],
    [[path.join(work, 'missing.json')], /missing\.json/],
    [['--lookup', trail()], /--lookup reads CloudTrail, not files/],
    [['--state', path.join(work, 'cursor.json'), trail()], /--state only apply to --lookup/],
    [['--lookup', '--since', 'yesterday'], /--since yesterday is neither a time nor a duration/],
  ];
  for (const [args, re] of cases) {
    const r = await audit(args);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  const r = await runCli(['audit', '--db', badDb, trail()], sb.env);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bad-db\.json: entry 0 \(CN=a\.example\.com\) is not a sha1 or sha256 hex fingerprint/);
});
