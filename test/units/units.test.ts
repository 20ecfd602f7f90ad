import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify as toYaml } from 'yaml';
import { systemClock } from '../../src/core/clock.js';
import { memoryLogger } from '../../src/core/logger.js';
import { FileKeyHandle } from '../../src/keys/file.js';
import { IdentityStore } from '../../src/store/index.js';
import { cliPath, repoRoot, tempDir } from '../helpers/paths.js';
import { makeCa, makeLeaf } from '../helpers/pki.js';

// The units as an operator installs them: written by the built CLI, ExecStart pointing at a real executable
// (systemd-analyze verify refuses a missing binary). Every unit in units/ is covered, whoever adds it.
const shipped = readdirSync(path.join(repoRoot, 'units')).filter((n) => /\.(service|timer|conf)$/.test(n));
const dir = tempDir('units');
const out = execFileSync(process.execPath, [cliPath, 'install-units', '--dir', dir, '--bin', cliPath], { encoding: 'utf8' });
const services = readdirSync(dir).filter((n) => n.endsWith('.service'));
const unitText = (name: string) => readFileSync(path.join(dir, name), 'utf8');

/** `systemd-analyze security --offline` overall exposure of a unit file (or, with root, of a unit with its drop-ins) */
function exposure(unit: string, o: { root?: string } = {}): number {
  const args = o.root ? ['security', '--offline=true', `--root=${o.root}`, unit] : ['security', '--offline=true', path.join(dir, unit)];
  const r = spawnSync('systemd-analyze', args, { encoding: 'utf8' });
  const m = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout);
  assert.ok(m, `no exposure line for ${unit}: ${r.stdout.slice(-300)}${r.stderr}`);
  return Number(m[1]);
}

/** README's unit table: unit → what it needs on the network and its exposure (plain and with the drop-in) */
function readmeTable(): Map<string, { network: string; exposure: number; withDropIn?: number }> {
  const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const rows = new Map<string, { network: string; exposure: number; withDropIn?: number }>();
  for (const m of readme.matchAll(/^\| `(iamra-agent-[\w-]+\.service)` \|[^|]*\| ([^|]*) \|[^|]*\| ([\d.]+)(?: \(([\d.]+) with the drop-in\))? \|$/gm)) {
    rows.set(m[1]!, { network: m[2]!.trim(), exposure: Number(m[3]), ...(m[4] ? { withDropIn: Number(m[4]) } : {}) });
  }
  return rows;
}

test('install-units writes every unit in units/ with the real binary path', () => {
  assert.deepEqual(readdirSync(dir).sort(), shipped.sort());
  assert.ok(services.includes('iamra-agent-serve.service') && services.includes('iamra-agent-status.service'), services.join(' '));
  assert.match(out, /iamra-agent-renew\.timer/);
  for (const s of services) {
    assert.ok(unitText(s).includes(`ExecStart=${cliPath}`), s);
    assert.ok(!unitText(s).includes('/usr/local/bin/iamra-agent'), s);
  }
});

test('systemd-analyze verify prints nothing for the units', () => {
  const files = readdirSync(dir)
    .filter((n) => /\.(service|timer)$/.test(n))
    .map((n) => path.join(dir, n));
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...files], { encoding: 'utf8' });
  // verify exits 0 on mere warnings, so any output at all is a failure
  assert.equal(r.status, 0, r.stderr);
  assert.equal((r.stdout + r.stderr).trim(), '');
});

test("each service's systemd-analyze security exposure is the README table's, and 1.5 or less", () => {
  const table = readmeTable();
  for (const s of services) {
    const row = table.get(s);
    assert.ok(row, `README's unit table has no row for ${s}: add one with its exposure (${exposure(s)})`);
    const e = exposure(s);
    assert.ok(e <= 1.5, `${s} exposure ${e}`);
    assert.equal(e, row.exposure, `${s}: exposure ${e}, README says ${row.exposure}`);
  }
});

