import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { adminAuthHeader, startTestApp, type TestApp } from './helpers/app.js';
import { DEPLOYMENTS, deploymentGate, deploymentName } from './helpers/storages.js';
import { withImage } from './helpers/with-image.js';
import {
  expectError,
  expectRawError,
  MT,
  randomBlob,
  rawRequest,
  rawSocket,
  rawStatus,
  uniqueRepo,
  type V2,
  withQuery,
  type PushedImage,
} from './helpers/oci.js';

// Hostile and malformed input: names, references and digests that must be refused with the
// right 4xx code (never a 500, never resolved to something else), wrong Content-Length, and
// uploads cut off mid-body.

const HEX64 = 'a'.repeat(64);

for (const target of DEPLOYMENTS) {
  describe(`OCI bad input on ${deploymentName(target)}`, await deploymentGate(target), () => {
    let t: TestApp;
    let v2: V2;
    let reg: string;
    let name: string;
    let img: PushedImage;

    before(async () => {
      ({ t, v2, reg, name, img } = await withImage(target, { repo: 'bad' }));
    });
    after(async () => {
      await t?.close();
    });

    const raw = (path: string, method = 'GET', headers: Record<string, string> = {}) => rawRequest(t.url, { method, path, headers });

    describe('repository names', () => {
      const badNames = () => [
        `${reg}/../${name.slice(reg.length + 1)}`,
        `${reg}/%2e%2e/x`,
        `${reg}/%2E%2E/x`,
        `${reg}/x/%2e%2e`,
        `${reg}/x/..%2f..%2fy`,
        `${reg}/./x`,
        `${reg}/%2e/x`,
        `${reg}//x`,
        `${reg}/x//y`,
        `${reg}/x/`,
        `${reg}/a\\b`,
        `${reg}/a%5cb`,
        `${reg}/a%00b`,
        `${reg}/a%0ab`,
        `${reg}/a%zzb`,
        `${reg}/a%ffb`,
        `${reg}/App`,
        `${reg.toUpperCase()}/app`,
        `${reg}/a..b`,
        `${reg}/-a`,
        `${reg}/a-`,
        `${reg}/a b`.replace(' ', '%20'),
        `${reg}/${'a'.repeat(300)}`,
      ];

      test('are refused with 400 NAME_INVALID on every endpoint, never resolved', async () => {
        for (const n of badNames()) {
          for (const [method, suffix] of [
            ['GET', '/manifests/v1'],
            ['HEAD', '/manifests/v1'],
            ['PUT', '/manifests/v1'],
            ['DELETE', '/manifests/v1'],
            ['GET', `/blobs/${img.config.digest}`],
            ['DELETE', `/blobs/${img.config.digest}`],
            ['POST', '/blobs/uploads/'],
            ['GET', '/tags/list'],
            ['GET', `/referrers/${img.digest}`],
          ] as const) {
            const res = await raw(`/v2/${n}${suffix}`, method, method === 'PUT' ? { 'Content-Type': MT.ociManifest } : {});
            if (method === 'HEAD') {
              assert.equal(res.status, 400, `${method} ${n}${suffix}`);
            } else {
              expectRawError(res, 400, 'NAME_INVALID');
            }
          }
        }
      });

      test('a bare registry name (no repository) is NAME_INVALID', async () => {
        expectRawError(await raw(`/v2/${reg}/manifests/v1`), 400, 'NAME_INVALID');
        expectRawError(await raw(`/v2/${reg}/tags/list`), 400, 'NAME_INVALID');
      });

      test('a raw NUL or space in the request line is refused by the HTTP parser (400), not served', async () => {
        const out = await rawSocket(t.url, `GET /v2/${reg}/a\0b/manifests/v1 HTTP/1.1\r\nHost: x\r\n\r\n`);
        assert.equal(rawStatus(out), 400);
        const out2 = await rawSocket(t.url, `GET /v2/${reg}/a b/manifests/v1 HTTP/1.1\r\nHost: x\r\n\r\n`);
        assert.equal(rawStatus(out2), 400);
      });

      test('the valid name still works after all that (nothing was created by the bad requests)', async () => {
        const res = await v2.fetch(`${name}/manifests/v1`, { method: 'HEAD' });
        assert.equal(res.status, 200);
        const cat = await v2.fetch(`${reg}/_catalog`);
        assert.deepEqual(((await cat.json()) as { repositories: string[] }).repositories, [name]);
      });
    });

    describe('tags and references', () => {
      test('invalid tags are refused with 400 TAG_INVALID on writes; reads of them find nothing (404)', async () => {
        for (const tag of ['a'.repeat(129), '.hidden', '-dash', 'tag!', 'ta%20g', 'ta%2fg', '%2e%2e', 'ta%5cg', 'ta%00g', 'ta%zz']) {
          for (const method of ['PUT', 'DELETE']) {
            const res = await raw(`/v2/${name}/manifests/${tag}`, method, method === 'PUT' ? { 'Content-Type': MT.ociManifest } : {});
            expectRawError(res, 400, 'TAG_INVALID');
          }
          // The OCI conformance suite GETs and HEADs ".INVALID_MANIFEST_NAME" and expects 404.
          expectRawError(await raw(`/v2/${name}/manifests/${tag}`, 'GET'), 404, 'MANIFEST_UNKNOWN');
        }
        const head = await raw(`/v2/${name}/manifests/.hidden`, 'HEAD');
        assert.equal(head.status, 404);
      });

      test('a ".." reference is refused, not resolved to the repository', async () => {
        expectRawError(await raw(`/v2/${name}/manifests/..`), 404, 'MANIFEST_UNKNOWN');
        expectRawError(await raw(`/v2/${name}/manifests/..`, 'DELETE'), 400, 'TAG_INVALID');
        expectRawError(await raw(`/v2/${name}/manifests/.`), 404, 'MANIFEST_UNKNOWN');
        expectRawError(await raw(`/v2/${name}/blobs/..`), 400, 'DIGEST_INVALID');
      });

      test('a 128-character tag is accepted', async () => {
        const tag = `T${'x'.repeat(126)}9`;
        const res = await v2.putManifest(name, tag, img.bytes, MT.ociManifest);
        assert.equal(res.status, 201, await res.text());
        assert.equal((await v2.fetch(`${name}/manifests/${tag}`, { method: 'HEAD' })).status, 200);
      });
    });

    describe('digests', () => {
      const badDigests = [
        'sha256:abc',
        `sha256:${HEX64}a`,
        `sha256:${HEX64.slice(1)}`,
        `sha256:${'A'.repeat(64)}`,
        `sha256:${'g'.repeat(64)}`,
        `md5:${'a'.repeat(32)}`,
        `sha384:${'a'.repeat(96)}`,
        `sha512:${HEX64}`,
        `sha256:`,
        `:${HEX64}`,
        `SHA256:${HEX64}`,
        `sha256:${'a'.repeat(63)}%5c`,
        `sha256:${'a'.repeat(63)}%00`,
        `sha256:${'a'.repeat(63)}%zz`,
      ];

      test('blob GET/HEAD/DELETE with an invalid digest answer 400 DIGEST_INVALID', async () => {
        for (const d of badDigests) {
          expectRawError(await raw(`/v2/${name}/blobs/${d}`), 400, 'DIGEST_INVALID');
          expectRawError(await raw(`/v2/${name}/blobs/${d}`, 'DELETE'), 400, 'DIGEST_INVALID');
          assert.equal((await raw(`/v2/${name}/blobs/${d}`, 'HEAD')).status, 400, d);
        }
      });

      test('manifest GET/DELETE and referrers with an invalid digest answer 400 DIGEST_INVALID', async () => {
        for (const d of badDigests.filter((x) => x.includes(':'))) {
          expectRawError(await raw(`/v2/${name}/manifests/${d}`), 400, 'DIGEST_INVALID');
          expectRawError(await raw(`/v2/${name}/manifests/${d}`, 'DELETE'), 400, 'DIGEST_INVALID');
          expectRawError(await raw(`/v2/${name}/referrers/${d}`), 400, 'DIGEST_INVALID');
        }
      });

      test('upload ?digest=, mount= and PUT ?digest= with an invalid digest answer 400 DIGEST_INVALID', async () => {
        const b = randomBlob(20);
        for (const d of [`sha256:${'A'.repeat(64)}`, 'sha256:abc', `md5:${'a'.repeat(32)}`]) {
          await expectError(await v2.fetch(`${name}/blobs/uploads/?digest=${d}`, { method: 'POST', body: b.data }), 400, 'DIGEST_INVALID');
          await expectError(await v2.fetch(`${name}/blobs/uploads/?mount=${d}&from=${name}`, { method: 'POST' }), 400, 'DIGEST_INVALID');
          const loc = await v2.startUpload(name);
          await expectError(await v2.fetch(withQuery(loc, `digest=${d}`), { method: 'PUT', body: b.data }), 400, 'DIGEST_INVALID');
          // The session survives a refused close.
          assert.equal((await v2.fetch(loc)).status, 204);
        }
      });

      test('a manifest PUT by an invalid digest answers 400 DIGEST_INVALID', async () => {
        await expectError(await v2.putManifest(name, `sha256:${'A'.repeat(64)}`, img.bytes, MT.ociManifest), 400, 'DIGEST_INVALID');
      });
    });

    describe('control characters (PostgreSQL text cannot hold NUL)', () => {
      test('in paging cursors and filters: refused or matching nothing, never a 500', async () => {
        await expectError(await v2.fetch(`${name}/tags/list?last=%00`), 400, 'TAG_INVALID');
        await expectError(await v2.fetch(`${name}/tags/list?n=5&last=a%00b`), 400, 'TAG_INVALID');
        await expectError(await v2.fetch('_catalog?last=%00'), 400, 'NAME_INVALID');
        await expectError(await v2.fetch(`_catalog?last=${reg}/%00`), 400, 'NAME_INVALID');
        await expectError(await v2.fetch(`${reg}/_catalog?last=${reg}/a%00`), 400, 'NAME_INVALID');
        await expectError(await v2.fetch(`${name}/referrers/${img.digest}?last=%00`), 400, 'DIGEST_INVALID');
        for (const at of ['%00', 'application/x%00y', 'a%0Ab']) {
          const res = await v2.fetch(`${name}/referrers/${img.digest}?artifactType=${at}`);
          assert.equal(res.status, 200, at);
          assert.equal(res.headers.get('oci-filters-applied'), 'artifactType');
          assert.deepEqual(((await res.json()) as { manifests: unknown[] }).manifests, []);
        }
      });

      test('in a mount source: no mount, a normal upload (202)', async () => {
        for (const from of [`${reg}/%00`, `${reg}/a%00b`, '%00']) {
          const res = await v2.fetch(`${name}/blobs/uploads/?mount=${img.config.digest}&from=${from}`, { method: 'POST' });
          assert.equal(res.status, 202, from);
        }
      });

      test('in stored manifest strings: MANIFEST_INVALID; in annotations: kept exactly', async () => {
        const config = { mediaType: MT.ociConfig, digest: img.config.digest, size: img.config.size };
        for (const m of [
          { schemaVersion: 2, mediaType: MT.ociManifest, artifactType: 'application/x\u0000y', config, layers: [] },
          { schemaVersion: 2, mediaType: MT.ociManifest, config: { ...config, mediaType: 'application/x\u0000y' }, layers: [] },
          { schemaVersion: 2, mediaType: MT.ociIndex, artifactType: 'a\nb', manifests: [] },
          {
            schemaVersion: 2,
            mediaType: MT.ociIndex,
            manifests: [{ mediaType: MT.ociManifest, digest: img.digest, size: img.size, artifactType: '\u0000' }],
          },
        ]) {
          await expectError(await v2.putManifest(name, 'ctl', m), 400, 'MANIFEST_INVALID');
        }
        const ok = {
          schemaVersion: 2,
          mediaType: MT.ociManifest,
          config,
          layers: [],
          annotations: { 'k\u0000': 'v\u0000\n' },
          subject: { mediaType: MT.ociManifest, digest: img.digest, size: img.size },
        };
        const res = await v2.putManifest(name, 'ctl', ok);
        assert.equal(res.status, 201, await res.text());
        const got = await v2.fetch(`${name}/manifests/ctl`);
        assert.equal(await got.text(), JSON.stringify(ok));
        const refs = await v2.fetch(`${name}/referrers/${img.digest}`);
        const body = (await refs.json()) as { manifests: { annotations?: Record<string, string> }[] };
        assert.deepEqual(body.manifests[0]?.annotations, { 'k\u0000': 'v\u0000\n' });
      });
    });

    describe('upload sessions', () => {
      test('made-up, malformed and traversal upload ids answer 404 BLOB_UPLOAD_UNKNOWN', async () => {
        for (const id of ['00000000-0000-0000-0000-000000000000', 'not-a-uuid', '%2e%2e', '..%2f..%2fetc', 'a%5cb', 'a%00b', '%zz']) {
          for (const method of ['GET', 'PATCH', 'PUT', 'DELETE']) {
            const res = await raw(`/v2/${name}/blobs/uploads/${id}${method === 'PUT' ? `?digest=${img.config.digest}` : ''}`, method);
            expectRawError(res, 404, 'BLOB_UPLOAD_UNKNOWN');
          }
        }
      });

      test('a malformed Content-Range is refused and the session is unchanged', async () => {
        const loc = await v2.startUpload(name);
        for (const cr of ['abc', 'bytes=0-9', '-5', '0-', '5-2']) {
          const res = await v2.fetch(loc, { method: 'PATCH', body: 'x'.repeat(10), headers: { 'Content-Range': cr } });
          assert.ok(res.status === 400 || res.status === 416, `${cr}: ${res.status}`);
          await expectError(res, res.status, ['BLOB_UPLOAD_INVALID', 'RANGE_INVALID']);
        }
        const st = await v2.fetch(loc);
        assert.equal(st.headers.get('range'), '0-0');
      });

      test('Content-Length that disagrees with Content-Range answers 400 SIZE_INVALID; nothing is acknowledged', async () => {
        const b = randomBlob(100);
        const loc = await v2.startUpload(name);
        const path = new URL(loc, t.url).pathname;
        const res = await rawRequest(t.url, {
          method: 'PATCH',
          path,
          headers: { 'Content-Range': '0-99', 'Content-Length': 50 },
          body: b.data.subarray(0, 50),
        });
        expectRawError(res, 400, 'SIZE_INVALID');
        const st = await v2.fetch(loc);
        assert.equal(st.headers.get('range'), '0-0');
        const ok = await v2.fetch(loc, { method: 'PATCH', body: b.data, headers: { 'Content-Range': '0-99' } });
        assert.equal(ok.status, 202);
        const put = await v2.fetch(withQuery(loc, `digest=${b.digest}`), { method: 'PUT' });
        assert.equal(put.status, 201);
      });

      test('a streamed chunk longer or shorter than its Content-Range answers 400 SIZE_INVALID; nothing is acknowledged', async () => {
        const b = randomBlob(150);
        const loc = await v2.startUpload(name);
        for (const part of [b.data, b.data.subarray(0, 60)]) {
          const body = new ReadableStream<Uint8Array>({
            start(c) {
              c.enqueue(part);
              c.close();
            },
          });
          const res = await v2.fetch(loc, { method: 'PATCH', body, headers: { 'Content-Range': '0-99' }, duplex: 'half' });
          await expectError(res, 400, 'SIZE_INVALID');
          assert.equal((await v2.fetch(loc)).headers.get('range'), '0-0');
        }
        const ok = await v2.fetch(loc, { method: 'PATCH', body: b.data, headers: { 'Content-Range': '0-149' } });
        assert.equal(ok.status, 202);
        const put = await v2.fetch(withQuery(loc, `digest=${b.digest}`), { method: 'PUT' });
        assert.equal(put.status, 201, await put.text());
      });

      test('a Content-Length shorter than the body: only Content-Length bytes are taken', async () => {
        const b = randomBlob(100);
        const loc = await v2.startUpload(name);
        const path = new URL(loc, t.url).pathname;
        // 100 bytes sent, 60 declared: the server answers for 60; the other 40 are not a request.
        const out = await rawSocket(
          t.url,
          Buffer.from(`PATCH ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 60\r\n\r\n`),
          {
            then: [b.data.subarray(0, 60), b.data.subarray(60)],
            waitMs: 300,
          },
        );
        assert.equal(rawStatus(out), 202);
        assert.match(out, /\r\nRange: 0-59\r\n/i);
        const st = await v2.fetch(loc);
        assert.equal(st.headers.get('range'), '0-59');
        const rest = await v2.fetch(loc, { method: 'PATCH', body: b.data.subarray(60), headers: { 'Content-Range': '60-99' } });
        assert.equal(rest.status, 202);
        const put = await v2.fetch(withQuery(loc, `digest=${b.digest}`), { method: 'PUT' });
        assert.equal(put.status, 201, await put.text());
      });

      test('a monolithic push with a short Content-Length fails the digest check and stores nothing', async () => {
        const b = randomBlob(100);
        const out = await rawSocket(
          t.url,
          Buffer.from(`POST /v2/${name}/blobs/uploads/?digest=${b.digest} HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n`),
          {
            then: [b.data.subarray(0, 40), b.data.subarray(40)],
            waitMs: 300,
          },
        );
        assert.equal(rawStatus(out), 400);
        assert.match(out, /DIGEST_INVALID/);
        assert.equal((await v2.fetch(`${name}/blobs/${b.digest}`, { method: 'HEAD' })).status, 404);
      });

      test('a PATCH cut off mid-body acknowledges nothing; the session resumes at the acknowledged offset', async () => {
        const b = randomBlob(4000);
        const loc = await v2.startUpload(name);
        const first = await v2.fetch(loc, { method: 'PATCH', body: b.data.subarray(0, 1000), headers: { 'Content-Range': '0-999' } });
        assert.equal(first.status, 202);
        const path = new URL(loc, t.url).pathname;
        // Declares 3000 bytes, sends 1200, then the client goes away.
        await rawSocket(
          t.url,
          Buffer.concat([
            Buffer.from(`PATCH ${path} HTTP/1.1\r\nHost: x\r\nContent-Range: 1000-3999\r\nContent-Length: 3000\r\n\r\n`),
            b.data.subarray(1000, 2200),
          ]),
          { endAfterWrite: true, waitMs: 300 },
        );
        // Nothing of the cut chunk is acknowledged. (The next PATCH is serialised behind the cut one
        // on the session, so had the cut chunk been acknowledged, it would get a 416.)
        const st = await v2.fetch(loc);
        assert.equal(st.status, 204);
        assert.equal(st.headers.get('range'), '0-999');
        const rest = await v2.fetch(loc, { method: 'PATCH', body: b.data.subarray(1000), headers: { 'Content-Range': '1000-3999' } });
        assert.equal(rest.status, 202, await rest.text());
        assert.equal(rest.headers.get('range'), '0-3999');
        const put = await v2.fetch(withQuery(loc, `digest=${b.digest}`), { method: 'PUT' });
        assert.equal(put.status, 201, await put.text());
        const got = await v2.fetch(`${name}/blobs/${b.digest}`);
        assert.ok(Buffer.from(await got.arrayBuffer()).equals(b.data));
      });

      test('a monolithic POST cut off mid-body leaves nothing visible', async () => {
        const b = randomBlob(5000);
        const repo = `${reg}/${uniqueRepo('cut')}`;
        await rawSocket(
          t.url,
          Buffer.concat([
            Buffer.from(`POST /v2/${repo}/blobs/uploads/?digest=${b.digest} HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n`),
            b.data.subarray(0, 2000),
          ]),
          { endAfterWrite: true, waitMs: 200 },
        );
        // Give the server a moment to see the abort, then check nothing is visible.
        await new Promise((r) => setTimeout(r, 50));
        const res = await v2.fetch(`${repo}/blobs/${b.digest}`, { method: 'HEAD' });
        assert.equal(res.status, 404);
        // The same push, complete, works.
        await v2.pushBlob(repo, b);
      });

      test('a closing PUT cut off mid-body creates no blob; the session keeps its offset', async () => {
        const b = randomBlob(3000);
        const loc = await v2.startUpload(name);
        const first = await v2.fetch(loc, { method: 'PATCH', body: b.data.subarray(0, 1000) });
        assert.equal(first.status, 202);
        const path = new URL(loc, t.url).pathname;
        await rawSocket(
          t.url,
          Buffer.concat([
            Buffer.from(`PUT ${path}?digest=${b.digest} HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n`),
            b.data.subarray(1000, 1500),
          ]),
          { endAfterWrite: true, waitMs: 200 },
        );
        await new Promise((r) => setTimeout(r, 50));
        assert.equal((await v2.fetch(`${name}/blobs/${b.digest}`, { method: 'HEAD' })).status, 404);
        const st = await v2.fetch(loc);
        assert.equal(st.status, 204);
        assert.equal(st.headers.get('range'), '0-999');
        const put = await v2.fetch(withQuery(loc, `digest=${b.digest}`), {
          method: 'PUT',
          body: b.data.subarray(1000),
          headers: { 'Content-Range': '1000-2999' },
        });
        assert.equal(put.status, 201, await put.text());
      });

      test('a manifest PUT cut off mid-body stores nothing', async () => {
        await rawSocket(
          t.url,
          Buffer.concat([
            Buffer.from(
              `PUT /v2/${name}/manifests/cut HTTP/1.1\r\nHost: x\r\nContent-Type: ${MT.ociManifest}\r\nContent-Length: ${img.size}\r\n\r\n`,
            ),
            img.bytes.subarray(0, Math.floor(img.size / 2)),
          ]),
          { endAfterWrite: true, waitMs: 200 },
        );
        await new Promise((r) => setTimeout(r, 50));
        await expectError(await v2.fetch(`${name}/manifests/cut`), 404, 'MANIFEST_UNKNOWN');
      });
    });

    describe('everything else', () => {
      test('unknown endpoints and methods answer with a registry error body', async () => {
        for (const path of [`${name}/nothing`, `${name}/manifests/`, `${name}/blobs/`, `${name}/tags`, `${name}/tags/list/x`]) {
          const res = await v2.fetch(path);
          assert.ok(res.status === 404 || res.status === 400, `${path}: ${res.status}`);
          await expectError(res, res.status, ['UNSUPPORTED', 'NAME_INVALID', 'NAME_UNKNOWN']);
        }
        for (const [method, path] of [
          ['POST', `${name}/manifests/v1`],
          ['PATCH', `${name}/manifests/v1`],
          ['PUT', `${name}/blobs/${img.config.digest}`],
          ['POST', `${name}/tags/list`],
          ['PUT', `${name}/referrers/${img.digest}`],
          ['GET', `${name}/blobs/uploads/`],
          ['POST', '/v2/'],
          ['DELETE', `${reg}/_catalog`],
          ['POST', '/v2/_catalog'],
        ]) {
          const res = await v2.fetch(path!, { method });
          const err = await expectError(res, 405, 'UNSUPPORTED');
          assert.ok(err.message.length > 0);
          assert.ok(res.headers.get('allow'), `${method} ${path} names the allowed methods`);
        }
      });

      test('query strings that are not numbers or are repeated do not break paging', async () => {
        await expectError(await v2.fetch(`${name}/tags/list?n=`), 400, 'PAGINATION_NUMBER_INVALID').catch(async () => {
          // An empty n may also be read as "no n".
          const res = await v2.fetch(`${name}/tags/list?n=`);
          assert.equal(res.status, 200);
        });
        await expectError(await v2.fetch(`${name}/tags/list?n=%2D1`), 400, 'PAGINATION_NUMBER_INVALID');
        await expectError(await v2.fetch(`${name}/tags/list?n=99999999999999999999`), 400, 'PAGINATION_NUMBER_INVALID');
        const res = await v2.fetch(`${name}/tags/list?n=1&n=2`);
        assert.equal(res.status, 200);
        await res.arrayBuffer();
      });

      test('every error answer carries the API version header and a JSON body (HEAD: no body)', async () => {
        const res = await raw(`/v2/${name}/manifests/nope`, 'HEAD');
        assert.equal(res.status, 404);
        assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
        assert.equal(res.body.length, 0);
      });

      test('an oversized header block is refused by the server, not served', async () => {
        const res = await new Promise<number>((resolve, reject) => {
          const req = http.request(
            {
              host: new URL(t.url).hostname,
              port: new URL(t.url).port,
              path: `/v2/${name}/manifests/v1`,
              headers: { Authorization: adminAuthHeader(), 'X-Big': 'x'.repeat(70_000) },
              agent: false,
            },
            (r) => {
              r.resume();
              resolve(r.statusCode ?? 0);
            },
          );
          req.on('error', reject);
          req.end();
        });
        assert.equal(res, 431);
      });
    });
  });
}

