import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { AuditResult } from '../../src/envsense/audit.js';
import { runCli, startSandbox, type E2eSandbox } from '../helpers/sandbox.js';
import { tempDir } from '../helpers/paths.js';

/**
 * Issue 8, "What must be shown" 3 (from files) and 5 (bad input): enrol with `sandbox up --totp`, put the host's
 * `fingerprint --json` entry into a database, make CreateSessions → `audit` exit 0; change one fingerprint source
 * (the stolen key used on another machine) and make another CreateSession → exit 1 naming that event `mismatch`.
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

  const hostId = path.join(sb.dir, 'envsense', 'host-id');
  writeFileSync(hostId, 'the same key, another machine\n');
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
