import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { digestOf } from '../../src/domain/digest.js';
import { migrate, openDb, pendingMigrations, type Db } from '../../src/meta/db.js';
import { migrations } from '../../src/meta/migrations/index.js';
import { MetaStore, type Executor } from '../../src/meta/store.js';
import { freshMetadataUrl, type Backend } from '../helpers/backends.js';

// The metadata conformance suite (ARCHITECTURE habit 5): SQLite and PostgreSQL run the same
// cases against src/meta (openDb, migrate, MetaStore). Every test gets its own fresh database
// (a temp directory for SQLite, a throwaway schema for PostgreSQL), so results never depend on
// what another test left behind. The caller gates PostgreSQL with backendGate (a skip says why).

interface Fresh {
  db: Db;
  store: MetaStore;
  /** A second handle on the same database, as a second node would have. */
  openAnother(): Promise<Db>;
  close(): Promise<void>;
}

async function fresh(backend: Backend, doMigrate = true): Promise<Fresh> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'berth-meta-'));
  const meta = await freshMetadataUrl(backend);
  const others: Db[] = [];
  const open = () => openDb({ url: meta.url, dataDir, poolSize: 10 });
  const db = await open();
  if (doMigrate) await migrate(db);
  return {
    db,
    store: new MetaStore(db),
    async openAnother() {
      const o = await open();
      others.push(o);
      return o;
    },
    async close() {
      for (const o of others) await o.close();
      await db.close();
      await meta.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Byte order, as the OCI spec's "lexical" ordering of tags and catalog is usually implemented. */
const byteSort = (xs: string[]) => [...xs].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

const count = async (ex: Executor, table: 'registries' | 'repositories' | 'blobs' | 'repository_blobs' | 'manifests' | 'manifest_refs' | 'tags' | 'uploads' | 'events') =>
  Number((await ex.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

const manifestBytes = (label: string) => new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, label }));

async function putManifest(s: MetaStore, ex: Executor, repositoryId: number, label: string, extra: { subject?: string; artifactType?: string; refs?: { digest: string; kind: 'blob' | 'manifest' }[] } = {}) {
  const content = manifestBytes(label);
  const digest = digestOf(content);
  const r = await s.putManifest(ex, {
    repository_id: repositoryId, digest, media_type: 'application/vnd.oci.image.manifest.v1+json', artifact_type: extra.artifactType ?? null,
    subject_digest: extra.subject ?? null, config_digest: null, annotations: null, content, refs: extra.refs ?? [],
  });
  return { ...r, digest };
}

export function metaStoreSuite(backend: Backend, gate: { skip?: string }): void {
  describe(`metadata conformance: ${backend}`, gate, () => {
    const withStore = (fn: (f: Fresh) => Promise<void>, doMigrate = true) => async () => {
      const f = await fresh(backend, doMigrate);
      try {
        await fn(f);
      } finally {
        await f.close();
      }
    };

    describe('migrations', () => {
      test('a fresh database gets every migration, in order', withStore(async ({ db }) => {
        assert.equal(await pendingMigrations(db), migrations.length);
        assert.deepEqual(await migrate(db), migrations.map((m) => m.version));
        assert.equal(await pendingMigrations(db), 0);
      }, false));

      test('migrating twice is a no-op', withStore(async ({ db, store }) => {
        const reg = await store.createRegistry('keepme', 'Basic');
        assert.deepEqual(await migrate(db), []);
        assert.deepEqual(await migrate(db), []);
        assert.equal(await pendingMigrations(db), 0);
        assert.equal((await store.getRegistry('keepme'))?.id, reg?.id, 'data survives');
        const rows = await db.kysely.selectFrom('berth_migrations').selectAll().execute();
        assert.equal(rows.length, migrations.length);
      }));

      const single = backend === 'sqlite' ? { skip: 'embedded SQLite serves one node; PostgreSQL nodes serialise migrations with an advisory lock' } : {};
      test('two nodes migrating the same database at once', single, withStore(async ({ openAnother }) => {
        const [a, b] = [await openAnother(), await openAnother()];
        const [ra, rb] = await Promise.all([migrate(a), migrate(b)]);
        assert.deepEqual([...ra, ...rb].sort((x, y) => x - y), migrations.map((m) => m.version).sort((x, y) => x - y));
        assert.equal(await pendingMigrations(a), 0);
      }, false));
    });

    describe('registries', () => {
      test('create, get (any case), list by name case-insensitively, update, delete', withStore(async ({ store }) => {
        const a = await store.createRegistry('DemoReg', 'Basic');
        assert.ok(a);
        assert.equal(a.name, 'DemoReg', 'the name keeps the case it was created with');
        assert.equal(a.sku, 'Basic');
        assert.equal(typeof a.id, 'number');
        assert.match(a.created_at, /^\d{4}-\d\d-\d\dT/);
        assert.equal((await store.getRegistry('demoreg'))?.id, a.id);
        assert.equal((await store.getRegistry('DEMOREG'))?.id, a.id);
        assert.equal(await store.getRegistry('other'), undefined);
        await store.createRegistry('alpha1', 'Standard');
        await store.createRegistry('Zulu1', 'Premium');
        assert.deepEqual((await store.listRegistries()).map((r) => r.name), ['alpha1', 'DemoReg', 'Zulu1']);
        await store.updateRegistry(a.id, { sku: 'Premium' });
        assert.equal((await store.getRegistry('demoreg'))?.sku, 'Premium');
        await store.deleteRegistry(a.id);
        assert.equal(await store.getRegistry('demoreg'), undefined);
      }));

      test('a duplicate name, in any case, returns null', withStore(async ({ store }) => {
        assert.ok(await store.createRegistry('demoreg', 'Basic'));
        assert.equal(await store.createRegistry('demoreg', 'Basic'), null);
        assert.equal(await store.createRegistry('DemoReg', 'Standard'), null);
        assert.equal(await store.createRegistry('DEMOREG', 'Basic'), null);
        assert.equal((await store.listRegistries()).length, 1);
      }));

      test('concurrent creates of one name: exactly one wins', withStore(async ({ store }) => {
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.createRegistry(i % 2 ? 'RaceReg' : 'racereg', 'Basic')));
        assert.equal(results.filter((r) => r !== null).length, 1);
        assert.equal((await store.listRegistries()).length, 1);
      }));
    });

    describe('repositories', () => {
      test('ensureRepository returns the same id every time', withStore(async ({ store }) => {
        const reg = (await store.createRegistry('demoreg', 'Basic'))!;
        const id = await store.ensureRepository(store.db, reg.id, 'team/app');
        assert.equal(await store.ensureRepository(store.db, reg.id, 'team/app'), id);
        assert.equal(await store.findRepositoryId(reg.id, 'team/app'), id);
        assert.equal(await store.findRepositoryId(reg.id, 'team/other'), undefined);
      }));

      test('20 concurrent ensureRepository calls for one name make one row', withStore(async ({ store }) => {
        const reg = (await store.createRegistry('demoreg', 'Basic'))!;
        const direct = await Promise.all(Array.from({ length: 20 }, () => store.ensureRepository(store.db, reg.id, 'race/direct')));
        assert.equal(new Set(direct).size, 1);
        const inTx = await Promise.all(Array.from({ length: 20 }, () => store.transaction((trx) => store.ensureRepository(trx, reg.id, 'race/tx'))));
        assert.equal(new Set(inTx).size, 1);
        const rows = await store.db.selectFrom('repositories').select(['id', 'name']).where('registry_id', '=', reg.id).execute();
        assert.deepEqual(rows.map((r) => r.name).sort(), ['race/direct', 'race/tx']);
      }));

      test('the same name in two registries is two repositories', withStore(async ({ store }) => {
        const a = (await store.createRegistry('rega1', 'Basic'))!;
        const b = (await store.createRegistry('regb1', 'Basic'))!;
        const ia = await store.ensureRepository(store.db, a.id, 'app');
        const ib = await store.ensureRepository(store.db, b.id, 'app');
        assert.notEqual(ia, ib);
        assert.deepEqual(await store.listRepositories(a.id, undefined, 10), ['app']);
      }));

      test('listRepositories is byte-ordered and keyset-paged', withStore(async ({ store }) => {
        const reg = (await store.createRegistry('demoreg', 'Basic'))!;
        const names = ['b', 'a/b', 'ab', 'a', 'a.b', 'a-b', 'a_b', 'a0', 'z/z/z', '9'];
        for (const n of names) await store.ensureRepository(store.db, reg.id, n);
        const want = byteSort(names);
        assert.deepEqual(want, ['9', 'a', 'a-b', 'a.b', 'a/b', 'a0', 'a_b', 'ab', 'b', 'z/z/z']);
        assert.deepEqual(await store.listRepositories(reg.id, undefined, 100), want);
        const seen: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await store.listRepositories(reg.id, after, 3);
          assert.ok(page.length <= 3);
          if (page.length === 0) break;
          seen.push(...page);
          after = page[page.length - 1];
        }
        assert.deepEqual(seen, want);
        assert.deepEqual(await store.listRepositories(reg.id, 'a.c', 2), ['a/b', 'a0'], 'after need not exist');
      }));

      test('listAllRepositories orders by registry then name, also when one registry name prefixes another', withStore(async ({ store }) => {
        // "abcde" < "abcdef" < "abcdeg": the catalog lists "<registry>/<repo>", so every repository of
        // abcde must come before any of abcdef even though "abcde/zzz" and "abcdef/a" share a prefix.
        const regs = [(await store.createRegistry('abcdef', 'Basic'))!, (await store.createRegistry('abcde', 'Basic'))!, (await store.createRegistry('ABCDEG', 'Basic'))!];
        const repos = ['zzz', 'a', 'a/b', 'f'];
        for (const r of regs) for (const n of repos) await store.ensureRepository(store.db, r.id, n);
        const want = byteSort(regs.flatMap((r) => repos.map((n) => `${r.name.toLowerCase()}/${n}`)));
        const all = (await store.listAllRepositories(undefined, 100)).map((r) => `${r.registry}/${r.name}`);
        assert.deepEqual(all, want);
        assert.equal(all[3], 'abcde/zzz');
        assert.equal(all[4], 'abcdef/a');
        const seen: string[] = [];
        let after: { key: string; name: string } | undefined;
        for (;;) {
          const page = await store.listAllRepositories(after, 5);
          if (page.length === 0) break;
          seen.push(...page.map((r) => `${r.registry}/${r.name}`));
          const last = page[page.length - 1]!;
          after = { key: last.registry, name: last.name };
        }
        assert.deepEqual(seen, want);
        assert.deepEqual((await store.listAllRepositories({ key: 'abcde', name: 'zzz' }, 2)).map((r) => `${r.registry}/${r.name}`), ['abcdef/a', 'abcdef/a/b']);
      }));

      test('deleteRepository reports what it removed and takes tags, manifests and links with it', withStore(async ({ store }) => {
        const reg = (await store.createRegistry('demoreg', 'Basic'))!;
        const repo = await store.ensureRepository(store.db, reg.id, 'app');
        await store.linkBlob(store.db, repo, digestOf('layer'), 5);
        const m = await putManifest(store, store.db, repo, 'one', { refs: [{ digest: digestOf('layer'), kind: 'blob' }] });
        await store.setTag(store.db, repo, 'v1', m.id);
        await store.setTag(store.db, repo, 'v2', m.id);
        assert.deepEqual(await store.repositoryStats(repo), { manifests: 1, tags: 2 });
        assert.deepEqual(await store.transaction((trx) => store.deleteRepository(trx, repo)), { manifests: 1, tags: 2 });
        assert.equal(await store.findRepositoryId(reg.id, 'app'), undefined);
        for (const t of ['manifests', 'manifest_refs', 'tags', 'repository_blobs'] as const) assert.equal(await count(store.db, t), 0, t);
        assert.equal(await count(store.db, 'blobs'), 1, 'the global blob record stays (garbage collection decides)');
      }));
    });

    describe('blobs', () => {
      test('linkBlob is idempotent and records each blob once globally', withStore(async ({ store }) => {
        const reg = (await store.createRegistry('demoreg', 'Basic'))!;
        const a = await store.ensureRepository(store.db, reg.id, 'a');
        const b = await store.ensureRepository(store.db, reg.id, 'b');
        const dg = digestOf('blob');
        await store.linkBlob(store.db, a, dg, 4);
        await store.linkBlob(store.db, a, dg, 4);
        await store.transaction((trx) => store.linkBlob(trx, a, dg, 4));
        await Promise.all(Array.from({ length: 10 }, () => store.linkBlob(store.db, a, dg, 4)));
        assert.equal(await count(store.db, 'blobs'), 1);
        assert.equal(await count(store.db, 'repository_blobs'), 1);
        await store.linkBlob(store.db, b, dg, 4);
        assert.equal(await count(store.db, 'blobs'), 1, 'dedup: one blob for two repositories');
        assert.equal(await count(store.db, 'repository_blobs'), 2);
        assert.equal(await store.blobSize(dg), 4);
        assert.equal(await store.blobInRepository(reg.id, 'a', dg), 4);
        assert.deepEqual(await store.repositoriesHoldingBlob(reg.id, dg, 10), ['a', 'b']);
      }));

      test('a blob is visible only through repositories that link it', withStore(async ({ store }) => {
        const reg = (await store.createRegistry('demoreg', 'Basic'))!;
        const other = (await store.createRegistry('otherreg', 'Basic'))!;
        const a = await store.ensureRepository(store.db, reg.id, 'a');
        await store.ensureRepository(store.db, reg.id, 'b');
        const dg = digestOf('private');
        await store.linkBlob(store.db, a, dg, 7);
        assert.equal(await store.blobInRepository(reg.id, 'b', dg), undefined);
        assert.equal(await store.blobInRepository(other.id, 'a', dg), undefined);
        assert.deepEqual(await store.repositoriesHoldingBlob(other.id, dg, 10), []);
        assert.equal(await store.unlinkBlob(store.db, a, dg), true);
        assert.equal(await store.unlinkBlob(store.db, a, dg), false);
        assert.equal(await store.blobInRepository(reg.id, 'a', dg), undefined);
      }));

      test('missingBlobs and missingManifests, deduplicated, across chunk boundaries', withStore(async ({ store }) => {
        const reg = (await store.createRegistry('demoreg', 'Basic'))!;
        const repo = await store.ensureRepository(store.db, reg.id, 'a');
        const digests = Array.from({ length: 1200 }, (_, i) => digestOf(`b${i}`));
        for (let i = 0; i < digests.length; i += 2) await store.linkBlob(store.db, repo, digests[i]!, i);
        const missing = await store.missingBlobs(store.db, repo, [...digests, ...digests]);
        assert.deepEqual(missing, digests.filter((_, i) => i % 2 === 1));
        assert.deepEqual(await store.missingBlobs(store.db, repo, []), []);
        const m = await putManifest(store, store.db, repo, 'child');
        assert.deepEqual(await store.missingManifests(store.db, repo, [m.digest, digestOf('nope'), m.digest]), [digestOf('nope')]);
      }));
    });

    describe('manifests and tags', () => {
      test('putManifest is idempotent per repository and digest', withStore(async ({ store }) => {
        const reg = (await store.createRegistry('demoreg', 'Basic'))!;
        const repo = await store.ensureRepository(store.db, reg.id, 'a');
        const first = await putManifest(store, store.db, repo, 'm');
        assert.equal(first.created, true);
        const again = await putManifest(store, store.db, repo, 'm');
        assert.deepEqual({ id: again.id, created: again.created }, { id: first.id, created: false });
        const got = await store.getManifestByDigest(reg.id, 'a', first.digest);
        assert.ok(got);
        assert.deepEqual(Buffer.from(got.content), Buffer.from(manifestBytes('m')), 'bytes come back exactly');
        assert.equal(got.size, manifestBytes('m').byteLength);
      }));

      test('tags: set, move, read back, delete', withStore(async ({ store }) => {
        const reg = (await store.createRegistry('demoreg', 'Basic'))!;
        const repo = await store.ensureRepository(store.db, reg.id, 'a');
        const m1 = await putManifest(store, store.db, repo, 'one');
        const m2 = await putManifest(store, store.db, repo, 'two');
        await store.setTag(store.db, repo, 'latest', m1.id);
        assert.equal((await store.getManifestByTag(reg.id, 'a', 'latest'))?.digest, m1.digest);
        await store.setTag(store.db, repo, 'latest', m2.id);
        assert.equal((await store.getManifestByTag(reg.id, 'a', 'latest'))?.digest, m2.digest);
        assert.equal((await store.headManifest(reg.id, 'a', { tag: 'latest' }))?.digest, m2.digest);
        assert.equal((await store.headManifest(reg.id, 'a', { digest: m1.digest }))?.digest, m1.digest);
        assert.equal(await store.deleteTag(store.db, repo, 'latest'), m2.digest);
        assert.equal(await store.deleteTag(store.db, repo, 'latest'), undefined);
        assert.equal(await store.getManifestByTag(reg.id, 'a', 'latest'), undefined);
        assert.ok(await store.getManifestByDigest(reg.id, 'a', m2.digest), 'untagging keeps the manifest');
      }));

      test('tags are case-sensitive and listed in byte order', withStore(async ({ store }) => {
        const reg = (await store.createRegistry('demoreg', 'Basic'))!;
        const repo = await store.ensureRepository(store.db, reg.id, 'a');
        const m = await putManifest(store, store.db, repo, 'm');
        const tags = ['b', 'a', 'B', 'A', '1.9', '1.10', '_x', 'latest', 'V2', 'v10', 'v2', 'a-b', 'a.b', 'a_b'];
        for (const t of tags) await store.setTag(store.db, repo, t, m.id);
        const want = byteSort(tags);
        assert.deepEqual(want.slice(0, 4), ['1.10', '1.9', 'A', 'B']);
        assert.ok(want.indexOf('A') < want.indexOf('B') && want.indexOf('B') < want.indexOf('a') && want.indexOf('a') < want.indexOf('b'));
        assert.deepEqual(await store.listTags(repo, undefined, 100), want);
        assert.deepEqual((await store.listTagDetails(repo, undefined, 100)).map((t) => t.name), want);
      }));

      test('tag listing is keyset-paged with after and limit', withStore(async ({ store }) => {
        const reg = (await store.createRegistry('demoreg', 'Basic'))!;
        const repo = await store.ensureRepository(store.db, reg.id, 'a');
        const m = await putManifest(store, store.db, repo, 'm');
        const tags = Array.from({ length: 23 }, (_, i) => `t${i}`);
        for (const t of tags) await store.setTag(store.db, repo, t, m.id);
        const want = byteSort(tags);
        const seen: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await store.listTags(repo, after, 5);
          assert.ok(page.length <= 5);
          if (page.length === 0) break;
          seen.push(...page);
          after = page[page.length - 1];
        }
        assert.deepEqual(seen, want);
        assert.deepEqual(await store.listTags(repo, 't2', 3), ['t20', 't21', 't22']);
        assert.deepEqual(await store.listTags(repo, 'zzz', 3), []);
        assert.deepEqual((await store.listTagDetails(repo, 't9', 5)).map((t) => t.name), []);
        assert.deepEqual((await store.listTagDetails(repo, 't8', 5)).map((t) => t.name), ['t9']);
      }));

      test('deleteManifest removes its tags and refs and reports them', withStore(async ({ store }) => {
        const reg = (await store.createRegistry('demoreg', 'Basic'))!;
        const repo = await store.ensureRepository(store.db, reg.id, 'a');
        const m = await putManifest(store, store.db, repo, 'm', { refs: [{ digest: digestOf('x'), kind: 'blob' }, { digest: digestOf('x'), kind: 'blob' }] });
        assert.equal(await count(store.db, 'manifest_refs'), 1, 'duplicate refs are stored once');
        await store.setTag(store.db, repo, 'v2', m.id);
        await store.setTag(store.db, repo, 'v1', m.id);
        const r = await store.deleteManifest(store.db, repo, m.digest);
        assert.deepEqual(r && { ...r, tags: [...r.tags].sort() }, { tags: ['v1', 'v2'], mediaType: 'application/vnd.oci.image.manifest.v1+json', size: manifestBytes('m').byteLength });
        assert.equal(await store.deleteManifest(store.db, repo, m.digest), undefined);
        assert.equal(await count(store.db, 'tags'), 0);
        assert.equal(await count(store.db, 'manifest_refs'), 0);
      }));

      test('listManifestDetails pages on digest and carries tags', withStore(async ({ store }) => {
        const reg = (await store.createRegistry('demoreg', 'Basic'))!;
        const repo = await store.ensureRepository(store.db, reg.id, 'a');
        const ms: Awaited<ReturnType<typeof putManifest>>[] = [];
        for (let i = 0; i < 5; i++) ms.push(await putManifest(store, store.db, repo, `m${i}`));
        await store.setTag(store.db, repo, 'b', ms[0]!.id);
        await store.setTag(store.db, repo, 'a', ms[0]!.id);
        const want = byteSort(ms.map((m) => m.digest));
        const first = await store.listManifestDetails(repo, undefined, 3);
        assert.deepEqual(first.map((m) => m.digest), want.slice(0, 3));
        const rest = await store.listManifestDetails(repo, first[2]!.digest, 3);
        assert.deepEqual(rest.map((m) => m.digest), want.slice(3));
        const tagged = [...first, ...rest].find((m) => m.digest === ms[0]!.digest);
        assert.deepEqual(tagged?.tags, ['a', 'b']);
      }));

      test('referrers by subject, filtered by artifactType, paged on digest', withStore(async ({ store }) => {
        const reg = (await store.createRegistry('demoreg', 'Basic'))!;
        const repo = await store.ensureRepository(store.db, reg.id, 'a');
        const subject = await putManifest(store, store.db, repo, 'subject');
        const sig = await putManifest(store, store.db, repo, 'sig', { subject: subject.digest, artifactType: 'application/vnd.cncf.notary.signature' });
        const sbom = await putManifest(store, store.db, repo, 'sbom', { subject: subject.digest, artifactType: 'application/spdx+json' });
        await putManifest(store, store.db, repo, 'unrelated', { subject: digestOf('other') });
        const all = await store.listReferrers(repo, subject.digest, undefined, undefined, 10);
        assert.deepEqual(all.map((r) => r.digest), byteSort([sig.digest, sbom.digest]));
        const only = await store.listReferrers(repo, subject.digest, 'application/spdx+json', undefined, 10);
        assert.deepEqual(only.map((r) => r.digest), [sbom.digest]);
        const page = await store.listReferrers(repo, subject.digest, undefined, undefined, 1);
        assert.equal(page.length, 1);
        const next = await store.listReferrers(repo, subject.digest, undefined, page[0]!.digest, 1);
        assert.deepEqual([...page, ...next].map((r) => r.digest), byteSort([sig.digest, sbom.digest]));
      }));
    });

    describe('uploads', () => {
      test('offset advances only from the value the caller saw', withStore(async ({ store }) => {
        const reg = (await store.createRegistry('demoreg', 'Basic'))!;
        const id = '0f8fad5b-d9cb-469f-a165-70867728950e';
        await store.createUpload({ id, registry_id: reg.id, repository: 'a', algorithm: 'sha256' });
        assert.equal((await store.getUpload(id))?.offset, 0);
        assert.equal(await store.advanceUpload(id, 0, 100), true);
        assert.equal(await store.advanceUpload(id, 0, 50), false, 'a stale writer loses');
        assert.equal((await store.getUpload(id))?.offset, 100);
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.advanceUpload(id, 100, 200 + i)));
        assert.equal(results.filter(Boolean).length, 1, 'one of eight racing writers wins');
        assert.deepEqual([...(await store.allUploadIds())], [id]);
        assert.deepEqual((await store.listStaleUploads(new Date(Date.now() + 60_000).toISOString(), 10)).map((u) => u.id), [id]);
        assert.deepEqual(await store.listStaleUploads('2000-01-01T00:00:00.000Z', 10), []);
        assert.equal(await store.deleteUpload(store.db, id), true);
        assert.equal(await store.deleteUpload(store.db, id), false);
        assert.equal(await store.getUpload(id), undefined);
      }));
    });

    describe('integrity', () => {
      test('deleting a registry cascades to everything in it, and only it', withStore(async ({ store }) => {
        const doomed = (await store.createRegistry('doomed', 'Basic'))!;
        const kept = (await store.createRegistry('keptreg', 'Basic'))!;
        for (const reg of [doomed, kept]) {
          await store.transaction(async (trx) => {
            const repo = await store.ensureRepository(trx, reg.id, 'team/app');
            await store.linkBlob(trx, repo, digestOf('shared-layer'), 10);
            const m = await putManifest(store, trx, repo, `m-${reg.name}`, { refs: [{ digest: digestOf('shared-layer'), kind: 'blob' }] });
            await store.setTag(trx, repo, 'v1', m.id);
            await store.recordEvent(trx, { registry_id: reg.id, action: 'push', repository: 'team/app', digest: m.digest, tag: 'v1' });
          });
          await store.createUpload({ id: reg === doomed ? '00000000-0000-4000-8000-000000000001' : '00000000-0000-4000-8000-000000000002', registry_id: reg.id, repository: 'team/app', algorithm: 'sha256' });
        }
        await store.deleteRegistry(doomed.id);
        assert.equal(await store.getRegistry('doomed'), undefined);
        assert.equal(await count(store.db, 'repositories'), 1);
        assert.equal(await count(store.db, 'repository_blobs'), 1);
        assert.equal(await count(store.db, 'manifests'), 1);
        assert.equal(await count(store.db, 'manifest_refs'), 1);
        assert.equal(await count(store.db, 'tags'), 1);
        assert.equal(await count(store.db, 'uploads'), 1);
        assert.equal(await count(store.db, 'blobs'), 1, 'the shared global blob record stays');
        assert.deepEqual(await store.listTags((await store.findRepositoryId(kept.id, 'team/app'))!, undefined, 10), ['v1']);
        assert.equal((await store.listEvents(kept.id, 0, 10)).length, 1);
      }));

      test('a transaction that throws leaves nothing behind, including its events', withStore(async ({ store }) => {
        const reg = (await store.createRegistry('demoreg', 'Basic'))!;
        await assert.rejects(store.transaction(async (trx) => {
          const repo = await store.ensureRepository(trx, reg.id, 'rolled/back');
          await store.linkBlob(trx, repo, digestOf('layer'), 5);
          const m = await putManifest(store, trx, repo, 'm', { refs: [{ digest: digestOf('layer'), kind: 'blob' }] });
          await store.setTag(trx, repo, 'v1', m.id);
          await store.recordEvent(trx, { registry_id: reg.id, action: 'push', repository: 'rolled/back', digest: m.digest, tag: 'v1' });
          assert.equal(await count(trx, 'events'), 1, 'visible inside the transaction');
          throw new Error('boom');
        }), /boom/);
        for (const t of ['repositories', 'blobs', 'repository_blobs', 'manifests', 'manifest_refs', 'tags', 'events'] as const) {
          assert.equal(await count(store.db, t), 0, `${t} is empty after rollback`);
        }
        assert.deepEqual(await store.listEvents(reg.id, 0, 10), []);
        assert.equal(await store.findRepositoryId(reg.id, 'rolled/back'), undefined);
      }));

      test('a committed transaction records its events in order', withStore(async ({ store }) => {
        const reg = (await store.createRegistry('demoreg', 'Basic'))!;
        await store.transaction(async (trx) => {
          await store.recordEvent(trx, { registry_id: reg.id, action: 'push', repository: 'a', tag: 'v1', size: 10 });
          await store.recordEvent(trx, { registry_id: reg.id, action: 'delete', repository: 'a', tag: 'v1' });
        });
        const events = await store.listEvents(reg.id, 0, 10);
        assert.deepEqual(events.map((e) => e.action), ['push', 'delete']);
        assert.equal(events[0]!.size, 10);
        assert.equal(events[1]!.digest, null);
        assert.deepEqual(await store.listEvents(reg.id, events[0]!.id, 10).then((r) => r.map((e) => e.action)), ['delete']);
      }));

      test('ping answers', withStore(async ({ store }) => {
        await store.ping();
      }));
    });
  });
}
