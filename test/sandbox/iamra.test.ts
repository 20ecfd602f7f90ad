import * as x509 from '@peculiar/x509';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { webcrypto, type KeyObject } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { fixedClock } from '../../src/core/clock.js';
import { toPem } from '../../src/core/pem.js';
import { FileKeyHandle } from '../../src/keys/file.js';
import { createAwsSandbox, type AwsSandbox } from '../../src/sandbox/aws/server.js';
import type { PolicyDocument } from '../../src/sandbox/aws/types.js';
import { IamraRegistry, type Profile, type Role, type TrustAnchor } from '../../src/sandbox/iamra/registry.js';
import { createIamraService, type IamraService } from '../../src/sandbox/iamra/service.js';
import { createStsService } from '../../src/sandbox/sts/service.js';
import { signCreateSession } from '../../src/signer/sign.js';
import { peerPython, tempDir } from '../helpers/paths.js';

/**
 * The IAM Roles Anywhere stand-in against clients: the agent's own signer (src/signer/sign.ts) for every refusal
 * the service documents, and AWS Labs' Python client (PyPI iam-rolesanywhere-session) as the independent oracle,
 * whose credentials then go through the real AWS CLI v2 to the STS stand-in.
 */

const subtle = webcrypto.subtle;
const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const RSA = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 } as const;
type Alg = typeof EC | typeof RSA;

interface Ca {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  alg: Alg;
}

let serialCounter = 0x5a1000;
const nextSerial = () => (++serialCounter).toString(16).padStart(6, '0') + '8f3e2a';

async function makeCa(name: string, alg: Alg, issuer?: Ca): Promise<Ca> {
  const keys = (await subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: nextSerial(),
    subject: name,
    issuer: issuer ? issuer.cert.subject : name,
    notBefore: new Date(now - 3600e3),
    notAfter: new Date(now + 30 * 86400e3),
    publicKey: keys.publicKey,
    signingKey: (issuer ?? { keys }).keys.privateKey,
    signingAlgorithm: (issuer ?? { alg }).alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys, alg };
}

interface Leaf {
  key: FileKeyHandle;
  cert: x509.X509Certificate;
  der: Buffer;
  pem: string;
  serialHex: string;
}

async function importPublic(k: KeyObject, alg: Alg): Promise<CryptoKey> {
  return subtle.importKey('spki', k.export({ type: 'spki', format: 'der' }), alg, true, ['verify']);
}

async function makeLeaf(issuer: Ca, o: { cn: string; dns: string; rsa?: boolean; usages?: number }): Promise<Leaf> {
  const key = FileKeyHandle.generate(o.rsa ? { type: 'rsa', bits: 2048 } : { type: 'ec', curve: 'P-256' });
  const serial = nextSerial();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: `CN=${o.cn}`,
    issuer: issuer.cert.subject,
    notBefore: new Date(now - 3600e3),
    notAfter: new Date(now + 7 * 86400e3),
    publicKey: await importPublic(await key.publicKey(), o.rsa ? RSA : EC),
    signingKey: issuer.keys.privateKey,
    signingAlgorithm: issuer.alg,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(o.usages ?? x509.KeyUsageFlags.digitalSignature, true),
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: o.dns }]),
    ],
  });
  return { key, cert, der: Buffer.from(cert.rawData), pem: cert.toString('pem'), serialHex: serial };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies of several shapes, read field by field
  json: Record<string, any>;
}

function post(base: string, pathAndQuery: string, headers: Record<string, string>, body: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      new URL(pathAndQuery, base),
      { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json: text ? JSON.parse(text) : {} });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const trustPolicy = (anchorArns: string[], dns?: string): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Principal: { Service: 'rolesanywhere.amazonaws.com' },
      Action: ['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity'],
      Condition: { ArnEquals: { 'aws:SourceArn': anchorArns }, ...(dns && { StringEquals: { 'aws:PrincipalTag/x509SAN/DNS': dns } }) },
    },
  ],
});

