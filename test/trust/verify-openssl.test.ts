import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac, createPrivateKey, sign as cryptoSign, constants } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as jose from 'jose';
import { chainThumbprints, createNotationJws, signatureManifest } from '../../src/cli/sign/notation-jws.js';
import { parseTrustPolicy, type Statement } from '../../src/domain/trust/policy.js';
import { verifySignature, type SignatureInput, type TrustStore, type Verdict } from '../../src/services/trust/verify/verify.js';
import { parseCerts } from '../../src/services/trust/verify/x509.js';

// Certificates made here with the openssl binary (a root, an intermediate, code-signing leaves of
// each key kind, a TLS leaf, an expired leaf, an untrusted root), signed with Berth's own
// createNotationJws and checked by the verifier; cosign simple signing with an openssl EC key.

const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-trust-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const ssl = (...args: string[]): string => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const file = (name: string): string => readFileSync(path.join(dir, name), 'utf8');
// Set once the certificates exist (openssl dates them from the second it runs).
let NOW = new Date();

const CA_EXT = 'basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n';
const INTER_EXT = 'basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n';
const LEAF_EXT = 'basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n';
const TLS_EXT = 'basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n';

function key(name: string, kind: string): void {
  if (kind.startsWith('rsa')) ssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${kind.slice(3)}`, '-out', `${name}.key`);
  else ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${kind}`, '-out', `${name}.key`);
}

