import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { withRegistry } from './helpers/with-image.js';
import { KyselyScans } from '../src/meta/scans.js';
import { blobOf, expectError, imageIndex, manifestBytes, MT, uniqueRepo, type V2 } from './helpers/oci.js';

// ACR's /acr/v1 data-plane API: shapes, paging and ordering (keyset), PATCH of changeable
// attributes, DELETE of a repository, pull statistics.

/** /acr/v1 also answers management codes (REQUEST_INVALID), which the /v2 checker does not know. */
async function expectAcrError(res: Response, status: number, code: string): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.equal(JSON.parse(text).errors[0].code, code);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const backend of BACKENDS) {
  describe(`/acr/v1 on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let v2: V2;
    let reg: string;

    before(async () => {
      // scan.mode always: scans run without vulnerability data, so the scan field has something to show.
      ({ t, v2, reg } = await withRegistry(backend, { scan: { mode: 'always' } }));
    });
    after(async () => {
      await t?.close();
    });

    const acr = (path: string, init: RequestInit = {}) => v2.fetch(`/acr/v1/${path}`, init);
    const json = async (res: Response, status = 200) => {
      const text = await res.text();
      assert.equal(res.status, status, text);
      return JSON.parse(text);
    };
    const patch = (path: string, body: unknown) =>
      acr(path, { method: 'PATCH', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });

    test('repository attributes, PATCH, and _catalog with n/last and Link', async () => {
      const repo = uniqueRepo('attrs');
      const img = await v2.pushImage(`${reg}/${repo}`, 'v1');
      assert.equal((await v2.putManifest(`${reg}/${repo}`, 'v2', img.bytes)).status, 201);
      const a = await json(await acr(`${reg}/${repo}`));
      assert.equal(a.registry, reg);
      assert.equal(a.imageName, repo);
      assert.equal(a.manifestCount, 1);
      assert.equal(a.tagCount, 2);
      assert.ok(a.createdTime && a.lastUpdateTime);
      assert.deepEqual(a.changeableAttributes, { deleteEnabled: true, writeEnabled: true, listEnabled: true, readEnabled: true });
      const p = await json(await patch(`${reg}/${repo}`, { deleteEnabled: false }));
      assert.equal(p.changeableAttributes.deleteEnabled, false);
      assert.equal(p.changeableAttributes.writeEnabled, true);
      await expectAcrError(await patch(`${reg}/${repo}`, { bogus: true }), 400, 'REQUEST_INVALID');
      await expectAcrError(await patch(`${reg}/${repo}`, { readEnabled: 'no' }), 400, 'REQUEST_INVALID');
      await json(await patch(`${reg}/${repo}`, { deleteEnabled: true }));
      await expectError(await acr(`${reg}/nothere`), 404, 'NAME_UNKNOWN');

      const r2 = await t.createRegistry();
      for (const name of ['c', 'a', 'b']) await v2.pushImage(`${r2}/${name}`, 'x');
      const first = await acr(`${r2}/_catalog?n=2`);
      const body = await json(first);
      assert.deepEqual(body.repositories, [`${r2}/a`, `${r2}/b`]);
      assert.match(first.headers.get('link') ?? '', /rel="next"/);
      const next = /<([^>]+)>/.exec(first.headers.get('link')!)![1]!;
      assert.deepEqual((await json(await v2.fetch(next))).repositories, [`${r2}/c`]);
    });

    test('_tags: shape, n/last paging, orderby timedesc|timeasc pages correctly, digest filter', async () => {
      const name = `${reg}/${uniqueRepo('tags')}`;
      const repo = name.slice(reg.length + 1);
      const a = await v2.pushImage(name, 't3');
      const b = await v2.pushImage(name, 't1');
      await sleep(5);
      assert.equal((await v2.putManifest(name, 't4', a.bytes)).status, 201);
      await sleep(5);
      assert.equal((await v2.putManifest(name, 't2', b.bytes)).status, 201);
      const all = await json(await acr(`${reg}/${repo}/_tags`));
      assert.equal(all.registry, reg);
      assert.equal(all.imageName, repo);
      assert.deepEqual(
        all.tags.map((x: { name: string }) => x.name),
        ['t1', 't2', 't3', 't4'],
      );
      const t1 = all.tags[0];
      assert.equal(t1.digest, b.digest);
      assert.equal(t1.signed, false);
      assert.ok(t1.createdTime && t1.lastUpdateTime);
      assert.deepEqual(t1.changeableAttributes, { deleteEnabled: true, writeEnabled: true, listEnabled: true, readEnabled: true });

      async function walk(q: string): Promise<string[]> {
        const out: string[] = [];
        let url = `/acr/v1/${reg}/${repo}/_tags?n=1${q}`;
        for (let i = 0; i < 10; i++) {
          const res = await v2.fetch(url);
          const body = await json(res);
          out.push(...body.tags.map((x: { name: string }) => x.name));
          const l = res.headers.get('link');
          if (!l) break;
          assert.equal(body.link, l);
          url = /<([^>]+)>/.exec(l)![1]!;
        }
        return out;
      }
      assert.deepEqual(await walk(''), ['t1', 't2', 't3', 't4']);
      const desc = await walk('&orderby=timedesc');
      const asc = await walk('&orderby=timeasc');
      assert.equal(desc.length, 4);
      assert.deepEqual([...desc].reverse(), asc);
      assert.equal(desc[0], 't2');
      assert.equal(asc[asc.length - 1], 't2');
      const byDigest = await json(await acr(`${reg}/${repo}/_tags?digest=${a.digest}`));
      assert.deepEqual(
        byDigest.tags.map((x: { name: string }) => x.name),
        ['t3', 't4'],
      );
      await expectAcrError(await acr(`${reg}/${repo}/_tags?orderby=sideways`), 400, 'REQUEST_INVALID');

      const one = await json(await acr(`${reg}/${repo}/_tags/t1`));
      assert.equal(one.tag.name, 't1');
      assert.equal(one.tag.digest, b.digest);
      await expectError(await acr(`${reg}/${repo}/_tags/nope`), 404, 'MANIFEST_UNKNOWN');
      const p = await json(await patch(`${reg}/${repo}/_tags/t1`, { writeEnabled: false }));
      assert.equal(p.tag.changeableAttributes.writeEnabled, false);
      await json(await patch(`${reg}/${repo}/_tags/t1`, { writeEnabled: true }));
      assert.equal((await acr(`${reg}/${repo}/_tags/t1`, { method: 'DELETE' })).status, 202);
      await expectError(await acr(`${reg}/${repo}/_tags/t1`), 404, 'MANIFEST_UNKNOWN');
    });

    test('_manifests: imageSize, architecture/os from the config, configMediaType, tags, references of an index; ordering and paging', async () => {
      const name = `${reg}/${uniqueRepo('mf')}`;
      const repo = name.slice(reg.length + 1);
      const amd = await v2.pushImage(name, 'amd', {
        config: blobOf(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })),
      });
      await sleep(5);
      const arm = await v2.pushImage(name, 'arm', {
        config: blobOf(JSON.stringify({ architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })),
      });
      await sleep(5);
      const index = imageIndex([
        { mediaType: MT.ociManifest, digest: amd.digest, size: amd.size, platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: MT.ociManifest, digest: arm.digest, size: arm.size, platform: { architecture: 'arm64', os: 'linux' } },
      ] as never);
      const res = await v2.putManifest(name, 'multi', index, MT.ociIndex);
      assert.equal(res.status, 201);
      const indexDigest = res.headers.get('docker-content-digest')!;

      const one = (await json(await acr(`${reg}/${repo}/_manifests/${amd.digest}`))).manifest;
      assert.equal(one.digest, amd.digest);
      assert.equal(one.imageSize, amd.size + amd.config.size + amd.layers.reduce((n, l) => n + l.size, 0), 'manifest, config and layers');
      assert.equal(one.architecture, 'amd64');
      assert.equal(one.os, 'linux');
      assert.equal(one.mediaType, MT.ociManifest);
      assert.equal(one.configMediaType, MT.ociConfig);
      assert.deepEqual(one.tags, ['amd']);
      assert.equal(one.pullCount, 0);
      assert.ok(one.createdTime && one.lastUpdateTime);
      const ix = (await json(await acr(`${reg}/${repo}/_manifests/${indexDigest}`))).manifest;
      assert.deepEqual(ix.references, [
        { digest: amd.digest, architecture: 'amd64', os: 'linux' },
        { digest: arm.digest, architecture: 'arm64', os: 'linux' },
      ]);
      const imageOf = (i: typeof amd) => i.size + i.config.size + i.layers.reduce((n, l) => n + l.size, 0);
      assert.equal(ix.imageSize, manifestBytes(index).length + imageOf(amd) + imageOf(arm), 'the index and its children');

      const asc: string[] = [];
      let url = `/acr/v1/${reg}/${repo}/_manifests?n=2&orderby=timeasc`;
      for (;;) {
        const r = await v2.fetch(url);
        const body = await json(r);
        assert.equal(body.imageName, repo);
        asc.push(...body.manifests.map((m: { digest: string }) => m.digest));
        const l = r.headers.get('link');
        if (!l) break;
        url = /<([^>]+)>/.exec(l)![1]!;
      }
      assert.deepEqual(asc, [amd.digest, arm.digest, indexDigest]);
      const desc = (await json(await acr(`${reg}/${repo}/_manifests?orderby=timedesc`))).manifests.map((m: { digest: string }) => m.digest);
      assert.deepEqual(desc, [indexDigest, arm.digest, amd.digest]);
      const byDigest = (await json(await acr(`${reg}/${repo}/_manifests`))).manifests.map((m: { digest: string }) => m.digest);
      assert.deepEqual(byDigest, [...byDigest].sort());

      const p = await json(await patch(`${reg}/${repo}/_manifests/${arm.digest}`, { deleteEnabled: false, listEnabled: false }));
      assert.deepEqual(p.manifest.changeableAttributes, {
        deleteEnabled: false,
        writeEnabled: true,
        listEnabled: false,
        readEnabled: true,
      });
      const listed = (await json(await acr(`${reg}/${repo}/_manifests`))).manifests.map((m: { digest: string }) => m.digest);
      assert.ok(!listed.includes(arm.digest));
    });

    test('pull statistics: lastPulledTime and pullCount per tag and manifest', async () => {
      const name = `${reg}/${uniqueRepo('pulls')}`;
      const repo = name.slice(reg.length + 1);
      const img = await v2.pushImage(name, 'p');
      for (let i = 0; i < 3; i++)
        assert.equal((await v2.fetch(`${name}/manifests/p`, { headers: { Accept: MT.ociManifest } })).status, 200);
      assert.equal((await v2.fetch(`${name}/manifests/${img.digest}`, { headers: { Accept: MT.ociManifest } })).status, 200);
      const tag = (await json(await acr(`${reg}/${repo}/_tags/p`))).tag;
      assert.equal(tag.pullCount, 3);
      assert.ok(tag.lastPulledTime);
      const m = (await json(await acr(`${reg}/${repo}/_manifests/${img.digest}`))).manifest;
      assert.equal(m.pullCount, 4);
      assert.ok(m.lastPulledTime);
    });

    test('scan (Berth extension): on scanned manifests and their tags, absent otherwise; one scans query per page', async () => {
      const repo = uniqueRepo('scanattr');
      const name = `${reg}/${repo}`;
      const a = await v2.pushImage(name, 'a');
      const b = await v2.pushImage(name, 'b');
      // An artifact is not scanned: no scan row, no field.
      const art = await v2.pushImage(name, 'art', { artifactType: 'application/vnd.example.thing.v1+json' });
      const scanOf = async (digest: string) => (await json(await acr(`${name}/_manifests/${digest}`))).manifest.scan;
      for (const d of [a.digest, b.digest]) {
        const end = Date.now() + 30_000;
        while (['queued', 'running'].includes((await scanOf(d)).status)) {
          assert.ok(Date.now() < end, 'the scan finished');
          await sleep(50);
        }
      }
      // Random bytes are no layer a scan can read: failed, with the time and no summary.
      const scanned = await scanOf(a.digest);
      assert.equal(scanned.status, 'failed');
      assert.ok(scanned.scannedAt);
      assert.equal(scanned.summary, undefined);
      assert.equal(await scanOf(art.digest), undefined);
      assert.deepEqual((await json(await acr(`${name}/_tags/a`))).tag.scan, scanned);

      const calls: number[][] = [];
      // A spy on the real store (the app's instance is a KyselyScans): counts the queries a page makes.
      const proto = KyselyScans.prototype;
      const original = Object.getOwnPropertyDescriptor(proto, 'summaries')!;
      Object.defineProperty(proto, 'summaries', {
        ...original,
        value(this: KyselyScans, ids: readonly number[]) {
          calls.push([...ids]);
          return (original.value as KyselyScans['summaries']).call(this, ids);
        },
      });
      try {
        const manifests = (await json(await acr(`${name}/_manifests?n=10`))).manifests as { digest: string; scan?: { status: string } }[];
        assert.equal(calls.length, 1);
        assert.equal(calls[0]!.length, 3);
        assert.deepEqual(
          new Map(manifests.map((m) => [m.digest, m.scan?.status])),
          new Map([
            [a.digest, 'failed'],
            [b.digest, 'failed'],
            [art.digest, undefined],
          ]),
        );
        const tags = (await json(await acr(`${name}/_tags?n=10`))).tags as { name: string; scan?: { status: string } }[];
        assert.equal(calls.length, 2);
        assert.deepEqual(
          tags.map((t) => [t.name, t.scan?.status]),
          [
            ['a', 'failed'],
            ['art', undefined],
            ['b', 'failed'],
          ],
        );
        const listing = await json(await v2.fetch(`/api/registries/${reg}/repositories/${repo}/_manifests?n=10`));
        assert.equal(calls.length, 3);
        assert.equal(listing.value.find((m: { digest: string }) => m.digest === a.digest).scan.status, 'failed');
      } finally {
        Object.defineProperty(proto, 'summaries', original);
      }
    });

    test('DELETE repository answers 202 with the digests and tags deleted', async () => {
      const name = `${reg}/${uniqueRepo('del')}`;
      const repo = name.slice(reg.length + 1);
      const a = await v2.pushImage(name, 'a');
      const b = await v2.pushImage(name, 'b');
      const out = await json(await acr(`${reg}/${repo}`, { method: 'DELETE' }), 202);
      assert.deepEqual(out.manifestsDeleted, [a.digest, b.digest].sort());
      assert.deepEqual(out.tagsDeleted, ['a', 'b']);
      await expectError(await acr(`${reg}/${repo}`), 404, 'NAME_UNKNOWN');
    });

    test('authorization: anonymous gets 401 with a challenge; a caller without grants gets 403 or 401', async () => {
      const anon = t.v2({ authorization: null });
      const res = await anon.fetch(`/acr/v1/${reg}/whatever`);
      await expectError(res, 401, 'UNAUTHORIZED');
      await expectError(await anon.fetch(`/acr/v1/${reg}/_catalog`), 401, 'UNAUTHORIZED');
      await expectError(await acr(`${reg}/x/_bogus`), 404, 'UNSUPPORTED');
    });
  });
}
