import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from './helpers/app.js';
import { DEPLOYMENTS, deploymentGate, deploymentName } from './helpers/storages.js';
import { expectError, imageIndex, MT, randomBlob, uniqueRepo, type V2 } from './helpers/oci.js';

// distribution-spec "Content Management": deleting manifests (by digest), tags (untag only) and blobs.

const ALL = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ');

for (const target of DEPLOYMENTS) {
  describe(`OCI content management on ${deploymentName(target)}`, await deploymentGate(target), () => {
    let t: TestApp;
    let v2: V2;
    let reg: string;
    const repo = () => `${reg}/${uniqueRepo('mgmt')}`;

    before(async () => {
      t = await startTestApp(target);
      v2 = t.v2();
      reg = await t.createRegistry();
    });
    after(async () => {
      await t?.close();
    });

    async function tagsOf(name: string): Promise<string[]> {
      const res = await v2.fetch(`${name}/tags/list`);
      assert.equal(res.status, 200);
      return ((await res.json()) as { tags: string[] }).tags;
    }

    test('DELETE manifest by digest answers 202; it and its tags are then 404', async () => {
      const name = repo();
      const img = await v2.pushImage(name, 'v1');
      const keep = await v2.pushImage(name, 'keep');
      assert.equal((await v2.putManifest(name, img.digest, img.bytes, MT.ociManifest, 'tag=v1-alias')).status, 201);

      const del = await v2.fetch(`${name}/manifests/${img.digest}`, { method: 'DELETE' });
      assert.equal(del.status, 202);
      await expectError(await v2.fetch(`${name}/manifests/${img.digest}`, { headers: { Accept: ALL } }), 404, 'MANIFEST_UNKNOWN');
      await expectError(await v2.fetch(`${name}/manifests/v1`, { headers: { Accept: ALL } }), 404, 'MANIFEST_UNKNOWN');
      await expectError(await v2.fetch(`${name}/manifests/v1-alias`, { headers: { Accept: ALL } }), 404, 'MANIFEST_UNKNOWN');
      assert.equal((await v2.fetch(`${name}/manifests/${img.digest}`, { method: 'HEAD' })).status, 404);
      assert.deepEqual(await tagsOf(name), ['keep']);
      // Other content of the repository is untouched.
      assert.equal((await v2.fetch(`${name}/manifests/keep`, { method: 'HEAD' })).status, 200);
      assert.equal((await v2.fetch(`${name}/manifests/${keep.digest}`, { method: 'HEAD' })).status, 200);
      // Deleting again: 404.
      await expectError(await v2.fetch(`${name}/manifests/${img.digest}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
      // And it can be pushed again.
      assert.equal((await v2.putManifest(name, 'v1', img.bytes, MT.ociManifest)).status, 201);
      assert.equal((await v2.fetch(`${name}/manifests/v1`, { method: 'HEAD' })).status, 200);
    });

    test('DELETE of a tag only untags: the manifest stays pullable by digest and by other tags', async () => {
      const name = repo();
      const img = await v2.pushImage(name, 'a');
      assert.equal((await v2.putManifest(name, 'b', img.bytes, MT.ociManifest)).status, 201);
      const del = await v2.fetch(`${name}/manifests/a`, { method: 'DELETE' });
      assert.equal(del.status, 202);
      await expectError(await v2.fetch(`${name}/manifests/a`), 404, 'MANIFEST_UNKNOWN');
      const byDigest = await v2.fetch(`${name}/manifests/${img.digest}`);
      assert.equal(byDigest.status, 200);
      assert.ok(Buffer.from(await byDigest.arrayBuffer()).equals(img.bytes));
      assert.equal((await v2.fetch(`${name}/manifests/b`, { method: 'HEAD' })).status, 200);
      assert.deepEqual(await tagsOf(name), ['b']);
      await expectError(await v2.fetch(`${name}/manifests/a`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
    });

    test('DELETE of manifests and blobs in an unknown repository answers 404 NAME_UNKNOWN', async () => {
      const missing = randomBlob(5).digest;
      await expectError(await v2.fetch(`${reg}/never/manifests/latest`, { method: 'DELETE' }), 404, 'NAME_UNKNOWN');
      await expectError(await v2.fetch(`${reg}/never/manifests/${missing}`, { method: 'DELETE' }), 404, 'NAME_UNKNOWN');
      await expectError(await v2.fetch(`${reg}/never/blobs/${missing}`, { method: 'DELETE' }), 404, 'NAME_UNKNOWN');
      await expectError(await v2.fetch(`nosuchregistry/app/blobs/${missing}`, { method: 'DELETE' }), 404, 'NAME_UNKNOWN');
    });

    test('DELETE blob answers 202; the blob is then 404 BLOB_UNKNOWN', async () => {
      const name = repo();
      const b = await v2.pushBlob(name, randomBlob(300));
      const del = await v2.fetch(`${name}/blobs/${b.digest}`, { method: 'DELETE' });
      assert.equal(del.status, 202);
      await expectError(await v2.fetch(`${name}/blobs/${b.digest}`), 404, 'BLOB_UNKNOWN');
      assert.equal((await v2.fetch(`${name}/blobs/${b.digest}`, { method: 'HEAD' })).status, 404);
      await expectError(await v2.fetch(`${name}/blobs/${b.digest}`, { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
      // A manifest can no longer reference it until it is pushed again.
      const m = {
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: b.digest, size: b.size },
        layers: [],
      };
      await expectError(await v2.putManifest(name, 'x', m), 400, 'MANIFEST_BLOB_UNKNOWN');
      await v2.pushBlob(name, b);
      assert.equal((await v2.putManifest(name, 'x', m)).status, 201);
    });

    test('DELETE blob in one repository leaves the same blob in another repository alone', async () => {
      const a = repo();
      const b = repo();
      const blob = randomBlob(128);
      await v2.pushBlob(a, blob);
      await v2.pushBlob(b, blob);
      assert.equal((await v2.fetch(`${a}/blobs/${blob.digest}`, { method: 'DELETE' })).status, 202);
      await expectError(await v2.fetch(`${a}/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN');
      const res = await v2.fetch(`${b}/blobs/${blob.digest}`);
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(blob.data));
    });

    test('DELETE of a manifest referenced by an index leaves the index pullable', async () => {
      const name = repo();
      const img = await v2.pushImage(name, 'child');
      const idx = imageIndex([{ mediaType: MT.ociManifest, digest: img.digest, size: img.size }]);
      assert.equal((await v2.putManifest(name, 'idx', idx)).status, 201);
      const del = await v2.fetch(`${name}/manifests/${img.digest}`, { method: 'DELETE' });
      assert.ok(del.status === 202 || del.status === 400 || del.status === 405, `status ${del.status}`);
      const res = await v2.fetch(`${name}/manifests/idx`, { headers: { Accept: ALL } });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    });

    test('DELETE is refused with 405 where the method does not apply', async () => {
      const name = repo();
      await v2.pushImage(name, 'v1');
      await expectError(await v2.fetch(`${name}/tags/list`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
      await expectError(await v2.fetch(`${name}/blobs/uploads/`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
    });
  });
}
