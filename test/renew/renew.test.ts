import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { rmSync } from 'node:fs';
import { certId, type RenewalInfo } from '../../src/acme/index.js';
import { fixedClock } from '../../src/core/clock.js';
import { AgentError } from '../../src/core/errors.js';
import { memoryLogger } from '../../src/core/logger.js';
import type { DnsChallengeProvider } from '../../src/dns/types.js';
import { checkExternalCsr } from '../../src/keys/csr.js';
import { FileKeyHandle } from '../../src/keys/file.js';
import { liveChecker } from '../../src/renew/live-check.js';
import { enrolRecorded, type IdentitySpec } from '../../src/renew/bootstrap.js';
import type { IssuedForEnrol } from '../../src/renew/enrol.js';
import { decide, renew, type AriFetcher, type RenewDeps } from '../../src/renew/renew.js';
import { verifyIdentity } from '../../src/renew/verify.js';
import { IdentityStore, StateFile } from '../../src/store/index.js';
import { tempDir } from '../helpers/paths.js';
import { KU, makeCa, makeLeaf, type Ca } from '../helpers/pki.js';

/**
 * renew() and decide() with a fixed clock, a real identity store and state.json in a temp directory, real
 * verification, and an in-test CA standing in for the ACME issuer (the ACME flow itself is tested against Pebble in
 * test/acme and end to end in test/e2e/renew-*.test.ts). The ARI answer is a port, so its Retry-After handling can be
 * driven instant by instant.
 */

const H = 3600_000;
const D = 24 * H;
const T0 = new Date('2026-11-02T00:00:00Z');
const NAMES = ['host1.example.test'];
const spec: IdentitySpec = { names: NAMES, key: { source: 'file', algorithm: 'ec-p256' } };

