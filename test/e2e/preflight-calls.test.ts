import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { assertCleanFailure, editedConfig, exists } from '../helpers/enrol.js';
import { type CliResult, startSandbox, type E2eSandbox } from '../helpers/sandbox.js';

/**
 * Issue 12 item 3, shown through the call logs: with an unusable file or setting that enrolment depends on,
 * `bootstrap` (first enrolment) and `renew --force` (a live identity) fail before the ACME CA or AWS hear of them.
 * Three counters, each kept by something other than the agent:
 * - ACME: every connection to the CA goes through a loopback TCP proxy in this test (agent.yaml's directory points
 *   at it, and Pebble builds its URLs from the Host it was asked under, so the whole ACME session passes it);
 * - Pebble's own order count (its log line "There are now N orders in the db");
 * - the sandbox's AWS call log (GET /_sandbox/calls): no Route 53 change, no CreateSession, no call at all.
 * A good `renew --force` through the same proxy at the end moves all three, so they are known to count.
 * `config check` refuses each case too, naming the file (or the setting when there is no file).
 */

let sb: E2eSandbox;
let proxy: net.Server;
let acmeConnections = 0;
let directory: string;
let good: string;

before(async () => {
  sb = await startSandbox();
  const pebble = new URL(sb.info.directoryUrl);
  proxy = net.createServer((client) => {
    acmeConnections++;
    const upstream = net.connect(Number(pebble.port), pebble.hostname);
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  directory = `https://127.0.0.1:${(proxy.address() as net.AddressInfo).port}${pebble.pathname}`;
  // enrolled through the proxy too: the ACME account is kept per directory host, and ARI lets only the account
  // that ordered a certificate replace it
  good = editedConfig(sb, 'good.yaml', (c) => (c.acme.directory = directory));
  const boot = await sb.cli(['--config', good, 'bootstrap']);
  assert.equal(boot.code, 0, boot.stderr);
  acmeConnections = 0;
});
after(async () => {
  proxy?.close();
  await sb?.stop();
});

/** Pebble's own count of the orders it holds, from its log */
function pebbleOrders(): number {
  const log = readFileSync(path.join(sb.dir, 'pebble', 'pebble.log'), 'utf8');
  const counts = [...log.matchAll(/There are now (\d+) orders in the db/g)];
  return Number(counts.at(-1)?.[1] ?? 0);
}

interface Calls {
  all: number;
  changes: number;
}
async function awsCalls(): Promise<Calls> {
  const calls = await sb.admin<{ service: string; action: string }[]>('calls');
  return { all: calls.length, changes: calls.filter((c) => c.service === 'route53' && c.action === 'ChangeResourceRecordSets').length };
}

/** what `renew --force` leaves to look at: the live version and the versions kept */
function liveState(): string {
  const state = path.join(sb.dir, 'state');
  return `${readlinkSync(path.join(state, 'live'))} ${readdirSync(path.join(state, 'versions')).sort().join(',')}`;
}

// biome-ignore lint/suspicious/noExplicitAny: tests edit the parsed YAML document freely, as editedConfig does
type Edit = (cfg: Record<string, any>, file: (name: string, data: string | Buffer) => string) => void;

/** each case: the edit to the sandbox's (working) agent.yaml, and what every message must name */
/**
 * atLoad: refused by the config schema itself (the same rule as the signer's, core/aws-ids.ts), so the first line is
 * the config's problem count and the problem, naming the field, is on the next line; nothing is opened at all.
 */
const cases: { name: string; names: RegExp; edit: Edit; atLoad?: true }[] = [
  {
    name: 'a truncated trust anchor',
    names: /trust\.anchors\[0\] \S+anchor-truncated\.pem/,
    edit: (c, file) => {
      const roots = readFileSync(path.join(sb.dir, 'pebble-roots.pem'), 'utf8');
      c.trust.anchors = [file('anchor-truncated.pem', roots.slice(0, roots.length / 2))];
    },
  },
  {
    name: 'a chain file (leaf first) as the trust anchor',
    names: /trust\.anchors\[0\] \S+anchor-chain\.pem certificate #1 is not a CA certificate/,
    edit: (c, file) => (c.trust.anchors = [file('anchor-chain.pem', readFileSync(path.join(sb.dir, 'state', 'live', 'fullchain.pem')))]),
  },
  {
    name: 'a missing trust anchor',
    names: /trust\.anchors\[1\] \S+anchor-missing\.pem/,
    edit: (c) => c.trust.anchors.push(path.join(sb.dir, 'anchor-missing.pem')),
  },
  {
    name: 'a CA bundle that holds a private key',
    names: /acme\.caBundle \S+bundle-key\.pem/,
    edit: (c, file) =>
      (c.acme.caBundle = file('bundle-key.pem', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }))),
  },
  {
    name: 'an external CSR with a 1024-bit RSA key',
    names: /weak\.csr is an RSA key of 1024 bits/,
    edit: (c) => {
      const csr = path.join(sb.dir, 'weak.csr');
      // made by openssl, as an operator's hardware-key tooling would hand it over
      execFileSync('openssl', [
        'req',
        '-new',
        '-newkey',
        'rsa:1024',
        '-nodes',
        '-keyout',
        path.join(sb.dir, 'weak.key'),
        '-subj',
        `/CN=${sb.info.name}`,
        '-addext',
        `subjectAltName=DNS:${sb.info.name}`,
        '-out',
        csr,
      ]);
      c.key = { source: 'csr', csrFile: csr };
    },
  },
  {
    name: 'a missing EAB key file',
    names: /acme\.eab\.hmacKeyFile \S+eab-missing\.key/,
    edit: (c) => (c.acme.eab = { kid: 'kid-1', hmacKeyFile: path.join(sb.dir, 'eab-missing.key') }),
  },
  {
    name: 'rolesAnywhere: profile and trust anchor in different regions',
    names: /^ {2}rolesAnywhere: the profile is in eu-west-1 but the trust anchor is in us-east-1/m,
    edit: (c) => (c.rolesAnywhere.profileArn = c.rolesAnywhere.profileArn.replace(':us-east-1:', ':eu-west-1:')),
    atLoad: true,
  },
];