test('a unit that needs no network has none; the others keep only the address families they use', () => {
  const table = readmeTable();
  for (const s of services) {
    const text = unitText(s);
    const families = /^RestrictAddressFamilies=(.*)$/m.exec(text)?.[1]?.split(/\s+/) ?? [];
    if (table.get(s)?.network === 'none') {
      assert.match(text, /^PrivateNetwork=yes$/m, s);
      assert.match(text, /^IPAddressDeny=any$/m, s);
      assert.doesNotMatch(text, /^IPAddressAllow=/m, s);
      assert.deepEqual(families, ['AF_UNIX'], s);
    } else {
      // these make outbound calls (a CA, Route 53, IAM Roles Anywhere): a private network would cut them off
      assert.doesNotMatch(text, /^PrivateNetwork=yes$/m, s);
      assert.deepEqual(families.sort(), ['AF_INET', 'AF_INET6', 'AF_UNIX'], s);
    }
  }
});

test("serve's known-endpoint drop-in: an IP allow list of localhost and the endpoint, verified, at the README's exposure", () => {
  const dropIn = path.join(repoRoot, 'units', 'drop-ins', 'iamra-agent-serve.service.d', 'known-endpoint.conf');
  const conf = readFileSync(dropIn, 'utf8');
  assert.match(conf, /^IPAddressDeny=any$/m);
  assert.match(conf, /^IPAddressAllow=localhost \S+/m);
  // systemd reads drop-ins from its unit paths: a root with both, as /etc/systemd/system holds them
  const root = tempDir('units-root');
  const etc = path.join(root, 'etc', 'systemd', 'system');
  mkdirSync(path.join(etc, 'iamra-agent-serve.service.d'), { recursive: true });
  writeFileSync(path.join(etc, 'iamra-agent-serve.service'), unitText('iamra-agent-serve.service'));
  writeFileSync(path.join(etc, 'iamra-agent-serve.service.d', 'known-endpoint.conf'), conf);
  const e = exposure('iamra-agent-serve.service', { root });
  assert.equal(e, readmeTable().get('iamra-agent-serve.service')?.withDropIn, `with the drop-in: ${e}`);
  assert.ok(e < exposure('iamra-agent-serve.service'));
  // the settings are valid as systemd merges them: the drop-in's section appended to the unit
  const merged = path.join(root, 'iamra-agent-serve.service');
  writeFileSync(merged, `${unitText('iamra-agent-serve.service')}\n${conf}`);
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', merged], { encoding: 'utf8' });
  assert.equal((r.stdout + r.stderr).trim(), '');
});

test('the TPM drop-in opens /dev/tpmrm0 and nothing else to the units that use the key, verified, exposure 1.5 or less', () => {
  const conf = readFileSync(path.join(repoRoot, 'units', 'drop-ins', 'tpm.conf'), 'utf8');
  assert.match(conf, /^PrivateDevices=no$/m);
  assert.match(conf, /^DeviceAllow=\/dev\/tpmrm0 rw$/m);
  assert.deepEqual(
    conf.split('\n').filter((l) => l.startsWith('DeviceAllow=')),
    ['DeviceAllow=/dev/tpmrm0 rw'],
  );
  assert.doesNotMatch(conf, /^DevicePolicy=/m, 'the unit keeps DevicePolicy=closed');
  for (const unit of ['iamra-agent-bootstrap.service', 'iamra-agent-renew.service', 'iamra-agent-serve.service', 'iamra-agent-status.service']) {
    assert.match(unitText(unit), /^DevicePolicy=closed$/m, unit);
    const root = tempDir('units-tpm');
    const etc = path.join(root, 'etc', 'systemd', 'system');
    mkdirSync(path.join(etc, `${unit}.d`), { recursive: true });
    writeFileSync(path.join(etc, unit), unitText(unit));
    writeFileSync(path.join(etc, `${unit}.d`, 'tpm.conf'), conf);
    const e = exposure(unit, { root });
    assert.ok(e <= 1.5, `${unit} with the TPM drop-in: exposure ${e}`);
    const merged = path.join(root, unit);
    writeFileSync(merged, `${unitText(unit)}\n${conf}`);
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', merged], { encoding: 'utf8' });
    assert.equal((r.stdout + r.stderr).trim(), '', unit);
  }
});

