import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { fixedClock } from '../../src/core/clock.js';
import { createAwsSandbox, type AwsSandbox } from '../../src/sandbox/aws/server.js';
import type { Principal } from '../../src/sandbox/aws/types.js';
import { createStsService } from '../../src/sandbox/sts/service.js';

/**
 * The STS stand-in against the real AWS SDK for JavaScript v3 (its Query-protocol serializer, SigV4 signer and
 * XML parser): GetCallerIdentity for users and role sessions, and STS's ErrorResponse XML for failures.
 */

const ACCOUNT = '123456789012';

describe('STS stand-in', () => {
  const clock = fixedClock(new Date(Math.floor(Date.now() / 1000) * 1000));
  let sandbox: AwsSandbox;
  let url: string;
  let user: Principal;
  const session: Principal = {
    arn: `arn:aws:sts::${ACCOUNT}:assumed-role/agent-role/5a1001`,
    accountId: ACCOUNT,
    roleArn: `arn:aws:iam::${ACCOUNT}:role/agent-role`,
    userId: 'AROAEXAMPLEROLEID0001:5a1001',
    accessKeyId: 'ASIAEXAMPLESESSION01',
    secretAccessKey: 'sessionSecretAccessKeyForTheStsTest0001',
    sessionToken: 'session-token-for-the-sts-test',
    expiration: new Date(clock.now().getTime() + 3600e3),
    policies: [],
  };

  before(async () => {
    sandbox = createAwsSandbox({ clock, throttle: false });
    sandbox.addService(createStsService());
    url = await sandbox.listen();
    user = sandbox.principals.createUser({ accountId: ACCOUNT, name: 'deployer', policies: [] });
    sandbox.principals.add(session);
  });

  after(async () => {
    await sandbox?.close();
  });

  const client = (credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }, region = 'us-east-1') =>
    new STSClient({ endpoint: url, region, credentials, maxAttempts: 1 });

  it('answers GetCallerIdentity for an IAM user and for a role session (SDK v3 parses the XML)', async () => {
    const u = await client(user).send(new GetCallerIdentityCommand({}));
    assert.equal(u.Arn, user.arn);
    assert.equal(u.UserId, user.userId);
    assert.equal(u.Account, ACCOUNT);
    // a regional STS client signs with its own region; one sandbox URL stands in for all of them
    const s = await client(session, 'eu-west-1').send(new GetCallerIdentityCommand({}));
    assert.equal(s.Arn, session.arn);
    assert.equal(s.UserId, session.userId);
    assert.equal(sandbox.calls.at(-1)?.action, 'GetCallerIdentity');
    assert.equal(sandbox.calls.at(-1)?.principalArn, session.arn);
  });

  it('refuses a wrong token and an expired session with the STS error codes', async () => {
    await assert.rejects(client({ ...session, sessionToken: 'not-the-token' }).send(new GetCallerIdentityCommand({})), (e: Error & { Code?: string }) => {
      assert.equal(e.name, 'InvalidClientTokenId');
      assert.equal(e.message, 'The security token included in the request is invalid.');
      return true;
    });
    // the client signs with the wall clock, so the session expires instead of the clock moving
    const expired: Principal = { ...session, accessKeyId: 'ASIAEXAMPLEEXPIRED01', expiration: new Date(clock.now().getTime() - 1000) };
    sandbox.principals.add(expired);
    await assert.rejects(client(expired).send(new GetCallerIdentityCommand({})), {
      name: 'ExpiredToken',
      message: 'The security token included in the request is expired',
    });
  });

  it('answers other actions with InvalidAction in ErrorResponse XML', async () => {
    const body = 'Action=AssumeRoleWithWebIdentity&Version=2011-06-15';
    const reply = await new Promise<{ status: number; type: string; text: string }>((resolve, reject) => {
      const req = http.request(
        `${url}/`,
        { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length) } },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(reply.status, 400);
    assert.equal(reply.type, 'text/xml');
    assert.match(reply.text, /<ErrorResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/">/);
    assert.match(reply.text, /<Code>InvalidAction<\/Code>\s*<Message>Could not find operation AssumeRoleWithWebIdentity for version 2011-06-15<\/Message>/);
  });
});
