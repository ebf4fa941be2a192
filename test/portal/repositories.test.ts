import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { adminAuthHeader, ADMIN_PASSWORD, ADMIN_USER, startTestApp, type TestApp } from '../helpers/app.js';
import { BACKENDS, backendGate } from '../helpers/backends.js';
import { blobOf, MT, sha256, type PushedImage } from '../helpers/oci.js';
import { assertSecurityHeaders, PortalClient, unescapeHtml } from '../helpers/portal.js';

// The repositories screens of the portal over HTTP, on both backends: the repositories tab, a
// repository's tags (paged, sorted and filtered at thousands of tags), manifests, recycle bin and
// settings, the manifest page with its referrers and downloads, and every change (locks, deletes,
// restore) refused to users whose roles do not allow it, with nothing changed.

const HOSTILE = `<script>alert("x")</script> ' " & é 🚢 =\``;
const TAG_COUNT = 2100;

/** The tag names of a tags page, in the order shown. */
const tagsShown = (page: string) => [...page.matchAll(/<tr>\s*<td class="name">([^<]+)<\/td>/g)].map((m) => unescapeHtml(m[1]!));
/** The Next page link of a page, if any. */
const nextLink = (page: string) => {
  const m = /<a href="([^"]+)" rel="next">Next page<\/a>/.exec(page);
  return m ? unescapeHtml(m[1]!) : undefined;
};