test('the status unit runs `status` that works with no network at all (a fresh network namespace)', async () => {
  const unit = unitText('iamra-agent-status.service');
  assert.ok(unit.includes(`ExecStart=${cliPath} status\n`));
  assert.match(unit, /^SuccessExitStatus=1 2$/m);
  // a live identity, as the status unit finds it
  const work = tempDir('units-status');
  const years = { notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2036-01-01T00:00:00Z') };
  const root = await makeCa({ name: 'Units Root', ...years });
  const key = FileKeyHandle.generate({ type: 'ec', curve: 'P-256' });
  const now = Date.now();
  const certPem = await makeLeaf({
    issuer: root,
    names: ['agent.example.com'],
    publicKey: await key.publicKey(),
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 30 * 86400_000),
  });
  const stateDir = path.join(work, 'state');
  const store = await IdentityStore.open(stateDir, { clock: systemClock, logger: memoryLogger() });
  await store.activate(await store.stage({ certPem, chainPem: '', fullchainPem: certPem, keyPem: key.pem(), meta: { names: ['agent.example.com'] } }));
  writeFileSync(path.join(work, 'root.pem'), root.pem);
  const prom = path.join(work, 'iamra-agent.prom');
  const config = path.join(work, 'agent.yaml');
  writeFileSync(
    config,
    toYaml({
      identity: { name: 'agent.example.com' },
      acme: { directory: 'https://acme.invalid/dir' },
      dns: { route53: { hostedZoneId: 'Z0SANDBOX0EXAMPLE0001' } },
      state: { dir: stateDir, runtimeDir: path.join(work, 'run') },
      trust: { anchors: [path.join(work, 'root.pem')] },
      status: { prometheusFile: prom },
    }),
    { mode: 0o600 },
  );
  // PrivateNetwork=yes as unshare gives it: a namespace whose only interface is a loopback that is down
  const ns = process.getuid?.() === 0 ? ['--net'] : ['--map-root-user', '--net'];
  assert.match(execFileSync('unshare', [...ns, 'ip', '-o', 'link'], { encoding: 'utf8' }), /^1: lo: .*state DOWN/);
  const r = spawnSync('unshare', [...ns, process.execPath, cliPath, '--config', config, 'status'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: work },
  });
  assert.ok(r.status === 0 || r.status === 1, `status exit ${r.status}\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /^identity\s+OK/m);
  assert.match(readFileSync(prom, 'utf8'), /^iamra_agent_identity_present 1$/m);
});

test('the renew timer fires twice a day, randomized and persistent; the service asks renew --needed first', () => {
  const timer = unitText('iamra-agent-renew.timer');
  assert.match(timer, /^OnCalendar=\*-\*-\* 00,12:00:00$/m);
  assert.match(timer, /^RandomizedDelaySec=/m);
  assert.match(timer, /^Persistent=true$/m);
  const cal = execFileSync('systemd-analyze', ['calendar', '--iterations=2', '*-*-* 00,12:00:00'], { encoding: 'utf8' });
  assert.match(cal, /Iter\. #2/);
  assert.ok(unitText('iamra-agent-renew.service').includes(`ExecCondition=${cliPath} renew --needed`));
});

test('the status timer runs the check every 5 minutes from boot on', () => {
  const timer = unitText('iamra-agent-status.timer');
  assert.match(timer, /^OnBootSec=2min$/m);
  assert.match(timer, /^OnUnitActiveSec=5min$/m);
});

test('the audit unit (operator host): the database and AWS keys as credentials, the cursor in its state dir, every 15 minutes', () => {
  const svc = unitText('iamra-agent-audit.service');
  assert.ok(svc.includes(`ExecStart=${cliPath} audit --db %d/fleet-db --lookup --state /var/lib/iamra-agent-audit/cursor.json\n`));
  assert.match(svc, /^LoadCredential=fleet-db:\/etc\/iamra-agent-audit\/fleet-db\.json$/m);
  assert.match(svc, /^StateDirectory=iamra-agent-audit$/m);
  assert.match(svc, /^DynamicUser=yes$/m);
  const timer = unitText('iamra-agent-audit.timer');
  assert.match(timer, /^OnCalendar=\*:0\/15$/m);
  assert.match(timer, /^Persistent=true$/m);
});