let root: Ca;
let inter: Ca;
let other: Ca;
const dirs: string[] = [];
before(async () => {
  const years = { notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2031-01-01T00:00:00Z') };
  root = await makeCa({ name: 'Renew Test Root', ...years });
  inter = await makeCa({ name: 'Renew Test Intermediate', ...years, issuer: root });
  other = await makeCa({ name: 'Somebody Else', ...years });
});
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Harness {
  deps: RenewDeps;
  clock: ReturnType<typeof fixedClock>;
  logger: ReturnType<typeof memoryLogger>;
  store: IdentityStore;
  state: StateFile;
  issued: { replaces?: string; spki: string }[];
  ariCalls: Date[];
  dnsCleanups: string[];
  /** what the next issue() does: a CA, or an error to throw */
  issuer: { ca: Ca; lifetimeMs: number; failNext?: AgentError[] };
  /** what the ARI port answers next */
  ari: { next: () => RenewalInfo | undefined | Error };
}

async function harness(o: { ari?: boolean; rotateKey?: boolean; maxAgeMs?: number } = {}): Promise<Harness> {
  const dir = tempDir('renew');
  dirs.push(dir);
  const clock = fixedClock(T0);
  const logger = memoryLogger();
  const store = await IdentityStore.open(dir, { clock, logger });
  const state = new StateFile(dir, { clock, logger });
  const h = {
    clock,
    logger,
    store,
    state,
    issued: [] as Harness['issued'],
    ariCalls: [] as Date[],
    dnsCleanups: [] as string[],
    issuer: { ca: inter, lifetimeMs: 90 * D } as Harness['issuer'],
    ari: { next: () => undefined } as Harness['ari'],
  } as Harness;
  const dns: DnsChallengeProvider = {
    present: async () => undefined,
    cleanup: async (fqdn, value) => void h.dnsCleanups.push(`${fqdn} ${value}`),
  };
  const fetcher: AriFetcher = async () => {
    h.ariCalls.push(clock.now());
    const a = h.ari.next();
    if (a instanceof Error) throw a;
    return a;
  };
  h.deps = {
    clock,
    logger,
    store,
    state,
    dns,
    issue: async (req): Promise<IssuedForEnrol> => {
      const fail = h.issuer.failNext?.shift();
      if (fail) throw fail;
      const { publicKeyDer } = await checkExternalCsr(req.csrPem, 'csr', req.names);
      h.issued.push({ ...(req.replaces ? { replaces: req.replaces } : {}), spki: publicKeyDer.toString('base64') });
      const now = clock.now();
      const certPem = await makeLeaf({
        issuer: h.issuer.ca,
        names: req.names,
        publicKey: createPublicKey({ key: publicKeyDer, format: 'der', type: 'spki' }),
        notBefore: now,
        notAfter: new Date(now.getTime() + h.issuer.lifetimeMs),
      });
      return { certPem, chainPem: h.issuer.ca.pem, fullchainPem: certPem + h.issuer.ca.pem };
    },
    verify: async (m, key) => {
      await verifyIdentity({ certPem: m.certPem, chainPem: m.chainPem, key, names: m.meta.names, anchorsPem: [root.pem], now: clock.now() });
    },
    keepVersions: 3,
    lockWaitMs: 0,
    maxAgeMs: o.maxAgeMs ?? 7 * D,
    rotateKey: o.rotateKey ?? true,
    ...(o.ari === false ? {} : { ari: fetcher }),
  };
  return h;
}

/** enrol the first identity at T0 (as bootstrap does) */
async function seed(h: Harness): Promise<string> {
  await enrolRecorded(h.deps, spec, {});
  const live = await h.store.live();
  return live!.certPem;
}

const info = (start: Date, end: Date, retryAfterSec: number, id: string): RenewalInfo => ({ suggestedWindow: { start, end }, retryAfterSec, certId: id });
const plus = (ms: number) => new Date(T0.getTime() + ms);

test('ARI Retry-After: not asked again before it, clamped to 1 min … 1 day, window and Retry-After stored', async () => {
  const h = await harness();
  const pem = await seed(h);
  const id = certId(pem);
  h.ari.next = () => info(plus(60 * D), plus(62 * D), 30, id);

  const first = await decide(h.deps, NAMES);
  assert.equal(h.ariCalls.length, 1);
  assert.deepEqual([first.decision.due, first.decision.reason], [false, 'max-age']);
  assert.equal(first.decision.ari?.cached, false);
  let st = await h.state.read();
  // 30 s from the server is below RFC 9773's floor: stored as 60 s
  assert.deepEqual(st.ari, {
    windowStart: plus(60 * D).toISOString(),
    windowEnd: plus(62 * D).toISOString(),
    retryAfter: plus(60_000).toISOString(),
    checkedAt: T0.toISOString(),
    certId: id,
  });
  assert.deepEqual(st.lastCheck, { at: T0.toISOString(), due: false, reason: 'max-age', renewAt: plus(7 * D).toISOString() });

  h.clock.set(plus(59_999));
  const cached = await decide(h.deps, NAMES);
  assert.equal(h.ariCalls.length, 1, 'no request before Retry-After');
  assert.equal(cached.decision.ari?.cached, true);
  assert.equal(cached.decision.ari?.windowStart, plus(60 * D).toISOString());

  // after Retry-After: asked again; the server now says a week, which is capped at one day
  h.clock.set(plus(60_000));
  h.ari.next = () => info(plus(60 * D), plus(62 * D), 7 * 86400, id);
  await decide(h.deps, NAMES);
  assert.equal(h.ariCalls.length, 2);
  st = await h.state.read();
  assert.equal(st.ari?.retryAfter, plus(60_000 + D).toISOString());
  h.clock.set(plus(60_000 + D - 1));
  const d = await decide(h.deps, NAMES);
  assert.equal(h.ariCalls.length, 2);
  assert.equal(d.decision.nextCheck, plus(60_000 + D).toISOString(), 'next check is the Retry-After when it comes before renewAt');
  h.clock.set(plus(60_000 + D));
  await decide(h.deps, NAMES);
  assert.equal(h.ariCalls.length, 3);
});

test('ARI window in the past → due at once (ari-window-passed); renew sends replaces = certId(live) and clears state.ari', async () => {
  const h = await harness();
  const pem = await seed(h);
  const id = certId(pem);
  h.clock.set(plus(1 * D));
  h.ari.next = () => info(plus(-2 * H), plus(-1 * H), 3600, id);
  const r = await renew(h.deps, spec, { force: false });
  assert.equal(r.action, 'renewed');
  assert.equal(r.decision.reason, 'ari-window-passed');
  assert.equal(r.action === 'renewed' && r.replaces, id);
  assert.deepEqual(
    h.issued.map((i) => i.replaces),
    [undefined, id],
  );
  const st = await h.state.read();
  assert.equal(st.ari, undefined, 'the ARI answer was about the replaced certificate');
  assert.deepEqual([st.lastCheck?.due, st.lastCheck?.reason], [true, 'ari-window-passed']);
  assert.deepEqual([st.lastRenewal?.ok, st.counters['renewals']], [true, 2]);
  const live = await h.store.live();
  assert.equal(live!.version, '0002');
  assert.equal(live!.meta['replaces'], id);
});

test('a stored answer for another certificate is not reused; an ARI error falls back to the stored window or the lifetime rule', async () => {
  const h = await harness({ maxAgeMs: 0 });
  const pem = await seed(h);
  const id = certId(pem);
  await h.state.update((s) => {
    s.ari = {
      windowStart: plus(-2 * H).toISOString(),
      windowEnd: plus(-1 * H).toISOString(),
      retryAfter: plus(D).toISOString(),
      checkedAt: T0.toISOString(),
      certId: 'someone.else',
    };
  });
  h.ari.next = () =>
    new AgentError({
      code: 'ACME_SERVER_ERROR',
      component: 'acme.ari',
      message: 'GET renewalInfo returned 503',
      details: { retryAfterSec: 120, retryable: true },
    });
  const a = await decide(h.deps, NAMES);
  assert.equal(h.ariCalls.length, 1, 'the stored answer names another certificate');
  // no usable window: 90-day lifetime rule (maxAge off)
  assert.deepEqual([a.decision.due, a.decision.reason, a.decision.renewAt], [false, 'lifetime', plus(60 * D).toISOString()]);
  assert.match(a.decision.ariProblem ?? '', /503/);

  // a good answer, stored; then an error after its Retry-After keeps using the stored window and moves Retry-After
  h.clock.set(plus(D + H));
  h.ari.next = () => info(plus(50 * D), plus(51 * D), 3600, id);
  await decide(h.deps, NAMES);
  h.clock.set(plus(D + 3 * H));
  h.ari.next = () =>
    new AgentError({
      code: 'ACME_SERVER_ERROR',
      component: 'acme.ari',
      message: 'GET renewalInfo returned 500',
      details: { retryAfterSec: 5, retryable: true },
    });
  const b = await decide(h.deps, NAMES);
  assert.equal(h.ariCalls.length, 3);
  assert.deepEqual([b.decision.reason, b.decision.ari?.windowStart, b.decision.ari?.cached], ['ari-window', plus(50 * D).toISOString(), true]);
  assert.equal((await h.state.read()).ari?.retryAfter, plus(D + 3 * H + 60_000).toISOString(), '5 s clamped to 60 s');
  h.clock.set(plus(D + 3 * H + 30_000));
  await decide(h.deps, NAMES);
  assert.equal(h.ariCalls.length, 3, 'the error Retry-After is honoured too');
});

test('a CA without renewalInfo: lifetime/maxAge decide, nothing stored, no replaces sent', async () => {
  const h = await harness();
  await seed(h);
  await h.state.update((s) => {
    s.ari = { windowStart: T0.toISOString(), windowEnd: plus(D).toISOString(), checkedAt: T0.toISOString(), certId: 'old' };
  });
  h.ari.next = () => undefined;
  h.clock.set(plus(7 * D));
  const r = await renew(h.deps, spec, { force: false });
  assert.equal(r.action, 'renewed');
  assert.equal(r.decision.reason, 'max-age');
  assert.equal(r.action === 'renewed' ? r.replaces : 'x', undefined);
  assert.deepEqual(
    h.issued.map((i) => i.replaces),
    [undefined, undefined],
  );
  assert.equal(h.ariCalls.length, 1);
  assert.equal((await h.state.read()).ari, undefined, 'a stale answer is dropped when the CA has no ARI');
});

test('renewal.ari off: no ARI request, no replaces; the weekly maxAge renews a 90-day certificate on day 7', async () => {
  const h = await harness({ ari: false });
  await seed(h);
  h.clock.set(plus(7 * D - 1));
  const early = await renew(h.deps, spec, { force: false });
  assert.equal(early.action, 'not-due');
  assert.equal(early.decision.renewAt, plus(7 * D).toISOString());
  h.clock.set(plus(7 * D));
  const r = await renew(h.deps, spec, { force: false });
  assert.deepEqual([r.action, r.decision.reason], ['renewed', 'max-age']);
  assert.deepEqual(
    h.issued.map((i) => i.replaces),
    [undefined, undefined],
  );
  assert.equal(h.ariCalls.length, 0);
});

test('a CA failing newOrder with replaces (5xx after its retries, or malformed) → ordered once more without replaces; the same failure elsewhere is not', async () => {
  const h = await harness();
  const pem = await seed(h);
  h.ari.next = () => info(plus(-2 * H), plus(-1 * H), 3600, certId(pem));
  const serverError = (step: string) =>
    new AgentError({ code: 'ACME_SERVER_ERROR', component: 'acme', message: `${step}: could not find an order for the given certificate`, details: { step } });
  h.issuer.failNext = [serverError('newOrder')];
  const r = await renew(h.deps, spec, { force: false });
  assert.equal(r.action, 'renewed');
  assert.equal(r.action === 'renewed' ? r.replaces : 'x', undefined);
  assert.ok(h.logger.entries.some((e) => e.msg === 'the CA refused the order naming the certificate it replaces; ordering without replaces'));

  // a server error at finalize has nothing to do with replaces: it fails the run, and the live identity stays
  const live = (await h.store.live())!;
  h.ari.next = () => info(plus(-2 * H), plus(-1 * H), 3600, certId(live.certPem));
  h.issuer.failNext = [serverError('finalize')];
  await assert.rejects(renew(h.deps, spec, { force: false }), /finalize: could not find/);
  assert.equal((await h.store.live())!.version, live.version);
});

test('alreadyReplaced: the order is retried once without replaces', async () => {
  const h = await harness();
  const pem = await seed(h);
  h.ari.next = () => info(plus(-2 * H), plus(-1 * H), 3600, certId(pem));
  h.issuer.failNext = [new AgentError({ code: 'ACME_ALREADY_REPLACED', component: 'acme', message: 'newOrder: alreadyReplaced' })];
  const r = await renew(h.deps, spec, { force: false });
  assert.equal(r.action, 'renewed');
  assert.equal(r.action === 'renewed' ? r.replaces : 'x', undefined);
  assert.deepEqual(
    h.issued.map((i) => i.replaces),
    [undefined, undefined],
  );
  assert.ok(h.logger.entries.some((e) => e.msg === 'the live certificate already has a replacement order; ordering without replaces'));
  // a second alreadyReplaced is not retried again: it fails, and the old identity stays
  const id2 = certId((await h.store.live())!.certPem);
  h.ari.next = () => info(plus(-2 * H), plus(-1 * H), 3600, id2);
  const alreadyReplaced = () => new AgentError({ code: 'ACME_ALREADY_REPLACED', component: 'acme', message: 'newOrder: alreadyReplaced' });
  h.issuer.failNext = [alreadyReplaced(), alreadyReplaced()];
  await assert.rejects(renew(h.deps, spec, { force: false }), /alreadyReplaced/);
  assert.equal((await h.store.live())!.version, '0002');
});

test('key: rotated on every renewal by default; kept with rotateOnRenew off', async () => {
  const rot = await harness({ ari: false });
  await seed(rot);
  await renew(rot.deps, spec, { force: true });
  assert.notEqual(rot.issued[0]!.spki, rot.issued[1]!.spki);

  const keep = await harness({ ari: false, rotateKey: false });
  await seed(keep);
  const r = await renew(keep.deps, spec, { force: true });
  assert.equal(r.action === 'renewed' && r.forced, true);
  assert.equal(keep.issued[0]!.spki, keep.issued[1]!.spki);
  const live = await keep.store.live();
  const spki = new X509Certificate(live!.certPem).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  assert.equal(spki, keep.issued[0]!.spki);
});

test('verification failure: renew throws, the old identity stays live, state records the reason', async () => {
  const h = await harness({ ari: false });
  await seed(h);
  const before = await h.store.live();
  h.issuer.ca = other; // a certificate that does not chain to the configured anchor
  h.clock.set(plus(8 * D));
  await assert.rejects(renew(h.deps, spec, { force: false }), (e: unknown) => e instanceof AgentError && e.code === 'IDENTITY_INVALID');
  const live = await h.store.live();
  assert.deepEqual([live!.version, live!.serial], [before!.version, before!.serial]);
  assert.deepEqual(
    (await h.store.versions()).map((v) => v.version),
    ['0001'],
    'the rejected version was discarded',
  );
  const st = await h.state.read();
  assert.equal(st.lastRenewal?.ok, false);
  assert.match(st.lastRenewal?.error ?? '', /chain/);
  assert.equal(st.counters['renewal_failures'], 1);
});

test('no live identity, or one for other names: due, and renew enrols it (without replaces)', async () => {
  const h = await harness();
  const none = await decide(h.deps, NAMES);
  assert.deepEqual(none.decision, { due: true, reason: 'no-identity' });
  assert.equal(h.ariCalls.length, 0);
  const r = await renew(h.deps, spec, { force: false });
  assert.deepEqual([r.action, r.decision.reason], ['renewed', 'no-identity']);
  assert.equal(h.issued[0]!.replaces, undefined);

  const renamed = await decide(h.deps, ['host2.example.test']);
  assert.deepEqual([renamed.decision.due, renamed.decision.reason], [true, 'names-changed']);
});

test('renew reconciles TXT records a crashed run left in state.json before deciding', async () => {
  const h = await harness({ ari: false });
  await seed(h);
  await h.state.update((s) => {
    s.pendingTxt.push({ fqdn: '_acme-challenge.host1.example.test', value: 'leftover', createdAt: T0.toISOString() });
  });
  const r = await renew(h.deps, spec, { force: false });
  assert.equal(r.action, 'not-due');
  assert.deepEqual(h.dnsCleanups, ['_acme-challenge.host1.example.test leftover']);
  assert.deepEqual((await h.state.read()).pendingTxt, []);
});

/** makes `certPem` (issued by `ca` for a fresh key) the live identity, bypassing enrolment's checks */
async function forceLive(h: Harness, ca: Ca, o: { notBefore: Date; notAfter: Date; keyUsage?: number }): Promise<void> {
  const key = FileKeyHandle.generate({ type: 'ec', curve: 'P-256' });
  const certPem = await makeLeaf({ issuer: ca, names: NAMES, publicKey: await key.publicKey(), ...o });
  const staged = await h.store.stage({ certPem, chainPem: ca.pem, fullchainPem: certPem + ca.pem, keyPem: key.pem(), meta: { names: NAMES } });
  await h.store.activate(staged);
}

test('issue 12 item 5: a live identity that fails verification is due now (reason invalid, logged, no replaces); notBefore = notAfter does not break renew --force', async () => {
  const h = await harness();
  await seed(h);
  h.deps.checkLive = liveChecker([root.pem]);
  const fine = await decide(h.deps, NAMES);
  assert.equal(fine.decision.due, false, 'a good live identity is not due');

  // a certificate from a foreign CA (same names, its own key): status says CRITICAL, so renew must act
  await forceLive(h, other, { notBefore: T0, notAfter: plus(90 * D) });
  const bad = await decide(h.deps, NAMES);
  assert.deepEqual([bad.decision.due, bad.decision.reason], [true, 'invalid']);
  assert.match(bad.decision.problems?.join('; ') ?? '', /^chain: .*"CN=Somebody Else"/);
  const warned = h.logger.entries.find((e) => e.msg === 'the live identity fails verification; a renewal is due now');
  assert.ok(warned, 'the reason is logged');
  const r = await renew(h.deps, spec, { force: false });
  assert.equal(r.action, 'renewed');
  assert.equal(h.issued.at(-1)?.replaces, undefined, 'no ARI replaces for a certificate this CA did not issue');
  assert.equal((await decide(h.deps, NAMES)).decision.due, false, 'the new identity is fine');

  // no digitalSignature: the same
  await forceLive(h, inter, { notBefore: T0, notAfter: plus(90 * D), keyUsage: KU.keyEncipherment });
  const noKu = await decide(h.deps, NAMES);
  assert.deepEqual([noKu.decision.due, noKu.decision.reason], [true, 'invalid']);
  assert.match(noKu.decision.problems?.join('; ') ?? '', /key-usage: keyUsage lacks digitalSignature/);

  // notBefore = notAfter: the policy cannot place a renewal in a zero lifetime; it is invalid, and --force works
  await forceLive(h, inter, { notBefore: plus(D), notAfter: plus(D) });
  const zero = await decide(h.deps, NAMES);
  assert.deepEqual([zero.decision.due, zero.decision.reason], [true, 'invalid']);
  assert.match(zero.decision.problems?.[0] ?? '', /^validity: notAfter .* is not after notBefore/);
  const forced = await renew(h.deps, spec, { force: true });
  assert.equal(forced.action, 'renewed');
});
