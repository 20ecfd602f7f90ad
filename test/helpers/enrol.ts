import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lstatSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { startSandbox, type CliResult, type E2eSandbox } from './sandbox.js';

/** Shared checks of the enrolment e2e tests (test/e2e/enrol-*.test.ts) and the enrol benchmark. */

const run = promisify(execFile);

/** startSandbox plus removal of its directory on stop */
export async function enrolSandbox(o: { name?: string; args?: string[] } = {}): Promise<E2eSandbox> {
  const sb = await startSandbox(o);
  return {
    ...sb,
    stop: async () => {
      await sb.stop();
      rmSync(sb.dir, { recursive: true, force: true });
    },
  };
}

export interface ZoneRecord {
  name: string;
  type: string;
  values: string[];
}

/** TXT records in the Route 53 stand-in's zones, as the API sees them (admin GET route53/zones) */
export async function txtRecords(sb: E2eSandbox): Promise<ZoneRecord[]> {
  const zones = await sb.admin<{ records: ZoneRecord[] }[]>('route53/zones');
  return zones.flatMap((z) => z.records.filter((r) => r.type === 'TXT'));
}

/** TXT values the sandbox's authoritative DNS server answers for a name, asked with a real `dig` */
export async function digTxt(sb: E2eSandbox, name: string): Promise<{ status: string; answers: string[] }> {
  const [host, port] = sb.info.dnsServer.split(':') as [string, string];
  const { stdout } = await run('dig', [`@${host}`, '-p', port, '+tries=1', '+time=2', 'TXT', name]);
  const status = /status: ([A-Z]+)/.exec(stdout)?.[1] ?? '?';
  const answers = [...stdout.matchAll(/^\S+\s+\d+\s+IN\s+TXT\s+(.*)$/gm)].map((m) => m[1]!);
  return { status, answers };
}

/**
 * asserts that no TXT record is left: in the API's view at once, and in what the nameserver answers once the DELETE
 * is INSYNC (the stand-in, like Route 53, serves a change only then; the agent does not wait for its cleanup to sync)
 */
export async function assertNoTxt(sb: E2eSandbox, o: { name?: string; syncWaitMs?: number } = {}): Promise<void> {
  const name = `_acme-challenge.${o.name ?? sb.info.name}`;
  assert.deepEqual(await txtRecords(sb), [], 'no TXT record may be left in the zone');
  const deadline = Date.now() + (o.syncWaitMs ?? 3000);
  let d = await digTxt(sb, name);
  while (d.answers.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    d = await digTxt(sb, name);
  }
  assert.deepEqual(d.answers, [], `dig still answers TXT for ${name}`);
  assert.equal(d.status, 'NXDOMAIN');
}

/** the policy `iamra-agent policy route53` prints, made the agent's DNS writer's only permissions */
export async function grantPrintedPolicy(sb: E2eSandbox, name: string): Promise<unknown> {
  const r = await sb.cli(['policy', 'route53', '--zone-id', sb.info.zoneId, '--name', name]);
  assert.equal(r.code, 0, r.stderr);
  const policy = JSON.parse(r.stdout) as unknown;
  await sb.admin('principals/policies', { accessKeyId: sb.info.dnsUser.accessKeyId, policies: [policy] });
  return policy;
}

/** the agent's Route 53 writer key, from the sandbox's D/aws/credentials */
export function dnsUserCredentials(sb: E2eSandbox): { accessKeyId: string; secretAccessKey: string } {
  const text = readFileSync(path.join(sb.dir, 'aws', 'credentials'), 'utf8');
  const get = (k: string) => new RegExp(`^${k} = (.+)$`, 'm').exec(text)?.[1] ?? '';
  return { accessKeyId: get('aws_access_key_id'), secretAccessKey: get('aws_secret_access_key') };
}

/** a copy of the sandbox's agent.yaml, changed by `edit`; returns its path (for --config) */
// biome-ignore lint/suspicious/noExplicitAny: tests edit the parsed YAML document freely, any depth, any shape
export function editedConfig(sb: E2eSandbox, file: string, edit: (cfg: Record<string, any>) => void): string {
  // biome-ignore lint/suspicious/noExplicitAny: as above
  const cfg = parseYaml(readFileSync(path.join(sb.dir, 'agent.yaml'), 'utf8')) as Record<string, any>;
  edit(cfg);
  const out = path.join(sb.dir, file);
  writeFileSync(out, toYaml(cfg), { mode: 0o600 });
  return out;
}

/** a user-facing failure: exit 1, one clear line, no stack trace */
export function assertCleanFailure(r: CliResult, ...patterns: RegExp[]): void {
  assert.equal(r.code, 1, `expected exit 1, got ${r.code}\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /^\s+at .+[:(]\d+:\d+\)?$/m, `stack trace on stderr:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /"stack"/, `stack in a log line:\n${r.stderr}`);
  const line = r.stderr.split('\n').find((l) => l.startsWith('iamra-agent: '));
  assert.ok(line, `no "iamra-agent: …" error line in\n${r.stderr}`);
  for (const p of patterns) assert.match(line, p);
}

/** true when `p` exists as anything (file, dir, dangling symlink) */
export function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
