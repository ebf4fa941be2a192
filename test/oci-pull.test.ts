import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TestApp } from './helpers/app.js';
import { DEPLOYMENTS, deploymentGate, deploymentName } from './helpers/storages.js';
import { withImage } from './helpers/with-image.js';
import { authFetch, expectError, imageIndex, MT, randomBlob, sha256, uniqueRepo, type V2, type PushedImage } from './helpers/oci.js';

// distribution-spec "Pull": manifests and blobs by tag and digest, GET and HEAD, the headers a
// client relies on, Range requests, and the 404 codes for everything unknown.

for (const target of DEPLOYMENTS) {
  describe(`OCI pull on ${deploymentName(target)}`, await deploymentGate(target), () => {
    let t: TestApp;
    let v2: V2;
    let reg: string;
    let name: string;
    let img: PushedImage;

    before(async () => {
      ({ t, v2, reg, name, img } = await withImage(target, { repo: 'pull', image: { layers: 2 } }));
    });
    after(async () => {
      await t?.close();
    });

    test('GET /v2/ answers 200', async () => {
      const res = await v2.fetch('/v2/');
      assert.equal(res.status, 200);
      const head = await v2.fetch('/v2', { method: 'HEAD' });
      assert.equal(head.status, 200);
    });

    test('every response carries Docker-Distribution-API-Version: registry/2.0, errors included', async () => {
      // V2.fetch asserts the header on every /v2 response of these suites; here the rest of the server.
      for (const path of ['/healthz', '/nothing-here', '/api/registries', '/v2/_catalog', `/v2/${name}/nothing`]) {
        const res = await authFetch(`${t.url}${path}`, {}, undefined, t.fetch);
        assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0', path);
        await res.arrayBuffer();
      }
    });

    for (const by of ['tag', 'digest'] as const) {
      test(`GET manifest by ${by} returns the exact bytes with digest, type and length`, async () => {
        const res = await v2.fetch(`${name}/manifests/${by === 'tag' ? 'v1' : img.digest}`, { headers: { Accept: MT.ociManifest } });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('docker-content-digest'), img.digest);
        assert.equal(res.headers.get('content-type'), MT.ociManifest);
        assert.equal(res.headers.get('content-length'), String(img.size));
        const body = Buffer.from(await res.arrayBuffer());
        assert.ok(body.equals(img.bytes));
        assert.equal(sha256(body), img.digest);
      });

      test(`HEAD manifest by ${by} answers 200 with digest and length and no body`, async () => {
        const res = await v2.fetch(`${name}/manifests/${by === 'tag' ? 'v1' : img.digest}`, {
          method: 'HEAD',
          headers: { Accept: MT.ociManifest },
        });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('docker-content-digest'), img.digest);
        assert.equal(res.headers.get('content-length'), String(img.size));
        assert.equal(res.headers.get('content-type'), MT.ociManifest);
        assert.equal((await res.arrayBuffer()).byteLength, 0);
      });
    }

    test('Accept negotiation: lists, parameters and wildcards admit the manifest', async () => {
      for (const accept of [
        `${MT.dockerManifest}, ${MT.ociManifest}`,
        `${MT.ociManifest};q=0.9`,
        `${MT.dockerManifest}, ${MT.dockerList}, ${MT.ociIndex}, ${MT.ociManifest}`,
        '*/*',
        'application/*',
      ]) {
        const res = await v2.fetch(`${name}/manifests/v1`, { headers: { Accept: accept } });
        assert.equal(res.status, 200, accept);
        assert.equal(res.headers.get('content-type'), MT.ociManifest);
        await res.arrayBuffer();
      }
      const none = await v2.fetch(`${name}/manifests/v1`);
      assert.equal(none.status, 200, 'no Accept header admits everything');
      await none.arrayBuffer();
    });

    test('Accept that excludes the stored type answers 404 MANIFEST_UNKNOWN', async () => {
      for (const accept of [MT.dockerManifest, `${MT.ociManifest};q=0, */*`, '*/*;q=0', `application/*;q=0, ${MT.ociIndex}`]) {
        const res = await v2.fetch(`${name}/manifests/v1`, { headers: { Accept: accept } });
        await expectError(res, 404, 'MANIFEST_UNKNOWN');
      }
      const res = await v2.fetch(`${name}/manifests/v1`, { headers: { Accept: `application/*;q=0, ${MT.ociManifest};q=0.5` } });
      assert.equal(res.status, 200, 'the most specific range decides');
      await res.arrayBuffer();
    });

    test('Docker schema 2 manifest and manifest list are served with their own Content-Type', async () => {
      const repo = `${reg}/${uniqueRepo('docker')}`;
      const d = await v2.pushImage(repo, 'latest', { docker: true });
      const res = await v2.fetch(`${repo}/manifests/latest`, { headers: { Accept: `${MT.dockerManifest}, ${MT.dockerList}` } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), MT.dockerManifest);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(d.bytes));

      const list = imageIndex(
        [{ mediaType: MT.dockerManifest, digest: d.digest, size: d.size, platform: { architecture: 'amd64', os: 'linux' } }],
        { docker: true },
      );
      const put = await v2.putManifest(repo, 'multi', list);
      assert.equal(put.status, 201, await put.text());
      const got = await v2.fetch(`${repo}/manifests/multi`, { headers: { Accept: `${MT.dockerManifest}, ${MT.dockerList}` } });
      assert.equal(got.status, 200);
      assert.equal(got.headers.get('content-type'), MT.dockerList);
      assert.equal(await got.text(), JSON.stringify(list));
    });

    test('an image index is served to a client that accepts it', async () => {
      const index = imageIndex([
        { mediaType: MT.ociManifest, digest: img.digest, size: img.size, platform: { architecture: 'arm64', os: 'linux' } },
      ]);
      const put = await v2.putManifest(name, 'index', index);
      assert.equal(put.status, 201, await put.text());
      const res = await v2.fetch(`${name}/manifests/index`, { headers: { Accept: `${MT.ociManifest}, ${MT.ociIndex}` } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), MT.ociIndex);
      assert.equal(res.headers.get('docker-content-digest'), sha256(JSON.stringify(index)));
      await res.arrayBuffer();
    });

    test('GET blob returns its bytes with digest and length', async () => {
      for (const b of [img.config, ...img.layers]) {
        const res = await v2.fetch(`${name}/blobs/${b.digest}`);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('docker-content-digest'), b.digest);
        assert.equal(res.headers.get('content-length'), String(b.size));
        const body = Buffer.from(await res.arrayBuffer());
        assert.ok(body.equals(b.data));
      }
    });

    test('HEAD blob answers 200 with digest and length and no body', async () => {
      const b = img.layers[0]!;
      const res = await v2.fetch(`${name}/blobs/${b.digest}`, { method: 'HEAD' });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('docker-content-digest'), b.digest);
      assert.equal(res.headers.get('content-length'), String(b.size));
      assert.equal((await res.arrayBuffer()).byteLength, 0);
    });

    test('an empty blob can be pushed and pulled', async () => {
      const empty = await v2.pushBlob(name, Buffer.alloc(0));
      const res = await v2.fetch(`${name}/blobs/${empty.digest}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-length'), '0');
      assert.equal((await res.arrayBuffer()).byteLength, 0);
    });

    test('blob Range requests answer 206 with Content-Range', async () => {
      const b = img.layers[0]!; // 512 bytes
      const cases: [string, number, number][] = [
        ['bytes=0-9', 0, 9],
        ['bytes=100-', 100, 511],
        ['bytes=-16', 496, 511],
        ['bytes=500-100000', 500, 511],
        ['bytes=511-511', 511, 511],
      ];
      for (const [range, start, end] of cases) {
        const res = await v2.fetch(`${name}/blobs/${b.digest}`, { headers: { Range: range } });
        assert.equal(res.status, 206, range);
        assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/${b.size}`, range);
        assert.equal(res.headers.get('content-length'), String(end - start + 1), range);
        assert.equal(res.headers.get('docker-content-digest'), b.digest);
        const body = Buffer.from(await res.arrayBuffer());
        assert.ok(body.equals(b.data.subarray(start, end + 1)), range);
      }
    });

    test('an unsatisfiable Range answers 416 RANGE_INVALID with Content-Range */size', async () => {
      const b = img.layers[0]!;
      for (const range of ['bytes=512-', 'bytes=100000-100010', 'bytes=-0']) {
        const res = await v2.fetch(`${name}/blobs/${b.digest}`, { headers: { Range: range } });
        assert.equal(res.headers.get('content-range'), `bytes */${b.size}`, range);
        await expectError(res, 416, 'RANGE_INVALID');
      }
    });

    test('unknown manifest, tag and blob answer 404 with their codes', async () => {
      const missing = randomBlob(10).digest;
      await expectError(await v2.fetch(`${name}/manifests/nope`), 404, 'MANIFEST_UNKNOWN');
      await expectError(await v2.fetch(`${name}/manifests/${missing}`), 404, 'MANIFEST_UNKNOWN');
      await expectError(await v2.fetch(`${name}/blobs/${missing}`), 404, 'BLOB_UNKNOWN');
      for (const path of [`${name}/manifests/nope`, `${name}/blobs/${missing}`]) {
        const head = await v2.fetch(path, { method: 'HEAD' });
        assert.equal(head.status, 404, path);
        assert.equal((await head.arrayBuffer()).byteLength, 0);
      }
    });

    test('unknown repository and unknown registry answer 404 NAME_UNKNOWN', async () => {
      const missing = randomBlob(10).digest;
      for (const n of [`${reg}/never-pushed`, 'nosuchregistry/app', 'ab/app']) {
        await expectError(await v2.fetch(`${n}/manifests/latest`), 404, 'NAME_UNKNOWN');
        await expectError(await v2.fetch(`${n}/manifests/${img.digest}`), 404, 'NAME_UNKNOWN');
        await expectError(await v2.fetch(`${n}/blobs/${missing}`), 404, 'NAME_UNKNOWN');
        await expectError(await v2.fetch(`${n}/blobs/${img.config.digest}`), 404, 'NAME_UNKNOWN');
        await expectError(await v2.fetch(`${n}/tags/list`), 404, 'NAME_UNKNOWN');
      }
    });
  });
}
