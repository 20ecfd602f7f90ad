import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, verify } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { FileKeyHandle } from '../../src/keys/file.js';
import { sha256Hex } from '../../src/signer/canonical.js';
import { serialDecimal, signCreateSession } from '../../src/signer/sign.js';
import { tempDir } from '../helpers/paths.js';
import { F_EC_CERT, F_EC_KEY, F_RSA_CERT, F_RSA_CHAIN, F_RSA_KEY } from './fixtures.js';

const der = (pem: string) => Buffer.from(new X509Certificate(pem).raw);
const rsaKey = new FileKeyHandle(createPrivateKey(F_RSA_KEY), 'F-RSA fixture');

/** Body template B(d, n) of iamra-protocol.md §5.2 (roleSessionName omitted when n is undefined). */
function body(d: string, n: string | undefined): string {
  return `{"durationSeconds":${d},"profileArn":"arn:profile-arn","roleArn":"arn:role-arn",${n === undefined ? '' : `"roleSessionName":"${n}",`}"trustAnchorArn":"arn:trust-anchor-arn"}`;
}

const toDate = (amz: string) => new Date(amz.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));

// Envoy vectors E1-E6 (iamra-protocol.md §5.2): generated with AWS Labs' Python signer, matched by Envoy's C++ signer.
const VECTORS = [
  {
    id: 'E1',
    bodyHash: '9459c733184fbb190c1e0be65b079c66e4bf96b6edddcb6c39a1a939460e6d55',
    date: '20180102T030405Z',
    body: body('3600.0', 'session'),
    chain: false,
    creqHash: '584a6a0680d5843aae4168c72c160cbb4cf011e97af416412bf3469e7d46de58',
    signature:
      '94cee97ea560e0c66774332af8d637728d4ec92fe95f1f0489e37e001cc96d59204ceece0727bee28270f117a1697e004b68523817e66a2be724be43f5d4daa7701c2d3a253888ff955f804628a4b7857e1d82233d9623a5472988f8dbedd4dc0013bde4706117bedfe36ea03464949de9fd8cd6ec7105aa41f3b28723c61ffa6b6d9bcb448368df904e8bb470066072308a1b773b6a07adc0deb2d941ecfdfef3fb4707900ffe582561424eacdd9c8e1e8c2beed61233522c339c6efad913797ff5ee39c4e3d43dfe0d8d09afbfbc5a6aefa3ea2264e77315d74861cc01451c3f11f48adbf9c25ac451841c9770ed6e08a862537bb30d8d04fd6da46c426195',
  },
  {
    id: 'E2',
    bodyHash: '9459c733184fbb190c1e0be65b079c66e4bf96b6edddcb6c39a1a939460e6d55',
    date: '20180102T030405Z',
    body: body('3600.0', 'session'),
    chain: true,
    creqHash: 'c370b99845d644904a95751043bfc20521029eeaf4627997ec433d791d3cfbd5',
    signature:
      '8c5b5daa03ab9ac9513e2241eeb31a78215f4b2c8336122ad0c6c3962b625a64f0133da911ecf2e1868d402ce9bdfc5015cc9446b8be4d3dc2fdc3bcda826bb1f333a77e53632ec0d4dfe18b88b31207c8a9547fc5f22d77707196326d3cc7568d40d8c1ab929559f4d8300925312efc51bad5739254140307ee071379e2c159c015df501f5941829575ad0a3b41d8e04d02beec8bea615e21bef1a91f5e4a97d0b2f55b737fca32b790ecb7c87d9519e947c80f4279f6c57965c04fa040959c9449fa64da1ac0c193c601b6a312d3b8eb0c0f26417a6c9b63c6d8e9665ba00cbb5ea0d116956516cb8da33bddc5a665a9b4f590a00df9c611cb15cfc4ed1471',
  },
  {
    id: 'E3',
    bodyHash: '9459c733184fbb190c1e0be65b079c66e4bf96b6edddcb6c39a1a939460e6d55',
    date: '20180102T050405Z',
    body: body('3600.0', 'session'),
    chain: true,
    creqHash: '9ebe55fb9bf82029fae54f9ee04fdb2db7fcbb17cd9f1346e19cf52d19f8d4c4',
    signature:
      '0a546bb10a5169c30f53788b38fade69e9af8eb20debc8f3fc33ec2123c0406fcf831728109920e2a34f094c3537b82f10c97a6159c53190b7b4cb65899bbe8db20bd1f5eac3412d40c25b4d08b891707efe7d82d1ac529957cf02eaebee6f2ba0b7937b18922995d2fd24d7a58a83a07fb6d1f8233ee853d0b11c0ae7ef7b4ae6374ba232da93f8e62027378af712e4a9f5035df5b6d0d1b596d84d955caf1a50ec8c276abf163c3b00df92f9722aea041e2437f36956b05aa487941592921cf4327623afb5679e83b94b03c7b0e2511624193f5b621148516e316ef54714aa8dbaa8bababdc5e88c82c20eee3cdf0be48ff0eaf8217fb16d90f35793d0f1b0',
  },
  {
    id: 'E4',
    bodyHash: '26ba3087303676735d4b0a63543d5ef4e74be47839e11b5c283d707ddbec6deb',
    date: '20180102T030405Z',
    body: body('3600.0', 'mysession'),
    chain: false,
    creqHash: '8817149e429609f62454813d7a65f1cbe693a1807660cae954ec86e74612c0e7',
    signature:
      '949b52d936e142f1f2b62fedb05cb7733b5ef3a3ae070f6b342d2a6173e2a712e7586fc00688974f0562fa09d91707615aec1e6e3174513d421b1b9093820bbd65a5e2bd99621118a8a9cf01fb5a0cc7921e69d7f9e41117e43f60b836d17f5d7b7197e3039069a73cfa26021c3a8ee2fa10d30582cdfda1f371a88ff951bf99c9057bc45bcd850d579ad1053f9d6aebe190d198177fae03ef06be32b6ea1c57ef28c17ea0aa16ced09ebb6529e53fe6ec8ca68089da13749c2d076ff2a5a499672fccba4ef3d6ad606c217c553708542f89b9e6f4991fcb2ca5d1cd966d0c1377f4dfe4fadf2c883b43fa1b2f78a25a890dfc2c3f5699e3c1290b7514de390b',
  },
  {
    id: 'E5',
    bodyHash: '265fe6c14e7b03446a0b273bbdfaef3a0a9e83810298706c0e2bd4b30d899338',
    date: '20180102T030405Z',
    body: body('3600.0', undefined),
    chain: false,
    creqHash: '54f6115f3d7bc92a8c2fae2da579f9f76b31af3a65c02e1f910128a2273fefba',
    signature:
      'a5c4ab3c911805ce0dc74f90855fc958cab2b0c1104a85e04140d878dd7982a0cf6dcbf2ba92a8530f64c5821a9c40b3e131cd4da3c26b14535345119e874e79dad118a0eeb0161b92c96ad48cd5b252046c742164c31c87ac249b9f9673887d3f60cfbf9e1499d461fc7a6d8bd0b182e70ed44e56e5a29362f93ed3e3b6ebc2f7df72e9e16957e4117ff3dff8f44674bfabf0c39f338ffa7e45ada6de33722a3c1021832e6f04847297d350c8eed700ee4efeacd6ac91fc4df2edb198304a1f1e87eca3946b23d4d3e319c39c368f958766b1101596a36024ce15fc2aa2200e50f65cfbed6477597591a9afb444876c62cdede451632097b5e370db7a1e05e1',
  },
  {
    id: 'E6',
    bodyHash: 'd423ab05be9a4ea24346dd8c9beccd7ce30b10322d9b2bab54a75303b4201889',
    date: '20180102T030405Z',
    body: body('123.0', 'mysession'),
    chain: false,
    creqHash: 'edbe0b8a2f094bd1d03549f5912f9e40afb70a76113784e94fb172c71e5522a0',
    signature:
      '8a1bdc11741fbd2ea3da7626d1cebb78b104813f842adfa18d099631f6354758d4863a04dfb55487b71df1d4fc74dea3d3232f9f3f582880da8296666e22272a808f57d71b39866271622c0e65c1e27ac6cc8222f6cdbbdc6f0071b01dd610ffab95f99f9d41fbbac347536d6113df900ce795d783c3486e53d9f8b01c8bc71ea49095aafa5d3fbd47c6d6c0e5c4cfe93826f09fbce8e54a0e095dc018ba96f9c12e073e54b87d26457a953a5276e554f9e3285494891aee54a4ce7e5d76dbe57bcf228b3a22fc7e697403abccce863cc948ab643de15ff97154430f362570ce3afaa77a8d8717210f88b2965d2acf8098321434367e5c285ed5766bbec9120e',
  },
];

