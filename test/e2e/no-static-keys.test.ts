import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { enrolSandbox, txtRecords } from '../helpers/enrol.js';
import type { E2eSandbox } from '../helpers/sandbox.js';

/**
 * Issue 9, "What must be shown" 1: bootstrap with the sandbox's static DNS key, then remove that key from the
 * environment (its shared credentials file) and from the sandbox (the control API deletes the IAM user):
 * `renew --force` still succeeds, through the fleet DNS role assumed with the live identity
 * (`dns.route53.credentials: auto`, written by `sandbox up`). The sandbox's call log shows every Route 53 call made
 * by the assumed-role session, CloudTrail the DNS-role CreateSession, and `status` warns about the static key only
 * while it is reachable.
 */

interface Call {
  service: string;
  action: string;
  status: number;
  principalArn?: string;
}

interface StatusJson {
  overall: string;
  checks: { name: string; status: string; reason: string }[];
}

describe('no static AWS keys after bootstrap', () => {
  let sb: E2eSandbox;
  const status = async () => {
    const r = await sb.cli(['status', '--json']);
    return { code: r.code, json: JSON.parse(r.stdout) as StatusJson, stderr: r.stderr };
  };
  const r53Check = (j: StatusJson) => j.checks.find((c) => c.name === 'route53-credentials')!;

  before(async () => {
    sb = await enrolSandbox();
    const agentYaml = readFileSync(path.join(sb.dir, 'agent.yaml'), 'utf8');
    assert.match(agentYaml, /credentials: auto/);
    assert.match(agentYaml, new RegExp(`roleArn: ${sb.info.dnsRoleArn.replace(/[/]/g, '\\/')}`));
  });
  after(async () => {
    await sb?.stop();
  });

  it('bootstrap signs Route 53 calls with the static key (no identity yet); status then warns that it is still reachable', async () => {
    await sb.admin('reset-calls', {});
    const boot = await sb.cli(['bootstrap']);
    assert.equal(boot.code, 0, boot.stderr);
    // the enrolment says at once that the key is still there and can go
    assert.match(
      boot.stdout,
      /static Route 53 credentials are still reachable \(profile iamra-agent-dns in .*aws\/credentials\): renewals use the fleet DNS role arn:aws:iam::\d+:role\/iamra-agent-fleet-dns, so remove them/,
    );
    const calls = await sb.admin<Call[]>('calls?service=route53');
    assert.ok(calls.length > 0);
    assert.deepEqual([...new Set(calls.map((c) => c.principalArn))], [sb.info.dnsUser.arn]);

    const s = await status();
    assert.equal(s.code, 1, s.stderr);
    assert.deepEqual([s.json.overall, r53Check(s.json).status], ['WARNING', 'WARNING']);
    assert.match(r53Check(s.json).reason, /profile iamra-agent-dns in .*aws\/credentials; remove them/);
    assert.deepEqual(
      s.json.checks.filter((c) => c.status !== 'OK').map((c) => c.name),
      ['route53-credentials'],
      'the static key is the only warning',
    );
  });

  it('with the key gone from the host and the IAM user deleted, renew --force succeeds through the fleet DNS role', async () => {
    rmSync(path.join(sb.dir, 'aws', 'credentials'));
    await sb.admin('principals/delete', { accessKeyId: sb.info.dnsUser.accessKeyId });
    const principals = await sb.admin<{ accessKeyId: string }[]>('principals');
    assert.equal(
      principals.some((p) => p.accessKeyId === sb.info.dnsUser.accessKeyId),
      false,
      'the IAM user is gone',
    );
    await sb.admin('reset-calls', {});
    // bootstrap made no CreateSession (no identity yet), so the trail may not exist yet
    const trailFile = path.join(sb.dir, 'cloudtrail.jsonl');
    const trailBefore = existsSync(trailFile) ? readFileSync(trailFile, 'utf8').split('\n').filter(Boolean).length : 0;

    const r = await sb.cli(['renew', '--force', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).action, 'renewed');
    // the agent says which credentials its Route 53 calls used
    assert.match(r.stderr, /route53 credentials/);
    assert.match(r.stderr, /rolesAnywhere/);

    const calls = await sb.admin<Call[]>('calls?service=route53');
    const changes = calls.filter((c) => c.action === 'ChangeResourceRecordSets');
    assert.equal(changes.length, 2, 'one UPSERT, one DELETE');
    const session = new RegExp(`^arn:aws:sts::${sb.info.accountId}:assumed-role/iamra-agent-fleet-dns/[0-9a-f]+$`);
    for (const c of calls) {
      assert.match(c.principalArn ?? '', session, `${c.action} by ${c.principalArn}`);
      assert.equal(c.status, 200, `${c.action} answered ${c.status}`);
    }
    assert.deepEqual(await txtRecords(sb), [], 'the challenge record is gone');

    const trail = readFileSync(trailFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .slice(trailBefore)
      .map((l) => JSON.parse(l) as { eventName: string; requestParameters?: { roleArn?: string }; errorCode?: string });
    const dnsSessions = trail.filter((e) => e.eventName === 'CreateSession' && e.requestParameters?.roleArn === sb.info.dnsRoleArn);
    assert.equal(dnsSessions.length, 1, `one DNS-role CreateSession in CloudTrail: ${JSON.stringify(trail)}`);
    assert.equal(dnsSessions[0]!.errorCode, undefined);
  });

  it('status has no static-credential warning any more: OK, exit 0', async () => {
    const s = await status();
    assert.equal(s.code, 0, `${JSON.stringify(s.json.checks.filter((c) => c.status !== 'OK'))} ${s.stderr}`);
    assert.deepEqual([s.json.overall, r53Check(s.json).status], ['OK', 'OK']);
    assert.match(r53Check(s.json).reason, new RegExp(`fleet DNS role ${sb.info.dnsRoleArn.replace(/[/]/g, '\\/')} .*no static Route 53 credentials reachable`));
  });
});
