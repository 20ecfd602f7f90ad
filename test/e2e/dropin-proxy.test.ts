/**
 * Drop-in for the AWS credential helper's --with-proxy: the same ~/.aws/config credential_process line, with the
 * helper binary and with the agent's (binary swapped), read by the AWS CLI v2; CreateSession goes through an HTTP
 * proxy ($HTTPS_PROXY, a CONNECT tunnel) to an https endpoint whose name only the test proxy knows:
 *
 *   credential process ──CONNECT rolesanywhere.proxy.test:443──► test proxy (127.0.0.1) ──► TLS relay (127.0.0.1,
 *   a certificate for that name from a test CA) ──► the sandbox's http IAM Roles Anywhere endpoint
 *
 * Loopback endpoints are never proxied (Go's rule and ours), hence the name. Each credential process runs under
 * strace: every address it connected or sent to is loopback, so no DNS query for the name (or anything) left the
 * machine; the sandbox counts one CreateSession per call and the proxy one tunnel.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { helperFlags, serveWith } from '../helpers/aws-helper.js';
import { AWS_CLI } from '../helpers/aws-cli.js';
import { isLoopbackAddress, socketAddresses } from '../helpers/lego5.js';
import { awsHelperBin, cliPath } from '../helpers/paths.js';
import { startTestProxy, startTlsRelay, tlsName, type TestProxy } from '../helpers/proxy.js';
import { cleanEnv, startSandbox, type E2eSandbox } from '../helpers/sandbox.js';
import { ASSUMED_ROLE, imdsCredentials } from './credentials-support.js';

const NAME = 'rolesanywhere.proxy.test';
// no explicit :443: with one, the helper v1.4.0's signature does not verify (the Host it signs and the Host it sends
// differ in the default port), which is the helper's own matter, not the proxy's
const ENDPOINT = `https://${NAME}`;

let sb: E2eSandbox;
let proxy: TestProxy;
let relay: { port: number; close(): Promise<void> };
let caFile: string;

before(async () => {
  sb = await startSandbox({ bootstrap: true });
  const tls = await tlsName(NAME);
  caFile = path.join(sb.dir, 'proxy-test-ca.pem');
  writeFileSync(caFile, tls.caPem);
  relay = await startTlsRelay(tls, Number(new URL(sb.info.awsUrl).port));
  proxy = await startTestProxy(new Map([[`${NAME}:443`, relay.port]]));
});
after(async () => Promise.all([proxy?.close(), relay?.close(), sb?.stop()]));

const BINARIES = [
  ['AWS credential helper v1.4.0', [awsHelperBin]],
  ['iamra-agent (binary swapped)', [process.execPath, cliPath]],
] as const;

/** the helper flags for the sandbox identity, with the proxied endpoint and --with-proxy */
function proxiedFlags(): string[] {
  const flags = helperFlags(sb);
  const i = flags.indexOf('--endpoint');
  flags[i + 1] = ENDPOINT;
  return [...flags, '--with-proxy'];
}