describe('signCreateSession: Envoy RSA vectors E1-E6 (byte for byte)', () => {
  for (const vec of VECTORS) {
    it(vec.id, async () => {
      assert.equal(sha256Hex(vec.body), vec.bodyHash);
      const s = await signCreateSession({
        date: toDate(vec.date),
        region: 'ap-southeast-2',
        host: 'rolesanywhere.ap-southeast-2.amazonaws.com',
        body: vec.body,
        leafDer: der(F_RSA_CERT),
        chainDer: vec.chain ? [der(F_RSA_CHAIN)] : [],
        key: rsaKey,
        signContentSha256: true,
      });
      const signed = `content-type;host;x-amz-content-sha256;x-amz-date;x-amz-x509${vec.chain ? ';x-amz-x509-chain' : ''}`;
      const leafB64 = der(F_RSA_CERT).toString('base64');
      const expectedCreq = [
        'POST',
        '/sessions',
        '',
        'content-type:application/json',
        'host:rolesanywhere.ap-southeast-2.amazonaws.com',
        `x-amz-content-sha256:${vec.bodyHash}`,
        `x-amz-date:${vec.date}`,
        `x-amz-x509:${leafB64}`,
        ...(vec.chain ? [`x-amz-x509-chain:${der(F_RSA_CHAIN).toString('base64')}`] : []),
        '',
        signed,
        vec.bodyHash,
      ].join('\n');
      assert.equal(s.canonicalRequest, expectedCreq);
      assert.equal(sha256Hex(s.canonicalRequest), vec.creqHash);
      const scope = `${vec.date.slice(0, 8)}/ap-southeast-2/rolesanywhere/aws4_request`;
      assert.equal(s.stringToSign, `AWS4-X509-RSA-SHA256\n${vec.date}\n${scope}\n${vec.creqHash}`);
      assert.equal(s.signature, vec.signature);
      assert.equal(s.amzDate, vec.date);
      assert.equal(
        s.authorization,
        `AWS4-X509-RSA-SHA256 Credential=131827979019394590882466519576505238184/${scope}, SignedHeaders=${signed}, Signature=${vec.signature}`,
      );
      assert.equal(s.headers.authorization, s.authorization);
      assert.equal(s.headers['x-amz-x509'], leafB64);
    });
  }
});