for (const backend of BACKENDS) {
  describe(`portal repositories on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let reg: string;
    let owner: PortalClient;
    let puller: PortalClient;
    let reader: PortalClient;
    let nobody: PortalClient;
    let web: PushedImage;
    let sig: PushedImage;
    const pid = process.pid;
    const users = {
      puller: { name: `repos.puller${pid}`, password: 'puller password 1' },
      reader: { name: `repos.reader${pid}`, password: 'reader password 1' },
      nobody: { name: `repos.nobody${pid}`, password: 'nobody password 1' },
    };

    async function call(method: string, path: string, body?: unknown): Promise<Response> {
      return t.fetch(path, {
        method,
        headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    }
    async function ok(method: string, path: string, body?: unknown): Promise<unknown> {
      const res = await call(method, path, body);
      const text = await res.text();
      assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
      return text ? JSON.parse(text) : undefined;
    }
    const tagAttrs = async (repo: string, tag: string) =>
      ((await ok('GET', `/acr/v1/${reg}/${repo}/_tags/${tag}`)) as { tag: { changeableAttributes: Record<string, boolean> } }).tag;
    const base = () => `/portal/registries/${reg}/repositories`;

    before(async () => {
      t = await startTestApp(backend);
      reg = await t.createRegistry(`portalrepos${pid}`, 'Standard');
      for (const u of Object.values(users)) await ok('POST', '/api/users', u);
      await ok('POST', '/api/role-assignments', { assignee: users.puller.name, role: 'AcrPull', scope: `/registries/${reg}` });
      await ok('POST', '/api/role-assignments', { assignee: users.reader.name, role: 'Reader', scope: `/registries/${reg}` });
      const v2 = t.v2();
      const config = blobOf(
        JSON.stringify({
          architecture: 'arm64',
          os: 'linux',
          created: '2026-01-02T03:04:05Z',
          config: { Env: ['PATH=/usr/bin', `EVIL=${HOSTILE}`], Cmd: ['/bin/app', '--flag'], Labels: { [`label${HOSTILE}`]: HOSTILE } },
          rootfs: { type: 'layers', diff_ids: [] },
        }),
      );
      web = await v2.pushImage(`${reg}/app/web`, 'v1', { config, layers: 2, annotations: { 'org.example.note': HOSTILE } });
      sig = await v2.pushImage(`${reg}/app/web`, 'sig', {
        artifactType: `application/vnd.example.sig+${HOSTILE.slice(0, 8)}`,
        subject: { mediaType: MT.ociManifest, digest: web.digest, size: web.size },
        annotations: { [`k${HOSTILE}`]: 'v' },
      });
      // An SBOM of the signature: the tree is recursive.
      await v2.pushImage(`${reg}/app/web`, 'sbom', {
        artifactType: 'application/spdx+json',
        subject: { mediaType: MT.ociManifest, digest: sig.digest, size: sig.size },
      });
      await v2.pushImage(`${reg}/app/api`, 'v1');
      await v2.pushImage(`${reg}/tools/cli`, '1.0');
      // Thousands of tags on one manifest. Pushing each over /v2 would take most of a minute on
      // PostgreSQL, so the rest are written to the metadata in one go, two by two with the same
      // update time (the name breaks the tie, as in the API's keyset).
      const many = await v2.pushImage(`${reg}/many`, 'v0');
      const db = t.app.meta.db;
      const row = await db
        .selectFrom('manifests')
        .select(['id', 'repository_id'])
        .where('digest', '=', many.digest)
        .executeTakeFirstOrThrow();
      const at = (i: number) => new Date(Date.UTC(2026, 0, 1) + Math.floor(i / 2) * 1000).toISOString();
      const rows = Array.from({ length: TAG_COUNT - 1 }, (_, i) => ({
        repository_id: row.repository_id,
        name: `v${i + 1}`,
        manifest_id: row.id,
        created_at: at(i),
        updated_at: at(i),
      }));
      await db.transaction().execute(async (trx) => {
        for (let i = 0; i < rows.length; i += 500)
          await trx
            .insertInto('tags')
            .values(rows.slice(i, i + 500))
            .execute();
      });
      owner = await PortalClient.signedIn(t, ADMIN_USER, ADMIN_PASSWORD);
      puller = await PortalClient.signedIn(t, users.puller.name, users.puller.password);
      reader = await PortalClient.signedIn(t, users.reader.name, users.reader.password);
      nobody = await PortalClient.signedIn(t, users.nobody.name, users.nobody.password);
    });
    after(() => t?.close());

    test('the repositories tab: names linked, tag and manifest counts, pull commands; a prefix filter and an order', async () => {
      const page = await owner.page(base());
      for (const r of ['app/api', 'app/web', 'many', 'tools/cli'])
        assert.match(page, new RegExp(`<a href="/portal/registries/${reg}/repositories/${r}">${r}</a>`), r);
      assert.ok(page.includes(`docker pull ${t.host}/${reg}/app/web`), 'pull command');
      assert.match(
        page,
        /<a href="[^"]+\/repositories\/many">many<\/a><\/th>\s*<td class="num">2100<\/td>\s*<td class="num">1<\/td>/,
        'counts',
      );
      assert.match(page, /aria-current="page">Repositories</, 'the tab is current');
      const app = await owner.page(`${base()}?prefix=app%2F`);
      assert.deepEqual(
        [...app.matchAll(/<th scope="row"><a [^>]+>([^<]+)<\/a>/g)].map((m) => m[1]),
        ['app/api', 'app/web'],
      );
      const recent = await owner.page(`${base()}?order=newest`);
      assert.equal(/<th scope="row"><a [^>]+>([^<]+)<\/a>/.exec(recent)?.[1], 'many', 'the last updated first');
      assert.match(await owner.page(`${base()}?prefix=zzz`), /No repository name starts with that/);
      const bad = await owner.get(`${base()}?prefix=%3Cscript%3E`);
      assert.equal(bad.status, 400);
      const text = await bad.text();
      assert.ok(!text.includes('<script>'), 'the refused prefix is shown as text');
    });

    test('2,100 tags: pages of 50 in byte order with no gap or repeat; newest first; a prefix filter', async () => {
      const all: string[] = [];
      let path: string | undefined = `${base()}/many`;
      let pages = 0;
      while (path) {
        const page = await owner.page(path);
        const shown = tagsShown(page);
        assert.ok(shown.length <= 50, `${shown.length} rows`);
        all.push(...shown);
        path = nextLink(page);
        pages++;
      }
      assert.equal(pages, Math.ceil(TAG_COUNT / 50));
      const expected = ['v0', ...Array.from({ length: TAG_COUNT - 1 }, (_, i) => `v${i + 1}`)].sort((a, b) =>
        Buffer.compare(Buffer.from(a), Buffer.from(b)),
      );
      assert.deepEqual(all, expected);

      const newest = await owner.page(`${base()}/many?order=newest`);
      const first = tagsShown(newest);
      assert.equal(first.length, 50);
      assert.match(newest, /aria-sort="descending"/);
      // Times are to the millisecond and tags pushed together may share one: the order must still
      // be the API's (updated, name) order, which the second page continues without overlap.
      const second = tagsShown(await owner.page(nextLink(newest)!));
      assert.equal(new Set([...first, ...second]).size, 100);
      const api = (await ok('GET', `/acr/v1/${reg}/many/_tags?n=100&orderby=timedesc`)) as { tags: { name: string }[] };
      assert.deepEqual(
        [...first, ...second],
        api.tags.map((x) => x.name),
      );

      const filtered: string[] = [];
      path = `${base()}/many?prefix=v10`;
      while (path) {
        const page = await owner.page(path);
        filtered.push(...tagsShown(page));
        path = nextLink(page);
      }
      assert.deepEqual(
        filtered,
        expected.filter((x) => x.startsWith('v10')),
      );
      assert.equal(filtered.length, 111);
      assert.match(await owner.page(`${base()}/many?prefix=nope`), /No tag starts with that/);
      const hostile = await owner.get(`${base()}/many?prefix=${encodeURIComponent(HOSTILE)}`);
      assert.equal(hostile.status, 400);
      const text = await hostile.text();
      assert.ok(!text.includes('<script>'), 'the refused prefix is shown as text');
      assert.ok(text.includes('&lt;script&gt;'), text);
    });

    test("a tag's row: digest, size, platform, pulls, scan, locks and both pull commands", async () => {
      const page = await owner.page(`${base()}/app/web`);
      assert.match(page, /<h1>app\/web<\/h1>/);
      assert.ok(page.includes(`title="${web.digest}"`), 'digest');
      assert.ok(page.includes('linux/arm64'), 'platform');
      assert.ok(page.includes(`docker pull ${t.host}/${reg}/app/web:v1`), 'pull by tag');
      assert.ok(page.includes(`docker pull ${t.host}/${reg}/app/web@${web.digest}`), 'pull by digest');
      assert.ok(page.includes('not scanned'), 'scan cell');
      assert.ok(page.includes('aria-label="Lock write of tag v1"'), 'lock toggle');
      assert.ok(page.includes(`href="/portal/registries/${reg}/repositories/app/web/_manifests/${encodeURIComponent(web.digest)}"`));
      const manifests = await owner.page(`${base()}/app/web/_manifests`);
      assert.ok(manifests.includes(`title="${sig.digest}"`));
      assert.ok(!manifests.includes('<script>'), 'nothing unescaped');
    });

    test('the manifest page: layers, config, annotations (escaped), referrers tree, downloads', async () => {
      const path = `${base()}/app/web/_manifests/${encodeURIComponent(web.digest)}`;
      const page = await owner.page(path);
      assert.ok(!page.includes('<script>'), 'no hostile markup');
      assert.ok(page.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'), 'hostile values as text');
      assert.ok(page.includes(web.layers[0]!.digest.slice(0, 19)), 'layer');
      assert.ok(page.includes('org.example.note'), 'annotation');
      assert.ok(page.includes('/bin/app --flag'), 'command');
      assert.ok(page.includes('PATH&#61;/usr/bin'), 'env');
      assert.ok(page.includes('application/vnd.example.sig+&lt;script'), 'artifact type escaped');
      assert.ok(page.includes(`title="${sig.digest}"`), 'referrer');
      assert.ok(page.includes('application/spdx+json'), 'nested referrer (SBOM of the signature)');
      assert.ok(page.includes(`href="${path}/_scan"`), 'link to the scan');
      const raw = await owner.get(`${path}/_raw`);
      assert.equal(raw.status, 200);
      assert.match(raw.headers.get('content-disposition') ?? '', /^attachment; filename="sha256-/);
      assertSecurityHeaders(raw);
      assert.equal(sha256(Buffer.from(await raw.arrayBuffer())), web.digest);
      const blob = await owner.get(`${base()}/app/web/_blobs/${encodeURIComponent(web.layers[1]!.digest)}`);
      assert.equal(blob.status, 200);
      assert.match(blob.headers.get('content-disposition') ?? '', /^attachment/);
      assert.deepEqual(Buffer.from(await blob.arrayBuffer()), web.layers[1]!.data);
      const unknown = await owner.get(`${base()}/app/web/_blobs/sha256%3A${'0'.repeat(64)}`);
      assert.equal(unknown.status, 404);
      assert.equal(unknown.headers.get('content-disposition'), null, 'an error page is not an attachment');
      // A signature's page links back to its subject.
      const sigPage = await owner.page(`${base()}/app/web/_manifests/${encodeURIComponent(sig.digest)}`);
      assert.ok(sigPage.includes(`title="${web.digest}"`), 'refers to');
    });

    test('lock a tag from its row: the API refuses to overwrite it; unlock again', async () => {
      const from = `${base()}/app/api`;
      await owner.page(from);
      const res = await owner.post(`${from}/_tags/v1/_lock`, { attr: 'writeEnabled', value: 'false', back: `${from}?order=newest` });
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), `${from}?order=newest&done=locked`);
      assert.equal((await tagAttrs('app/api', 'v1')).changeableAttributes.writeEnabled, false);
      const page = await owner.page(`${from}?done=locked`);
      assert.match(page, /The lock was changed/);
      assert.match(page, /write-locked/);
      const other = await t.v2().pushImage(`${reg}/app/api`, 'other');
      const overwrite = await t.v2().putManifest(`${reg}/app/api`, 'v1', other.bytes, MT.ociManifest);
      assert.equal(overwrite.status, 403);
      // A back address elsewhere is ignored: no open redirect.
      const off = await owner.post(`${from}/_tags/v1/_lock`, { attr: 'writeEnabled', value: 'true', back: 'https://evil.example/' });
      assert.equal(off.headers.get('location'), `${from}?done=locked`);
      assert.equal((await tagAttrs('app/api', 'v1')).changeableAttributes.writeEnabled, true);
      const bad = await owner.post(`${from}/_tags/v1/_lock`, { attr: 'readEnabled', value: 'maybe' });
      assert.equal(bad.status, 400);
      // Manifests and the repository lock the same way.
      const m = await owner.post(`${from}/_manifests/${encodeURIComponent(other.digest)}/_lock`, { attr: 'deleteEnabled', value: 'false' });
      assert.equal(m.status, 303);
      const attrs = (await ok('GET', `/acr/v1/${reg}/app/api/_manifests/${other.digest}`)) as {
        manifest: { changeableAttributes: Record<string, boolean> };
      };
      assert.equal(attrs.manifest.changeableAttributes.deleteEnabled, false);
      const r = await owner.post(`${from}/_lock`, { attr: 'writeEnabled', value: 'false' });
      assert.equal(r.headers.get('location'), `${from}/_settings?done=locked`);
      assert.match(await owner.page(`${from}/_settings`), /write-locked/);
      await owner.post(`${from}/_lock`, { attr: 'writeEnabled', value: 'true' });
    });

    test('delete a tag with typed confirmation; a wrong confirmation deletes nothing', async () => {
      await t.v2().pushImage(`${reg}/tools/cli`, 'old');
      const confirm = await owner.page(`${base()}/tools/cli/_tags/old/_delete`);
      assert.match(confirm, /data-confirm="old"/);
      const wrong = await owner.post(`${base()}/tools/cli/_tags/old/_delete`, { confirm: 'ol' });
      assert.equal(wrong.status, 400);
      assert.match(await wrong.text(), /to confirm, type the name exactly/);
      await tagAttrs('tools/cli', 'old');
      const res = await owner.post(`${base()}/tools/cli/_tags/old/_delete`, { confirm: 'old' });
      assert.equal(res.status, 303);
      assert.equal((await call('GET', `/acr/v1/${reg}/tools/cli/_tags/old`)).status, 404);
      assert.match(await owner.page(res.headers.get('location')!), /The tag was deleted/);
    });

    test('soft delete on: deleted tags and manifests are listed and restored', async () => {
      await ok('PATCH', `/api/registries/${reg}/softDeletePolicy`, { status: 'enabled', retentionDays: 7 });
      try {
        const img = await t.v2().pushImage(`${reg}/binned`, 'keep');
        await t.v2().pushImage(`${reg}/binned`, 'other');
        const m = await owner.post(`${base()}/binned/_manifests/${encodeURIComponent(img.digest)}/_delete`, {
          confirm: img.digest.slice(7, 19),
        });
        assert.equal(m.status, 303, await m.text());
        assert.equal((await call('GET', `/acr/v1/${reg}/binned/_tags/keep`)).status, 404);
        const bin = await owner.page(`${base()}/binned/_deleted`);
        assert.ok(bin.includes(`title="${img.digest}"`), 'the deleted manifest');
        assert.match(bin, /<th scope="row">keep<\/th>/, 'the deleted tag');
        const res = await owner.post(`${base()}/binned/_restore`, { digest: img.digest });
        assert.equal(res.status, 303);
        assert.equal(res.headers.get('location'), `${base()}/binned/_deleted?done=restored`);
        assert.equal((await tagAttrs('binned', 'keep')).changeableAttributes.writeEnabled, true);
        // The puller may see the bin but not restore from it.
        await puller.page(`${base()}/binned/_deleted`);
      } finally {
        await ok('PATCH', `/api/registries/${reg}/softDeletePolicy`, { status: 'disabled' });
      }
      assert.ok(!(await owner.page(`${base()}/binned`)).includes('/_deleted"'), 'no bin tab with soft delete off');
    });

    test('delete a repository with its name typed', async () => {
      await t.v2().pushImage(`${reg}/gone/soon`, 'x');
      assert.match(await owner.page(`${base()}/gone/soon/_settings`), /data-confirm="gone\/soon"/);
      assert.equal((await owner.post(`${base()}/gone/soon/_delete`, { confirm: 'gone' })).status, 400);
      assert.equal((await call('GET', `/acr/v1/${reg}/gone/soon`)).status, 200);
      const res = await owner.post(`${base()}/gone/soon/_delete`, { confirm: 'gone/soon' });
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), `${base()}?done=deleted`);
      assert.equal((await call('GET', `/acr/v1/${reg}/gone/soon`)).status, 404);
    });

    test('AcrPull and Reader may read every screen and download, and every change is refused (403) with nothing changed', async () => {
      const img = await t.v2().pushImage(`${reg}/guarded`, 'g1');
      const d = encodeURIComponent(img.digest);
      const g = `${base()}/guarded`;
      for (const who of [puller, reader]) {
        await who.page(base());
        await who.page(g);
        await who.page(`${g}/_manifests`);
        await who.page(`${g}/_manifests/${d}`);
        await who.page(`${g}/_settings`);
        assert.equal((await who.get(`${g}/_manifests/${d}/_raw`)).status, 200);
        assert.equal((await who.get(`${g}/_blobs/${encodeURIComponent(img.layers[0]!.digest)}`)).status, 200);
        const attempts: [string, Record<string, string>][] = [
          [`${g}/_tags/g1/_lock`, { attr: 'writeEnabled', value: 'false' }],
          [`${g}/_tags/g1/_lock`, { attr: 'deleteEnabled', value: 'false' }],
          [`${g}/_manifests/${d}/_lock`, { attr: 'writeEnabled', value: 'false' }],
          [`${g}/_lock`, { attr: 'deleteEnabled', value: 'false' }],
          [`${g}/_tags/g1/_delete`, { confirm: 'g1' }],
          [`${g}/_manifests/${d}/_delete`, { confirm: img.digest.slice(7, 19) }],
          [`${g}/_restore`, { digest: img.digest }],
          [`${g}/_delete`, { confirm: 'guarded' }],
        ];
        for (const [path, form] of attempts) {
          const res = await who.post(path, form);
          assert.equal(res.status, 403, `${path}: ${res.status}`);
          assert.match(await res.text(), /not allowed/);
        }
      }
      const tag = await tagAttrs('guarded', 'g1');
      assert.deepEqual([tag.changeableAttributes.writeEnabled, tag.changeableAttributes.deleteEnabled], [true, true]);
      const repo = (await ok('GET', `/acr/v1/${reg}/guarded`)) as { changeableAttributes: Record<string, boolean>; tagCount: number };
      assert.equal(repo.changeableAttributes.deleteEnabled, true);
      assert.equal(repo.tagCount, 1);
      // Without any role: the screens are refused, the bytes too.
      for (const path of [base(), g, `${g}/_manifests/${d}`, `${g}/_manifests/${d}/_raw`]) {
        const res = await nobody.get(path);
        assert.equal(res.status, 403, path);
        assert.ok(!(await res.text()).includes(img.digest));
      }
      assert.equal((await nobody.post(`${g}/_tags/g1/_lock`, { attr: 'writeEnabled', value: 'false' })).status, 403);
    });

    test('the API the screens use: prefix filters, a manifest as JSON with its config, a blob read', async () => {
      const repos = (await ok('GET', `/api/registries/${reg}/repositories?n=1&prefix=app%2F`)) as { value: string[]; nextLink: string };
      assert.deepEqual(repos.value, ['app/api']);
      assert.match(repos.nextLink, /prefix=app%2F/);
      const tags = await call('GET', `/acr/v1/${reg}/many/_tags?n=2&prefix=v20`);
      assert.deepEqual(
        ((await tags.json()) as { tags: { name: string }[] }).tags.map((x) => x.name),
        ['v20', 'v200'],
      );
      assert.match(tags.headers.get('link') ?? '', /prefix=v20/);
      assert.equal((await call('GET', `/acr/v1/${reg}/many/_tags?prefix=%25`)).status, 400);
      const doc = (await ok('GET', `/api/registries/${reg}/repositories/app/web/_manifests/v1/_document`)) as {
        digest: string;
        document: { layers: unknown[] };
        config: { architecture: string };
      };
      assert.equal(doc.digest, web.digest);
      assert.equal(doc.document.layers.length, 2);
      assert.equal(doc.config.architecture, 'arm64');
      const blob = await call('GET', `/api/registries/${reg}/repositories/app/web/_blobs/${web.config.digest}`);
      assert.equal(blob.status, 200);
      assert.deepEqual(Buffer.from(await blob.arrayBuffer()), web.config.data);
      // A blob of another repository is not readable through this one.
      const cli = (await ok('GET', `/acr/v1/${reg}/tools/cli/_tags/1.0`)) as { tag: { digest: string } };
      assert.equal((await call('GET', `/api/registries/${reg}/repositories/app/web/_blobs/${cli.tag.digest}`)).status, 404);
    });

    test('unknown repositories, tags and manifests answer 404 pages', async () => {
      assert.equal((await owner.get(`${base()}/nothing/here`)).status, 404);
      assert.equal((await owner.get(`${base()}/app/web/_tags/nope/_delete`)).status, 404);
      assert.equal((await owner.get(`${base()}/app/web/_manifests/sha256%3A${'1'.repeat(64)}`)).status, 404);
      assert.equal((await owner.get(`${base()}/app/web/_manifests/not-a-digest`)).status, 400);
    });
  });
}