/** the proxy for the credential process and the test CA for the Go helper (SSL_CERT_FILE) and the agent */
function proxyEnv(home: string): NodeJS.ProcessEnv {
  return { ...cleanEnv(), HOME: home, HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1', SSL_CERT_FILE: caFile, NODE_EXTRA_CA_CERTS: caFile };
}

async function createSessions(): Promise<number> {
  return (await sb.admin<unknown[]>('calls?service=rolesanywhere')).length;
}

describe('credential_process … --with-proxy through an HTTP proxy, with the helper and with the agent', () => {
  for (const [name, bin] of BINARIES) {
    it(`${name}: aws sts get-caller-identity succeeds, CreateSession tunnelled through $HTTPS_PROXY, only loopback contacted`, async () => {
      const home = path.join(sb.dir, `home-${name.split(' ')[0]}`);
      mkdirSync(path.join(home, '.aws'), { recursive: true });
      const trace = path.join(home, 'credential-process.strace');
      const line = [
        'strace',
        '-f',
        '-qq',
        '-e',
        'signal=none',
        '-e',
        'trace=connect,sendto,sendmsg,sendmmsg',
        '-o',
        trace,
        ...bin,
        'credential-process',
        ...proxiedFlags(),
      ].join(' ');
      writeFileSync(path.join(home, '.aws', 'config'), `[profile app]\ncredential_process = ${line}\nregion = us-east-1\n`);
      const env = {
        ...cleanEnv(),
        HOME: home,
        AWS_CONFIG_FILE: path.join(home, '.aws', 'config'),
        AWS_SHARED_CREDENTIALS_FILE: path.join(home, '.aws', 'credentials'),
        AWS_REGION: 'us-east-1',
        AWS_EC2_METADATA_DISABLED: 'true',
        // the proxy, for the credential process (the AWS CLI's own endpoint is http on loopback: HTTPS_PROXY is not
        // for it, and NO_PROXY says so anyway)
        HTTPS_PROXY: proxy.url,
        NO_PROXY: '127.0.0.1',
        // the test CA, for the Go helper and for the agent
        SSL_CERT_FILE: caFile,
        NODE_EXTRA_CA_CERTS: caFile,
      };
      const calls = await createSessions();
      const tunnels = proxy.connects.length;
      const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          AWS_CLI,
          ['sts', 'get-caller-identity', '--profile', 'app', '--endpoint-url', sb.info.awsUrl, '--output', 'json'],
          { env, timeout: 90_000 },
          (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }),
        );
      });
      assert.equal(
        r.code,
        0,
        `${r.stderr}\nthe sandbox's last CreateSession: ${JSON.stringify((await sb.admin<unknown[]>('calls?service=rolesanywhere')).at(-1))}`,
      );
      assert.match((JSON.parse(r.stdout) as { Arn: string }).Arn, ASSUMED_ROLE);

      assert.equal((await createSessions()) - calls, 1, 'one CreateSession per call');
      assert.deepEqual(proxy.connects.slice(tunnels), [`${NAME}:443`], 'one CONNECT tunnel through the proxy');
      const addresses = socketAddresses(readFileSync(trace, 'utf8'));
      assert.ok(addresses.includes(`inet 127.0.0.1:${new URL(proxy.url).port}`), `no connection to the proxy: ${addresses.join(', ')}`);
      assert.deepEqual(
        addresses.filter((a) => !isLoopbackAddress(a)),
        [],
        `the credential process contacted something off loopback:\n${addresses.join('\n')}`,
      );
    });
  }
});

describe('update --once and serve with --with-proxy: the same plumbing, with either binary', () => {
  for (const [name, bin] of BINARIES) {
    it(`${name}: update --once --with-proxy writes the profile, CreateSession through the proxy`, async () => {
      const home = path.join(sb.dir, `update-${name.split(' ')[0]}`);
      mkdirSync(path.join(home, '.aws'), { recursive: true });
      const calls = await createSessions();
      const tunnels = proxy.connects.length;
      const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
        execFile(
          bin[0],
          [...bin.slice(1), 'update', '--once', '--profile', 'app', ...proxiedFlags()],
          { env: proxyEnv(home), timeout: 60_000 },
          (err, _o, stderr) => resolve({ code: err ? 1 : 0, stderr }),
        );
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(statSync(path.join(home, '.aws', 'credentials')).mode & 0o777, 0o600);
      assert.match(readFileSync(path.join(home, '.aws', 'credentials'), 'utf8'), /\[app\][^[]*aws_session_token/);
      assert.equal((await createSessions()) - calls, 1);
      assert.deepEqual(proxy.connects.slice(tunnels), [`${NAME}:443`]);
    });

    it(`${name}: serve --port P --with-proxy answers IMDSv2 with credentials CreateSession got through the proxy`, async () => {
      const home = path.join(sb.dir, `serve-${name.split(' ')[0]}`);
      mkdirSync(home, { recursive: true });
      const tunnels = proxy.connects.length;
      const serve = await serveWith(bin, proxiedFlags(), proxyEnv(home));
      try {
        const r = await imdsCredentials(serve.url);
        assert.equal(r.status, 200, r.text);
        assert.ok(proxy.connects.slice(tunnels).length >= 1, 'CreateSession went through the proxy');
        assert.ok(proxy.connects.slice(tunnels).every((c) => c === `${NAME}:443`));
      } finally {
        await serve.stop();
      }
    });
  }
});
