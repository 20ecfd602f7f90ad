import * as x509 from '@peculiar/x509';
import { generateKeyPairSync, randomBytes, webcrypto } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify as toYaml } from 'yaml';
import { systemClock } from '../../src/core/clock.js';
import { memoryLogger } from '../../src/core/logger.js';
import { FileKeyHandle } from '../../src/keys/file.js';
import { IdentityStore } from '../../src/store/index.js';
import { makeCa, makeLeaf, type Ca } from '../helpers/pki.js';

/**
 * The bad-input corpus of issue 12, generated (no binary blobs in the repository): configs, CSRs, keys,
 * certificates, chains, trust anchors, CA bundles and state files, each with the commands that read it and what
 * the answer must name. test/e2e/bad-input-corpus.test.ts runs them through the built CLI.
 */

export type Kind = 'config' | 'csr' | 'trust-anchor' | 'ca-bundle' | 'certificate' | 'chain' | 'key' | 'state';

export interface BadInput {
  kind: Kind;
  name: string;
  /** the config to run with */
  config: string;
  /** each command's argv (after --config) and its expected exit code */
  runs: { args: string[]; exit: number }[];
  /** the message must contain this (the file or the field) */
  names: string;
  /** the state directory whose contents must not change (checksummed before and after) */
  stateDir: string;
  /** the size and alias cases: the CLI process refuses them within this many ms (node start-up included) */
  timeBoundMs?: number;
}

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const NAME = 'agent.example.com';
const TA = 'arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/0f7d9a5c-1111-2222-3333-444455556666';
const PROFILE = 'arn:aws:rolesanywhere:us-east-1:123456789012:profile/9b2c7e1d-1111-2222-3333-444455556666';
const ROLE = 'arn:aws:iam::123456789012:role/host-role';

/** Bytes and texts that are not what a PEM file should hold, each with a name. */
function badPemVariants(good: string, ca: Ca): [string, string | Buffer][] {
  const lines = good.trim().split('\n');
  const der = Buffer.from(ca.cert.rawData);
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return [
    ['empty', ''],
    ['whitespace', '\n  \n'],
    ['truncated-half', lines.slice(0, Math.ceil(lines.length / 2)).join('\n')],
    ['truncated-no-end', lines.slice(0, -1).join('\n')],
    ['der', der],
    ['random-bytes', randomBytes(512)],
    ['private-key', key],
    ['csr', '-----BEGIN CERTIFICATE REQUEST-----\nMIIBAA==\n-----END CERTIFICATE REQUEST-----\n'],
    ['text', 'this is not a certificate\n'],
    ['damaged-base64', [lines[0], lines[1]!.replace(/^.{16}/, 'A'.repeat(16)), ...lines.slice(2)].join('\n')],
    ['bad-base64-chars', [lines[0], '!!!!not base64!!!!', lines.at(-1)].join('\n')],
    ['html', '<html><body>404 Not Found</body></html>\n'],
    ['nul-bytes', Buffer.alloc(64)],
    ['utf16', Buffer.from(`\ufeff${good}`, 'utf16le')],
  ];
}

