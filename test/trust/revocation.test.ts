import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chainThumbprints, createNotationJws, signatureManifest } from '../../src/cli/sign/notation-jws.js';
import { parseTrustPolicy, type Statement } from '../../src/domain/trust/policy.js';
import { CrlRevocation } from '../../src/services/trust/verify/revocation.js';
import { verifySignature, type TrustStore } from '../../src/services/trust/verify/verify.js';
import { parseCerts } from '../../src/services/trust/verify/x509.js';
import { makeLeaf, makeRoot, type Leaf, type Pki } from '../helpers/pki.js';
import { basicAuthHeader, startTestApp } from '../helpers/app.js';
import { blobOf, MT } from '../helpers/oci.js';

// Revocation by CRL (trust.revocation: crl): a CA made with openssl publishes its CRL on a
// loopback HTTP server; a signing certificate that names it passes until `openssl ca -revoke`
// puts it on the CRL, then fails under strict and is only logged under permissive. A CRL that
// cannot be fetched, one signed by someone else, and the egress policy refusing loopback leave
// the status unknown. A certificate naming no CRL is not revocable and passes.

const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-crl-'));
const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
const read = (f: string) => readFileSync(f, 'utf8');
const EGRESS = { allowPrivate: true, connectTimeoutMs: 1000, timeoutMs: 3000, maxRedirects: 0, maxResponseBytes: 64 * 1024 };
const TARGET = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'ab'.repeat(32)}`, size: 321 };

let server: http.Server;
let root: Pki;
let other: Pki;
let signer: Leaf;
let plain: Leaf;
let crlBody: Buffer | undefined;
let base = '';

function statement(level: string): Statement {
  return parseTrustPolicy({
    version: '1.0',
    trustPolicies: [
      { name: 'crl', registryScopes: ['*'], signatureVerification: { level }, trustStores: ['ca:root'], trustedIdentities: ['*'] },
    ],
  }).trustPolicies[0]!;
}

function gencrl(name: 'root' | 'other'): void {
  const ca = name === 'root' ? root : other;
  ssl('ca', '-gencrl', '-config', 'ca.cnf', '-keyfile', ca.rootKey, '-cert', ca.rootCert, '-out', `${name}.crl.pem`);
  const der = ssl('crl', '-in', `${name}.crl.pem`, '-outform', 'DER');
  if (name === 'root') crlBody = der;
  writeFileSync(path.join(dir, `${name}.crl`), der);
}

const stores = (): TrustStore[] => [
  { type: 'ca', name: 'root', certs: parseCerts(readFileSync(root.rootCert)).map((c) => c.der), publicKeys: [] },
];

async function verdict(leaf: Leaf, level: string, revocation: CrlRevocation | undefined) {
  const envelope = createNotationJws({
    target: TARGET,
    privateKeyPem: read(leaf.key),
    certChainPem: [read(leaf.cert), read(root.rootCert)],
  });
  return verifySignature(
    { layerMediaType: 'application/jose+json', envelope, layerAnnotations: {}, subject: TARGET },
    statement(level),
    stores(),
    new Date(),
    revocation ? { revocation: (chain, at) => revocation.check(chain, at) } : {},
  );
}

describe('revocation by CRL', () => {
  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/root.crl' && crlBody) {
        res.writeHead(200, { 'Content-Type': 'application/pkix-crl' });
        res.end(crlBody);
      } else if (req.url === '/other.crl') {
        res.writeHead(200, { 'Content-Type': 'application/pkix-crl' });
        res.end(readFileSync(path.join(dir, 'other.crl')));
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    writeFileSync(path.join(dir, 'index.txt'), '');
    writeFileSync(path.join(dir, 'crlnumber'), '01\n');
    writeFileSync(
      path.join(dir, 'ca.cnf'),
      `[ca]\ndefault_ca = CA_default\n[CA_default]\ndatabase = ${dir}/index.txt\ncrlnumber = ${dir}/crlnumber\ndefault_md = sha256\ndefault_crl_days = 1\n`,
    );
    root = makeRoot(dir, 'Root CA');
    other = makeRoot(dir, 'Other CA');
    gencrl('root');
    gencrl('other');
    signer = makeLeaf(root, 'signer', { ext: `crlDistributionPoints=URI:${base}/root.crl\n` });
    plain = makeLeaf(root, 'plain');
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  test('off (the default): revocation is skipped and says why', async () => {
    const v = await verdict(signer, 'strict', undefined);
    assert.equal(v.outcome, 'verified', v.reason);
    assert.equal(v.checks.revocation.result, 'skipped');
    assert.match(v.checks.revocation.message ?? '', /trust\.revocation is off/);
  });

  test('a certificate on no CRL passes; one naming no CRL is not revocable', async () => {
    const crl = new CrlRevocation({ egress: EGRESS, cacheSeconds: 0 });
    const v = await verdict(signer, 'strict', crl);
    assert.equal(v.outcome, 'verified', v.reason);
    assert.equal(v.checks.revocation.result, 'passed');
    assert.equal((await verdict(plain, 'strict', crl)).outcome, 'verified');
  });

  test('revoked: strict fails naming the certificate and the date; permissive logs it', async () => {
    ssl('ca', '-config', 'ca.cnf', '-keyfile', root.rootKey, '-cert', root.rootCert, '-revoke', signer.cert);
    gencrl('root');
    const crl = new CrlRevocation({ egress: EGRESS, cacheSeconds: 0 });
    const strict = await verdict(signer, 'strict', crl);
    assert.equal(strict.outcome, 'failed');
    assert.equal(strict.checks.revocation.result, 'failed');
    assert.match(strict.reason ?? '', /certificate "CN=signer,O=Acme,ST=WA,C=US" was revoked on \d{4}-/);
    const permissive = await verdict(signer, 'permissive', crl);
    assert.equal(permissive.outcome, 'verified');
    assert.equal(permissive.checks.revocation.result, 'logged');
  });

  test('through the registry (trust.revocation: crl): a signed image pulls until its signer is revoked', async () => {
    const appSigner = makeLeaf(root, 'app-signer', { ext: `crlDistributionPoints=URI:${base}/root.crl\n` });
    const t = await startTestApp('sqlite', {
      trust: { revocation: 'crl', crlCacheSeconds: 0 },
      egress: { allowPrivate: true },
      scan: { mode: 'off' },
    });
    try {
      const reg = await t.createRegistry();
      const v2 = t.v2();
      const api = (method: string, p: string, body?: unknown) =>
        t.fetch(p, {
          method,
          headers: { 'Content-Type': 'application/json', Authorization: v2.authorization! },
          body: JSON.stringify(body),
        });
      assert.equal((await api('POST', '/api/users', { name: 'crlpuller', password: 'crlpuller-pw-123456' })).status, 201);
      assert.equal(
        (await api('POST', '/api/role-assignments', { assignee: 'crlpuller', role: 'AcrPull', scope: `/registries/${reg}` })).status,
        201,
      );
      const img = await v2.pushImage(`${reg}/app`, 'v1');
      assert.equal(
        (await api('POST', `/api/registries/${reg}/trust-stores`, { type: 'ca', name: 'root', pem: read(root.rootCert) })).status,
        201,
      );
      const doc = {
        version: '1.0',
        trustPolicies: [
          {
            name: 'crl',
            registryScopes: [`${reg}/app`],
            signatureVerification: { level: 'strict' },
            trustStores: ['ca:root'],
            trustedIdentities: ['*'],
          },
        ],
      };
      assert.equal((await api('PUT', `/api/registries/${reg}/trust-policy`, doc)).status, 200);
      const target = { mediaType: MT.ociManifest, digest: img.digest, size: img.size };
      const chain = [read(appSigner.cert), read(root.rootCert)];
      const envelope = createNotationJws({ target, privateKeyPem: read(appSigner.key), certChainPem: chain });
      const m = signatureManifest(envelope, target, chainThumbprints(chain));
      await v2.pushBlob(`${reg}/app`, blobOf(envelope));
      await v2.pushBlob(`${reg}/app`, blobOf('{}'));
      assert.equal((await v2.putManifest(`${reg}/app`, m.digest, m.bytes, MT.ociManifest)).status, 201);
      const puller = t.v2({ authorization: basicAuthHeader('crlpuller', 'crlpuller-pw-123456') });
      const pull = () => puller.fetch(`${reg}/app/manifests/v1`, { headers: { Accept: MT.ociManifest } });
      assert.equal((await pull()).status, 200);
      ssl('ca', '-config', 'ca.cnf', '-keyfile', root.rootKey, '-cert', root.rootCert, '-revoke', appSigner.cert);
      gencrl('root');
      // Verdicts are reached again after the CRL cache time (0 here): the revocation is seen on the next pull.
      const refused = await pull();
      assert.equal(refused.status, 403);
      assert.match(((await refused.json()) as { errors: { message: string }[] }).errors[0]!.message, /was revoked/);
    } finally {
      await t.close();
    }
  });

  test('unknown status fails under strict: no CRL there, a CRL from another CA, loopback refused by the egress policy', async () => {
    const served = crlBody;
    try {
      crlBody = undefined;
      const missing = await verdict(signer, 'strict', new CrlRevocation({ egress: EGRESS, cacheSeconds: 0 }));
      assert.match(missing.reason ?? '', /revocation status of certificate .* is unknown: .*HTTP 404/);
      crlBody = readFileSync(path.join(dir, 'other.crl'));
      const forged = await verdict(signer, 'strict', new CrlRevocation({ egress: EGRESS, cacheSeconds: 0 }));
      assert.match(forged.reason ?? '', /the CRL is not issued by "CN=Root CA/);
    } finally {
      crlBody = served;
    }
    const refused = await verdict(signer, 'strict', new CrlRevocation({ egress: { ...EGRESS, allowPrivate: false }, cacheSeconds: 0 }));
    assert.match(refused.reason ?? '', /unknown: .*egress/);
  });
});
