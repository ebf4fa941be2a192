import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from './helpers/app.js';
import { DEPLOYMENTS, deploymentGate, deploymentName } from './helpers/storages.js';
import { expectError, randomBlob, sha256, sha512, uniqueRepo, type V2, withQuery } from './helpers/oci.js';

// distribution-spec "Push" for blobs: POST+PUT, single POST, chunked PATCH with Content-Range,
// streamed PATCH, out-of-order chunks, upload status and cancel, digest checks, sha512, mounts.

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

function octet(extra: Record<string, string> = {}): Record<string, string> {
  return { 'Content-Type': 'application/octet-stream', ...extra };
}

for (const target of DEPLOYMENTS) {
  describe(`OCI push (blobs) on ${deploymentName(target)}`, await deploymentGate(target), () => {
    let t: TestApp;
    let v2: V2;
    let reg: string;
    let other: string;
    const repo = () => `${reg}/${uniqueRepo('push')}`;

    before(async () => {
      t = await startTestApp(target);
      v2 = t.v2();
      reg = await t.createRegistry();
      other = await t.createRegistry();
    });
    after(async () => {
      await t?.close();
    });

    async function expectBlob(name: string, digest: string, data: Buffer): Promise<void> {
      const res = await v2.fetch(`${name}/blobs/${digest}`);
      assert.equal(res.status, 200, `GET ${digest}`);
      assert.equal(res.headers.get('docker-content-digest'), digest);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(data), 'blob bytes differ');
    }

    async function expectNoBlob(name: string, digest: string): Promise<void> {
      const res = await v2.fetch(`${name}/blobs/${digest}`, { method: 'HEAD' });
      assert.equal(res.status, 404, `${digest} should not be visible in ${name}`);
    }

    test('POST then PUT: 202 with a session Location, then 201 with a pullable Location', async () => {
      const name = repo();
      const b = randomBlob(1000);
      const post = await v2.fetch(`${name}/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': '0' } });
      assert.equal(post.status, 202);
      const loc = post.headers.get('location')!;
      assert.match(loc, UUID);
      const put = await v2.fetch(withQuery(loc, `digest=${b.digest}`), { method: 'PUT', body: b.data, headers: octet() });
      assert.equal(put.status, 201, await put.text());
      assert.equal(put.headers.get('docker-content-digest'), b.digest);
      const blobLoc = put.headers.get('location')!;
      assert.ok(blobLoc);
      const got = await v2.fetch(blobLoc);
      assert.equal(got.status, 200);
      assert.ok(Buffer.from(await got.arrayBuffer()).equals(b.data));
      // The session is closed.
      await expectError(await v2.fetch(loc), 404, 'BLOB_UPLOAD_UNKNOWN');
    });

    test('single POST ?digest= pushes a blob in one request (201 + Location)', async () => {
      const name = repo();
      const b = randomBlob(3000);
      const res = await v2.fetch(`${name}/blobs/uploads/?digest=${b.digest}`, { method: 'POST', body: b.data, headers: octet() });
      assert.equal(res.status, 201, await res.text());
      assert.equal(res.headers.get('docker-content-digest'), b.digest);
      const got = await v2.fetch(res.headers.get('location')!);
      assert.equal(got.status, 200);
      assert.ok(Buffer.from(await got.arrayBuffer()).equals(b.data));
    });

    test('chunked: PATCH with Content-Range answers 202 + Location + Range; GET shows progress; PUT closes', async () => {
      const name = repo();
      const b = randomBlob(300);
      let loc = await v2.startUpload(name);
      for (const [start, end] of [
        [0, 99],
        [100, 199],
        [200, 299],
      ] as const) {
        const res = await v2.fetch(loc, {
          method: 'PATCH',
          body: b.data.subarray(start, end + 1),
          headers: octet({ 'Content-Range': `${start}-${end}`, 'Content-Length': String(end - start + 1) }),
        });
        assert.equal(res.status, 202, await res.text());
        assert.equal(res.headers.get('range'), `0-${end}`);
        loc = res.headers.get('location')!;
        assert.match(loc, UUID);

        const status = await v2.fetch(loc);
        assert.equal(status.status, 204);
        assert.equal(status.headers.get('range'), `0-${end}`);
        assert.ok(status.headers.get('location'));
        const head = await v2.fetch(loc, { method: 'HEAD' });
        assert.equal(head.status, 204);
        assert.equal(head.headers.get('range'), `0-${end}`);
      }
      const put = await v2.fetch(withQuery(loc, `digest=${b.digest}`), { method: 'PUT', headers: { 'Content-Length': '0' } });
      assert.equal(put.status, 201, await put.text());
      assert.ok(put.headers.get('location'));
      await expectBlob(name, b.digest, b.data);
    });

    test('a fresh session reports Range 0-0 and accepts its first chunk only at 0', async () => {
      const name = repo();
      const b = randomBlob(50);
      const loc = await v2.startUpload(name);
      const status = await v2.fetch(loc);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), '0-0');
      const bad = await v2.fetch(loc, { method: 'PATCH', body: b.data, headers: octet({ 'Content-Range': '10-59' }) });
      assert.equal(bad.headers.get('range'), '0-0');
      await expectError(bad, 416, 'BLOB_UPLOAD_INVALID');
    });

    test('out-of-order and overlapping chunks answer 416 with the current Range; the session goes on', async () => {
      const name = repo();
      const b = randomBlob(300);
      const loc = await v2.startUpload(name);
      const first = await v2.fetch(loc, { method: 'PATCH', body: b.data.subarray(0, 100), headers: octet({ 'Content-Range': '0-99' }) });
      assert.equal(first.status, 202);
      const loc2 = first.headers.get('location')!;

      for (const [start, end] of [
        [200, 299],
        [50, 149],
        [0, 99],
        [101, 200],
      ] as const) {
        const res = await v2.fetch(loc2, {
          method: 'PATCH',
          body: b.data.subarray(start, end + 1),
          headers: octet({ 'Content-Range': `${start}-${end}` }),
        });
        assert.equal(res.headers.get('range'), '0-99', `${start}-${end}`);
        assert.ok(res.headers.get('location'), 'a 416 carries the session Location');
        await expectError(res, 416, 'BLOB_UPLOAD_INVALID');
      }
      // An out-of-order final chunk in the closing PUT is refused the same way.
      const badPut = await v2.fetch(withQuery(loc2, `digest=${b.digest}`), {
        method: 'PUT',
        body: b.data.subarray(150),
        headers: octet({ 'Content-Range': '150-299' }),
      });
      await expectError(badPut, 416, 'BLOB_UPLOAD_INVALID');

      const status = await v2.fetch(loc2);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), '0-99');
      const next = await v2.fetch(status.headers.get('location')!, {
        method: 'PATCH',
        body: b.data.subarray(100, 200),
        headers: octet({ 'Content-Range': '100-199' }),
      });
      assert.equal(next.status, 202);
      assert.equal(next.headers.get('range'), '0-199');
      // Final chunk in the closing PUT.
      const put = await v2.fetch(withQuery(next.headers.get('location')!, `digest=${b.digest}`), {
        method: 'PUT',
        body: b.data.subarray(200),
        headers: octet({ 'Content-Range': '200-299', 'Content-Length': '100' }),
      });
      assert.equal(put.status, 201, await put.text());
      await expectBlob(name, b.digest, b.data);
    });

    test('streamed PATCH without Content-Range (chunked transfer encoding)', async () => {
      const name = repo();
      const b = randomBlob(200_000);
      const loc = await v2.startUpload(name);
      const parts = [b.data.subarray(0, 70_000), b.data.subarray(70_000, 150_000), b.data.subarray(150_000)];
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          const next = parts.shift();
          if (next) controller.enqueue(next);
          else controller.close();
        },
      });
      const res = await v2.fetch(loc, { method: 'PATCH', body, headers: octet(), duplex: 'half' });
      assert.equal(res.status, 202, await res.text());
      assert.equal(res.headers.get('range'), `0-${b.size - 1}`);
      const put = await v2.fetch(withQuery(res.headers.get('location')!, `digest=${b.digest}`), { method: 'PUT' });
      assert.equal(put.status, 201, await put.text());
      await expectBlob(name, b.digest, b.data);
    });

    test('streamed PATCHes without Content-Range append in order', async () => {
      const name = repo();
      const b = randomBlob(1000);
      let loc = await v2.startUpload(name);
      for (let i = 0; i < 1000; i += 250) {
        const res = await v2.fetch(loc, { method: 'PATCH', body: b.data.subarray(i, i + 250), headers: octet() });
        assert.equal(res.status, 202);
        assert.equal(res.headers.get('range'), `0-${i + 249}`);
        loc = res.headers.get('location')!;
      }
      const put = await v2.fetch(withQuery(loc, `digest=${b.digest}`), { method: 'PUT' });
      assert.equal(put.status, 201);
      await expectBlob(name, b.digest, b.data);
    });

    test('DELETE of an upload answers 204; the session is then unknown (404 BLOB_UPLOAD_UNKNOWN)', async () => {
      const name = repo();
      const b = randomBlob(100);
      const loc = await v2.startUpload(name);
      const patch = await v2.fetch(loc, { method: 'PATCH', body: b.data, headers: octet({ 'Content-Range': '0-99' }) });
      assert.equal(patch.status, 202);
      const del = await v2.fetch(loc, { method: 'DELETE', headers: { 'Content-Length': '0' } });
      assert.equal(del.status, 204);
      await expectError(await v2.fetch(loc), 404, 'BLOB_UPLOAD_UNKNOWN');
      await expectError(
        await v2.fetch(loc, { method: 'PATCH', body: b.data, headers: octet({ 'Content-Range': '100-199' }) }),
        404,
        'BLOB_UPLOAD_UNKNOWN',
      );
      await expectError(await v2.fetch(withQuery(loc, `digest=${b.digest}`), { method: 'PUT' }), 404, 'BLOB_UPLOAD_UNKNOWN');
      await expectError(await v2.fetch(loc, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
      await expectNoBlob(name, b.digest);
    });

    test('digest mismatch answers 400 DIGEST_INVALID and nothing becomes visible', async () => {
      const name = repo();
      const b = randomBlob(500);
      const wrong = randomBlob(500).digest;
      // single POST
      await expectError(
        await v2.fetch(`${name}/blobs/uploads/?digest=${wrong}`, { method: 'POST', body: b.data, headers: octet() }),
        400,
        'DIGEST_INVALID',
      );
      // POST then PUT
      const loc = await v2.startUpload(name);
      await expectError(
        await v2.fetch(withQuery(loc, `digest=${wrong}`), { method: 'PUT', body: b.data, headers: octet() }),
        400,
        'DIGEST_INVALID',
      );
      // chunked
      const loc2 = await v2.startUpload(name);
      const patch = await v2.fetch(loc2, { method: 'PATCH', body: b.data, headers: octet({ 'Content-Range': '0-499' }) });
      assert.equal(patch.status, 202);
      await expectError(
        await v2.fetch(withQuery(patch.headers.get('location')!, `digest=${wrong}`), { method: 'PUT' }),
        400,
        'DIGEST_INVALID',
      );
      for (const d of [b.digest, wrong]) await expectNoBlob(name, d);
    });

    test('closing PUT without ?digest= is refused with 400', async () => {
      const name = repo();
      const b = randomBlob(10);
      const loc = await v2.startUpload(name);
      await expectError(await v2.fetch(loc, { method: 'PUT', body: b.data, headers: octet() }), 400, 'DIGEST_INVALID');
    });

    test('sha512 blobs: single POST, POST+PUT and chunked with digest-algorithm', async () => {
      const name = repo();
      const a = randomBlob(700);
      const da = sha512(a.data);
      const res = await v2.fetch(`${name}/blobs/uploads/?digest=${da}`, { method: 'POST', body: a.data, headers: octet() });
      assert.equal(res.status, 201, await res.text());
      assert.equal(res.headers.get('docker-content-digest'), da);
      await expectBlob(name, da, a.data);

      const b = randomBlob(700);
      const db = sha512(b.data);
      const loc = await v2.startUpload(name);
      const put = await v2.fetch(withQuery(loc, `digest=${db}`), { method: 'PUT', body: b.data, headers: octet() });
      assert.equal(put.status, 201, await put.text());
      await expectBlob(name, db, b.data);

      const c = randomBlob(700);
      const dc = sha512(c.data);
      const loc2 = await v2.startUpload(name, 'digest-algorithm=sha512');
      const patch = await v2.fetch(loc2, { method: 'PATCH', body: c.data, headers: octet({ 'Content-Range': '0-699' }) });
      assert.equal(patch.status, 202);
      const put2 = await v2.fetch(withQuery(patch.headers.get('location')!, `digest=${dc}`), { method: 'PUT' });
      assert.equal(put2.status, 201, await put2.text());
      assert.equal(put2.headers.get('docker-content-digest'), dc);
      await expectBlob(name, dc, c.data);
      // The sha256 address of the same bytes is a different digest the registry never saw.
      await expectNoBlob(name, sha256(c.data));
    });

    test('an unsupported digest-algorithm is refused with 400', async () => {
      const name = repo();
      await expectError(await v2.fetch(`${name}/blobs/uploads/?digest-algorithm=md5`, { method: 'POST' }), 400, 'DIGEST_INVALID');
    });

    test('pushing the same blob twice is idempotent', async () => {
      const name = repo();
      const b = randomBlob(64);
      await v2.pushBlob(name, b);
      await v2.pushBlob(name, b, 'post-put');
      await expectBlob(name, b.digest, b.data);
    });

    test('parallel pushes of the same blob and manifest into a new repository all succeed', async () => {
      const name = repo();
      const b = randomBlob(2000);
      const blobs = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          i % 2
            ? v2.fetch(`${name}/blobs/uploads/?digest=${b.digest}`, { method: 'POST', body: b.data, headers: octet() })
            : v2
                .startUpload(name)
                .then((loc) => v2.fetch(withQuery(loc, `digest=${b.digest}`), { method: 'PUT', body: b.data, headers: octet() })),
        ),
      );
      assert.deepEqual(
        blobs.map((r) => r.status),
        Array(8).fill(201),
      );
      const m = {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: b.digest, size: b.size },
        layers: [],
      };
      const puts = await Promise.all(Array.from({ length: 8 }, (_, i) => v2.putManifest(name, `t${i % 3}`, m)));
      assert.deepEqual(
        puts.map((r) => r.status),
        Array(8).fill(201),
      );
      const tags = await v2.fetch(`${name}/tags/list`);
      assert.deepEqual(((await tags.json()) as { tags: string[] }).tags, ['t0', 't1', 't2']);
      await expectBlob(name, b.digest, b.data);
    });

    test('mount with from: 201 + Location + Docker-Content-Digest; the blob is then pullable', async () => {
      const src = repo();
      const dst = repo();
      const b = await v2.pushBlob(src, randomBlob(400));
      await expectNoBlob(dst, b.digest);
      const res = await v2.fetch(`${dst}/blobs/uploads/?mount=${b.digest}&from=${src}`, {
        method: 'POST',
        headers: { 'Content-Length': '0' },
      });
      assert.equal(res.status, 201, await res.text());
      assert.equal(res.headers.get('docker-content-digest'), b.digest);
      const got = await v2.fetch(res.headers.get('location')!);
      assert.equal(got.status, 200);
      assert.ok(Buffer.from(await got.arrayBuffer()).equals(b.data));
    });

    test('mount without from succeeds when the blob exists in the same registry', async () => {
      const src = repo();
      const dst = repo();
      const b = await v2.pushBlob(src, randomBlob(400));
      const res = await v2.fetch(`${dst}/blobs/uploads/?mount=${b.digest}`, { method: 'POST', headers: { 'Content-Length': '0' } });
      assert.equal(res.status, 201, await res.text());
      await expectBlob(dst, b.digest, b.data);
    });

    test('mount of an unknown blob, or from a repository without it, starts an upload (202)', async () => {
      const src = repo();
      const dst = repo();
      await v2.pushBlob(src, randomBlob(10));
      const missing = randomBlob(10);
      for (const q of [`mount=${missing.digest}&from=${src}`, `mount=${missing.digest}`]) {
        const res = await v2.fetch(`${dst}/blobs/uploads/?${q}`, { method: 'POST', headers: { 'Content-Length': '0' } });
        assert.equal(res.status, 202, q);
        assert.match(res.headers.get('location') ?? '', UUID);
      }
      // The session that the failed mount opened is a real one.
      const res = await v2.fetch(`${dst}/blobs/uploads/?mount=${missing.digest}&from=${src}`, { method: 'POST' });
      const put = await v2.fetch(withQuery(res.headers.get('location')!, `digest=${missing.digest}`), {
        method: 'PUT',
        body: missing.data,
        headers: octet(),
      });
      assert.equal(put.status, 201);
      await expectBlob(dst, missing.digest, missing.data);
    });

    test('mount from another registry never succeeds: 202 new upload, blob stays invisible', async () => {
      const src = `${other}/${uniqueRepo('src')}`;
      const dst = repo();
      const b = await v2.pushBlob(src, randomBlob(300));
      for (const q of [`mount=${b.digest}&from=${src}`, `mount=${b.digest}`, `mount=${b.digest}&from=${src.slice(other.length + 1)}`]) {
        const res = await v2.fetch(`${dst}/blobs/uploads/?${q}`, { method: 'POST', headers: { 'Content-Length': '0' } });
        assert.equal(res.status, 202, q);
        assert.match(res.headers.get('location') ?? '', UUID);
        await expectNoBlob(dst, b.digest);
      }
    });

    test('an upload session is unknown through another repository', async () => {
      const a = repo();
      const b = repo();
      const loc = await v2.startUpload(a);
      const id = UUID.exec(loc)![0];
      await expectError(await v2.fetch(`${b}/blobs/uploads/${id}`), 404, 'BLOB_UPLOAD_UNKNOWN');
      await expectError(
        await v2.fetch(`${b}/blobs/uploads/${id}`, { method: 'PATCH', body: 'x', headers: octet() }),
        404,
        'BLOB_UPLOAD_UNKNOWN',
      );
      const status = await v2.fetch(loc);
      assert.equal(status.status, 204);
    });
  });
}
