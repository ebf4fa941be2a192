import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, sign as cryptoSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chainThumbprints, createNotationJws, signatureManifest } from '../../src/cli/sign/notation-jws.js';
import { ADMIN_PASSWORD, ADMIN_USER, basicAuthHeader, type TestApp } from '../helpers/app.js';
import { PortalClient, unescapeHtml } from '../helpers/portal.js';
import { BACKENDS, backendGate } from '../helpers/backends.js';
import { makeLeaf, makeRoot, type Leaf, type Pki } from '../helpers/pki.js';
import { removeDir, tempDir } from '../helpers/berth-process.js';
import { blobOf, imageIndex, manifestBytes, MT, sha256, uniqueRepo, type V2 } from '../helpers/oci.js';
import { withRegistry } from '../helpers/with-image.js';
import { ROOT } from '../helpers/root.js';

// Content trust through the API, in process: trust stores (what each type accepts), the trust
// policy (Notation's schema, checked with reasons), the pull policy per level, the verdict in
// /acr/v1, who may push signatures, and hostile signature manifests.

const EMPTY = blobOf('{}');
const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const COSIGN_FIXTURES = path.join(ROOT, '..', 'shared', 'fixtures', 'signatures', 'cosign', 'pkg', 'cosign', 'testdata');
const EMPTY_IMAGE_CONFIG =
  '{"architecture":"","created":"0001-01-01T00:00:00Z","os":"","rootfs":{"type":"layers","diff_ids":null},"config":{}}';
const COSIGN_SUBJECT = 'sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4';