export async function generateCorpus(dir: string, o: { nowPlus?: number } = {}): Promise<BadInput[]> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const years = { notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2036-01-01T00:00:00Z') };
  const root = await makeCa({ name: 'Corpus Root', ...years });
  const inter = await makeCa({ name: 'Corpus Intermediate', ...years, issuer: root });
  const out: BadInput[] = [];
  const file = (name: string, data: string | Buffer, mode = 0o600) => {
    const p = path.join(dir, name);
    writeFileSync(p, data, { mode });
    return p;
  };
  const noState = path.join(dir, 'no-state');
  const base = (stateDir = noState): Record<string, unknown> => ({
    identity: { name: NAME },
    acme: { directory: 'https://127.0.0.1:9/dir', profile: 'classic' },
    dns: { route53: { hostedZoneId: 'Z0SANDBOX0EXAMPLE0001', endpoint: 'http://127.0.0.1:9' } },
    state: { dir: stateDir, runtimeDir: path.join(dir, 'run') },
    renewal: { ari: false },
  });
  const cfgFile = (name: string, cfg: Record<string, unknown>) => file(`${name}.yaml`, toYaml(cfg));
  const checkAndBootstrap = [
    { args: ['config', 'check'], exit: 1 },
    { args: ['bootstrap'], exit: 1 },
  ];

  // --- configs: syntax, types, limits ---
  const rawConfigs: [string, string | Buffer, string, number?][] = [
    ['yaml-unclosed-flow', 'identity: [unclosed\n', 'is not valid YAML'],
    ['yaml-bad-indent', 'identity:\n  name: a.example.com\n   bad: 1\n', 'is not valid YAML'],
    ['yaml-tab-indent', 'identity:\n\tname: a.example.com\n', 'is not valid YAML'],
    ['yaml-unclosed-quote', 'identity:\n  name: "a.example.com\n', 'is not valid YAML'],
    ['yaml-duplicate-key', `identity:\n  name: ${NAME}\n  name: b.example.com\n`, 'identity.name is given twice'],
    ['yaml-duplicate-top', `identity:\n  name: ${NAME}\nidentity:\n  name: b.example.com\n`, 'identity is given twice'],
    ['yaml-list-top', '- a\n- b\n', 'top level must be a mapping'],
    ['yaml-scalar-top', 'hello\n', 'top level must be a mapping'],
    ['yaml-binary', randomBytes(256), 'not a text file'],
    ['yaml-nul', Buffer.concat([Buffer.from(`identity:\n  name: ${NAME}\n`), Buffer.alloc(8)]), 'not a text file'],
    ['yaml-escape-sequences', `identity:\n  name: ${NAME}\n\u001b[2J: 1\n`, 'not a text file'],
    ['yaml-two-documents', `identity:\n  name: ${NAME}\n---\nidentity:\n  name: b.example.com\n`, 'is not valid YAML'],
    ['yaml-deep-flow', `identity:\n  name: ${NAME}\nx: ${'['.repeat(20000)}${']'.repeat(20000)}\n`, 'deeper than', 3000],
    ['yaml-deep-block', `identity:\n  name: ${NAME}\n${Array.from({ length: 40 }, (_, i) => `${'  '.repeat(i)}k${i}:`).join('\n')} 1\n`, 'deeper than'],
    [
      'yaml-alias-bomb',
      `identity:\n  name: ${NAME}\na: &a [x,x,x,x,x,x,x,x,x]\n${'bcdefghi'
        .split('')
        .map((c, i) => `${c}: &${c} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`)
        .join('\n')}\n`,
      'alias',
      3000,
    ],
    ['yaml-alias-undefined', `identity:\n  name: *nothing\n`, 'no anchor'],
    ['size-huge', `identity:\n  name: ${NAME}\n${Array.from({ length: 200_000 }, (_, i) => `k${i}: 1`).join('\n')}\n`, 'byte limit', 3000],
    ['size-just-over', `identity:\n  name: ${NAME}\n#${'x'.repeat(64 * 1024)}\n`, 'byte limit', 3000],
    ['many-unknown-keys', `identity:\n  name: ${NAME}\n${Array.from({ length: 6000 }, (_, i) => `k${i}: 1`).join('\n')}\n`, 'more', 3000],
    ['empty-file', '', 'identity'],
    ['only-comments', '# nothing\n', 'identity'],
  ];
  for (const [name, text, names, bound] of rawConfigs) {
    const f = file(`${name}.yaml`, text);
    out.push({
      kind: 'config',
      name,
      config: f,
      runs: [{ args: ['config', 'check'], exit: 1 }],
      names,
      stateDir: noState,
      ...(bound ? { timeBoundMs: bound } : {}),
    });
  }
  // field-level problems: each names the field
  // biome-ignore lint/suspicious/noExplicitAny: the cases edit the generated YAML document freely, any depth
  const fieldCases: [string, string, (c: Record<string, any>) => void][] = [
    ['name-upper', 'identity.name', (c) => (c.identity.name = 'Agent.Example.com')],
    ['name-ip', 'identity.name', (c) => (c.identity.name = '10.0.0.1')],
    ['name-number', 'identity.name', (c) => (c.identity.name = 42)],
    ['name-missing', 'identity.name', (c) => (c.identity = {})],
    ['name-space', 'identity.name', (c) => (c.identity.name = 'a b.example.com')],
    ['name-long-label', 'identity.name', (c) => (c.identity.name = `${'a'.repeat(64)}.example.com`)],
    ['extra-names-string', 'identity.extraNames', (c) => (c.identity.extraNames = 'b.example.com')],
    ['extra-names-bad', 'identity.extraNames.0', (c) => (c.identity.extraNames = ['under_score.example.com'])],
    ['identity-unknown', 'unknown field(s) nmae', (c) => (c.identity.nmae = 'x')],
    ['key-algorithm', 'key.algorithm', (c) => (c.key = { algorithm: 'rsa-1024' })],
    ['key-source', 'key.source', (c) => (c.key = { source: 'tpm2' })],
    ['key-rotate-type', 'key.rotateOnRenew', (c) => (c.key = { rotateOnRenew: 'yes' })],
    ['acme-directory-ftp', 'acme.directory', (c) => (c.acme.directory = 'ftp://ca.example/dir')],
    ['acme-email', 'acme.email', (c) => (c.acme.email = 'not-an-email')],
    ['acme-timeout', 'acme.timeout', (c) => (c.acme.timeout = 'soon')],
    ['acme-timeout-negative', 'acme.timeout', (c) => (c.acme.timeout = -5)],
    ['acme-attempts', 'acme.attempts', (c) => (c.acme.attempts = 1000)],
    ['acme-eab-partial', 'acme.eab.hmacKeyFile', (c) => (c.acme.eab = { kid: 'k' })],
    ['acme-profile-empty', 'acme.profile', (c) => (c.acme.profile = '')],
    ['dns-zone', 'dns.route53.hostedZoneId', (c) => (c.dns.route53.hostedZoneId = 'hostedzone-1')],
    ['dns-endpoint', 'dns.route53.endpoint', (c) => (c.dns.route53.endpoint = 'not a url')],
    ['dns-ttl-zero', 'dns.ttl', (c) => (c.dns.ttl = 0)],
    ['dns-ttl-float', 'dns.ttl', (c) => (c.dns.ttl = 1.5)],
    ['dns-provider', 'dns.provider', (c) => (c.dns.provider = 'cloudflare')],
    ['dns-poll', 'dns.pollInterval', (c) => (c.dns.pollInterval = '2 seconds')],
    ['dns-resolvers', 'dns.resolvers', (c) => (c.dns.resolvers = '1.1.1.1')],
    ['state-dir-number', 'state.dir', (c) => (c.state.dir = 7)],
    ['state-keep', 'state.keepVersions', (c) => (c.state.keepVersions = 1)],
    ['renewal-maxage', 'renewal.maxAge', (c) => (c.renewal = { maxAge: '1w' })],
    ['hooks-string', 'hooks.afterRenew', (c) => (c.hooks = { afterRenew: 'systemctl reload nginx' })],
    ['hooks-empty-argv', 'hooks.afterRenew.0', (c) => (c.hooks = { afterRenew: [[]] })],
    ['hooks-env-name', 'hooks.env.0', (c) => (c.hooks = { env: ['NOT-A-NAME'] })],
    ['ra-ta-arn', 'rolesAnywhere.trustAnchorArn', (c) => (c.rolesAnywhere = { trustAnchorArn: 'arn:aws:iam::1:role/x', profileArn: PROFILE, roleArn: ROLE })],
    ['ra-profile-arn', 'rolesAnywhere.profileArn', (c) => (c.rolesAnywhere = { trustAnchorArn: TA, profileArn: 'p', roleArn: ROLE })],
    ['ra-role-arn', 'rolesAnywhere.roleArn', (c) => (c.rolesAnywhere = { trustAnchorArn: TA, profileArn: PROFILE, roleArn: 'role' })],
    [
      'ra-duration',
      'rolesAnywhere.durationSeconds',
      (c) => (c.rolesAnywhere = { trustAnchorArn: TA, profileArn: PROFILE, roleArn: ROLE, durationSeconds: 60 }),
    ],
    [
      'ra-session-name',
      'rolesAnywhere.roleSessionName',
      (c) => (c.rolesAnywhere = { trustAnchorArn: TA, profileArn: PROFILE, roleArn: ROLE, roleSessionName: 'x' }),
    ],
    ['ra-missing-role', 'rolesAnywhere.roleArn', (c) => (c.rolesAnywhere = { trustAnchorArn: TA, profileArn: PROFILE })],
    ['ra-region-mismatch', 'region', (c) => (c.rolesAnywhere = { trustAnchorArn: TA, profileArn: PROFILE.replace('us-east-1', 'eu-west-1'), roleArn: ROLE })],
    ['ra-region-configured', 'region', (c) => (c.rolesAnywhere = { trustAnchorArn: TA, profileArn: PROFILE, roleArn: ROLE, region: 'eu-west-1' })],
    [
      'ra-fips-endpoint',
      'endpoint',
      (c) => (c.rolesAnywhere = { trustAnchorArn: TA, profileArn: PROFILE, roleArn: ROLE, fips: true, endpoint: 'https://x.example' }),
    ],
    ['vend-hoplimit', 'vend.serve.hopLimit', (c) => (c.vend = { serve: { hopLimit: 0 } })],
    ['vend-refresh', 'vend.refreshBefore', (c) => (c.vend = { refreshBefore: 'later' })],
    ['unknown-top', 'unknown field(s) colour', (c) => (c.colour = 'blue')],
    ['unknown-section', 'unknown field(s) acmee', (c) => (c.acmee = {})],
    ['status-grace', 'status.overdueGrace', (c) => (c.status = { overdueGrace: 'a day' })],
    ['trust-anchors-string', 'trust.anchors', (c) => (c.trust = { anchors: '/etc/ca.pem' })],
  ];
  for (const [name, names, edit] of fieldCases) {
    const cfg = base();
    // biome-ignore lint/suspicious/noExplicitAny: as above
    edit(cfg as Record<string, any>);
    out.push({ kind: 'config', name, config: cfgFile(name, cfg), runs: checkAndBootstrap, names, stateDir: noState });
  }

  // --- files the config points to: trust anchors and CA bundles ---
  const leafKey = FileKeyHandle.generate({ type: 'ec', curve: 'P-256' });
  const leafPem = await makeLeaf({ issuer: inter, names: [NAME], publicKey: await leafKey.publicKey(), ...years });
  const expired = await makeCa({ name: 'Expired CA', notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2021-01-01T00:00:00Z') });
  const anchorVariants: [string, string | Buffer][] = [...badPemVariants(root.pem, root), ['leaf-not-ca', leafPem], ['expired-ca', expired.pem]];
  for (const [variant, data] of anchorVariants) {
    const f = file(`anchor-${variant}.pem`, data);
    const cfg = base();
    cfg['trust'] = { anchors: [f] };
    out.push({ kind: 'trust-anchor', name: variant, config: cfgFile(`anchor-${variant}`, cfg), runs: checkAndBootstrap, names: f, stateDir: noState });
  }
  for (const special of ['missing', 'directory']) {
    const f = path.join(dir, `anchor-${special}.pem`);
    if (special === 'directory') mkdirSync(f, { recursive: true });
    const cfg = base();
    cfg['trust'] = { anchors: [f] };
    out.push({ kind: 'trust-anchor', name: special, config: cfgFile(`anchor-${special}`, cfg), runs: checkAndBootstrap, names: f, stateDir: noState });
  }
  for (const [variant, data] of badPemVariants(root.pem, root)) {
    const f = file(`bundle-${variant}.pem`, data);
    const cfg = base();
    (cfg['acme'] as Record<string, unknown>)['caBundle'] = f;
    out.push({ kind: 'ca-bundle', name: variant, config: cfgFile(`bundle-${variant}`, cfg), runs: checkAndBootstrap, names: f, stateDir: noState });
  }
  {
    const f = path.join(dir, 'bundle-missing.pem');
    const cfg = base();
    (cfg['acme'] as Record<string, unknown>)['caBundle'] = f;
    out.push({ kind: 'ca-bundle', name: 'missing', config: cfgFile('bundle-missing', cfg), runs: checkAndBootstrap, names: f, stateDir: noState });
  }

  // --- external CSRs ---
  const csrOf = async (o: { names: string[]; alg?: 'rsa-1024' | 'ec'; tamper?: boolean }): Promise<string> => {
    const alg =
      o.alg === 'rsa-1024'
        ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 1024 }
        : { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: `CN=${o.names[0]}`,
      keys,
      signingAlgorithm: alg,
      extensions: [new x509.SubjectAlternativeNameExtension(o.names.map((n) => ({ type: 'dns' as const, value: n })))],
    });
    if (!o.tamper) return csr.toString('pem');
    const der = Buffer.from(csr.rawData);
    der[der.length - 5]! ^= 0xff; // the signature's last bytes
    return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;
  };
  const goodCsr = await csrOf({ names: [NAME] });
  const csrVariants: [string, string | Buffer][] = [
    ['empty', ''],
    ['text', 'not a CSR\n'],
    ['random-bytes', randomBytes(300)],
    ['truncated', goodCsr.slice(0, goodCsr.length / 2)],
    ['certificate', root.pem],
    ['private-key', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()],
    ['other-name', await csrOf({ names: ['other.example.com'] })],
    ['extra-name', await csrOf({ names: [NAME, 'extra.example.com'] })],
    ['rsa-1024', await csrOf({ names: [NAME], alg: 'rsa-1024' })],
    ['bad-signature', await csrOf({ names: [NAME], tamper: true })],
    ['der', Buffer.from(goodCsr.replace(/-----[^-]+-----|\s/g, ''), 'base64')],
  ];
  for (const [variant, data] of csrVariants) {
    const f = file(`csr-${variant}.csr`, data);
    const cfg = base();
    cfg['key'] = { source: 'csr', csrFile: f };
    out.push({ kind: 'csr', name: variant, config: cfgFile(`csr-${variant}`, cfg), runs: checkAndBootstrap, names: f, stateDir: noState });
  }
  for (const special of ['missing', 'directory']) {
    const f = path.join(dir, `csr-${special}.csr`);
    if (special === 'directory') mkdirSync(f, { recursive: true });
    const cfg = base();
    cfg['key'] = { source: 'csr', csrFile: f };
    out.push({ kind: 'csr', name: special, config: cfgFile(`csr-${special}`, cfg), runs: checkAndBootstrap, names: f, stateDir: noState });
  }
  {
    const cfg = base();
    cfg['key'] = { source: 'csr' };
    out.push({ kind: 'csr', name: 'not-set', config: cfgFile('csr-not-set', cfg), runs: checkAndBootstrap, names: 'key.csrFile', stateDir: noState });
  }

  // --- a live identity with one damaged file: certificate, chain, key, meta.json ---
  const identity = async (label: string): Promise<{ stateDir: string; liveDir: string }> => {
    const stateDir = path.join(dir, `state-${label}`);
    const store = await IdentityStore.open(stateDir, { clock: systemClock, logger: memoryLogger() });
    const key = FileKeyHandle.generate({ type: 'ec', curve: 'P-256' });
    const now = Date.now() + (o.nowPlus ?? 0);
    const certPem = await makeLeaf({
      issuer: inter,
      names: [NAME],
      publicKey: await key.publicKey(),
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + 30 * 86400_000),
    });
    const staged = await store.stage({ certPem, chainPem: inter.pem, fullchainPem: certPem + inter.pem, keyPem: key.pem(), meta: { names: [NAME] } });
    await store.activate(staged);
    return { stateDir, liveDir: staged.dir };
  };
  // status reads all of it: CRITICAL (2) for a live identity that cannot be used, naming the file (Nagios). The
  // JSON report is the same evaluation rendered otherwise: every third variant of a kind also runs status --json,
  // which covers its renderer and exit code on each kind for a third of the cost (each status run is ~0.6 s CPU).
  const statusRuns = (exit: number, json: boolean) => [{ args: ['status'], exit }, ...(json ? [{ args: ['status', '--json'], exit }] : [])];
  const liveRuns = (i: number) => [{ args: ['credential-process'], exit: 1 }, { args: ['renew', '--needed'], exit: 0 }, ...statusRuns(2, i % 3 === 0)];
  const liveCfg = (stateDir: string, name: string) => {
    const cfg = base(stateDir);
    cfg['rolesAnywhere'] = { trustAnchorArn: TA, profileArn: PROFILE, roleArn: ROLE, endpoint: 'http://127.0.0.1:9' };
    cfg['trust'] = { anchors: [file('corpus-root.pem', root.pem)] };
    cfg['vend'] = { cache: false };
    return cfgFile(name, cfg);
  };
  const damage = async (kind: Kind, fileName: string, variants: [string, string | Buffer][], runs = liveRuns) => {
    for (const [i, [variant, data]] of variants.entries()) {
      const label = `${kind}-${variant}`;
      const { stateDir, liveDir } = await identity(label);
      // state.json is beside the versions, the identity's files are in the live one
      const target = path.join(fileName === 'state.json' ? stateDir : liveDir, fileName);
      writeFileSync(target, data);
      out.push({ kind, name: variant, config: liveCfg(stateDir, label), runs: runs(i), names: target, stateDir });
    }
  };
  await damage(
    'certificate',
    'cert.pem',
    badPemVariants(leafPem, root).filter(([v]) => v !== 'whitespace'),
  );
  await damage(
    'chain',
    'chain.pem',
    badPemVariants(inter.pem, inter).filter(([v]) => !['empty', 'whitespace'].includes(v)),
  );
  const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const encrypted = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' })
    .toString();
  await damage('key', 'key.pem', [
    ['empty', ''],
    ['text', 'not a key\n'],
    ['random-bytes', randomBytes(200)],
    ['truncated', FileKeyHandle.generate({ type: 'ec', curve: 'P-256' }).pem().slice(0, 100)],
    ['certificate', root.pem],
    ['rsa-1024', rsa1024],
    ['encrypted', encrypted],
    ['ed25519', generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()],
    ['secp256k1', generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()],
    ['mismatch', FileKeyHandle.generate({ type: 'ec', curve: 'P-256' }).pem()],
  ]);
  await damage('state', 'meta.json', [
    ['meta-binary', randomBytes(100)],
    ['meta-escapes', Buffer.from('{"names": ["\u001b[31mred"], \u0000}')],
    ['meta-array', '[1,2,3]'],
    ['meta-truncated', '{"names": ["agent.exa'],
    ['meta-no-names', '{"serial": "01"}'],
    ['meta-empty', ''],
  ]);
  // state.json (the renewal history, ARI answer, pending TXT records): only status reads it without writing it
  // (renew sets a corrupt one aside, by design); the identity is fine, so the health is UNKNOWN (3), not CRITICAL
  await damage(
    'state',
    'state.json',
    [
      ['json-binary', randomBytes(100)],
      ['json-escapes', Buffer.from('{"lastCheck": {"at": "\u001b[2J"}, \u0000}')],
      ['json-truncated', '{"pendingTxt": [{"fqdn": "_acme-chall'],
      ['json-array', '[]'],
      ['json-wrong-types', '{"lastRenewal": "yesterday", "counters": [1]}'],
      ['json-pending-not-list', '{"pendingTxt": {"fqdn": "x"}}'],
      ['json-empty', ''],
    ],
    () => statusRuns(3, true),
  );
  return out;
}