test('unusable anchors, CA bundle, chain, CSR key, EAB key or rolesAnywhere settings: no ACME contact, no order, no AWS call', async () => {
  const orders0 = pebbleOrders();
  const calls0 = await awsCalls();
  const live0 = liveState();
  for (const [i, k] of cases.entries()) {
    const file = (name: string, data: string | Buffer) => {
      const p = path.join(sb.dir, name);
      writeFileSync(p, data, { mode: 0o600 });
      return p;
    };
    const fresh = path.join(sb.dir, `state-fresh-${i}`);
    const renewCfg = editedConfig(sb, `case-${i}-renew.yaml`, (c) => {
      c.acme.directory = directory;
      k.edit(c, file);
    });
    const bootCfg = editedConfig(sb, `case-${i}-boot.yaml`, (c) => {
      c.acme.directory = directory;
      c.state.dir = fresh;
      k.edit(c, file);
    });

    const refused = (r: CliResult, stage?: RegExp) => {
      if (!k.atLoad) return assertCleanFailure(r, k.names, ...(stage ? [stage] : []));
      assertCleanFailure(r, /has 1 problem\(s\):$/);
      assert.match(r.stderr, k.names);
    };
    refused(await sb.cli(['--config', renewCfg, 'config', 'check']));
    refused(await sb.cli(['--config', bootCfg, 'bootstrap']), /before any ACME order/);
    assert.ok(!exists(path.join(fresh, 'versions')), `${k.name}: bootstrap made ${fresh}/versions`);
    refused(await sb.cli(['--config', renewCfg, 'renew', '--force']), /before any ACME order/);

    assert.equal(acmeConnections, 0, `${k.name}: the agent connected to the ACME CA`);
    assert.deepEqual(await awsCalls(), calls0, `${k.name}: the agent called AWS (Route 53 or IAM Roles Anywhere)`);
    assert.equal(pebbleOrders(), orders0, `${k.name}: Pebble has a new order`);
    assert.equal(liveState(), live0, `${k.name}: renew --force changed the identity store`);
  }

  // the same path with the sandbox's own config: every counter moves, by exactly one order
  const r = await sb.cli(['--config', good, 'renew', '--force']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(acmeConnections > 0, 'the good renewal went through the proxy');
  assert.ok((await awsCalls()).changes > calls0.changes, 'the good renewal made Route 53 changes');
  assert.equal(pebbleOrders(), orders0 + 1, 'exactly one order, the good renewal: none came from the refused runs');
  assert.notEqual(liveState(), live0);
});
