import assert from 'node:assert/strict';
import { X509Certificate, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { AgentError } from '../../src/core/errors.js';
import { memoryLogger } from '../../src/core/logger.js';
import { ACCOUNT_KEY_FILE, REGISTRATION_FILE, certId, getRenewalInfo, issueCertificate } from '../../src/acme/index.js';
import { acmeSettingsFromConfig } from '../../src/compose/acme.js';
import { validateConfig } from '../../src/config/load.js';
import { ChallTestDns, countInLog, csrFor, opensslVerify, startEnv, type Env } from './harness.js';

const rejectsWith = async (p: Promise<unknown>, code: string): Promise<AgentError> => {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof AgentError, `expected AgentError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected rejection with ${code}`);
};

/** RFC 5280 §4.1.2.5: notAfter is inclusive, so a period of N seconds ends at notBefore + N - 1 */
const lifetimeSec = (pem: string) => {
  const c = new X509Certificate(pem);
  return (Date.parse(c.validTo) - Date.parse(c.validFrom)) / 1000 + 1;
};

describe('acme against the pinned Pebble', () => {
  let env: Env;
  before(async () => {
    env = await startEnv('acme');
  });
  after(async () => {
    await env?.stop();
  });

  it('issues apex + wildcard over dns-01; the chain verifies with openssl; every TXT value is cleaned up', async () => {
    const dns = new ChallTestDns(env.chall);
    const names = ['host1.example.com', '*.host1.example.com'];
    const logger = memoryLogger();
    const out = await issueCertificate({ clock: systemClock, logger, dns }, env.settings(), { csrPem: await csrFor(names), names });

    assert.equal((out.certPem.match(/BEGIN CERTIFICATE/g) ?? []).length, 1);
    assert.ok((out.chainPem.match(/BEGIN CERTIFICATE/g) ?? []).length >= 1);
    assert.equal(out.fullchainPem, out.certPem + out.chainPem);
    assert.match(out.orderUrl, /^https:\/\/127\.0\.0\.1:\d+\//);
    assert.equal(out.profile, 'classic');
    assert.match(await opensslVerify(env.dir, env.pebble.rootsPem, out.chainPem, out.certPem), /: OK$/);
    const leaf = new X509Certificate(out.certPem);
    assert.deepEqual(leaf.subjectAltName?.split(', ').sort(), ['DNS:*.host1.example.com', 'DNS:host1.example.com']);
    assert.equal(lifetimeSec(out.certPem), 90 * 86400);

    // one TXT name, two values, presented one after the other and each cleaned up
    const presents = dns.calls.filter((c) => c.op === 'present');
    assert.equal(presents.length, 2);
    assert.ok(presents.every((c) => c.fqdn === '_acme-challenge.host1.example.com'));
    assert.notEqual(presents[0]!.value, presents[1]!.value);
    assert.deepEqual(
      dns.calls
        .filter((c) => c.op === 'cleanup')
        .map((c) => c.value)
        .sort(),
      presents.map((c) => c.value).sort(),
    );
    assert.deepEqual(await dns.txt('_acme-challenge.host1.example.com'), []);
    assert.ok(logger.entries.some((e) => e.msg === 'certificate issued'));
  });

  it('persists the account (key 0600) and reuses it: the second run makes no newAccount request', async () => {
    const settings = env.settings({ accountDir: path.join(env.dir, 'acct-reuse', 'account', 'pebble') });
    const names = ['reuse.example.com'];
    const before1 = await countInLog(env.pebble.logFile, 'POST /sign-me-up');
    const first = await issueCertificate({ clock: systemClock, logger: memoryLogger(), dns: new ChallTestDns(env.chall) }, settings, {
      csrPem: await csrFor(names),
      names,
    });
    const key = await fsp.stat(path.join(settings.accountDir, ACCOUNT_KEY_FILE));
    assert.equal(key.mode & 0o777, 0o600);
    assert.equal((await fsp.stat(settings.accountDir)).mode & 0o777, 0o700);
    const reg = JSON.parse(await fsp.readFile(path.join(settings.accountDir, REGISTRATION_FILE), 'utf8'));
    assert.equal(reg.accountUrl, first.accountUrl);
    assert.equal(reg.directoryUrl, env.pebble.directoryUrl);
    const after1 = await countInLog(env.pebble.logFile, 'POST /sign-me-up');
    assert.equal(after1 - before1, 1);

    const logger = memoryLogger();
    const second = await issueCertificate({ clock: systemClock, logger, dns: new ChallTestDns(env.chall) }, settings, { csrPem: await csrFor(names), names });
    assert.equal(second.accountUrl, first.accountUrl);
    assert.equal(await countInLog(env.pebble.logFile, 'POST /sign-me-up'), after1, 'no newAccount on the second run');
    assert.ok(!logger.entries.some((e) => e.msg === 'acme account registered'));
  });

  it('registers the stored key again when the CA no longer knows the stored account URL', async () => {
    const settings = env.settings({ accountDir: path.join(env.dir, 'acct-lost', 'account', 'pebble') });
    const names = ['lost.example.com'];
    const first = await issueCertificate({ clock: systemClock, logger: memoryLogger(), dns: new ChallTestDns(env.chall) }, settings, {
      csrPem: await csrFor(names),
      names,
    });
    const regFile = path.join(settings.accountDir, REGISTRATION_FILE);
    const reg = JSON.parse(await fsp.readFile(regFile, 'utf8'));
    await fsp.writeFile(regFile, JSON.stringify({ ...reg, accountUrl: first.accountUrl.replace(/[^/]+$/, 'no-such-account') }));
    const logger = memoryLogger();
    const again = await issueCertificate({ clock: systemClock, logger, dns: new ChallTestDns(env.chall) }, settings, { csrPem: await csrFor(names), names });
    assert.equal(again.accountUrl, first.accountUrl, 'newAccount with the same key finds the existing account');
    assert.ok(logger.entries.some((e) => e.level === 'warn' && /registering the stored key again/.test(e.msg)));
    assert.equal(JSON.parse(await fsp.readFile(regFile, 'utf8')).accountUrl, first.accountUrl);
  });

  it('profile shortlived gives a 160 h certificate', async () => {
    const names = ['short.example.com'];
    const out = await issueCertificate(
      { clock: systemClock, logger: memoryLogger(), dns: new ChallTestDns(env.chall) },
      env.settings({ profile: 'shortlived' }),
      { csrPem: await csrFor(names), names },
    );
    assert.equal(out.profile, 'shortlived');
    assert.equal(lifetimeSec(out.certPem), 160 * 3600);
  });

  it('an unknown profile fails before ordering and lists the available ones', async () => {
    const dns = new ChallTestDns(env.chall);
    const e = await rejectsWith(
      issueCertificate({ clock: systemClock, logger: memoryLogger(), dns }, env.settings({ profile: 'tlsclient' }), {
        csrPem: await csrFor(['p.example.com']),
        names: ['p.example.com'],
      }),
      'ACME_INVALID_PROFILE',
    );
    assert.match(e.message, /tlsclient.*available: classic, shortlived, tlsserver/);
    assert.deepEqual(dns.calls, []);
  });

  it("ARI: getRenewalInfo reads Pebble's window; set-renewal-info moves it", async () => {
    const names = ['ari.example.com'];
    const out = await issueCertificate(
      { clock: systemClock, logger: memoryLogger(), dns: new ChallTestDns(env.chall) },
      env.settings({ profile: 'tlsserver' }),
      { csrPem: await csrFor(names), names },
    );
    const conn = { directoryUrl: env.pebble.directoryUrl, caBundlePem: env.caBundlePem, timeoutMs: 5000 };
    const info = await getRenewalInfo({ clock: systemClock, logger: memoryLogger() }, conn, out.certPem);
    assert.ok(info);
    const leaf = new X509Certificate(out.certPem);
    const [nb, na] = [Date.parse(leaf.validFrom), Date.parse(leaf.validTo)];
    assert.ok(info.suggestedWindow.start.getTime() >= nb && info.suggestedWindow.end.getTime() <= na + 1000, 'window inside the validity');
    assert.ok(info.suggestedWindow.start < info.suggestedWindow.end);
    assert.equal(info.retryAfterSec, 6 * 3600);
    assert.equal(info.certId, certId(out.certPem));

    const start = new Date(Date.now() - 3600_000).toISOString();
    const end = new Date(Date.now() - 60_000).toISOString();
    await env.pebble.setRenewalInfo(out.certPem, { suggestedWindow: { start, end }, explanationURL: 'https://example.com/incident' });
    const moved = await getRenewalInfo({ clock: systemClock, logger: memoryLogger() }, conn, out.certPem);
    assert.equal(moved?.suggestedWindow.start.toISOString(), start);
    assert.equal(moved?.suggestedWindow.end.toISOString(), end);
    assert.equal(moved?.explanationURL, 'https://example.com/incident');

    await env.pebble.setRenewalInfo(out.certPem, { suggestedWindow: { start: end, end: start } });
    await rejectsWith(getRenewalInfo({ clock: systemClock, logger: memoryLogger() }, conn, out.certPem), 'ACME_ARI_INVALID');
  });

  it('replaces is accepted once; a second replacement of the same certificate is ACME_ALREADY_REPLACED', async () => {
    const names = ['renew.example.com'];
    const settings = env.settings({ accountDir: path.join(env.dir, 'acct-ari', 'account', 'pebble') });
    const deps = () => ({ clock: systemClock, logger: memoryLogger(), dns: new ChallTestDns(env.chall) });
    const old = await issueCertificate(deps(), settings, { csrPem: await csrFor(names), names });
    const id = certId(old.certPem);
    const next = await issueCertificate(deps(), settings, { csrPem: await csrFor(names), names, replaces: id });
    assert.equal(next.replaced, id);
    assert.equal(await countInLog(env.pebble.logFile, 'is a replacement of'), 1);
    const d = deps();
    const e = await rejectsWith(issueCertificate(d, settings, { csrPem: await csrFor(names), names, replaces: id }), 'ACME_ALREADY_REPLACED');
    assert.equal(e.details?.['status'], 409);
    assert.equal(e.details?.['problemType'], 'urn:ietf:params:acme:error:alreadyReplaced');
    assert.deepEqual(d.dns.calls, [], 'rejected at newOrder, before any DNS change');
  });

  it('a wrong TXT value fails validation clearly and the presented value is still cleaned up', async () => {
    const dns = new ChallTestDns(env.chall, { publish: (v) => v.slice(0, -2) + 'xx' });
    const names = ['wrong.example.com'];
    const e = await rejectsWith(
      issueCertificate({ clock: systemClock, logger: memoryLogger(), dns }, env.settings(), { csrPem: await csrFor(names), names }),
      'ACME_CHALLENGE_FAILED',
    );
    assert.match(e.message, /wrong\.example\.com/);
    assert.ok(e.hint);
    assert.equal(dns.calls.filter((c) => c.op === 'present').length, 1);
    assert.deepEqual(
      dns.calls.filter((c) => c.op === 'cleanup'),
      dns.calls.filter((c) => c.op === 'present').map((c) => ({ ...c, op: 'cleanup' })),
    );
    assert.deepEqual(await dns.txt('_acme-challenge.wrong.example.com'), []);
  });

  it('an abort while presenting stops the order and still cleans up; a failing cleanup is logged, not thrown', async () => {
    const ac = new AbortController();
    const dns = new ChallTestDns(env.chall, { onPresent: () => ac.abort(new Error('shutdown')) });
    dns.cleanup = async (fqdn, value) => {
      dns.calls.push({ op: 'cleanup', fqdn, value });
      throw new Error('route53 down');
    };
    const logger = memoryLogger();
    const names = ['abort.example.com', 'abort2.example.com'];
    await rejectsWith(
      issueCertificate({ clock: systemClock, logger, dns }, env.settings(), { csrPem: await csrFor(names), names, signal: ac.signal }),
      'ACME_ABORTED',
    );
    const presented = dns.calls
      .filter((c) => c.op === 'present')
      .map((c) => c.value)
      .sort();
    assert.ok(presented.length >= 1);
    assert.deepEqual(
      dns.calls
        .filter((c) => c.op === 'cleanup')
        .map((c) => c.value)
        .sort(),
      presented,
    );
    assert.ok(logger.entries.some((e) => e.level === 'warn' && e.msg === 'dns-01 cleanup failed'));
    for (const n of names) await env.chall.clearTxt(`_acme-challenge.${n}`);
  });

  it('transport errors are classified: untrusted TLS → ACME_TLS, closed port → ACME_CONNECT', async () => {
    const deps = { clock: systemClock, logger: memoryLogger(), dns: new ChallTestDns(env.chall) };
    const req = { csrPem: await csrFor(['t.example.com']), names: ['t.example.com'] };
    const tls = await rejectsWith(issueCertificate(deps, env.settings({ caBundlePem: undefined, attempts: 1 }), req), 'ACME_TLS');
    assert.match(tls.hint ?? '', /acme\.caBundle/);
    const closed = env.pebble.directoryUrl.replace(/:\d+\//, ':1/');
    await rejectsWith(issueCertificate(deps, env.settings({ directoryUrl: closed, attempts: 2 }), req), 'ACME_CONNECT');
  });
});

describe('acme against Pebble requiring External Account Binding', () => {
  let env: Env;
  const kid = 'kid-test-1';
  const hmacKey = randomBytes(32).toString('base64url');
  before(async () => {
    env = await startEnv('acme-eab', { eabKeys: { [kid]: hmacKey } });
  });
  after(async () => {
    await env?.stop();
  });

  it('registers with the right HMAC key and issues', async () => {
    const names = ['eab.example.com'];
    const out = await issueCertificate(
      { clock: systemClock, logger: memoryLogger(), dns: new ChallTestDns(env.chall) },
      env.settings({ eab: { kid, hmacKey } }),
      { csrPem: await csrFor(names), names },
    );
    assert.match(out.certPem, /BEGIN CERTIFICATE/);
    assert.equal(await countInLog(env.pebble.logFile, `Successful newAccount Binding with CA using kid "${kid}"`), 1);
  });

  it('settings from the agent config: directory URL, acme.caBundle file, EAB key file, account dir per CA host', async () => {
    const keyFile = path.join(env.dir, 'eab.key');
    await fsp.writeFile(keyFile, hmacKey + '\n', { mode: 0o600 });
    const cfg = validateConfig(
      {
        identity: { name: 'cfg.example.com' },
        acme: {
          directory: env.pebble.directoryUrl,
          caBundle: env.pebble.tlsCaPemPath,
          eab: { kid, hmacKeyFile: keyFile },
          profile: 'tlsserver',
          timeout: '5s',
          attempts: 2,
        },
        state: { dir: path.join(env.dir, 'cfg-state') },
      },
      'test',
    );
    const settings = await acmeSettingsFromConfig(cfg, { logger: memoryLogger() });
    assert.equal(settings.accountDir, path.join(env.dir, 'cfg-state', 'account', new URL(env.pebble.directoryUrl).host.replace(':', '_')));
    assert.equal(settings.timeoutMs, 5000);
    assert.deepEqual(settings.eab, { kid, hmacKey });
    const names = ['cfg.example.com'];
    const out = await issueCertificate(
      { clock: systemClock, logger: memoryLogger(), dns: new ChallTestDns(env.chall) },
      { ...settings, pollIntervalMs: 50 },
      { csrPem: await csrFor(names), names },
    );
    assert.equal(out.profile, 'tlsserver');
  });

  it('a wrong HMAC key fails clearly as ACME_UNAUTHORIZED; no EAB at all is ACME_EAB_REQUIRED', async () => {
    const names = ['eab2.example.com'];
    const wrong = randomBytes(32).toString('base64url');
    const e = await rejectsWith(
      issueCertificate(
        { clock: systemClock, logger: memoryLogger(), dns: new ChallTestDns(env.chall) },
        env.settings({ eab: { kid, hmacKey: wrong }, accountDir: path.join(env.dir, 'wrong') }),
        { csrPem: await csrFor(names), names },
      ),
      'ACME_UNAUTHORIZED',
    );
    assert.match(e.message, /newAccount: .*external account binding/i);
    assert.match(e.hint ?? '', /EAB/);
    await rejectsWith(
      issueCertificate(
        { clock: systemClock, logger: memoryLogger(), dns: new ChallTestDns(env.chall) },
        env.settings({ accountDir: path.join(env.dir, 'none') }),
        { csrPem: await csrFor(names), names },
      ),
      'ACME_EAB_REQUIRED',
    );
  });
});

describe('acme against Pebble rejecting 30% of nonces', () => {
  let env: Env;
  before(async () => {
    env = await startEnv('acme-nonce', { env: { PEBBLE_WFE_NONCEREJECT: '30' } });
  });
  after(async () => {
    await env?.stop();
  });

  it('still issues (badNonce is retried with the fresh nonce)', async () => {
    assert.equal(await countInLog(env.pebble.logFile, 'Configured to reject 30% of good nonces'), 1);
    // Each nonce is rejected with probability 0.3, so two issuances (~20 signed requests) see none about once in
    // 1,000: issue (bounded) until a rejection occurred; every issuance must succeed, the ones with rejections too.
    let badNonces = 0;
    let issued = 0;
    for (let i = 1; i <= 10 && (issued < 2 || badNonces === 0); i++) {
      const name = `nonce${i}.example.com`;
      const logger = memoryLogger();
      const out = await issueCertificate({ clock: systemClock, logger, dns: new ChallTestDns(env.chall) }, env.settings(), {
        csrPem: await csrFor([name]),
        names: [name],
      });
      assert.match(out.certPem, /BEGIN CERTIFICATE/);
      issued++;
      badNonces += Number(logger.entries.find((e) => e.msg === 'certificate issued')?.fields['badNonces']);
    }
    assert.ok(badNonces > 0, `badNonces=${badNonces} over ${issued} issuances`);
  });
});

describe('acme against Pebble sending Retry-After on orders', () => {
  let env: Env;
  before(async () => {
    env = await startEnv('acme-retry-after', { retryAfter: { authz: 0, order: 2 } });
  });
  after(async () => {
    await env?.stop();
  });

  it('waits as the processing order says, capped at retryMaxMs', async () => {
    const sleeps: number[] = [];
    const clock = {
      now: () => systemClock.now(),
      sleep: (ms: number, signal?: AbortSignal) => {
        sleeps.push(ms);
        return systemClock.sleep(ms, signal);
      },
    };
    const names = ['slow.example.com'];
    const out = await issueCertificate({ clock, logger: memoryLogger(), dns: new ChallTestDns(env.chall) }, env.settings({ retryMaxMs: 1000 }), {
      csrPem: await csrFor(names),
      names,
    });
    assert.match(out.certPem, /BEGIN CERTIFICATE/);
    // Retry-After: 2 (or an HTTP-date 1-2 s ahead) capped to 1000 ms; the validation poll used the 50 ms interval
    assert.ok(sleeps.includes(1000), `sleeps=${sleeps.join(',')}`);
    assert.ok(
      sleeps.some((ms) => ms < 1000),
      `sleeps=${sleeps.join(',')}`,
    );
  });
});