describe('IAM Roles Anywhere stand-in', () => {
  const clock = fixedClock(new Date(Math.floor(Date.now() / 1000) * 1000));
  const dir = tempDir('iamra');
  const trailFile = path.join(dir, 'cloudtrail.jsonl');
  let sandbox: AwsSandbox;
  let service: IamraService;
  let url: string;
  let registry: IamraRegistry;
  let host: string;
  let ecRoot: Ca, ecInt: Ca, rsaRoot: Ca, otherInt: Ca, stagingInt: Ca;
  let ecAnchor: TrustAnchor, rsaAnchor: TrustAnchor, stagingAnchor: TrustAnchor;
  let role: Role, longRole: Role;
  let profile: Profile, namedProfile: Profile, stagingProfile: Profile, longProfile: Profile;
  let ecLeaf: Leaf, rsaLeaf: Leaf, otherDnsLeaf: Leaf, stagingLeaf: Leaf, noSigLeaf: Leaf;

  before(async () => {
    ecRoot = await makeCa('CN=Sandbox EC Root, O=Example', EC);
    ecInt = await makeCa('CN=Sandbox EC Issuing 1, O=Example', EC, ecRoot);
    otherInt = await makeCa('CN=Sandbox EC Issuing 1, O=Example', EC, await makeCa('CN=Elsewhere Root', EC));
    rsaRoot = await makeCa('CN=Sandbox RSA Root', RSA);
    const stagingRoot = await makeCa('CN=(STAGING) Pretend Pear X1, O=(STAGING) Internet Security Research Group', RSA);
    stagingInt = await makeCa("CN=(STAGING) Counterfeit Cashew R10, O=(STAGING) Let's Encrypt", RSA, stagingRoot);

    registry = new IamraRegistry(ACCOUNT, REGION);
    ecAnchor = registry.addTrustAnchor({ name: 'ec', certificateBundlePem: ecRoot.cert.toString('pem') });
    rsaAnchor = registry.addTrustAnchor({ name: 'rsa', certificateBundlePem: rsaRoot.cert.toString('pem') });
    stagingAnchor = registry.addTrustAnchor({ name: 'staging', certificateBundlePem: stagingRoot.cert.toString('pem') });
    const anchors = [ecAnchor.arn, rsaAnchor.arn, stagingAnchor.arn];
    role = registry.addRole({
      name: 'agent-role',
      trustPolicy: trustPolicy(anchors, 'host.example.com'),
      permissionPolicies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'route53:ListHostedZones', Resource: '*' }] }],
    });
    longRole = registry.addRole({ name: 'long-role', trustPolicy: trustPolicy(anchors) });
    profile = registry.addProfile({ name: 'agent', roleArns: [role.arn] });
    namedProfile = registry.addProfile({ name: 'named', roleArns: [role.arn], acceptRoleSessionName: true });
    stagingProfile = registry.addProfile({ name: 'staging', roleArns: [role.arn] });
    longProfile = registry.addProfile({ name: 'long', roleArns: [longRole.arn], durationSeconds: 7200 });

    ecLeaf = await makeLeaf(ecInt, { cn: 'host.example.com', dns: 'host.example.com' });
    rsaLeaf = await makeLeaf(rsaRoot, { cn: 'host.example.com', dns: 'host.example.com', rsa: true });
    otherDnsLeaf = await makeLeaf(ecInt, { cn: 'other.example.com', dns: 'other.example.com' });
    stagingLeaf = await makeLeaf(stagingInt, { cn: 'host.example.com', dns: 'host.example.com', rsa: true });
    noSigLeaf = await makeLeaf(ecInt, { cn: 'host.example.com', dns: 'host.example.com', usages: x509.KeyUsageFlags.keyEncipherment });

    sandbox = createAwsSandbox({ clock, throttle: false });
    service = createIamraService({ registry, cloudTrailFile: trailFile });
    sandbox.addService(service);
    sandbox.addService(createStsService());
    url = await sandbox.listen();
    host = new URL(url).host;
  });

  after(async () => {
    await sandbox?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  interface Call {
    leaf?: Leaf;
    chain?: Ca[];
    profileArn?: string;
    roleArn?: string;
    anchorArn?: string;
    durationSeconds?: number;
    roleSessionName?: string;
    inQuery?: boolean;
    date?: Date;
    tamper?: (headers: Record<string, string>, body: string) => { headers: Record<string, string>; body: string };
  }

  async function createSession(c: Call = {}): Promise<Reply> {
    const leaf = c.leaf ?? ecLeaf;
    const params = { profileArn: c.profileArn ?? profile.arn, roleArn: c.roleArn ?? role.arn, trustAnchorArn: c.anchorArn ?? ecAnchor.arn };
    const extra = { durationSeconds: c.durationSeconds ?? 3600, ...(c.roleSessionName !== undefined && { roleSessionName: c.roleSessionName }) };
    const query = c.inQuery ? new URLSearchParams(params).toString().replace(/\+/g, '%20') : '';
    const body = JSON.stringify(c.inQuery ? extra : { ...extra, ...params });
    const signed = await signCreateSession({
      date: c.date ?? clock.now(),
      region: REGION,
      host,
      body,
      leafDer: leaf.der,
      chainDer: (c.chain ?? (leaf === ecLeaf || leaf === otherDnsLeaf || leaf === noSigLeaf ? [ecInt] : leaf === stagingLeaf ? [stagingInt] : [])).map((ca) =>
        Buffer.from(ca.cert.rawData),
      ),
      key: leaf.key,
      query,
    });
    const sent = c.tamper ? c.tamper({ ...signed.headers }, body) : { headers: signed.headers, body };
    return post(url, `/sessions${query ? `?${query}` : ''}`, sent.headers, sent.body);
  }

  function assertError(r: Reply, status: number, type: string, message: string | RegExp): void {
    assert.equal(r.status, status, JSON.stringify(r.json));
    assert.equal(r.headers['x-amzn-errortype'], type);
    if (typeof message === 'string') assert.equal(r.json.message, message);
    else assert.match(r.json.message, message);
  }

  it('answers 201 with the credentialSet of a P-256 leaf chained through an intermediate, and registers the session', async () => {
    const r = await createSession();
    assert.equal(r.status, 201, JSON.stringify(r.json));
    assert.equal(r.headers['content-type'], 'application/json');
    const set = r.json.credentialSet;
    assert.equal(set.length, 1);
    const c = set[0];
    assert.deepEqual(Object.keys(r.json), ['credentialSet', 'subjectArn']);
    assert.deepEqual(Object.keys(c), ['assumedRoleUser', 'credentials', 'packedPolicySize', 'roleArn', 'sourceIdentity']);
    assert.deepEqual(Object.keys(c.credentials), ['accessKeyId', 'expiration', 'secretAccessKey', 'sessionToken']);
    assert.match(c.credentials.accessKeyId, /^ASIA[A-Z2-7]{16}$/);
    assert.equal(c.credentials.expiration, new Date(clock.now().getTime() + 3600e3).toISOString().replace('.000Z', 'Z'));
    // default session name: the leaf serial in hex (iamra-protocol §2.3)
    assert.equal(c.assumedRoleUser.arn, `arn:aws:sts::${ACCOUNT}:assumed-role/agent-role/${ecLeaf.serialHex}`);
    assert.equal(c.assumedRoleUser.assumedRoleId, `${role.roleId}:${ecLeaf.serialHex}`);
    assert.equal(c.roleArn, role.arn);
    assert.equal(c.sourceIdentity, 'CN=host.example.com');
    assert.match(r.json.subjectArn, /^arn:aws:rolesanywhere:us-east-1:123456789012:subject\/[0-9a-f-]{36}$/);

    const p = sandbox.principals.get(c.credentials.accessKeyId);
    assert.ok(p);
    assert.equal(p.arn, c.assumedRoleUser.arn);
    assert.equal(p.roleArn, role.arn);
    assert.equal(p.sessionToken, c.credentials.sessionToken);
    assert.deepEqual(p.policies, role.permissionPolicies);
    assert.equal(p.sessionTags?.['x509SAN/DNS'], 'host.example.com');
    assert.equal(p.sessionTags?.['x509Issuer/CN'], 'Sandbox EC Issuing 1');

    const lines = readFileSync(trailFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const e = lines.at(-1);
    assert.equal(e.eventSource, 'rolesanywhere.amazonaws.com');
    assert.equal(e.eventName, 'CreateSession');
    assert.equal(e.sourceIPAddress, '127.0.0.1');
    assert.equal(e.recipientAccountId, ACCOUNT);
    assert.equal(e.requestParameters.roleArn, role.arn);
    assert.equal(e.responseElements.credentialSet[0].credentials.accessKeyId, c.credentials.accessKeyId);
    assert.equal(e.additionalEventData.x509CertificateSerialNumber, ecLeaf.serialHex);
    assert.equal(e.additionalEventData.x509Subject, 'CN=host.example.com');
    assert.ok(!JSON.stringify(lines).includes(c.credentials.secretAccessKey), 'the trail never holds the secret key');
    assert.ok(!JSON.stringify(lines).includes(c.credentials.sessionToken), 'the trail never holds the session token');
  });

  it('accepts an RSA leaf with the ARNs in the query string, as the credential helper sends them', async () => {
    const r = await createSession({ leaf: rsaLeaf, anchorArn: rsaAnchor.arn, inQuery: true });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    assert.equal(r.json.credentialSet[0].assumedRoleUser.arn, `arn:aws:sts::${ACCOUNT}:assumed-role/agent-role/${rsaLeaf.serialHex}`);
  });

  it('refuses a body changed after signing: Invalid signature', async () => {
    const r = await createSession({ tamper: (headers, body) => ({ headers, body: body.replace('3600', '3601') }) });
    assertError(r, 403, 'AccessDeniedException', 'Invalid signature');
    assert.equal(service.events.at(-1)?.errorCode, 'AccessDeniedException');
    assert.equal(service.events.at(-1)?.errorMessage, 'Invalid signature');
  });

  it('refuses a changed X-Amz-Date (signature) and a stale one (clock skew)', async () => {
    const changed = await createSession({
      tamper: (headers, body) => ({
        headers: { ...headers, 'x-amz-date': headers['x-amz-date']!.replace(/\d{2}Z$/, (s) => `${(Number(s.slice(0, 2)) + 1) % 60}`.padStart(2, '0') + 'Z') },
        body,
      }),
    });
    assertError(changed, 403, 'AccessDeniedException', 'Invalid signature');
    const stale = await createSession({ date: new Date(clock.now().getTime() - 6 * 60e3) });
    assertError(stale, 403, 'InvalidSignatureException', /^Signature expired: \d{8}T\d{6}Z is now earlier than/);
  });

  it('refuses a leaf whose chain does not reach the trust anchor: Untrusted Signing Certificate', async () => {
    assertError(await createSession({ chain: [] }), 403, 'AccessDeniedException', 'Untrusted Signing Certificate');
    // same issuer name, different key: the chain only matches by name
    assertError(await createSession({ chain: [otherInt] }), 403, 'AccessDeniedException', 'Untrusted Signing Certificate');
    assertError(await createSession({ anchorArn: rsaAnchor.arn }), 403, 'AccessDeniedException', 'Untrusted Signing Certificate');
    assertError(await createSession({ leaf: noSigLeaf }), 403, 'AccessDeniedException', 'Untrusted Signing Certificate');
    assert.equal(service.events.at(-1)?.additionalEventData.failureReason, 'the signing certificate keyUsage lacks digitalSignature');
  });

  it("fails on issuer names that cannot be session tags until the profile's x509Issuer mapping is removed", async () => {
    const call = { leaf: stagingLeaf, anchorArn: stagingAnchor.arn, profileArn: stagingProfile.arn };
    assertError(await createSession(call), 403, 'AccessDeniedException', 'Some attributes failed to be mapped into session tags. Issuer: [CN, O]');
    // the sandbox admin API's equivalent of `aws rolesanywhere delete-attribute-mapping --certificate-field x509Issuer`
    const admin = await post(
      url,
      '/_sandbox/rolesanywhere/delete-attribute-mapping',
      { 'content-type': 'application/json' },
      JSON.stringify({ profileArn: stagingProfile.arn, certificateField: 'x509Issuer' }),
    );
    assert.equal(admin.status, 200, JSON.stringify(admin.json));
    assert.deepEqual(
      admin.json.profile.attributeMappings.map((m: { certificateField: string }) => m.certificateField),
      ['x509Subject', 'x509SAN'],
    );
    const r = await createSession(call);
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const p = sandbox.principals.get(r.json.credentialSet[0].credentials.accessKeyId);
    assert.equal(p?.sessionTags?.['x509Issuer/CN'], undefined);
    assert.equal(p?.sessionTags?.['x509Subject/CN'], 'host.example.com');
  });

  it('takes roleSessionName only from profiles that accept it', async () => {
    assertError(await createSession({ roleSessionName: 'my-session' }), 403, 'AccessDeniedException', 'Not authorized to set roleSessionName.');
    const r = await createSession({ profileArn: namedProfile.arn, roleSessionName: 'my-session' });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    assert.equal(r.json.credentialSet[0].assumedRoleUser.arn, `arn:aws:sts::${ACCOUNT}:assumed-role/agent-role/my-session`);
    assert.equal(service.events.at(-1)?.requestParameters?.roleSessionName, 'my-session');
  });

  it("enforces the role trust policy's aws:PrincipalTag/x509SAN/DNS condition", async () => {
    assertError(await createSession({ leaf: otherDnsLeaf }), 403, 'AccessDeniedException', `Unable to assume role for arn: ${role.arn}`);
    assert.match(service.events.at(-1)?.additionalEventData.failureReason ?? '', /^trust policy: sts:AssumeRole ImplicitlyDenied/);
  });

  it("caps the session at the profile's durationSeconds and validates the requested range", async () => {
    const r = await createSession({ durationSeconds: 43200 });
    assert.equal(r.status, 201);
    assert.equal(r.json.credentialSet[0].credentials.expiration, new Date(clock.now().getTime() + 3600e3).toISOString().replace('.000Z', 'Z'));
    const short = await createSession({ durationSeconds: 900 });
    assert.equal(short.json.credentialSet[0].credentials.expiration, new Date(clock.now().getTime() + 900e3).toISOString().replace('.000Z', 'Z'));
    assertError(
      await createSession({ durationSeconds: 600 }),
      400,
      'ValidationException',
      "1 validation error detected: Value '600' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
    );
    assertError(
      await createSession({ profileArn: longProfile.arn, roleArn: longRole.arn, durationSeconds: 7200 }),
      400,
      'ValidationException',
      'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.',
    );
    assertError(await createSession({ roleArn: longRole.arn }), 403, 'AccessDeniedException', "Requested Role isn't one of those listed in the Profile.");
  });

  it('serves its events and registry on the sandbox admin API', async () => {
    const events = (await (await fetch(`${url}/_sandbox/rolesanywhere/events`)).json()) as { events: { eventName: string }[] };
    assert.equal(events.events.length, service.events.length);
    assert.ok(events.events.every((e) => e.eventName === 'CreateSession'));
    const spec = (await (await fetch(`${url}/_sandbox/rolesanywhere/registry`)).json()) as { profiles: { id: string }[] };
    assert.deepEqual(
      spec.profiles.map((p) => p.id),
      registry.listProfiles().map((p) => p.id),
    );
  });

  it('round-trips its spec: the registry rebuilt from toSpec() has the same ARNs', () => {
    const again = IamraRegistry.fromSpec(JSON.parse(JSON.stringify(registry.toSpec())));
    assert.deepEqual(
      again.listTrustAnchors().map((a) => a.arn),
      registry.listTrustAnchors().map((a) => a.arn),
    );
    assert.deepEqual(
      again.listProfiles().map((p) => [p.arn, p.attributeMappings]),
      registry.listProfiles().map((p) => [p.arn, p.attributeMappings]),
    );
    assert.deepEqual(
      again.listRoles().map((r) => [r.arn, r.roleId]),
      registry.listRoles().map((r) => [r.arn, r.roleId]),
    );
  });

  describe('AWS Labs Python client (iam-rolesanywhere-session) as oracle, then the AWS CLI v2 on STS', () => {
    let tlsServer: tls.Server;
    let tlsPort: number;
    const caFile = path.join(dir, 'tls-ca.pem');

    before(async () => {
      // The Python client only speaks https://<endpoint>/sessions: a TLS front (test CA, IP SAN 127.0.0.1) that
      // pipes bytes to the sandbox, so the Host header it signs reaches the verifier unchanged.
      const tlsCa = await makeCa('CN=Sandbox TLS CA', EC);
      const keys = (await subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
      const now = Date.now();
      const serverCert = await x509.X509CertificateGenerator.create({
        serialNumber: nextSerial(),
        subject: 'CN=127.0.0.1',
        issuer: tlsCa.cert.subject,
        notBefore: new Date(now - 3600e3),
        notAfter: new Date(now + 86400e3),
        publicKey: keys.publicKey,
        signingKey: tlsCa.keys.privateKey,
        signingAlgorithm: EC,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }]),
          await x509.AuthorityKeyIdentifierExtension.create(tlsCa.keys.publicKey),
        ],
      });
      writeFileSync(caFile, tlsCa.cert.toString('pem'));
      const keyPem = toPem('PRIVATE KEY', new Uint8Array(await subtle.exportKey('pkcs8', keys.privateKey)));
      const target = new URL(url);
      tlsServer = tls.createServer({ key: keyPem, cert: serverCert.toString('pem') }, (socket) => {
        const upstream = net.connect(Number(target.port), target.hostname);
        socket.pipe(upstream).pipe(socket);
        socket.on('error', () => upstream.destroy());
        upstream.on('error', () => socket.destroy());
      });
      await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
      tlsPort = (tlsServer.address() as net.AddressInfo).port;
    });

    after(async () => {
      if (tlsServer) await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
    });

    const PY = `
import json, sys
from iam_rolesanywhere_session import IAMRolesAnywhereSession
a = json.load(sys.stdin)
s = IAMRolesAnywhereSession(profile_arn=a["profileArn"], role_arn=a["roleArn"], trust_anchor_arn=a["trustAnchorArn"],
    certificate=a["cert"].encode(), private_key=a["key"].encode(), certificate_chain=(a["chain"].encode() if a["chain"] else None),
    region=a["region"], endpoint=a["endpoint"], verify=a["verify"], session_duration=3600)
c = s.get_refreshable_credentials().get_frozen_credentials()
print(json.dumps({"accessKeyId": c.access_key, "secretAccessKey": c.secret_key, "sessionToken": c.token}))
`;

    /** Runs the Python client with its inputs (PEMs included) on stdin, never on argv. */
    function python(input: Record<string, unknown>): Promise<{ code: number; stdout: string; stderr: string }> {
      return new Promise((resolve, reject) => {
        const child = spawn(peerPython, ['-c', PY], { stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d));
        child.stderr.on('data', (d: Buffer) => (stderr += d));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
        child.stdin.end(JSON.stringify(input));
      });
    }

    const input = (leaf: Leaf, chain: Ca[], anchor: TrustAnchor) => ({
      profileArn: profile.arn,
      roleArn: role.arn,
      trustAnchorArn: anchor.arn,
      cert: leaf.pem,
      key: leaf.key.pem(),
      chain: chain.map((c) => c.cert.toString('pem')).join('\n'),
      region: REGION,
      endpoint: `127.0.0.1:${tlsPort}`,
      verify: caFile,
    });

    it('gets credentials for an EC leaf with a chain, which the AWS CLI v2 then uses on STS GetCallerIdentity', async () => {
      const py = await python(input(ecLeaf, [ecInt], ecAnchor));
      assert.equal(py.code, 0, py.stderr);
      const creds = JSON.parse(py.stdout) as { accessKeyId: string; secretAccessKey: string; sessionToken: string };
      assert.match(creds.accessKeyId, /^ASIA/);
      const event = service.events.at(-1)!;
      assert.equal(event.errorCode, undefined);
      assert.match(event.userAgent, /Botocore|python/i);

      const { stdout } = await promisify(execFile)('/usr/bin/aws', ['sts', 'get-caller-identity', '--endpoint-url', url, '--output', 'json'], {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: dir,
          AWS_ACCESS_KEY_ID: creds.accessKeyId,
          AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
          AWS_SESSION_TOKEN: creds.sessionToken,
          AWS_REGION: REGION,
          AWS_CONFIG_FILE: path.join(dir, 'none'),
          AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'none'),
          AWS_EC2_METADATA_DISABLED: 'true',
        },
        timeout: 30_000,
      });
      const id = JSON.parse(stdout) as { Arn: string; UserId: string; Account: string };
      assert.equal(id.Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/agent-role/${ecLeaf.serialHex}`);
      assert.equal(id.UserId, `${role.roleId}:${ecLeaf.serialHex}`);
      assert.equal(id.Account, ACCOUNT);
    });

    it('gets credentials for an RSA leaf, and reports a missing chain with the service message', async () => {
      const rsa = await python(input(rsaLeaf, [], rsaAnchor));
      assert.equal(rsa.code, 0, rsa.stderr);
      assert.match(JSON.parse(rsa.stdout).accessKeyId, /^ASIA/);
      const unchained = await python(input(ecLeaf, [], ecAnchor));
      assert.notEqual(unchained.code, 0);
      assert.match(unchained.stderr, /CreateSession failed \(HTTP 403\): Untrusted Signing Certificate/);
    });
  });
});