for (const target of DEPLOYMENTS) {
  describe(`OCI size limits on ${deploymentName(target)}`, await deploymentGate(target), () => {
    let t: TestApp;
    let v2: V2;
    let name: string;

    before(async () => {
      t = await startTestApp(target, { limits: { blobMaxBytes: 1000 } });
      v2 = t.v2();
      name = `${await t.createRegistry()}/${uniqueRepo('limits')}`;
    });
    after(async () => {
      await t?.close();
    });

    test('a blob over limits.blobMaxBytes answers 413 SIZE_INVALID, monolithic or chunked; the session keeps its offset', async () => {
      const b = randomBlob(2000);
      await expectError(await v2.fetch(`${name}/blobs/uploads/?digest=${b.digest}`, { method: 'POST', body: b.data }), 413, 'SIZE_INVALID');
      const loc = await v2.startUpload(name);
      const p1 = await v2.fetch(loc, { method: 'PATCH', body: b.data.subarray(0, 600) });
      assert.equal(p1.status, 202);
      await expectError(await v2.fetch(loc, { method: 'PATCH', body: b.data.subarray(600, 1200) }), 413, 'SIZE_INVALID');
      assert.equal((await v2.fetch(loc)).headers.get('range'), '0-599');
      await expectError(
        await v2.fetch(withQuery(loc, `digest=${b.digest}`), { method: 'PUT', body: b.data.subarray(600) }),
        413,
        'SIZE_INVALID',
      );
      assert.equal((await v2.fetch(`${name}/blobs/${b.digest}`, { method: 'HEAD' })).status, 404);
      // Exactly the limit is fine.
      await v2.pushBlob(name, randomBlob(1000));
    });
  });
}
