import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TestApp } from './helpers/app.js';
import { DEPLOYMENTS, deploymentGate, deploymentName } from './helpers/storages.js';
import { withImage } from './helpers/with-image.js';
import {
  expectError,
  imageIndex,
  imageManifest,
  manifestBytes,
  MT,
  randomBlob,
  sha256,
  uniqueRepo,
  type V2,
  type Descriptor,
  type PushedImage,
} from './helpers/oci.js';

// distribution-spec "Content Discovery": tags/list with n/last and Link paging, _catalog paging
// (per registry and across registries), and the referrers API with artifactType filtering.

/** The target of a Link: <url>; rel="next" header, or null. */
function nextLink(res: Response): string | null {
  const link = res.headers.get('link');
  if (!link) return null;
  const m = /^<([^>]+)>;\s*rel="next"$/.exec(link);
  assert.ok(m, `malformed Link header: ${link}`);
  return m[1]!;
}

const TAGS = ['latest', 'v1.0', 'V1.0', 'v1.10', 'v1.2', '_under', '0', '9z', 'A', 'a', 'Z-9', 'z.z', 'b__b'];
const ASCII_SORTED = [...TAGS].sort(); // JS sort of ASCII strings == Go's sort.Strings

for (const target of DEPLOYMENTS) {
  describe(`OCI content discovery on ${deploymentName(target)}`, await deploymentGate(target), () => {
    let t: TestApp;
    let v2: V2;
    let reg: string;
    let name: string;
    let img: PushedImage;

    before(async () => {
      ({ t, v2, reg, name, img } = await withImage(target, { repo: 'disc', tag: TAGS[0]! }));
      const q = TAGS.slice(1)
        .map((x) => `tag=${x}`)
        .join('&');
      const res = await v2.putManifest(name, img.digest, img.bytes, MT.ociManifest, q);
      assert.equal(res.status, 201, await res.text());
    });
    after(async () => {
      await t?.close();
    });

    async function tags(query = ''): Promise<{ res: Response; body: { name: string; tags: string[] } }> {
      const res = await v2.fetch(`${name}/tags/list${query}`);
      assert.equal(res.status, 200, query);
      return { res, body: (await res.json()) as { name: string; tags: string[] } };
    }

    test('tags/list returns every tag in ASCIIbetical order with the repository name', async () => {
      const { res, body } = await tags();
      assert.equal(body.name, name);
      assert.deepEqual(body.tags, ASCII_SORTED);
      assert.equal(nextLink(res), null);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    });

    test('tags/list ?n= pages with a Link rel="next" that walks the whole list', async () => {
      const seen: string[] = [];
      let url: string | null = `/v2/${name}/tags/list?n=4`;
      let pages = 0;
      while (url) {
        const res: Response = await v2.fetch(url);
        assert.equal(res.status, 200);
        const body = (await res.json()) as { tags: string[] };
        url = nextLink(res);
        if (url) assert.equal(body.tags.length, 4, 'a page with a Link holds n tags');
        seen.push(...body.tags);
        assert.ok(++pages < 20);
      }
      assert.deepEqual(seen, ASCII_SORTED);
      assert.equal(pages, Math.ceil(TAGS.length / 4));
    });

    test('tags/list ?n=<count> returns exactly n when more exist', async () => {
      const { body } = await tags('?n=3');
      assert.deepEqual(body.tags, ASCII_SORTED.slice(0, 3));
    });

    test('tags/list ?last= starts after that tag, with or without n', async () => {
      const last = ASCII_SORTED[4]!;
      assert.deepEqual((await tags(`?last=${last}`)).body.tags, ASCII_SORTED.slice(5));
      assert.deepEqual((await tags(`?n=2&last=${last}`)).body.tags, ASCII_SORTED.slice(5, 7));
      assert.deepEqual((await tags(`?last=${ASCII_SORTED.at(-1)}`)).body.tags, []);
      // A value between two tags works too.
      assert.deepEqual(
        (await tags('?last=a0')).body.tags,
        ASCII_SORTED.filter((x) => x > 'a0'),
      );
    });

    test('tags/list ?n=0 returns an empty list and no Link', async () => {
      const { res, body } = await tags('?n=0');
      assert.deepEqual(body.tags, []);
      assert.equal(res.headers.get('link'), null);
    });

    test('tags/list with a huge n is not an error', async () => {
      const { body } = await tags('?n=1000000000');
      assert.deepEqual(body.tags, ASCII_SORTED);
    });

    test('tags/list with an invalid n answers 400 PAGINATION_NUMBER_INVALID', async () => {
      for (const n of ['-1', 'abc', '1.5', '1e3', '0x10']) {
        await expectError(await v2.fetch(`${name}/tags/list?n=${n}`), 400, 'PAGINATION_NUMBER_INVALID');
      }
    });

    test('tags/list of a repository with no tags left is an empty list', async () => {
      const repo = `${reg}/${uniqueRepo('untagged')}`;
      const i = await v2.pushImage(repo, 'only');
      assert.equal((await v2.fetch(`${repo}/manifests/only`, { method: 'DELETE' })).status, 202);
      const res = await v2.fetch(`${repo}/tags/list`);
      assert.equal(res.status, 200);
      assert.deepEqual(((await res.json()) as { tags: string[] }).tags, []);
      assert.equal((await v2.fetch(`${repo}/manifests/${i.digest}`, { method: 'HEAD' })).status, 200);
    });

    test('HEAD is answered wherever GET is (RFC 9110): tags, catalogs, referrers', async () => {
      for (const path of [`${name}/tags/list`, `${name}/tags/list?n=2`, `${reg}/_catalog`, '_catalog', `${name}/referrers/${img.digest}`]) {
        const get = await v2.fetch(path);
        const head = await v2.fetch(path, { method: 'HEAD' });
        assert.equal(head.status, 200, path);
        assert.equal(head.headers.get('content-length'), get.headers.get('content-length'), path);
        assert.equal(head.headers.get('link'), get.headers.get('link'), path);
        assert.equal((await head.arrayBuffer()).byteLength, 0);
        await get.arrayBuffer();
      }
      assert.equal((await v2.fetch(`${reg}/never-pushed/tags/list`, { method: 'HEAD' })).status, 404);
    });

    describe('catalog', () => {
      let creg: string;
      const repos = ['zeta', 'alpha', 'alpha/nested', 'alpha-2', 'beta.x', 'm_1'];

      before(async () => {
        creg = await t.createRegistry();
        for (const r of repos) await v2.pushBlob(`${creg}/${r}`, randomBlob(8));
      });

      test("/v2/<registry>/_catalog lists that registry's repositories in byte order", async () => {
        const res = await v2.fetch(`${creg}/_catalog`);
        assert.equal(res.status, 200);
        const body = (await res.json()) as { repositories: string[] };
        assert.deepEqual(body.repositories, repos.map((r) => `${creg}/${r}`).sort());
        assert.equal(nextLink(res), null);
      });

      test('/v2/<registry>/_catalog pages with n and Link', async () => {
        const seen: string[] = [];
        let url: string | null = `/v2/${creg}/_catalog?n=2`;
        while (url) {
          const res: Response = await v2.fetch(url);
          assert.equal(res.status, 200);
          const body = (await res.json()) as { repositories: string[] };
          url = nextLink(res);
          if (url) assert.equal(body.repositories.length, 2);
          seen.push(...body.repositories);
          assert.ok(seen.length <= repos.length * 2);
        }
        assert.deepEqual(seen, repos.map((r) => `${creg}/${r}`).sort());
      });

      test('/v2/_catalog lists <registry>/<repository> across registries, paged', async () => {
        const all: string[] = [];
        let url: string | null = '/v2/_catalog?n=3';
        while (url) {
          const res: Response = await v2.fetch(url);
          assert.equal(res.status, 200);
          const body = (await res.json()) as { repositories: string[] };
          url = nextLink(res);
          all.push(...body.repositories);
          assert.ok(all.length < 1000);
        }
        for (const r of repos) assert.ok(all.includes(`${creg}/${r}`), r);
        assert.ok(all.includes(name));
        assert.deepEqual(all, [...all].sort(), 'catalog is in byte order');
        assert.equal(new Set(all).size, all.length, 'no repository twice');
      });

      test('_catalog n=0, huge n, and invalid n', async () => {
        const zero = await v2.fetch(`${creg}/_catalog?n=0`);
        assert.deepEqual(((await zero.json()) as { repositories: string[] }).repositories, []);
        assert.equal(zero.headers.get('link'), null);
        const huge = await v2.fetch(`${creg}/_catalog?n=1000000000`);
        assert.equal(((await huge.json()) as { repositories: string[] }).repositories.length, repos.length);
        await expectError(await v2.fetch(`${creg}/_catalog?n=-1`), 400, 'PAGINATION_NUMBER_INVALID');
        await expectError(await v2.fetch('_catalog?n=abc'), 400, 'PAGINATION_NUMBER_INVALID');
      });

      test('_catalog of an unknown registry answers 404 NAME_UNKNOWN', async () => {
        await expectError(await v2.fetch('nosuchregistry/_catalog'), 404, 'NAME_UNKNOWN');
      });
    });

    describe('referrers', () => {
      let subject: PushedImage;
      let subjectDesc: Descriptor;
      let rname: string;
      const pushed: { digest: string; size: number; mediaType: string; artifactType?: string; annotations?: Record<string, string> }[] = [];

      before(async () => {
        rname = `${reg}/${uniqueRepo('refs')}`;
        subject = await v2.pushImage(rname, 'subject');
        subjectDesc = { mediaType: MT.ociManifest, digest: subject.digest, size: subject.size };
        const empty = await v2.pushBlob(rname, Buffer.from('{}'));
        const emptyDesc = { mediaType: MT.ociEmpty, digest: empty.digest, size: empty.size };
        // 1: artifactType + annotations
        const sig = imageManifest(emptyDesc, [], {
          subject: subjectDesc,
          artifactType: 'application/vnd.example.sig',
          annotations: { 'org.example.k': 'v', 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
        });
        // 2: no artifactType: falls back to config mediaType
        const sbomConfig = await v2.pushBlob(rname, Buffer.from('{"sbom":true}'));
        const sbom = imageManifest(
          { mediaType: 'application/vnd.example.sbom.config', digest: sbomConfig.digest, size: sbomConfig.size },
          [],
          { subject: subjectDesc },
        );
        // 3: an index referrer without artifactType: omitted
        const idx = imageIndex([], { subject: subjectDesc, annotations: { kind: 'index' } });
        // 4: a second of type sig
        const sig2 = imageManifest(emptyDesc, [], {
          subject: subjectDesc,
          artifactType: 'application/vnd.example.sig',
          annotations: { n: '2' },
        });
        for (const [m, expected] of [
          [sig, { artifactType: 'application/vnd.example.sig', annotations: sig.annotations as Record<string, string> }],
          [sbom, { artifactType: 'application/vnd.example.sbom.config' }],
          [idx, { annotations: { kind: 'index' } }],
          [sig2, { artifactType: 'application/vnd.example.sig', annotations: { n: '2' } }],
        ] as const) {
          const bytes = manifestBytes(m);
          const res = await v2.putManifest(rname, sha256(bytes), bytes, m.mediaType as string);
          assert.equal(res.status, 201, await res.text());
          assert.equal(res.headers.get('oci-subject'), subject.digest);
          pushed.push({ digest: sha256(bytes), size: bytes.length, mediaType: m.mediaType as string, ...expected });
        }
        // Not a referrer of this subject: a manifest with another subject.
        const otherSub = imageManifest(emptyDesc, [], {
          subject: { ...subjectDesc, digest: randomBlob(3).digest },
          artifactType: 'application/vnd.example.sig',
        });
        assert.equal((await v2.putManifest(rname, 'other-subject', otherSub)).status, 201);
      });

      async function referrers(query = '', digest = subject.digest, repo = rname) {
        const res = await v2.fetch(`${repo}/referrers/${digest}${query}`);
        assert.equal(res.status, 200, await res.clone().text());
        assert.equal(res.headers.get('content-type'), MT.ociIndex);
        const body = (await res.json()) as { schemaVersion: number; mediaType: string; manifests: Record<string, unknown>[] };
        assert.equal(body.schemaVersion, 2);
        assert.equal(body.mediaType, MT.ociIndex);
        return { res, body };
      }

      test('lists every referrer with mediaType, digest, size, artifactType and annotations', async () => {
        const { res, body } = await referrers();
        assert.equal(res.headers.get('oci-filters-applied'), null);
        const got = [...body.manifests].sort((a, b) => String(a.digest).localeCompare(String(b.digest)));
        const want = [...pushed].sort((a, b) => a.digest.localeCompare(b.digest));
        assert.deepEqual(
          got,
          want.map((p) => ({
            mediaType: p.mediaType,
            digest: p.digest,
            size: p.size,
            ...(p.artifactType ? { artifactType: p.artifactType } : {}),
            ...(p.annotations ? { annotations: p.annotations } : {}),
          })),
        );
      });

      test('artifactType filter answers only matches and OCI-Filters-Applied', async () => {
        const { res, body } = await referrers(`?artifactType=${encodeURIComponent('application/vnd.example.sig')}`);
        assert.equal(res.headers.get('oci-filters-applied'), 'artifactType');
        assert.equal(body.manifests.length, 2);
        for (const m of body.manifests) assert.equal(m.artifactType, 'application/vnd.example.sig');
        const none = await referrers(`?artifactType=${encodeURIComponent('application/vnd.example.none')}`);
        assert.deepEqual(none.body.manifests, []);
        assert.equal(none.res.headers.get('oci-filters-applied'), 'artifactType');
        const sbom = await referrers(`?artifactType=${encodeURIComponent('application/vnd.example.sbom.config')}`);
        assert.equal(sbom.body.manifests.length, 1);
      });

      test('an unknown subject or repository has an empty index (200, never 404)', async () => {
        const missing = randomBlob(9).digest;
        assert.deepEqual((await referrers('', missing)).body.manifests, []);
        assert.deepEqual((await referrers('', subject.digest, `${reg}/no-such-repo`)).body.manifests, []);
        // An invalid name is still a bad request.
        await expectError(await v2.fetch(`${reg}/Bad/referrers/${subject.digest}`), 400, 'NAME_INVALID');
      });

      test('an unknown registry has an empty index too (200, never 404)', async () => {
        // "MUST NOT return a 404": not for an unknown registry either (nor one whose name cannot exist).
        assert.deepEqual((await referrers('', subject.digest, 'nosuchregistry/app')).body.manifests, []);
        assert.deepEqual((await referrers('', subject.digest, 'ab/app')).body.manifests, []);
      });

      test('referrers pushed before their subject are listed', async () => {
        const repo = `${reg}/${uniqueRepo('early')}`;
        const empty = await v2.pushBlob(repo, Buffer.from('{}'));
        const future = { mediaType: MT.ociManifest, digest: randomBlob(20).digest, size: 500 };
        const m = imageManifest({ mediaType: MT.ociEmpty, digest: empty.digest, size: empty.size }, [], {
          subject: future,
          artifactType: 'application/vnd.example.early',
        });
        const res = await v2.putManifest(repo, 'early', m);
        assert.equal(res.status, 201);
        const { body } = await referrers('', future.digest, repo);
        assert.equal(body.manifests.length, 1);
        assert.equal(body.manifests[0]!.artifactType, 'application/vnd.example.early');
      });

      test('a deleted referrer disappears from the list', async () => {
        const repo = `${reg}/${uniqueRepo('delref')}`;
        const s = await v2.pushImage(repo, 'subject');
        const empty = await v2.pushBlob(repo, Buffer.from('{}'));
        const m = imageManifest({ mediaType: MT.ociEmpty, digest: empty.digest, size: empty.size }, [], {
          subject: { mediaType: MT.ociManifest, digest: s.digest, size: s.size },
          artifactType: 'application/vnd.example.x',
        });
        const bytes = manifestBytes(m);
        assert.equal((await v2.putManifest(repo, sha256(bytes), bytes, MT.ociManifest)).status, 201);
        assert.equal((await referrers('', s.digest, repo)).body.manifests.length, 1);
        assert.equal((await v2.fetch(`${repo}/manifests/${sha256(bytes)}`, { method: 'DELETE' })).status, 202);
        assert.equal((await referrers('', s.digest, repo)).body.manifests.length, 0);
      });

      test('referrers page with n and a Link header', async () => {
        const seen: string[] = [];
        let url: string | null = `/v2/${rname}/referrers/${subject.digest}?n=1`;
        while (url) {
          const res: Response = await v2.fetch(url);
          assert.equal(res.status, 200);
          const body = (await res.json()) as { manifests: { digest: string }[] };
          url = nextLink(res);
          seen.push(...body.manifests.map((m) => m.digest));
          assert.ok(seen.length <= pushed.length);
        }
        assert.deepEqual([...seen].sort(), pushed.map((p) => p.digest).sort());
      });

      test('an invalid subject digest answers 400', async () => {
        for (const d of ['sha256:abc', 'latest', 'md5:0123456789abcdef0123456789abcdef']) {
          await expectError(await v2.fetch(`${rname}/referrers/${d}`), 400, 'DIGEST_INVALID');
        }
      });
    });
  });
}