for (const backend of BACKENDS) {
  describe(`content trust API on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let v2: V2;
    let reg: string;
    let dir: string;
    let acme: Pki;
    let signer: Leaf;
    let other: Leaf;
    let notCodeSigning: Leaf;
    let puller: string | undefined;

    before(async () => {
      ({ t, v2, reg } = await withRegistry(backend, { scan: { mode: 'off' } }));
      dir = tempDir('trust-api');
      acme = makeRoot(dir, 'Acme Root');
      signer = makeLeaf(acme, 'Acme Signer');
      notCodeSigning = makeLeaf(acme, 'Acme Web Server', { eku: 'serverAuth' });
      other = makeLeaf(makeRoot(dir, 'Other Root'), 'Other Signer');
    });
    after(async () => {
      await t?.close();
      removeDir(dir);
    });

    const api = async (method: string, path: string, body?: unknown, auth?: string) => {
      const res = await t.fetch(path, {
        method,
        headers: { 'Content-Type': 'application/json', Authorization: auth ?? v2.authorization! },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    };
    const pem = (file: string) => readFileSync(file, 'utf8');
    const addStore = (type: string, name: string, text: string) =>
      api('POST', `/api/registries/${reg}/trust-stores`, { type, name, pem: text });
    const policy = (statements: object[]) => ({ version: '1.0', trustPolicies: statements });
    const strict = (name: string, scopes: string[], level = 'strict', extra: object = {}) => ({
      name,
      registryScopes: scopes,
      signatureVerification: { level },
      trustStores: ['ca:acme'],
      trustedIdentities: ['*'],
      ...extra,
    });
    const setPolicy = (doc: unknown) => api('PUT', `/api/registries/${reg}/trust-policy`, doc);

    /** Signs `target` with a leaf and pushes the signature manifest as its referrer; returns the signature's digest. */
    async function sign(repo: string, target: { mediaType: string; digest: string; size: number }, leaf: Leaf, auth?: string) {
      const chain = pem(leaf.chain).match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)!;
      const envelope = createNotationJws({ target, privateKeyPem: pem(leaf.key), certChainPem: chain });
      const m = signatureManifest(envelope, target, chainThumbprints(chain));
      const as = auth === undefined ? v2 : t.v2({ authorization: auth });
      await as.pushBlob(`${reg}/${repo}`, blobOf(envelope));
      await as.pushBlob(`${reg}/${repo}`, EMPTY);
      return { res: await as.putManifest(`${reg}/${repo}`, m.digest, m.bytes, MT.ociManifest), digest: m.digest };
    }
    /** A pull as an AcrPull user (the owner holds quarantine_read and the signing right, so the policy lets it read). */
    const pull = async (repo: string, ref: string, auth?: string) =>
      t.v2({ authorization: auth ?? (puller ??= await user('AcrPull')) }).fetch(`${reg}/${repo}/manifests/${ref}`, {
        headers: { Accept: `${MT.ociManifest}, ${MT.ociIndex}, ${MT.dockerManifest}` },
      });
    async function user(role: string): Promise<string> {
      const name = `u${role.toLowerCase().replace(/[^a-z]/g, '')}${backend}`.slice(0, 40);
      const password = `${name}-pw-123456`;
      assert.equal((await api('POST', '/api/users', { name, password })).status, 201);
      assert.equal((await api('POST', '/api/role-assignments', { assignee: name, role, scope: `/registries/${reg}` })).status, 201);
      return basicAuthHeader(name, password);
    }

    test('trust stores: what each type accepts, with reasons; list, show, remove', async () => {
      const ok = await addStore('ca', 'acme', pem(acme.rootCert));
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      assert.equal(ok.body.entries.length, 1);
      assert.match(ok.body.entries[0].subject, /Acme Root/);
      assert.match(ok.body.entries[0].thumbprint, /^[0-9a-f]{64}$/);
      // Adding the same certificate again changes nothing.
      assert.equal((await addStore('ca', 'acme', pem(acme.rootCert))).body.entries.length, 1);

      const bad = [
        [await addStore('ca', 'x', 'not a pem'), /no "-----BEGIN CERTIFICATE-----"/],
        [
          await addStore('ca', 'x', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
          /failed to read the trusted certificate/,
        ],
        [await addStore('ca', 'x', pem(signer.cert)), /not a CA certificate or self-signed signing certificate/],
        [await addStore('tsa', 'x', pem(signer.cert)), /not a root CA certificate/],
        [await addStore('nope', 'x', pem(acme.rootCert)), /not one of ca, signingAuthority, tsa, cosign/],
        [await addStore('ca', 'bad name!', pem(acme.rootCert)), /must be 1 to 64/],
        [await addStore('cosign', 'k', pem(acme.rootCert)), /no "BEGIN PUBLIC KEY" block/],
      ] as const;
      for (const [r, re] of bad) {
        assert.equal(r.status, 400, JSON.stringify(r.body));
        assert.equal(r.body.errors[0].code, 'REQUEST_INVALID');
        assert.match(r.body.errors[0].message, re);
      }
      const list = await api('GET', `/api/registries/${reg}/trust-stores`);
      assert.deepEqual(
        list.body.value.map((s: { type: string; name: string }) => `${s.type}:${s.name}`),
        ['ca:acme'],
      );
      assert.equal((await api('GET', `/api/registries/${reg}/trust-stores/ca/nope`)).status, 404);
      assert.equal((await api('DELETE', `/api/registries/${reg}/trust-stores/ca/nope`)).status, 404);
      // A second store, removed one entry at a time.
      const two = await addStore('ca', 'spare', pem(acme.rootCert) + pem(other.chain).split(/(?=-----BEGIN)/)[1]);
      assert.equal(two.body.entries.length, 2);
      assert.equal(
        (await api('DELETE', `/api/registries/${reg}/trust-stores/ca/spare?thumbprint=${two.body.entries[0].thumbprint}`)).status,
        204,
      );
      assert.equal((await api('GET', `/api/registries/${reg}/trust-stores/ca/spare`)).body.entries.length, 1);
      assert.equal((await api('DELETE', `/api/registries/${reg}/trust-stores/ca/spare`)).status, 204);
    });

    test('trust policy: Notation schema checked with reasons; validate names missing stores; show and delete', async () => {
      assert.equal((await api('GET', `/api/registries/${reg}/trust-policy`)).status, 404);
      const invalid: [unknown, RegExp][] = [
        [{ version: '2.0', trustPolicies: [] }, /version/],
        [policy([{ ...strict('a', ['h.example/x']), signatureVerification: { level: 'paranoid' } }]), /level/],
        [policy([strict('a', ['h.example/x']), strict('a', ['h.example/y'])]), /name|unique|duplicate/i],
        [policy([strict('a', ['h.example/x']), strict('b', ['h.example/x'])]), /scope/i],
        [policy([{ ...strict('a', ['h.example/x']), trustStores: [] }]), /trustStores|trust store/i],
        [policy([{ ...strict('a', ['h.example/x']), trustedIdentities: ['x509.subject:'] }]), /identit|subject/i],
        [
          policy([
            {
              name: 'a',
              registryScopes: ['h.example/x'],
              signatureVerification: { level: 'skip' },
              trustStores: ['ca:acme'],
              trustedIdentities: ['*'],
            },
          ]),
          /skip/i,
        ],
        ['not an object', /object|policy/i],
      ];
      for (const [doc, re] of invalid) {
        const r = await setPolicy(doc);
        assert.equal(r.status, 400, `${JSON.stringify(doc)}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.errors[0].code, 'REQUEST_INVALID');
        assert.match(r.body.errors[0].message, re);
      }
      const v = await api(
        'POST',
        `/api/registries/${reg}/trust-policy/validate`,
        policy([{ ...strict('a', ['h.example/x']), trustStores: ['ca:acme', 'tsa:missing'] }]),
      );
      assert.equal(v.status, 200, JSON.stringify(v.body));
      assert.deepEqual(v.body.missingTrustStores, ['tsa:missing']);
      assert.equal((await api('GET', `/api/registries/${reg}/trust-policy`)).status, 404, 'validate stores nothing');
      const set = await setPolicy(policy([strict('unrelated', ['nothing/here'])]));
      assert.equal(set.status, 200, JSON.stringify(set.body));
      const shown = await api('GET', `/api/registries/${reg}/trust-policy`);
      assert.equal(shown.body.document.trustPolicies[0].name, 'unrelated');
      assert.ok(shown.body.version >= 1);
      assert.equal((await api('DELETE', `/api/registries/${reg}/trust-policy`)).status, 204);
      assert.equal((await api('DELETE', `/api/registries/${reg}/trust-policy`)).status, 404);
    });

    test('pull policy: strict refuses unsigned and wrongly signed images, serves signed ones; other scopes, referrers and audit pass', async () => {
      await addStore('ca', 'acme', pem(acme.rootCert));
      const repo = uniqueRepo('strict');
      const loose = uniqueRepo('loose');
      const audited = uniqueRepo('audited');
      const img = await v2.pushImage(`${reg}/${repo}`, 'v1');
      const free = await v2.pushImage(`${reg}/${loose}`, 'v1');
      const aud = await v2.pushImage(`${reg}/${audited}`, 'v1');
      assert.equal(
        (await setPolicy(policy([strict('prod', [`${t.host}/${reg}/${repo}`]), strict('watch', [`${reg}/${audited}`], 'audit')]))).status,
        200,
      );
      const target = { mediaType: MT.ociManifest, digest: img.digest, size: img.size };

      const refused = await pull(repo, 'v1');
      assert.equal(refused.status, 403);
      const err = ((await refused.json()) as { errors: { code: string; message: string }[] }).errors[0]!;
      assert.equal(err.code, 'DENIED');
      assert.match(err.message, /"prod" \(strict\)/);
      assert.match(err.message, /has no signature/);
      const head = await t
        .v2({ authorization: puller! })
        .fetch(`${reg}/${repo}/manifests/v1`, { method: 'HEAD', headers: { Accept: MT.ociManifest } });
      assert.equal(head.status, 403);
      assert.equal(
        (await v2.fetch(`${reg}/${repo}/manifests/v1`, { headers: { Accept: MT.ociManifest } })).status,
        200,
        'the owner reads it',
      );
      assert.equal((await pull(loose, 'v1')).status, 200, 'a repository outside every scope is not enforced');
      assert.equal((await pull(audited, 'v1')).status, 200, 'audit serves and logs');
      void free;
      void aud;

      // Signed through a chain to another root, and with a leaf that is not for code signing: still refused.
      const wrongRoot = await sign(repo, target, other);
      assert.equal(wrongRoot.res.status, 201);
      const wrongEku = await sign(repo, target, notCodeSigning);
      assert.equal(wrongEku.res.status, 201);
      const still = await pull(repo, 'v1');
      assert.equal(still.status, 403);
      assert.match(((await still.json()) as { errors: { message: string }[] }).errors[0]!.message, /none of its 2 signature/);
      // The signatures themselves are referrers: pullable.
      assert.equal((await pull(repo, wrongRoot.digest)).status, 200);

      const good = await sign(repo, target, signer);
      assert.equal(good.res.status, 201);
      const served = await pull(repo, 'v1');
      assert.equal(served.status, 200);
      assert.equal(served.headers.get('docker-content-digest'), img.digest);

      // /acr/v1: signed, who signed, each signature's outcome.
      const meta = await api('GET', `/acr/v1/${reg}/${repo}/_manifests/${img.digest}`);
      assert.equal(meta.status, 200, JSON.stringify(meta.body));
      const m = meta.body.manifest;
      assert.equal(m.signed, true);
      assert.equal(m.signature.status, 'verified');
      assert.equal(m.signature.policy, 'prod');
      assert.equal(m.signature.signers.length, 1);
      assert.match(m.signature.signers[0], /Acme Signer/);
      const outcomes = Object.fromEntries(m.signature.signatures.map((s: { digest: string; outcome: string }) => [s.digest, s.outcome]));
      assert.deepEqual(outcomes, { [wrongRoot.digest]: 'failed', [wrongEku.digest]: 'failed', [good.digest]: 'verified' });
      // The portal's manifest page: the verdict, who signed, and why the others failed.
      const portal = await PortalClient.signedIn(t, ADMIN_USER, ADMIN_PASSWORD);
      const page = unescapeHtml(await (await portal.get(`/portal/registries/${reg}/repositories/${repo}/_manifests/${img.digest}`)).text());
      assert.match(page, /Signatures/);
      assert.match(page, /Verified/);
      assert.match(page, /trust policy prod \(strict\)/);
      assert.match(page, /signed by <code>[^<]*CN=Acme Signer/);
      assert.equal((page.match(/>failed</g) ?? []).length, 2);
      // Metrics: the refusals and the verifications (notation-jws: 2 failed, 1 verified at least).
      const metrics = await (await t.fetch(`${t.url}/metrics`)).text();
      const value = (re: RegExp) => Number(re.exec(metrics)?.[1] ?? 0);
      assert.ok(
        value(new RegExp(`berth_pull_policy_refusals_total\\{registry="${reg}",level="strict"\\} (\\d+)`)) >= 3,
        metrics.slice(0, 200),
      );
      assert.ok(value(/berth_signature_verifications_total\{format="notation-jws",outcome="verified"\} (\d+)/) >= 1);
      assert.ok(value(/berth_signature_verifications_total\{format="notation-jws",outcome="failed"\} (\d+)/) >= 2);
      // The tag listing shows the verdict already reached.
      const tags = await api('GET', `/acr/v1/${reg}/${repo}/_tags`);
      assert.equal(tags.body.tags[0].signed, true);

      // The good signature deleted: refused again (the verdict is tied to the signatures present).
      assert.equal((await v2.fetch(`${reg}/${repo}/manifests/${good.digest}`, { method: 'DELETE' })).status, 202);
      assert.equal((await pull(repo, 'v1')).status, 403);
      await sign(repo, target, signer);
      assert.equal((await pull(repo, 'v1')).status, 200);

      // The trust store removed: refused again; put back: served.
      assert.equal((await api('DELETE', `/api/registries/${reg}/trust-stores/ca/acme`)).status, 204);
      assert.equal((await pull(repo, 'v1')).status, 403);
      await addStore('ca', 'acme', pem(acme.rootCert));
      assert.equal((await pull(repo, 'v1')).status, 200);

      // A trusted identity that does not match the signer: refused.
      assert.equal(
        (
          await setPolicy(
            policy([
              strict('prod', [`${reg}/${repo}`], 'strict', { trustedIdentities: ['x509.subject: C=US, ST=WA, O=Acme, CN=Someone Else'] }),
            ]),
          )
        ).status,
        200,
      );
      assert.equal((await pull(repo, 'v1')).status, 403);
      assert.equal(
        (
          await setPolicy(
            policy([strict('prod', [`${reg}/${repo}`], 'strict', { trustedIdentities: [`x509.subject: ${signer.subject}`] })]),
          )
        ).status,
        200,
      );
      assert.equal((await pull(repo, 'v1')).status, 200);
    });

    test('a cached verdict ends with the signature: once it expires the image is refused without any trust change', async () => {
      const repo = uniqueRepo('expiring');
      const img = await v2.pushImage(`${reg}/${repo}`, 'v1');
      await setPolicy(policy([strict('expiring', [`${reg}/${repo}`])]));
      const target = { mediaType: MT.ociManifest, digest: img.digest, size: img.size };
      const chain = pem(signer.chain).match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)!;
      const envelope = createNotationJws({ target, privateKeyPem: pem(signer.key), certChainPem: chain, expirySeconds: 2 });
      const m = signatureManifest(envelope, target, chainThumbprints(chain));
      await v2.pushBlob(`${reg}/${repo}`, blobOf(envelope));
      await v2.pushBlob(`${reg}/${repo}`, EMPTY);
      assert.equal((await v2.putManifest(`${reg}/${repo}`, m.digest, m.bytes, MT.ociManifest)).status, 201);
      assert.equal((await pull(repo, 'v1')).status, 200);
      const meta = await api('GET', `/acr/v1/${reg}/${repo}/_manifests/${img.digest}`);
      const expiry = Date.parse(meta.body.manifest.signature.signatures[0].expiry ?? '');
      assert.ok(expiry > Date.now(), 'the verdict shows the expiry');
      await new Promise((r) => setTimeout(r, expiry - Date.now() + 100));
      const refused = await pull(repo, 'v1');
      assert.equal(refused.status, 403);
      assert.match(((await refused.json()) as { errors: { message: string }[] }).errors[0]!.message, /expired/);
    });

    test('a platform image is served through its signed index; scanners (quarantine_read) bypass', async () => {
      const repo = uniqueRepo('multi');
      const a = await v2.pushImage(`${reg}/${repo}`, 'amd64');
      const idx = manifestBytes(
        imageIndex([{ mediaType: MT.ociManifest, digest: a.digest, size: a.size, platform: { os: 'linux', architecture: 'amd64' } }]),
      );
      assert.equal((await v2.putManifest(`${reg}/${repo}`, 'v1', idx, MT.ociIndex)).status, 201);
      await setPolicy(policy([strict('multi', [`${reg}/${repo}`])]));
      const scanner = await user('AcrQuarantineReader');
      assert.equal((await pull(repo, a.digest)).status, 403);
      assert.equal((await pull(repo, a.digest, scanner)).status, 200, 'quarantine_read holders read unsigned images');
      await sign(repo, { mediaType: MT.ociIndex, digest: sha256(idx), size: idx.length }, signer);
      assert.equal((await pull(repo, 'v1')).status, 200);
      assert.equal((await pull(repo, a.digest)).status, 200, 'listed by a verified index');
    });

    test('who may push signatures: with a trust policy only signers; a signer may push nothing else', async () => {
      const repo = uniqueRepo('rights');
      const img = await v2.pushImage(`${reg}/${repo}`, 'v1');
      await setPolicy(policy([strict('rights', [`${reg}/${repo}`])]));
      const target = { mediaType: MT.ociManifest, digest: img.digest, size: img.size };
      const pusher = await user('AcrPush');
      const imageSigner = await user('AcrImageSigner');
      const byPusher = await sign(repo, target, signer, pusher);
      assert.equal(byPusher.res.status, 403);
      assert.match(((await byPusher.res.json()) as { errors: { message: string }[] }).errors[0]!.message, /AcrImageSigner/);
      // The signer reads the unsigned image to sign it, and pushes the signature.
      assert.equal((await pull(repo, 'v1', imageSigner)).status, 200);
      const bySigner = await sign(repo, target, signer, imageSigner);
      assert.equal(bySigner.res.status, 201, await bySigner.res.text());
      const asSigner = t.v2({ authorization: imageSigner });
      const cfg = await asSigner.pushBlob(`${reg}/${repo}`, blobOf('{"os":"linux"}'));
      const plain = await asSigner.putManifest(
        `${reg}/${repo}`,
        'sneaky',
        {
          schemaVersion: 2,
          mediaType: MT.ociManifest,
          config: { mediaType: MT.ociConfig, digest: cfg.digest, size: cfg.size },
          layers: [],
        },
        MT.ociManifest,
      );
      assert.equal(plain.status, 403);
    });

    test('cosign: a real cosign v3 bundle (third-party fixture) verifies against the Sigstore trusted root; the same bundle on another image does not', async () => {
      const repo = uniqueRepo('cosignv3');
      // go-containerregistry's empty.Image, the fixture bundle's subject (fixtures README).
      const config = await v2.pushBlob(`${reg}/${repo}`, blobOf(EMPTY_IMAGE_CONFIG));
      const subject = Buffer.from(
        `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":${config.size},"digest":"${config.digest}"},"layers":[]}`,
      );
      assert.equal(sha256(subject), COSIGN_SUBJECT);
      assert.equal((await v2.putManifest(`${reg}/${repo}`, 'v1', subject, MT.dockerManifest)).status, 201);
      const other = await v2.pushImage(`${reg}/${repo}`, 'other');
      const root = readFileSync(path.join(COSIGN_FIXTURES, 'trusted_root_pgi.json'), 'utf8');
      const added = await addStore('cosign', 'pgi', root);
      assert.equal(added.status, 201, JSON.stringify(added.body));
      assert.equal((await addStore('cosign', 'junk', '{"mediaType":"nope"}')).status, 400);
      const bundle = readFileSync(path.join(COSIGN_FIXTURES, 'oci-attestation.sigstore.json'));
      const blob = await v2.pushBlob(`${reg}/${repo}`, blobOf(bundle));
      await v2.pushBlob(`${reg}/${repo}`, EMPTY);
      const attach = async (target: { mediaType: string; digest: string; size: number }) => {
        const m = {
          schemaVersion: 2,
          mediaType: MT.ociManifest,
          artifactType: BUNDLE,
          config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: EMPTY.digest, size: EMPTY.size },
          layers: [{ mediaType: BUNDLE, digest: blob.digest, size: blob.size }],
          subject: target,
          annotations: { 'dev.sigstore.bundle.content': 'dsse-envelope' },
        };
        assert.equal((await v2.putManifest(`${reg}/${repo}`, sha256(manifestBytes(m)), m, MT.ociManifest)).status, 201);
      };
      await attach({ mediaType: MT.dockerManifest, digest: COSIGN_SUBJECT, size: subject.length });
      await attach({ mediaType: MT.ociManifest, digest: other.digest, size: other.size });
      await setPolicy(policy([{ ...strict('cosign', [`${reg}/${repo}`]), trustStores: ['cosign:pgi'] }]));
      const ok = await pull(repo, 'v1');
      assert.equal(ok.status, 200, await ok.text());
      const meta = await api('GET', `/acr/v1/${reg}/${repo}/_manifests/${COSIGN_SUBJECT}`);
      assert.equal(meta.body.manifest.signature.status, 'verified');
      assert.equal(meta.body.manifest.signature.signatures[0].format, 'sigstore-bundle');
      // Keyless identities: the fixture's OIDC issuer is trusted; a subject it does not have is not.
      const keyless = (ids: string[]) =>
        setPolicy(policy([{ ...strict('cosign', [`${reg}/${repo}`]), trustStores: ['cosign:pgi'], trustedIdentities: ids }]));
      assert.equal((await keyless(['sigstore:issuer=https://github.com/login/oauth'])).status, 200);
      assert.equal((await pull(repo, 'v1')).status, 200);
      assert.equal((await keyless(['sigstore:issuer=https://github.com/login/oauth;subject=release@example.com'])).status, 200);
      const wrongSigner = await pull(repo, 'v1');
      assert.equal(wrongSigner.status, 403);
      assert.match(((await wrongSigner.json()) as { errors: { message: string }[] }).errors[0]!.message, /matches no trusted identity/);
      assert.equal((await keyless(['sigstore:subject'])).status, 400);
      const refused = await pull(repo, 'other');
      assert.equal(refused.status, 403);
      assert.match(((await refused.json()) as { errors: { message: string }[] }).errors[0]!.message, /digest/);
    });

    test("cosign: a simple-signing signature under cosign's sha256-<hex>.sig tag, checked with the store's public key", async () => {
      const repo = uniqueRepo('cosignv2');
      const img = await v2.pushImage(`${reg}/${repo}`, 'v1');
      const keyFile = path.join(dir, 'cosign.key');
      execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
      const key = createPrivateKey(readFileSync(keyFile));
      const pub = createPublicKey(key).export({ format: 'pem', type: 'spki' }).toString();
      assert.equal((await addStore('cosign', 'keys', pub)).status, 201);
      await setPolicy(policy([{ ...strict('keys', [`${reg}/${repo}`]), trustStores: ['cosign:keys'] }]));
      assert.equal((await pull(repo, 'v1')).status, 403);
      const payload = Buffer.from(
        JSON.stringify({
          critical: {
            identity: { 'docker-reference': `${t.host}/${reg}/${repo}` },
            image: { 'docker-manifest-digest': img.digest },
            type: 'cosign container image signature',
          },
          optional: null,
        }),
      );
      const sig = cryptoSign('sha256', payload, key).toString('base64');
      const layer = await v2.pushBlob(`${reg}/${repo}`, blobOf(payload));
      const cfg = await v2.pushBlob(
        `${reg}/${repo}`,
        blobOf('{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}'),
      );
      const m = {
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: cfg.digest, size: cfg.size },
        layers: [
          {
            mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
            digest: layer.digest,
            size: layer.size,
            annotations: { 'dev.cosignproject.cosign/signature': sig },
          },
        ],
      };
      assert.equal((await v2.putManifest(`${reg}/${repo}`, `${img.digest.replace(':', '-')}.sig`, m, MT.ociManifest)).status, 201);
      assert.equal((await pull(repo, 'v1')).status, 200);
      const meta = await api('GET', `/acr/v1/${reg}/${repo}/_manifests/${img.digest}`);
      assert.equal(meta.body.manifest.signature.signatures[0].format, 'cosign');
      assert.equal(meta.body.manifest.signature.signers[0], 'cosign key keys/0');
    });

    test('hostile signature manifests: oversized or junk envelopes fail verification with a reason, the node keeps serving', async () => {
      const repo = uniqueRepo('hostile');
      const img = await v2.pushImage(`${reg}/${repo}`, 'v1');
      await setPolicy(policy([strict('hostile', [`${reg}/${repo}`])]));
      const junk = [Buffer.from('{"payload":"' + 'A'.repeat(1000) + '"'), Buffer.from('['.repeat(100_000)), Buffer.alloc(300 * 1024, 0x41)];
      for (const bytes of junk) {
        const blob = await v2.pushBlob(`${reg}/${repo}`, blobOf(bytes));
        await v2.pushBlob(`${reg}/${repo}`, EMPTY);
        const m = {
          schemaVersion: 2,
          mediaType: MT.ociManifest,
          artifactType: 'application/vnd.cncf.notary.signature',
          config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: EMPTY.digest, size: EMPTY.size },
          layers: [{ mediaType: 'application/jose+json', digest: blob.digest, size: blob.size }],
          subject: { mediaType: MT.ociManifest, digest: img.digest, size: img.size },
        };
        assert.equal((await v2.putManifest(`${reg}/${repo}`, sha256(manifestBytes(m)), m, MT.ociManifest)).status, 201);
      }
      const r = await pull(repo, 'v1');
      assert.equal(r.status, 403);
      const meta = await api('GET', `/acr/v1/${reg}/${repo}/_manifests/${img.digest}`);
      const reasons = meta.body.manifest.signature.signatures.map((s: { reason: string }) => s.reason);
      assert.equal(reasons.length, 3);
      for (const reason of reasons) assert.ok(typeof reason === 'string' && reason.length > 10, reason);
      assert.ok(
        reasons.some((x: string) => /262144|256 KiB|largest/.test(x)),
        reasons.join(' | '),
      );
      assert.equal((await v2.fetch('/v2/')).status, 200);
    });
  });
}