describe('signCreateSession: headers and serials', () => {
  it('signs the minimal header set by default and drops a copy of the leaf from the chain', async () => {
    const s = await signCreateSession({
      date: new Date('2026-01-01T12:00:00.789Z'),
      region: 'eu-west-1',
      host: '127.0.0.1:8443',
      body: '{}',
      leafDer: der(F_RSA_CERT),
      chainDer: [der(F_RSA_CERT), der(F_RSA_CHAIN)],
      key: rsaKey,
    });
    assert.equal(s.signedHeaders, 'content-type;host;x-amz-date;x-amz-x509;x-amz-x509-chain');
    assert.equal(s.amzDate, '20260101T120000Z');
    assert.equal(s.headers['x-amz-x509-chain'], der(F_RSA_CHAIN).toString('base64'));
    assert.equal(s.headers.host, '127.0.0.1:8443');
    assert.equal(s.headers['x-amz-content-sha256'], undefined);
    assert.match(
      s.authorization,
      /^AWS4-X509-RSA-SHA256 Credential=131827979019394590882466519576505238184\/20260101\/eu-west-1\/rolesanywhere\/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-x509;x-amz-x509-chain, Signature=[0-9a-f]{512}$/,
    );
  });

  it('refuses more than 5 intermediates', async () => {
    const chain = Array.from({ length: 6 }, (_, i) => Buffer.concat([der(F_RSA_CHAIN), Buffer.from([i])]));
    await assert.rejects(
      signCreateSession({ date: new Date(), region: 'us-east-1', host: 'h', body: '', leafDer: der(F_RSA_CERT), chainDer: chain, key: rsaKey }),
      { code: 'CHAIN_TOO_LONG' },
    );
  });

  it('serials are decimal (F-RSA, F-EC and the chain certificate of §5.1/§5.5)', () => {
    assert.equal(serialDecimal(der(F_RSA_CERT)), '131827979019394590882466519576505238184');
    assert.equal(serialDecimal(der(F_RSA_CHAIN)), '217903750506305136412387975669760914962');
    assert.equal(serialDecimal(der(F_EC_CERT)), '5215639076998761095638506031589467414');
  });
});

