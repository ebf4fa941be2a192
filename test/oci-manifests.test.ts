import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TestApp } from './helpers/app.js';
import { DEPLOYMENTS, deploymentGate, deploymentName } from './helpers/storages.js';
import { withRegistry } from './helpers/with-image.js';
import {
  blobOf,
  expectError,
  imageIndex,
  imageManifest,
  manifestBytes,
  MT,
  randomBlob,
  sha256,
  sha512,
  uniqueRepo,
  type V2,
  type Blob,
  type Descriptor,
} from './helpers/oci.js';

// distribution-spec "Pushing Manifests": OCI and Docker manifests and indexes, artifacts, subject,
// push by digest with ?tag=, and every way a manifest can be refused.

const ALL_TYPES = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ');

for (const target of DEPLOYMENTS) {
  describe(`OCI push (manifests) on ${deploymentName(target)}`, await deploymentGate(target), () => {
    let t: TestApp;
    let v2: V2;
    let reg: string;
    let name: string;
    let config: Blob;
    let layer: Blob;
    let configDesc: Descriptor;
    let layerDesc: Descriptor;

    before(async () => {
      ({ t, v2, reg } = await withRegistry(target));
      name = `${reg}/${uniqueRepo('manifests')}`;
      config = await v2.pushBlob(name, randomBlob(100));
      layer = await v2.pushBlob(name, randomBlob(1000));
      configDesc = { mediaType: MT.ociConfig, digest: config.digest, size: config.size };
      layerDesc = { mediaType: MT.ociLayer, digest: layer.digest, size: layer.size };
    });
    after(async () => {
      await t?.close();
    });

    async function pull(ref: string, accept = ALL_TYPES): Promise<{ res: Response; body: Buffer }> {
      const res = await v2.fetch(`${name}/manifests/${ref}`, { headers: { Accept: accept } });
      return { res, body: Buffer.from(await res.arrayBuffer()) };
    }

    test('an OCI image manifest is stored and returned byte for byte', async () => {
      // Unusual but valid JSON formatting: the registry must not re-serialise it.
      const text = `{\n  "schemaVersion" : 2,\n\t"mediaType": "${MT.ociManifest}",\n  "config": ${JSON.stringify(configDesc)},\n  "layers": [ ${JSON.stringify(layerDesc)} ],\n  "annotations": {"z": "1", "a": "\\u00e9"}\n}\n`;
      const bytes = Buffer.from(text);
      const res = await v2.putManifest(name, 'exact', bytes, MT.ociManifest);
      assert.equal(res.status, 201, await res.text());
      const digest = sha256(bytes);
      assert.equal(res.headers.get('docker-content-digest'), digest);
      const loc = res.headers.get('location');
      assert.ok(loc);
      const byLoc = await v2.fetch(loc, { headers: { Accept: MT.ociManifest } });
      assert.equal(byLoc.status, 200);
      assert.ok(Buffer.from(await byLoc.arrayBuffer()).equals(bytes));
      const { res: got, body } = await pull('exact');
      assert.equal(got.headers.get('docker-content-digest'), digest);
      assert.ok(body.equals(bytes));
    });

    test('an OCI manifest without a mediaType field is accepted by its Content-Type', async () => {
      const m = { schemaVersion: 2, config: configDesc, layers: [layerDesc] };
      const res = await v2.putManifest(name, 'nomediatype', m, MT.ociManifest);
      assert.equal(res.status, 201, await res.text());
      const { res: got } = await pull('nomediatype');
      assert.equal(got.headers.get('content-type'), MT.ociManifest);
    });

    test('an OCI image index referencing manifests in the repository', async () => {
      const m1 = imageManifest(configDesc, [layerDesc], { annotations: { n: '1' } });
      const m2 = imageManifest(configDesc, [], { annotations: { n: '2' } });
      const descs: Descriptor[] = [];
      for (const [i, m] of [m1, m2].entries()) {
        const bytes = manifestBytes(m);
        const put = await v2.putManifest(name, sha256(bytes), bytes, MT.ociManifest);
        assert.equal(put.status, 201, await put.text());
        descs.push({
          mediaType: MT.ociManifest,
          digest: sha256(bytes),
          size: bytes.length,
          platform: { architecture: i ? 'arm64' : 'amd64', os: 'linux' },
        });
      }
      const index = imageIndex(descs);
      const res = await v2.putManifest(name, 'multiarch', index);
      assert.equal(res.status, 201, await res.text());
      const { res: got, body } = await pull('multiarch');
      assert.equal(got.headers.get('content-type'), MT.ociIndex);
      assert.ok(body.equals(manifestBytes(index)));
    });

    test('a Docker schema 2 manifest and a Docker manifest list', async () => {
      const m = imageManifest({ ...configDesc, mediaType: MT.dockerConfig }, [{ ...layerDesc, mediaType: MT.dockerLayer }], {
        docker: true,
      });
      const res = await v2.putManifest(name, 'docker', m);
      assert.equal(res.status, 201, await res.text());
      const mb = manifestBytes(m);
      const list = imageIndex(
        [{ mediaType: MT.dockerManifest, digest: sha256(mb), size: mb.length, platform: { architecture: 'amd64', os: 'linux' } }],
        { docker: true },
      );
      const res2 = await v2.putManifest(name, 'dockerlist', list);
      assert.equal(res2.status, 201, await res2.text());
      assert.equal((await pull('docker')).res.headers.get('content-type'), MT.dockerManifest);
      assert.equal((await pull('dockerlist')).res.headers.get('content-type'), MT.dockerList);
    });

    test('a Docker manifest without its mediaType field is refused (MANIFEST_INVALID)', async () => {
      const m = { schemaVersion: 2, config: { ...configDesc, mediaType: MT.dockerConfig }, layers: [] };
      await expectError(await v2.putManifest(name, 'bad', m, MT.dockerManifest), 400, 'MANIFEST_INVALID');
    });

    test('an artifact with artifactType and the empty config', async () => {
      const empty = await v2.pushBlob(name, blobOf('{}'));
      const m = imageManifest(
        { mediaType: MT.ociEmpty, digest: empty.digest, size: empty.size },
        [{ ...layerDesc, mediaType: 'application/vnd.example.data' }],
        {
          artifactType: 'application/vnd.example.thing.v1',
        },
      );
      const res = await v2.putManifest(name, 'artifact', m);
      assert.equal(res.status, 201, await res.text());
      const { res: got, body } = await pull('artifact');
      assert.equal(got.status, 200);
      assert.equal(JSON.parse(body.toString()).artifactType, 'application/vnd.example.thing.v1');
    });

    test('a manifest with subject answers OCI-Subject, even before the subject exists', async () => {
      const subject: Descriptor = { mediaType: MT.ociManifest, digest: randomBlob(5).digest, size: 123 };
      const m = imageManifest(configDesc, [], { subject, artifactType: 'application/vnd.example.sig' });
      const res = await v2.putManifest(name, sha256(manifestBytes(m)), m);
      assert.equal(res.status, 201, await res.text());
      assert.equal(res.headers.get('oci-subject'), subject.digest);
      // An index may have a subject too.
      const idx = imageIndex([], { subject, artifactType: 'application/vnd.example.bundle' });
      const res2 = await v2.putManifest(name, sha256(manifestBytes(idx)), idx);
      assert.equal(res2.status, 201, await res2.text());
      assert.equal(res2.headers.get('oci-subject'), subject.digest);
    });

    test('a manifest without subject has no OCI-Subject header', async () => {
      const res = await v2.putManifest(name, 'plain', imageManifest(configDesc, [layerDesc]));
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('oci-subject'), null);
    });

    test('PUT by digest, then pull by that digest', async () => {
      const m = imageManifest(configDesc, [layerDesc], { annotations: { by: 'digest' } });
      const bytes = manifestBytes(m);
      const digest = sha256(bytes);
      const res = await v2.putManifest(name, digest, bytes, MT.ociManifest);
      assert.equal(res.status, 201, await res.text());
      assert.equal(res.headers.get('docker-content-digest'), digest);
      const { res: got, body } = await pull(digest);
      assert.equal(got.status, 200);
      assert.ok(body.equals(bytes));
    });

    test('PUT by a sha512 digest: stored and pulled under that digest', async () => {
      const m = imageManifest(configDesc, [layerDesc], { annotations: { by: 'sha512' } });
      const bytes = manifestBytes(m);
      const d512 = sha512(bytes);
      const res = await v2.putManifest(name, d512, bytes, MT.ociManifest, 'tag=sha512-tag');
      assert.equal(res.status, 201, await res.text());
      assert.equal(res.headers.get('docker-content-digest'), d512);
      for (const ref of [d512, 'sha512-tag']) {
        const { res: got, body } = await pull(ref);
        assert.equal(got.status, 200, ref);
        assert.equal(got.headers.get('docker-content-digest'), d512);
        assert.ok(body.equals(bytes));
      }
      // An index may reference it by its sha512 digest.
      const idx = imageIndex([{ mediaType: MT.ociManifest, digest: d512, size: bytes.length }]);
      const put = await v2.putManifest(name, 'idx512', idx);
      assert.equal(put.status, 201, await put.text());
    });

    test('PUT by a digest that does not match the body answers 400 DIGEST_INVALID', async () => {
      const m = imageManifest(configDesc, [layerDesc], { annotations: { by: 'wrong-digest' } });
      const wrong = randomBlob(4).digest;
      await expectError(await v2.putManifest(name, wrong, m), 400, 'DIGEST_INVALID');
      await expectError(await v2.fetch(`${name}/manifests/${wrong}`), 404, 'MANIFEST_UNKNOWN');
      await expectError(await v2.fetch(`${name}/manifests/${sha256(manifestBytes(m))}`), 404, 'MANIFEST_UNKNOWN');
    });

    test('PUT by digest with ?tag= sets every tag and answers OCI-Tag', async () => {
      const m = imageManifest(configDesc, [layerDesc], { annotations: { by: 'tags' } });
      const bytes = manifestBytes(m);
      const digest = sha256(bytes);
      const tags = ['1.2.3', '1.2', '1', 'latest-x'];
      const res = await v2.putManifest(name, digest, bytes, MT.ociManifest, tags.map((x) => `tag=${x}`).join('&'));
      assert.equal(res.status, 201, await res.text());
      const header = res.headers.get('oci-tag') ?? '';
      assert.deepEqual(
        header
          .split(',')
          .map((s) => s.trim())
          .sort(),
        [...tags].sort(),
      );
      for (const tag of tags) {
        const { res: got } = await pull(tag);
        assert.equal(got.status, 200, tag);
        assert.equal(got.headers.get('docker-content-digest'), digest);
      }
    });

    test('PUT with ?tag= of an invalid tag is refused (TAG_INVALID), and nothing is tagged', async () => {
      const m = imageManifest(configDesc, [], { annotations: { by: 'bad-tag' } });
      const digest = sha256(manifestBytes(m));
      await expectError(await v2.putManifest(name, digest, m, undefined, 'tag=good&tag=.bad'), 400, 'TAG_INVALID');
      await expectError(await v2.fetch(`${name}/manifests/good`), 404, 'MANIFEST_UNKNOWN');
      // A CR/LF in a tag cannot reach the OCI-Tag response header.
      await expectError(await v2.putManifest(name, digest, m, undefined, 'tag=a%0d%0aX-Injected:%201'), 400, 'TAG_INVALID');
    });

    test('moving a tag: the newest push wins; re-pushing identical bytes is idempotent', async () => {
      const a = imageManifest(configDesc, [], { annotations: { v: 'a' } });
      const b = imageManifest(configDesc, [], { annotations: { v: 'b' } });
      assert.equal((await v2.putManifest(name, 'moving', a)).status, 201);
      assert.equal((await v2.putManifest(name, 'moving', b)).status, 201);
      assert.equal((await pull('moving')).res.headers.get('docker-content-digest'), sha256(manifestBytes(b)));
      assert.equal((await v2.putManifest(name, 'moving', b)).status, 201);
      // The old manifest stays pullable by digest.
      assert.equal((await pull(sha256(manifestBytes(a)))).res.status, 200);
    });

    test('a manifest referencing a missing blob answers 400 MANIFEST_BLOB_UNKNOWN and is not stored', async () => {
      const missing = randomBlob(77);
      for (const m of [
        imageManifest(configDesc, [{ mediaType: MT.ociLayer, digest: missing.digest, size: missing.size }]),
        imageManifest({ mediaType: MT.ociConfig, digest: missing.digest, size: missing.size }, [layerDesc]),
      ]) {
        const err = await expectError(await v2.putManifest(name, 'missing-blob', m), 400, 'MANIFEST_BLOB_UNKNOWN');
        assert.match(err.message, new RegExp(missing.digest.slice(7, 20)));
        await expectError(await v2.fetch(`${name}/manifests/missing-blob`), 404, 'MANIFEST_UNKNOWN');
        await expectError(await v2.fetch(`${name}/manifests/${sha256(manifestBytes(m))}`), 404, 'MANIFEST_UNKNOWN');
      }
    });

    test('an index referencing a missing manifest answers 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const child = imageManifest(configDesc, [], { annotations: { never: 'pushed' } });
      const cb = manifestBytes(child);
      const index = imageIndex([{ mediaType: MT.ociManifest, digest: sha256(cb), size: cb.length }]);
      await expectError(await v2.putManifest(name, 'missing-child', index), 400, 'MANIFEST_BLOB_UNKNOWN');
      // A blob with that digest is not a manifest.
      await v2.pushBlob(name, cb);
      await expectError(await v2.putManifest(name, 'missing-child', index), 400, 'MANIFEST_BLOB_UNKNOWN');
      await expectError(await v2.fetch(`${name}/manifests/missing-child`), 404, 'MANIFEST_UNKNOWN');
    });

    test('mediaType that contradicts Content-Type answers MANIFEST_INVALID', async () => {
      const m = imageManifest(configDesc, [layerDesc]);
      await expectError(await v2.putManifest(name, 'mismatch', m, MT.dockerManifest), 400, 'MANIFEST_INVALID');
      await expectError(await v2.putManifest(name, 'mismatch', m, MT.ociIndex), 400, 'MANIFEST_INVALID');
      const idx = imageIndex([]);
      await expectError(await v2.putManifest(name, 'mismatch', idx, MT.ociManifest), 400, 'MANIFEST_INVALID');
    });

    test('a document with both manifests and config/layers answers MANIFEST_INVALID', async () => {
      const both = { schemaVersion: 2, mediaType: MT.ociManifest, config: configDesc, layers: [layerDesc], manifests: [] };
      await expectError(await v2.putManifest(name, 'both', both), 400, 'MANIFEST_INVALID');
      const both2 = { schemaVersion: 2, mediaType: MT.ociIndex, config: configDesc, manifests: [] };
      await expectError(await v2.putManifest(name, 'both', both2), 400, 'MANIFEST_INVALID');
      const untyped = { schemaVersion: 2, config: configDesc, layers: [], manifests: [] };
      await expectError(await v2.putManifest(name, 'both', untyped, 'application/json'), 400, 'MANIFEST_INVALID');
    });

    test('a Docker schema 1 manifest answers MANIFEST_INVALID with a clear message', async () => {
      const s1 = { schemaVersion: 1, name: 'x/y', tag: 'v1', architecture: 'amd64', fsLayers: [], history: [] };
      const err = await expectError(await v2.putManifest(name, 'schema1', s1, MT.dockerSchema1Signed), 400, 'MANIFEST_INVALID');
      assert.match(err.message, /schema 1/i);
      const err2 = await expectError(await v2.putManifest(name, 'schema1', s1, 'application/json'), 400, 'MANIFEST_INVALID');
      assert.match(err2.message, /schema 1/i);
    });

    test('a manifest over 4 MiB answers 413 MANIFEST_INVALID', async () => {
      const big = imageManifest(configDesc, [layerDesc], { annotations: { pad: 'x'.repeat(4 * 1024 * 1024 + 10) } });
      await expectError(await v2.putManifest(name, 'big', big), 413, 'MANIFEST_INVALID');
      await expectError(await v2.fetch(`${name}/manifests/big`), 404, 'MANIFEST_UNKNOWN');
      // Just under the limit is accepted (clients rely on at least 4 MB).
      const base = manifestBytes(imageManifest(configDesc, [layerDesc], { annotations: { pad: '' } })).length;
      const fits = imageManifest(configDesc, [layerDesc], { annotations: { pad: 'y'.repeat(4 * 1024 * 1024 - base) } });
      assert.equal(manifestBytes(fits).length, 4 * 1024 * 1024);
      const ok = await v2.putManifest(name, 'fits', fits);
      assert.equal(ok.status, 201, await ok.text());
    });

    test('malformed JSON and non-manifests answer MANIFEST_INVALID', async () => {
      const cases: [string, string][] = [
        ['{"schemaVersion": 2, ', MT.ociManifest],
        ['', MT.ociManifest],
        ['[]', MT.ociManifest],
        ['"just a string"', MT.ociManifest],
        ['{"schemaVersion": 3, "config": {}, "layers": []}', MT.ociManifest],
        [JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, layers: [layerDesc] }), MT.ociManifest],
        [
          JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: { ...configDesc, digest: 'sha256:nothex' }, layers: [] }),
          MT.ociManifest,
        ],
        [JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: { ...configDesc, size: -1 }, layers: [] }), MT.ociManifest],
        [JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: configDesc, layers: {} }), MT.ociManifest],
        [
          JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.example.unknown+json', config: configDesc, layers: [] }),
          'application/vnd.example.unknown+json',
        ],
        [JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: 'no' }), MT.ociIndex],
        [
          JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: configDesc, layers: [], annotations: { a: 1 } }),
          MT.ociManifest,
        ],
        [
          JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: configDesc, layers: [], subject: 'sha256:x' }),
          MT.ociManifest,
        ],
      ];
      for (const [body, ct] of cases) {
        const res = await v2.fetch(`${name}/manifests/malformed`, { method: 'PUT', body, headers: { 'Content-Type': ct } });
        await expectError(res, 400, 'MANIFEST_INVALID');
      }
      await expectError(await v2.fetch(`${name}/manifests/malformed`), 404, 'MANIFEST_UNKNOWN');
    });

    test('Content-Type parameters are ignored on push', async () => {
      const m = imageManifest(configDesc, [], { annotations: { ct: 'params' } });
      const res = await v2.putManifest(name, 'ctparams', m, `${MT.ociManifest}; charset=utf-8`);
      assert.equal(res.status, 201, await res.text());
      assert.equal((await pull('ctparams')).res.headers.get('content-type'), MT.ociManifest);
    });
  });
}
