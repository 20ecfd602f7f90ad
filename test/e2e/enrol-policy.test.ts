import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { E2eSandbox } from '../helpers/sandbox.js';
import { assertCleanFailure, assertNoTxt, enrolSandbox, exists, grantPrintedPolicy } from '../helpers/enrol.js';

/**
 * Issue 2, "What must be shown" 1 and 2: the built CLI enrols against Pebble + the Route 53 stand-in when the agent's
 * AWS key may do exactly what `iamra-agent policy route53` printed — and fails cleanly when that policy names
 * another host.
 */

interface Call {
  service: string;
  action: string;
  status: number;
  errorCode?: string;
  principalArn?: string;
}

describe('bootstrap through the least-privilege Route 53 policy', () => {
  let sb: E2eSandbox;
  before(async () => {
    sb = await enrolSandbox();
  });
  after(async () => {
    await sb?.stop();
  });

  it('enrols with exactly the printed policy: chain to Pebble root, key 0600, TXT gone, only allowed calls', async () => {
    const policy = await grantPrintedPolicy(sb, sb.info.name);
    const principals = await sb.admin<{ accessKeyId: string; policies: unknown[] }[]>('principals');
    assert.deepEqual(principals.find((p) => p.accessKeyId === sb.info.dnsUser.accessKeyId)?.policies, [policy], 'the printed policy is the only one');
    await sb.admin('reset-calls', {});

    const r = await sb.cli(['bootstrap', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).action, 'enrolled');

    const live = path.join(sb.dir, 'state', 'live');
    const verified = execFileSync(
      'openssl',
      ['verify', '-CAfile', path.join(sb.dir, 'pebble-roots.pem'), '-untrusted', path.join(live, 'chain.pem'), path.join(live, 'cert.pem')],
      { encoding: 'utf8' },
    );
    assert.match(verified, /cert\.pem: OK/);
    const subject = execFileSync('openssl', ['x509', '-in', path.join(live, 'cert.pem'), '-noout', '-subject', '-ext', 'subjectAltName'], { encoding: 'utf8' });
    assert.match(subject, new RegExp(`CN ?= ?${sb.info.name.replace(/\./g, '\\.')}`));
    assert.match(subject, new RegExp(`DNS:${sb.info.name.replace(/\./g, '\\.')}`));
    assert.equal(statSync(path.join(live, 'key.pem')).mode & 0o777, 0o600);
    // the key on disk is the certificate's key
    const pub = (args: string[]) => execFileSync('openssl', args, { encoding: 'utf8' });
    assert.equal(pub(['pkey', '-in', path.join(live, 'key.pem'), '-pubout']), pub(['x509', '-in', path.join(live, 'cert.pem'), '-noout', '-pubkey']));

    await assertNoTxt(sb);

    const calls = await sb.admin<Call[]>('calls?service=route53');
    assert.ok(calls.length >= 4, `expected list, UPSERT, GetChange, DELETE; got ${JSON.stringify(calls)}`);
    const allowed = new Set(['ListResourceRecordSets', 'ChangeResourceRecordSets', 'GetChange']);
    for (const c of calls) {
      assert.ok(allowed.has(c.action), `unexpected action ${c.action}`);
      assert.equal(c.status, 200, `${c.action} answered ${c.status} ${c.errorCode ?? ''}`);
      assert.equal(c.principalArn, sb.info.dnsUser.arn);
    }
    assert.equal(calls.filter((c) => c.action === 'ChangeResourceRecordSets').length, 2, 'one UPSERT, one DELETE');
    assert.ok(
      calls.some((c) => c.action === 'GetChange'),
      'waited for INSYNC',
    );
  });

  it('fails with AccessDenied naming the record when the policy is for another name; nothing live, no TXT', async () => {
    await grantPrintedPolicy(sb, 'other.example.com');
    const state = path.join(sb.dir, 'state-denied');
    const r = await sb.cli(['bootstrap', '--set', `state.dir=${state}`]);
    assertCleanFailure(r, /AccessDenied/, new RegExp(`_acme-challenge\\.${sb.info.name.replace(/\./g, '\\.')}`), /policy route53/);
    assert.equal(exists(path.join(state, 'live')), false, 'no live link');
    const versions = path.join(state, 'versions');
    if (exists(versions)) assert.deepEqual(execFileSync('ls', ['-A', versions], { encoding: 'utf8' }), '', 'no staged version left');
    const st = JSON.parse(readFileSync(path.join(state, 'state.json'), 'utf8'));
    assert.equal(st.lastRenewal.ok, false);
    assert.match(st.lastRenewal.error, /AccessDenied/);
    await assertNoTxt(sb);
    const calls = await sb.admin<Call[]>('calls?service=route53');
    assert.ok(
      calls.some((c) => c.action === 'ChangeResourceRecordSets' && c.errorCode === 'AccessDenied'),
      'the stand-in denied the change',
    );
  });
});
