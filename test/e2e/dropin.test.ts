/**
 * Drop-in for the AWS credential helper: the same ~/.aws/config credential_process line, once with the helper
 * binary and once with the agent's, no agent config file at all; the AWS CLI gets the role through both.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { helperFlags } from '../helpers/aws-helper.js';
import { awsHelperBin, cliPath } from '../helpers/paths.js';
import { cleanEnv, startSandbox, type E2eSandbox } from '../helpers/sandbox.js';
import { ASSUMED_ROLE, imdsCredentials, startServe } from './credentials-support.js';

let sb: E2eSandbox;
before(async () => {
  sb = await startSandbox({ bootstrap: true });
});
after(async () => sb?.stop());

function helperLine(bin: string[]): string {
  return [...bin, 'credential-process', ...helperFlags(sb)].join(' ');
}

function callerIdentity(home: string): Promise<{ code: number; stdout: string; stderr: string }> {
  // nothing of the sandbox's agent config reaches the child: the line alone must be enough
  const env = {
    ...cleanEnv(),
    HOME: home,
    AWS_CONFIG_FILE: path.join(home, '.aws', 'config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(home, '.aws', 'credentials'),
  };
  return new Promise((resolve) => {
    execFile(
      '/usr/bin/aws',
      ['sts', 'get-caller-identity', '--profile', 'app', '--endpoint-url', sb.info.awsUrl, '--output', 'json'],
      { env, timeout: 60_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? 1 : 0, stdout, stderr });
      },
    );
  });
}

describe('the same ~/.aws/config line with the AWS credential helper and with the agent', () => {
  for (const [name, bin] of [
    ['AWS credential helper v1.4.0', [awsHelperBin]],
    ['iamra-agent (binary swapped)', [process.execPath, cliPath]],
  ] as const) {
    it(`${name}: aws sts get-caller-identity succeeds without any agent config file`, async () => {
      const home = path.join(sb.dir, `home-${bin.length}`);
      mkdirSync(path.join(home, '.aws'), { recursive: true });
      writeFileSync(path.join(home, '.aws', 'config'), `[profile app]\ncredential_process = ${helperLine([...bin])}\nregion = us-east-1\n`);
      const r = await callerIdentity(home);
      assert.equal(r.code, 0, r.stderr);
      assert.match((JSON.parse(r.stdout) as { Arn: string }).Arn, ASSUMED_ROLE);
    });
  }
});

describe('serve takes the helper flags --port and --hop-limit', () => {
  it('serve --port 0 --hop-limit 2 listens on 127.0.0.1 and vends credentials', async () => {
    const serve = await startServe(['--port', '0', '--hop-limit', '2'], sb.env);
    try {
      assert.match(serve.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      const r = await imdsCredentials(serve.url);
      assert.equal(r.status, 200, r.text);
      assert.match(r.json?.AccessKeyId ?? '', /^ASIA/);
    } finally {
      await serve.stop();
    }
  });
});
