import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { E2eSandbox } from '../helpers/sandbox.js';
import { assertCleanFailure, assertNoTxt, editedConfig, enrolSandbox, exists } from '../helpers/enrol.js';

/**
 * Issue 2, "What must be shown" 3 (and the CSR half of 6): external CSR mode and ACME profile selection with the
 * built CLI against the sandbox's Pebble (profiles classic, tlsserver, shortlived). EAB: enrol-eab.test.ts.
 */

function makeCsr(dir: string, base: string, name: string): { csr: string; key: string } {
  const key = path.join(dir, `${base}.key`);
  const csr = path.join(dir, `${base}.csr`);
  execFileSync(
    'openssl',
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      csr,
      '-subj',
      `/CN=${name}`,
      '-addext',
      `subjectAltName=DNS:${name}`,
    ],
    { stdio: 'ignore' },
  );
  return { csr, key };
}

const openssl = (args: string[]) => execFileSync('openssl', args, { encoding: 'utf8' });

describe('external CSR mode and ACME profiles', () => {
  let sb: E2eSandbox;
  before(async () => {
    sb = await enrolSandbox();
  });
  after(async () => {
    await sb?.stop();
  });

  it('enrols an openssl-made CSR: key.ref instead of key.pem, the certificate carries the CSR key', async () => {
    const { csr } = makeCsr(sb.dir, 'hw', sb.info.name);
    const state = path.join(sb.dir, 'state-csr');
    const r = await sb.cli(['bootstrap', '--json', '--set', 'key.source=csr', '--set', `key.csrFile=${csr}`, '--set', `state.dir=${state}`]);
    assert.equal(r.code, 0, r.stderr);
    const live = path.join(state, 'live');
    assert.equal(exists(path.join(live, 'key.pem')), false, 'the agent holds no private key');
    const ref = JSON.parse(readFileSync(path.join(live, 'key.ref'), 'utf8'));
    assert.equal(ref.source, 'csr');
    assert.equal(ref.csrFile, csr);
    assert.equal(openssl(['x509', '-in', path.join(live, 'cert.pem'), '-noout', '-pubkey']), openssl(['req', '-in', csr, '-noout', '-pubkey']));
    assert.match(
      openssl(['verify', '-CAfile', path.join(sb.dir, 'pebble-roots.pem'), '-untrusted', path.join(live, 'chain.pem'), path.join(live, 'cert.pem')]),
      /: OK/,
    );
    assert.equal(JSON.parse(readFileSync(path.join(live, 'meta.json'), 'utf8')).keySource, 'csr');
    await assertNoTxt(sb);
  });

  it('refuses a CSR for another name, a missing, an unreadable and a malformed CSR file, before any ACME order', async () => {
    const other = makeCsr(sb.dir, 'other', 'other.example.com').csr;
    const aDir = path.join(sb.dir, 'csr-is-a-dir');
    mkdirSync(aDir);
    const garbage = path.join(sb.dir, 'garbage.csr');
    writeFileSync(garbage, 'not a CSR\n');
    const cases: [string, RegExp[]][] = [
      [other, [/names other\.example\.com/, new RegExp(`identity is ${sb.info.name.replace(/\./g, '\\.')}`)]],
      [path.join(sb.dir, 'missing.csr'), [/cannot read key\.csrFile/, /missing\.csr/, /ENOENT/]],
      [aDir, [/cannot read key\.csrFile/, /csr-is-a-dir/, /EISDIR/]],
      [garbage, [/garbage\.csr/, /not a PEM certificate request/]],
    ];
    for (const [file, patterns] of cases) {
      const state = path.join(sb.dir, `state-bad-${path.basename(file)}`);
      const r = await sb.cli(['bootstrap', '--set', 'key.source=csr', '--set', `key.csrFile=${file}`, '--set', `state.dir=${state}`]);
      assertCleanFailure(r, ...patterns);
      assert.equal(exists(path.join(state, 'live')), false, `${file}: nothing live`);
      assert.doesNotMatch(r.stderr, /acme order created/, `${file}: refused before ordering`);
    }
    await assertNoTxt(sb);
  });

  it('acme.profile=shortlived gets a 160-hour certificate; with rolesAnywhere configured its empty subject is refused', async () => {
    // without rolesAnywhere (a copied config): the CN-less shortlived leaf is a valid identity for other uses
    const config = editedConfig(sb, 'no-iamra.yaml', (c) => {
      delete c.rolesAnywhere;
      c.state.dir = path.join(sb.dir, 'state-short');
    });
    const r = await sb.cli(['--config', config, 'bootstrap', '--set', 'acme.profile=shortlived']);
    assert.equal(r.code, 0, r.stderr);
    const live = path.join(sb.dir, 'state-short', 'live');
    const cert = new X509Certificate(readFileSync(path.join(live, 'cert.pem')));
    const hours = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 3_600_000;
    assert.ok(Math.abs(hours - 160) < 0.1, `lifetime ${hours} h`);
    assert.ok(!cert.subject, `shortlived leaves have no CN, got ${cert.subject}`);
    assert.equal(cert.subjectAltName, `DNS:${sb.info.name}`);
    assert.equal(JSON.parse(readFileSync(path.join(live, 'meta.json'), 'utf8')).profile, 'shortlived');

    // the sandbox config has rolesAnywhere: IAM Roles Anywhere rejects empty subjects, so the agent refuses it
    const state = path.join(sb.dir, 'state-short-iamra');
    const refused = await sb.cli(['bootstrap', '--set', 'acme.profile=shortlived', '--set', `state.dir=${state}`]);
    assertCleanFailure(refused, /empty subject/, /shortlived/, /classic/);
    assert.equal(exists(path.join(state, 'live')), false);
    await assertNoTxt(sb);
  });

  it('tlsserver is honoured too (45 days), and an unknown profile lists the available ones', async () => {
    const config = editedConfig(sb, 'tlsserver.yaml', (c) => {
      delete c.rolesAnywhere;
      c.state.dir = path.join(sb.dir, 'state-tlsserver');
      c.acme.profile = 'tlsserver';
    });
    const ok = await sb.cli(['--config', config, 'bootstrap']);
    assert.equal(ok.code, 0, ok.stderr);
    const cert = new X509Certificate(readFileSync(path.join(sb.dir, 'state-tlsserver', 'live', 'cert.pem')));
    assert.equal(Math.round((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000), 45);

    const state = path.join(sb.dir, 'state-unknown');
    const r = await sb.cli(['bootstrap', '--set', 'acme.profile=longlived', '--set', `state.dir=${state}`]);
    assertCleanFailure(r, /longlived/, /classic, shortlived, tlsserver/);
    assert.equal(exists(path.join(state, 'live')), false);
    await assertNoTxt(sb);
  });
});