/** Runs `openssl dgst -sha256 -verify` over the string to sign: an independent ECDSA verifier. */
function opensslVerify(dir: string, publicPem: string, sts: string, sigHex: string): string {
  const pub = path.join(dir, 'pub.pem');
  const msg = path.join(dir, 'sts.txt');
  const sig = path.join(dir, 'sig.der');
  writeFileSync(pub, publicPem);
  writeFileSync(msg, sts);
  writeFileSync(sig, Buffer.from(sigHex, 'hex'));
  return execFileSync('openssl', ['dgst', '-sha256', '-verify', pub, '-signature', sig, msg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

interface EcCase {
  name: string;
  key: FileKeyHandle;
  /** the certificate sent in X-Amz-X509; signing does not need it to match the key (checks.ts does that) */
  leafDer: Buffer;
  publicPem: string;
}

async function ecCases(): Promise<EcCase[]> {
  const pem = async (k: FileKeyHandle) => (await k.publicKey()).export({ type: 'spki', format: 'pem' }).toString();
  const fixture = new FileKeyHandle(createPrivateKey(F_EC_KEY), 'F-EC fixture');
  const p256 = FileKeyHandle.generate({ type: 'ec', curve: 'P-256' });
  const p384 = FileKeyHandle.generate({ type: 'ec', curve: 'P-384' });
  return [
    {
      name: 'F-EC fixture (P-256, key of the certificate)',
      key: fixture,
      leafDer: der(F_EC_CERT),
      publicPem: new X509Certificate(F_EC_CERT).publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    },
    { name: 'generated P-256', key: p256, leafDer: der(F_EC_CERT), publicPem: await pem(p256) },
    { name: 'generated P-384 (still SHA-256)', key: p384, leafDer: der(F_EC_CERT), publicPem: await pem(p384) },
  ];
}

describe('signCreateSession: ECDSA (verified by openssl)', async () => {
  for (const c of await ecCases()) {
    it(c.name, async () => {
      const s = await signCreateSession({
        date: new Date('2026-03-04T05:06:07Z'),
        region: 'us-east-1',
        host: 'rolesanywhere.us-east-1.amazonaws.com',
        body: '{"durationSeconds":3600}',
        leafDer: c.leafDer,
        key: c.key,
      });
      assert.equal(s.algorithm, 'AWS4-X509-ECDSA-SHA256');
      assert.ok(s.stringToSign.startsWith('AWS4-X509-ECDSA-SHA256\n20260304T050607Z\n20260304/us-east-1/rolesanywhere/aws4_request\n'));
      // Everything but the signature is deterministic; F-EC's serial is the one Envoy's signer test asserts (§5.5).
      assert.equal(
        s.authorization.slice(0, s.authorization.indexOf('Signature=')),
        'AWS4-X509-ECDSA-SHA256 Credential=5215639076998761095638506031589467414/20260304/us-east-1/rolesanywhere/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-x509, ',
      );
      // DER Ecdsa-Sig-Value: SEQUENCE { r, s }, not raw r||s.
      assert.equal(s.signature.slice(0, 2), '30');
      assert.ok(verify('sha256', Buffer.from(s.stringToSign), { key: c.publicPem, dsaEncoding: 'der' }, Buffer.from(s.signature, 'hex')));
      const dir = tempDir('signer-ecdsa');
      try {
        assert.equal(opensslVerify(dir, c.publicPem, s.stringToSign, s.signature), 'Verified OK');
        // The same check fails for a different message, so the oracle is not vacuous.
        assert.throws(() => opensslVerify(dir, c.publicPem, s.stringToSign + 'x', s.signature));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