function root(name: string, cn: string): void {
  key(name, 'rsa2048');
  writeFileSync(path.join(dir, `${name}.ext`), CA_EXT);
  ssl(
    'req',
    '-x509',
    '-new',
    '-key',
    `${name}.key`,
    '-subj',
    `/C=US/ST=WA/O=Berth Test/CN=${cn}`,
    '-days',
    '3650',
    '-out',
    `${name}.crt`,
    '-addext',
    'basicConstraints=critical,CA:true',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
}

/** A certificate for `name` issued by `issuer`; with `dates`, via `openssl ca` to set them. */
function issue(name: string, issuer: string, cn: string, ext: string, kind = 'rsa2048', dates?: [string, string]): void {
  key(name, kind);
  ssl('req', '-new', '-key', `${name}.key`, '-subj', `/C=US/ST=WA/O=Berth Test/CN=${cn}`, '-out', `${name}.csr`);
  writeFileSync(path.join(dir, `${name}.ext`), ext);
  if (!dates) {
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${issuer}.crt`,
      '-CAkey',
      `${issuer}.key`,
      '-CAcreateserial',
      '-days',
      '365',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    );
    return;
  }
  // openssl ca can backdate (-startdate/-enddate); it needs a small database.
  writeFileSync(path.join(dir, 'index.txt'), '');
  writeFileSync(path.join(dir, 'serial'), '1000\n');
  writeFileSync(
    path.join(dir, 'ca.cnf'),
    `[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nserial=serial\nnew_certs_dir=.\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n`,
  );
  ssl(
    'ca',
    '-batch',
    '-config',
    'ca.cnf',
    '-cert',
    `${issuer}.crt`,
    '-keyfile',
    `${issuer}.key`,
    '-in',
    `${name}.csr`,
    '-out',
    `${name}.crt`,
    '-startdate',
    dates[0],
    '-enddate',
    dates[1],
    '-extfile',
    `${name}.ext`,
    '-notext',
  );
}

const target = {
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${'ab'.repeat(32)}`,
  size: 1234,
};
const JWS = 'application/jose+json';
const COSIGN = 'application/vnd.dev.cosign.simplesigning.v1+json';

let stores: TrustStore[];
const st = (trustStores: string[], level = 'strict', trustedIdentities = ['*']): Statement =>
  parseTrustPolicy({
    version: '1.0',
    trustPolicies: [{ name: 'p', registryScopes: ['*'], signatureVerification: { level }, trustStores, trustedIdentities }],
  }).trustPolicies[0]!;
const input = (
  envelope: Buffer,
  subject = target,
  layerMediaType = JWS,
  layerAnnotations: Record<string, string> = {},
): SignatureInput => ({
  layerMediaType,
  envelope,
  layerAnnotations,
  subject,
});
const chainOf = (leaf: string, ...rest: string[]): string[] => [leaf, ...rest].map((n) => file(`${n}.crt`));
const sign = (leaf: string, ...rest: string[]): Buffer =>
  createNotationJws({ target, privateKeyPem: file(`${leaf}.key`), certChainPem: chainOf(leaf, ...rest) });
const verified = (v: Verdict): void => assert.equal(v.outcome, 'verified', `${v.reason} ${JSON.stringify(v.checks)}`);
function failed(v: Verdict, check: keyof Verdict['checks'], message: RegExp): void {
  assert.equal(v.outcome, 'failed');
  assert.equal(v.checks[check].result, 'failed', JSON.stringify(v.checks));
  assert.match(v.reason ?? '', message);
}

/** A JWS signed with the leaf's key, from a hand-made protected header (for what createNotationJws refuses to make). */
function handmade(header: Record<string, unknown>, leaf = 'leaf', payload: unknown = { targetArtifact: target }): Buffer {
  const p = Buffer.from(JSON.stringify(header)).toString('base64url');
  const b = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const input = Buffer.from(`${p}.${b}`);
  let sig: Buffer;
  if (header.alg === 'none') sig = Buffer.alloc(0);
  else if (header.alg === 'HS256') sig = createHmac('sha256', 'secret').update(input).digest();
  else if (header.alg === 'RS256') sig = cryptoSign('sha256', input, createPrivateKey(file(`${leaf}.key`)));
  else
    sig = cryptoSign('sha256', input, {
      key: createPrivateKey(file(`${leaf}.key`)),
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: 32,
    });
  const x5c = chainOf(leaf, 'inter', 'root').map((pem) => parseCerts(pem)[0]!.der.toString('base64'));
  return Buffer.from(JSON.stringify({ payload: b, protected: p, header: { x5c }, signature: sig.toString('base64url') }));
}
const baseHeader = {
  alg: 'PS256',
  crit: ['io.cncf.notary.signingScheme'],
  cty: 'application/vnd.cncf.notary.payload.v1+json',
  'io.cncf.notary.signingScheme': 'notary.x509',
  'io.cncf.notary.signingTime': new Date().toISOString(),
};

before(() => {
  root('root', 'Berth Test Root');
  issue('inter', 'root', 'Berth Test Intermediate', INTER_EXT);
  // A CA below the intermediate, whose pathlen:0 forbids it.
  issue('inter2', 'inter', 'Berth Test Intermediate 2', CA_EXT);
  issue('deepleaf', 'inter2', 'Berth Deep Signer', LEAF_EXT);
  issue('leaf', 'inter', 'Berth Signer', LEAF_EXT);
  issue('tls', 'inter', 'Berth TLS', TLS_EXT);
  issue('ec', 'inter', 'Berth EC Signer', LEAF_EXT, 'P-256');
  issue('rsa3072', 'inter', 'Berth 3072 Signer', LEAF_EXT, 'rsa3072');
  issue('old', 'inter', 'Berth Old Signer', LEAF_EXT, 'rsa2048', ['20200101000000Z', '20210101000000Z']);
  root('evil', 'Evil Root');
  issue('evilleaf', 'evil', 'Berth Signer', LEAF_EXT);
  key('cosign', 'P-256');
  ssl('pkey', '-in', 'cosign.key', '-pubout', '-out', 'cosign.pub');
  key('cosign2', 'P-256');
  ssl('pkey', '-in', 'cosign2.key', '-pubout', '-out', 'cosign2.pub');
  stores = [
    { type: 'ca', name: 'berth', certs: [parseCerts(file('root.crt'))[0]!.der], publicKeys: [] },
    { type: 'cosign', name: 'keys', certs: [], publicKeys: [file('cosign.pub')] },
    { type: 'cosign', name: 'other', certs: [], publicKeys: [file('cosign2.pub')] },
  ];
  NOW = new Date(Date.now() + 1000);
});

describe('Notation JWS made by createNotationJws', () => {
  test('a valid RSA-2048 chain verifies (PS256), and jose agrees the JWS is well-formed', async () => {
    const env = sign('leaf', 'inter', 'root');
    const v = await verifySignature(
      input(env),
      st(['ca:berth'], 'strict', ['x509.subject:C=US,ST=WA,O=Berth Test,CN=Berth Signer']),
      stores,
      NOW,
    );
    verified(v);
    assert.equal(v.signer, 'CN=Berth Signer,O=Berth Test,ST=WA,C=US');
    const doc = JSON.parse(env.toString()) as jose.FlattenedJWS & { header: { x5c: string[]; 'io.cncf.notary.signingAgent': string } };
    assert.match(doc.header['io.cncf.notary.signingAgent'], /^Berth\//);
    const leafKey = parseCerts(file('leaf.crt'))[0]!.publicKey;
    const r = await jose.flattenedVerify(doc, leafKey, { crit: { 'io.cncf.notary.signingScheme': true } });
    assert.equal(r.protectedHeader?.alg, 'PS256');
  });

  test('with an expiry: verifies now, fails once past it', async () => {
    const env = createNotationJws({
      target,
      privateKeyPem: file('leaf.key'),
      certChainPem: chainOf('leaf', 'inter', 'root'),
      expirySeconds: 3600,
    });
    verified(await verifySignature(input(env), st(['ca:berth']), stores, NOW));
    failed(await verifySignature(input(env), st(['ca:berth']), stores, new Date(Date.now() + 7200_000)), 'expiry', /expired on/);
  });

  test('ECDSA P-256 (ES256) and RSA-3072 (PS384) verify', async () => {
    for (const leaf of ['ec', 'rsa3072']) {
      const env = sign(leaf, 'inter', 'root');
      const alg = (
        JSON.parse(Buffer.from((JSON.parse(env.toString()) as { protected: string }).protected, 'base64url').toString()) as { alg: string }
      ).alg;
      assert.equal(alg, leaf === 'ec' ? 'ES256' : 'PS384');
      verified(await verifySignature(input(env), st(['ca:berth']), stores, NOW));
    }
  });

  test('the signature manifest names the envelope and the subject', () => {
    const env = sign('leaf', 'inter', 'root');
    const m = signatureManifest(env, target, chainThumbprints(chainOf('leaf', 'inter', 'root')));
    const doc = JSON.parse(m.bytes.toString()) as {
      artifactType: string;
      subject: unknown;
      layers: { size: number }[];
      annotations: Record<string, string>;
    };
    assert.equal(doc.artifactType, 'application/vnd.cncf.notary.signature');
    assert.deepEqual(doc.subject, target);
    assert.equal(doc.layers[0]!.size, env.length);
    assert.equal((JSON.parse(doc.annotations['io.cncf.notary.x509chain.thumbprint#S256']!) as string[]).length, 3);
  });

  test('a signature for another manifest fails integrity', async () => {
    const v = await verifySignature(
      input(sign('leaf', 'inter', 'root'), { ...target, digest: `sha256:${'cd'.repeat(32)}` }),
      st(['ca:berth']),
      stores,
      NOW,
    );
    failed(v, 'integrity', /not for the manifest/);
  });

  test('a tampered payload fails integrity', async () => {
    const doc = JSON.parse(sign('leaf', 'inter', 'root').toString()) as { payload: string };
    doc.payload = Buffer.from(JSON.stringify({ targetArtifact: { ...target, size: 1235 } })).toString('base64url');
    failed(await verifySignature(input(Buffer.from(JSON.stringify(doc))), st(['ca:berth']), stores, NOW), 'integrity', /does not verify/);
  });

  test('an unknown critical header fails', async () => {
    const env = handmade({ ...baseHeader, crit: [...baseHeader.crit, 'com.example.mustUnderstand'], 'com.example.mustUnderstand': 1 });
    failed(
      await verifySignature(input(env), st(['ca:berth']), stores, NOW),
      'integrity',
      /critical, an attribute Berth does not understand/,
    );
    // The same header done right verifies: the refusal is about the critical entry only.
    verified(await verifySignature(input(handmade(baseHeader)), st(['ca:berth']), stores, NOW));
  });

  test('alg none, HS256 and RS256 are refused', async () => {
    for (const alg of ['none', 'HS256', 'RS256']) {
      const v = await verifySignature(input(handmade({ ...baseHeader, alg })), st(['ca:berth'], 'audit'), stores, NOW);
      failed(v, 'integrity', new RegExp(`algorithm "${alg}" is not allowed`));
    }
  });

  test('an alg that does not suit the key (PS384 with an RSA-2048 key) is refused', async () => {
    failed(
      await verifySignature(input(handmade({ ...baseHeader, alg: 'PS384' })), st(['ca:berth']), stores, NOW),
      'integrity',
      /does not match/,
    );
  });

  test('a chain to an untrusted root fails authenticity', async () => {
    const v = await verifySignature(input(sign('evilleaf', 'evil')), st(['ca:berth']), stores, NOW);
    failed(v, 'authenticity', /does not lead to a certificate in trust store ca:berth/);
  });

  test('a leaf without the codeSigning EKU is refused', async () => {
    failed(await verifySignature(input(sign('tls', 'inter', 'root')), st(['ca:berth']), stores, NOW), 'integrity', /codeSigning/);
  });

  test('an expired leaf without a timestamp fails under strict, is logged under permissive', async () => {
    const env = sign('old', 'inter', 'root');
    failed(await verifySignature(input(env), st(['ca:berth']), stores, NOW), 'authenticTimestamp', /CN=Berth Old Signer.*expired at/);
    const p = await verifySignature(input(env), st(['ca:berth'], 'permissive'), stores, NOW);
    verified(p);
    assert.equal(p.checks.authenticTimestamp.result, 'logged');
  });

  test("a CA below the intermediate breaks the intermediate's path length", async () => {
    const v = await verifySignature(input(sign('deepleaf', 'inter2', 'inter', 'root')), st(['ca:berth']), stores, NOW);
    failed(v, 'integrity', /allows a path length of 0, but 1 CA certificate\(s\) follow it/);
  });

  test('a COSE_Sign1 envelope (ES256, made here) verifies; altered, it does not', async () => {
    const { encodeCbor, Tagged } = await import('../../src/services/trust/verify/cbor.js');
    const prot = encodeCbor(
      new Map<string | number, never>([
        [1, -7 as never],
        [2, ['io.cncf.notary.signingScheme'] as never],
        [3, 'application/vnd.cncf.notary.payload.v1+json' as never],
        ['io.cncf.notary.signingScheme', 'notary.x509' as never],
        ['io.cncf.notary.signingTime', new Tagged(1, Math.floor(Date.now() / 1000)) as never],
      ]),
    );
    const payload = Buffer.from(JSON.stringify({ targetArtifact: target }));
    const toSign = encodeCbor(['Signature1', prot, new Uint8Array(0), payload]);
    const sig = cryptoSign('sha256', toSign, { key: createPrivateKey(file('ec.key')), dsaEncoding: 'ieee-p1363' });
    const x5 = chainOf('ec', 'inter', 'root').map((p) => parseCerts(p)[0]!.der);
    const cose = (s: Buffer, p = payload) => encodeCbor(new Tagged(18, [prot, new Map([[33, x5]]), p, s]));
    const ok = await verifySignature(input(cose(sig), target, 'application/cose'), st(['ca:berth']), stores, NOW);
    verified(ok);
    assert.equal(ok.format, 'notation-cose');
    const bad = Buffer.from(payload.toString().replace('1234', '1235'));
    failed(
      await verifySignature(input(cose(sig, bad), target, 'application/cose'), st(['ca:berth']), stores, NOW),
      'integrity',
      /does not verify/,
    );
  });

  test('a chain without its root is completed from the ca store; without the intermediate it is not', async () => {
    verified(await verifySignature(input(sign('leaf', 'inter')), st(['ca:berth']), stores, NOW));
    failed(await verifySignature(input(sign('leaf')), st(['ca:berth']), stores, NOW), 'integrity', /not a self-signed root certificate/);
    // A store holding the intermediate completes the leaf-only chain to the root it also holds.
    const both: TrustStore = {
      type: 'ca',
      name: 'both',
      certs: ['inter', 'root'].map((n) => parseCerts(file(`${n}.crt`))[0]!.der),
      publicKeys: [],
    };
    verified(await verifySignature(input(sign('leaf')), st(['ca:both']), [both], NOW));
    // A store's certificates only complete chains for statements naming it.
    failed(
      await verifySignature(input(sign('leaf', 'inter')), st(['ca:other']), [...stores, { ...stores[0]!, name: 'other', certs: [] }], NOW),
      'integrity',
      /not a self-signed root/,
    );
  });

  test('a chain given out of order fails', async () => {
    failed(await verifySignature(input(sign('leaf', 'root', 'inter')), st(['ca:berth']), stores, NOW), 'integrity', /not issued by/);
  });
});

describe('cosign simple signing', () => {
  const payloadFor = (digest: string): Buffer =>
    Buffer.from(
      JSON.stringify({
        critical: {
          identity: { 'docker-reference': 'registry.example/app' },
          image: { 'docker-manifest-digest': digest },
          type: 'cosign container image signature',
        },
        optional: null,
      }),
    );
  const signWith = (keyName: string, payload: Buffer): string => {
    writeFileSync(path.join(dir, 'payload.json'), payload);
    ssl('dgst', '-sha256', '-sign', `${keyName}.key`, '-out', 'payload.sig', 'payload.json');
    return readFileSync(path.join(dir, 'payload.sig')).toString('base64');
  };
  const cosign = (payload: Buffer, sig: string, subject = target) =>
    input(payload, subject, COSIGN, { 'dev.cosignproject.cosign/signature': sig });

  test('valid: verifies with the key in the cosign store', async () => {
    const payload = payloadFor(target.digest);
    const v = await verifySignature(cosign(payload, signWith('cosign', payload)), st(['cosign:keys']), stores, NOW);
    verified(v);
    assert.equal(v.format, 'cosign');
    assert.equal(v.signer, 'cosign key keys/0');
  });

  test('signed for another digest fails', async () => {
    const payload = payloadFor(`sha256:${'ef'.repeat(32)}`);
    failed(
      await verifySignature(cosign(payload, signWith('cosign', payload)), st(['cosign:keys']), stores, NOW),
      'integrity',
      /not for the manifest/,
    );
  });

  test('signed with a key the statement does not trust fails', async () => {
    const payload = payloadFor(target.digest);
    const sig = signWith('cosign2', payload);
    failed(
      await verifySignature(cosign(payload, sig), st(['cosign:keys']), stores, NOW),
      'integrity',
      /does not verify with any key in trust store cosign:keys/,
    );
    verified(await verifySignature(cosign(payload, sig), st(['cosign:keys', 'cosign:other']), stores, NOW));
  });

  test('a tampered payload fails', async () => {
    const payload = payloadFor(target.digest);
    const sig = signWith('cosign', payload);
    const tampered = Buffer.from(payload.toString().replace('registry.example/app', 'registry.example/evil'));
    failed(await verifySignature(cosign(tampered, sig), st(['cosign:keys']), stores, NOW), 'integrity', /does not verify/);
  });

  test('a payload of another type, or no signature annotation, fails', async () => {
    const other = Buffer.from(payloadFor(target.digest).toString().replace('cosign container image signature', 'something else'));
    failed(await verifySignature(cosign(other, signWith('cosign', other)), st(['cosign:keys']), stores, NOW), 'integrity', /type/);
    failed(
      await verifySignature(input(payloadFor(target.digest), target, COSIGN), st(['cosign:keys']), stores, NOW),
      'integrity',
      /annotation/,
    );
  });
});
