import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import {
  expectError,
  expectRawError,
  imageManifest,
  MT,
  rawRequest,
  randomBlob,
  uniqueRepo,
  type V2,
  withQuery,
  type PushedImage,
} from './helpers/oci.js';

// Tenancy: registries share one server and one content store, yet nothing pushed in registry A is
// visible through registry B, and a blob is served only through repositories that link it.

const ALL = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ');

for (const backend of BACKENDS) {
  describe(`registry and repository isolation on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let v2: V2;
    let A: string;
    let B: string;
    let repo: string;
    let imgA: PushedImage;

    before(async () => {
      t = await startTestApp(backend, { domain: 'berth.test' });
      v2 = t.v2();
      A = await t.createRegistry();
      B = await t.createRegistry();
      repo = uniqueRepo('app');
      imgA = await v2.pushImage(`${A}/${repo}`, 'v1', { annotations: { registry: 'A' } });
    });
    after(async () => {
      await t?.close();
    });

    test("registry B does not see A's repository, manifests, tags or blobs", async () => {
      const nb = `${B}/${repo}`;
      await expectError(await v2.fetch(`${nb}/manifests/v1`, { headers: { Accept: ALL } }), 404, 'NAME_UNKNOWN');
      await expectError(await v2.fetch(`${nb}/manifests/${imgA.digest}`, { headers: { Accept: ALL } }), 404, 'NAME_UNKNOWN');
      await expectError(await v2.fetch(`${nb}/blobs/${imgA.layers[0]!.digest}`), 404, 'NAME_UNKNOWN');
      assert.equal((await v2.fetch(`${nb}/blobs/${imgA.config.digest}`, { method: 'HEAD' })).status, 404);
      await expectError(await v2.fetch(`${nb}/tags/list`), 404, 'NAME_UNKNOWN');
      const refs = await v2.fetch(`${nb}/referrers/${imgA.digest}`);
      assert.equal(refs.status, 200);
      assert.deepEqual(((await refs.json()) as { manifests: unknown[] }).manifests, []);
    });

    test("once B has a repository of the same name, A's content is still unknown there", async () => {
      const nb = `${B}/${repo}`;
      const imgB = await v2.pushImage(nb, 'v1', { annotations: { registry: 'B' } });
      assert.notEqual(imgB.digest, imgA.digest);
      await expectError(await v2.fetch(`${nb}/manifests/${imgA.digest}`, { headers: { Accept: ALL } }), 404, 'MANIFEST_UNKNOWN');
      await expectError(await v2.fetch(`${nb}/blobs/${imgA.layers[0]!.digest}`), 404, 'BLOB_UNKNOWN');
      // Same tag, different manifests per registry.
      const a = await v2.fetch(`${A}/${repo}/manifests/v1`, { method: 'HEAD' });
      const b = await v2.fetch(`${nb}/manifests/v1`, { method: 'HEAD' });
      assert.equal(a.headers.get('docker-content-digest'), imgA.digest);
      assert.equal(b.headers.get('docker-content-digest'), imgB.digest);
      // B cannot reference A's blobs in a manifest, nor delete A's content.
      const m = imageManifest({ mediaType: MT.ociConfig, digest: imgA.config.digest, size: imgA.config.size }, []);
      await expectError(await v2.putManifest(nb, 'borrowed', m), 400, 'MANIFEST_BLOB_UNKNOWN');
      await expectError(await v2.fetch(`${nb}/manifests/${imgA.digest}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
      await expectError(await v2.fetch(`${nb}/blobs/${imgA.layers[0]!.digest}`, { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
      assert.equal((await v2.fetch(`${A}/${repo}/blobs/${imgA.layers[0]!.digest}`, { method: 'HEAD' })).status, 200);
    });

    test('the same bytes pushed to both registries are served by each, and deleting one leaves the other', async () => {
      const blob = randomBlob(200);
      await v2.pushBlob(`${A}/shared`, blob);
      await v2.pushBlob(`${B}/shared`, blob);
      assert.equal((await v2.fetch(`${B}/shared/blobs/${blob.digest}`, { method: 'DELETE' })).status, 202);
      const res = await v2.fetch(`${A}/shared/blobs/${blob.digest}`);
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(blob.data));
      await expectError(await v2.fetch(`${B}/shared/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN');
    });

    test("another repository of A does not see the blobs or manifests of A's repository", async () => {
      const other = `${A}/${uniqueRepo('other')}`;
      await v2.pushImage(other, 'v1');
      await expectError(await v2.fetch(`${other}/blobs/${imgA.layers[0]!.digest}`), 404, 'BLOB_UNKNOWN');
      await expectError(await v2.fetch(`${other}/manifests/${imgA.digest}`, { headers: { Accept: ALL } }), 404, 'MANIFEST_UNKNOWN');
      // Manifests are content too: not served through another repository's blob endpoint either.
      await expectError(await v2.fetch(`${other}/blobs/${imgA.digest}`), 404, 'BLOB_UNKNOWN');
      const m = imageManifest({ mediaType: MT.ociConfig, digest: imgA.config.digest, size: imgA.config.size }, []);
      await expectError(await v2.putManifest(other, 'borrowed', m), 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    test('upload sessions belong to one registry and repository', async () => {
      const loc = await v2.startUpload(`${A}/${repo}`);
      const id = loc.split('/').pop()!;
      for (const n of [`${B}/${repo}`, `${A}/${uniqueRepo('x')}`]) {
        await expectError(await v2.fetch(`${n}/blobs/uploads/${id}`), 404, 'BLOB_UPLOAD_UNKNOWN');
        await expectError(await v2.fetch(`${n}/blobs/uploads/${id}`, { method: 'PATCH', body: 'abc' }), 404, 'BLOB_UPLOAD_UNKNOWN');
        const b = randomBlob(3);
        await expectError(
          await v2.fetch(withQuery(`/v2/${n}/blobs/uploads/${id}`, `digest=${b.digest}`), { method: 'PUT', body: b.data }),
          404,
          'BLOB_UPLOAD_UNKNOWN',
        );
        await expectError(await v2.fetch(`${n}/blobs/uploads/${id}`, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
      }
      assert.equal((await v2.fetch(loc)).status, 204, 'the session is untouched');
    });

    test('catalogs are per registry', async () => {
      const a = (await (await v2.fetch(`${A}/_catalog`)).json()) as { repositories: string[] };
      const b = (await (await v2.fetch(`${B}/_catalog`)).json()) as { repositories: string[] };
      assert.ok(a.repositories.length > 0 && b.repositories.length > 0);
      for (const r of a.repositories) assert.ok(r.startsWith(`${A}/`), r);
      for (const r of b.repositories) assert.ok(r.startsWith(`${B}/`), r);
      // Paging through A's catalog never wanders into B.
      const res = await v2.fetch(`${A}/_catalog?n=1&last=${encodeURIComponent(a.repositories.at(-1)!)}`);
      assert.deepEqual(((await res.json()) as { repositories: string[] }).repositories, []);
      assert.equal(res.headers.get('link'), null);
    });

    describe('host-style addressing (<registry>.<domain>)', () => {
      const host = (reg: string) => `${reg.toLowerCase()}.berth.test:${new URL(t.url).port}`;
      const get = (reg: string, path: string, init: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}) =>
        rawRequest(t.url, { method: init.method ?? 'GET', path, headers: { Host: host(reg), ...init.headers }, body: init.body });

      test('pulls from the registry the Host names, with repository-only names', async () => {
        const res = await get(A, `/v2/${repo}/manifests/v1`, { headers: { Accept: ALL } });
        assert.equal(res.status, 200);
        assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
        assert.equal(res.headers['docker-content-digest'], imgA.digest);
        assert.ok(res.body.equals(imgA.bytes));
        const b = await get(B, `/v2/${repo}/manifests/v1`, { headers: { Accept: ALL } });
        assert.equal(b.status, 200);
        assert.notEqual(b.headers['docker-content-digest'], imgA.digest);
      });

      test('the catalog of a host lists only its registry, without the registry prefix', async () => {
        const res = await get(A, '/v2/_catalog');
        assert.equal(res.status, 200);
        const names = (res.json() as { repositories: string[] }).repositories;
        assert.ok(names.includes(repo));
        for (const n of names) assert.ok(!n.startsWith(`${A}/`) && !n.startsWith(`${B}/`), n);
        const tags = await get(A, `/v2/${repo}/tags/list`);
        assert.equal((tags.json() as { name: string }).name, repo);
      });

      test("a path naming another registry under a host is just a repository of the host's registry", async () => {
        expectRawError(await get(A, `/v2/${B}/${repo}/manifests/v1`), 404, 'NAME_UNKNOWN');
        expectRawError(await get(A, `/v2/${B}/${repo}/blobs/${imgA.config.digest}`), 404, 'NAME_UNKNOWN');
      });

      test('a blob of A cannot be mounted into B through host-style from=', async () => {
        for (const from of [repo, `${A}/${repo}`]) {
          const res = await get(B, `/v2/${repo}/blobs/uploads/?mount=${imgA.layers[0]!.digest}&from=${encodeURIComponent(from)}`, {
            method: 'POST',
            headers: { 'Content-Length': '0' },
          });
          assert.equal(res.status, 202, from);
        }
        expectRawError(await get(B, `/v2/${repo}/blobs/${imgA.layers[0]!.digest}`), 404, 'BLOB_UNKNOWN');
      });

      test('an unknown registry host answers NAME_UNKNOWN', async () => {
        expectRawError(await get('nosuchregistry', `/v2/${repo}/manifests/v1`), 404, 'NAME_UNKNOWN');
      });

      // The owner holds every right, so nothing is hidden from it: an unknown registry is unknown.
      test('the catalog of an unknown registry host answers NAME_UNKNOWN', async () => {
        expectRawError(await get('nosuchregistry', '/v2/_catalog'), 404, 'NAME_UNKNOWN');
      });

      test('host-style push gives repository-only Locations that work on the same host', async () => {
        const b = randomBlob(50);
        const post = await get(A, `/v2/hostpush/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': '0' } });
        assert.equal(post.status, 202);
        const loc = post.headers.location!;
        assert.ok(loc.startsWith('/v2/hostpush/blobs/uploads/'), loc);
        const put = await get(A, withQuery(loc, `digest=${b.digest}`), {
          method: 'PUT',
          body: b.data,
          headers: { 'Content-Type': 'application/octet-stream' },
        });
        assert.equal(put.status, 201, put.text());
        assert.equal(put.headers.location, `/v2/hostpush/blobs/${b.digest}`);
        // The same content, path-style.
        assert.equal((await v2.fetch(`${A}/hostpush/blobs/${b.digest}`, { method: 'HEAD' })).status, 200);
      });
    });
  });
}
