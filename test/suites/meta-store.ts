import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CompiledQuery, sql } from 'kysely';
import { digestOf } from '../../src/domain/digest.js';
import { migrate, pendingMigrations } from '../../src/meta/db.js';
import { migrations } from '../../src/meta/migrations/index.js';
import { KyselyActivityLog, type NewActivity } from '../../src/meta/activity.js';
import { allRepositoriesQuery } from '../../src/meta/repositories.js';
import { MetaStore, type Executor } from '../../src/meta/store.js';
import { computedUsage, recompute, storedUsage } from '../../src/meta/usage.js';
import type { Backend } from '../helpers/backends.js';
import { freshDb, type FreshDb } from './fresh-db.js';

// The metadata conformance suite (ARCHITECTURE habit 5): SQLite and PostgreSQL run the same
// cases against src/meta (openDb, migrate, MetaStore). Every test gets its own fresh database
// (a temp directory for SQLite, a throwaway schema for PostgreSQL), so results never depend on
// what another test left behind. The caller gates PostgreSQL with backendGate (a skip says why).

interface Fresh extends FreshDb {
  store: MetaStore;
}

async function fresh(backend: Backend, doMigrate = true): Promise<Fresh> {
  const f = await freshDb(backend, doMigrate);
  return Object.assign(f, { store: new MetaStore(f.db) });
}

/** Byte order, as the OCI spec's "lexical" ordering of tags and catalog is usually implemented. */
const byteSort = (xs: string[]) => [...xs].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

const count = async (
  ex: Executor,
  table: 'registries' | 'repositories' | 'blobs' | 'repository_blobs' | 'manifests' | 'manifest_refs' | 'tags' | 'uploads' | 'events',
) =>
  Number(
    (
      await ex
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

const iso = (ms: number) => new Date(ms).toISOString();

const manifestBytes = (label: string) => new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, label }));

async function putManifest(
  s: MetaStore,
  ex: Executor,
  repositoryId: number,
  label: string,
  extra: { subject?: string; artifactType?: string; refs?: { digest: string; kind: 'blob' | 'manifest' }[] } = {},
) {
  const content = manifestBytes(label);
  const digest = digestOf(content);
  const r = await s.putManifest(ex, {
    repository_id: repositoryId,
    digest,
    media_type: 'application/vnd.oci.image.manifest.v1+json',
    artifact_type: extra.artifactType ?? null,
    subject_digest: extra.subject ?? null,
    config_digest: null,
    annotations: null,
    content,
    refs: extra.refs ?? [],
  });
  return { ...r, digest };
}

export function metaStoreSuite(backend: Backend, gate: { skip?: string }): void {
  describe(`metadata conformance: ${backend}`, gate, () => {
    const withStore =
      (fn: (f: Fresh) => Promise<void>, doMigrate = true) =>
      async () => {
        const f = await fresh(backend, doMigrate);
        try {
          await fn(f);
        } finally {
          await f.close();
        }
      };

    describe('migrations', () => {
      test(
        'a fresh database gets every migration, in order',
        withStore(async ({ db }) => {
          assert.equal(await pendingMigrations(db), migrations.length);
          assert.deepEqual(
            await migrate(db),
            migrations.map((m) => m.version),
          );
          assert.equal(await pendingMigrations(db), 0);
        }, false),
      );

      test(
        'migrating twice is a no-op',
        withStore(async ({ db, store }) => {
          const reg = await store.createRegistry('keepme', 'Basic');
          assert.deepEqual(await migrate(db), []);
          assert.deepEqual(await migrate(db), []);
          assert.equal(await pendingMigrations(db), 0);
          assert.equal((await store.getRegistry('keepme'))?.id, reg?.id, 'data survives');
          const rows = await db.kysely.selectFrom('berth_migrations').selectAll().execute();
          assert.equal(rows.length, migrations.length);
        }),
      );

      const single =
        backend === 'sqlite'
          ? { skip: 'embedded SQLite serves one node; PostgreSQL nodes serialise migrations with an advisory lock' }
          : {};
      test(
        'two nodes migrating the same database at once',
        single,
        withStore(async ({ openAnother }) => {
          const [a, b] = [await openAnother(), await openAnother()];
          const [ra, rb] = await Promise.all([migrate(a), migrate(b)]);
          assert.deepEqual(
            [...ra, ...rb].sort((x, y) => x - y),
            migrations.map((m) => m.version).sort((x, y) => x - y),
          );
          assert.equal(await pendingMigrations(a), 0);
        }, false),
      );
    });

    describe('registries', () => {
      test(
        'create, get (any case), list by name case-insensitively, update, delete',
        withStore(async ({ store }) => {
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
          assert.deepEqual(
            (await store.listRegistries()).map((r) => r.name),
            ['alpha1', 'DemoReg', 'Zulu1'],
          );
          await store.updateRegistry(a.id, { sku: 'Premium' });
          assert.equal((await store.getRegistry('demoreg'))?.sku, 'Premium');
          await store.deleteRegistry(a.id);
          assert.equal(await store.getRegistry('demoreg'), undefined);
        }),
      );

      test(
        'a duplicate name, in any case, returns null',
        withStore(async ({ store }) => {
          assert.ok(await store.createRegistry('demoreg', 'Basic'));
          assert.equal(await store.createRegistry('demoreg', 'Basic'), null);
          assert.equal(await store.createRegistry('DemoReg', 'Standard'), null);
          assert.equal(await store.createRegistry('DEMOREG', 'Basic'), null);
          assert.equal((await store.listRegistries()).length, 1);
        }),
      );

      test(
        'concurrent creates of one name: exactly one wins',
        withStore(async ({ store }) => {
          const results = await Promise.all(
            Array.from({ length: 10 }, (_, i) => store.createRegistry(i % 2 ? 'RaceReg' : 'racereg', 'Basic')),
          );
          assert.equal(results.filter((r) => r !== null).length, 1);
          assert.equal((await store.listRegistries()).length, 1);
        }),
      );
    });

    describe('repositories', () => {
      test(
        'ensureRepository returns the same id every time',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          const id = await store.ensureRepository(store.db, reg.id, 'team/app');
          assert.equal(await store.ensureRepository(store.db, reg.id, 'team/app'), id);
          assert.equal(await store.findRepositoryId(reg.id, 'team/app'), id);
          assert.equal(await store.findRepositoryId(reg.id, 'team/other'), undefined);
        }),
      );

      test(
        '20 concurrent ensureRepository calls for one name make one row',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          const direct = await Promise.all(Array.from({ length: 20 }, () => store.ensureRepository(store.db, reg.id, 'race/direct')));
          assert.equal(new Set(direct).size, 1);
          const inTx = await Promise.all(
            Array.from({ length: 20 }, () => store.transaction((trx) => store.ensureRepository(trx, reg.id, 'race/tx'))),
          );
          assert.equal(new Set(inTx).size, 1);
          const rows = await store.db.selectFrom('repositories').select(['id', 'name']).where('registry_id', '=', reg.id).execute();
          assert.deepEqual(rows.map((r) => r.name).sort(), ['race/direct', 'race/tx']);
        }),
      );

      test(
        'the same name in two registries is two repositories',
        withStore(async ({ store }) => {
          const a = (await store.createRegistry('rega1', 'Basic'))!;
          const b = (await store.createRegistry('regb1', 'Basic'))!;
          const ia = await store.ensureRepository(store.db, a.id, 'app');
          const ib = await store.ensureRepository(store.db, b.id, 'app');
          assert.notEqual(ia, ib);
          assert.deepEqual(await store.listRepositories(a.id, undefined, 10), ['app']);
        }),
      );

      test(
        'listRepositories is byte-ordered and keyset-paged',
        withStore(async ({ store }) => {
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
        }),
      );

      test(
        'listRepositoriesByTime orders by last update (ties by name) and pages by (time, name)',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('timereg1', 'Basic'))!;
          // Times set outright: c oldest, then a and b at the same instant, d newest.
          const times: Record<string, string> = {
            a: '2026-01-02T00:00:00.000Z',
            b: '2026-01-02T00:00:00.000Z',
            c: '2026-01-01T00:00:00.000Z',
            d: '2026-01-03T00:00:00.000Z',
          };
          for (const [name, at] of Object.entries(times)) {
            const id = await store.ensureRepository(store.db, reg.id, name);
            await store.db.updateTable('repositories').set({ updated_at: at }).where('id', '=', id).execute();
          }
          const all = async (order: 'timeasc' | 'timedesc', limit: number) => {
            const seen: string[] = [];
            let after: { name: string; time: string } | undefined;
            for (;;) {
              const page = await store.listRepositoriesByTime(reg.id, { order, after, limit });
              if (page.length === 0) return seen;
              seen.push(...page.map((r) => r.name));
              const last = page[page.length - 1]!;
              after = { name: last.name, time: last.updated_at };
            }
          };
          assert.deepEqual(await all('timeasc', 100), ['c', 'a', 'b', 'd']);
          assert.deepEqual(await all('timeasc', 1), ['c', 'a', 'b', 'd']);
          assert.deepEqual(await all('timedesc', 100), ['d', 'b', 'a', 'c']);
          assert.deepEqual(await all('timedesc', 1), ['d', 'b', 'a', 'c']);
        }),
      );

      test(
        'listAllRepositories orders by registry then name, also when one registry name prefixes another',
        withStore(async ({ store }) => {
          // "abcde" < "abcdef" < "abcdeg": the catalog lists "<registry>/<repo>", so every repository of
          // abcde must come before any of abcdef even though "abcde/zzz" and "abcdef/a" share a prefix.
          const regs = [
            (await store.createRegistry('abcdef', 'Basic'))!,
            (await store.createRegistry('abcde', 'Basic'))!,
            (await store.createRegistry('ABCDEG', 'Basic'))!,
          ];
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
          assert.deepEqual(
            (await store.listAllRepositories({ key: 'abcde', name: 'zzz' }, 2)).map((r) => `${r.registry}/${r.name}`),
            ['abcdef/a', 'abcdef/a/b'],
          );
        }),
      );

      test(
        "the root catalog's later pages start the registries index at the page's registry, not at the first one",
        withStore(async ({ store }) => {
          // Without a sargable bound every page read the registries index from its start: a walk over
          // 10,000 registries cost O(pages x registries) (npm run bench -- --only catalog-scale).
          const regs: number[] = [];
          for (const name of ['regaa', 'regbb', 'regcc', 'regdd']) regs.push((await store.createRegistry(name, 'Basic'))!.id);
          for (const id of regs) for (const n of ['a', 'b']) await store.ensureRepository(store.db, id, n);
          const after = { key: 'regbb', name: 'a' };
          const page = (await store.listAllRepositories(after, 3)).map((r) => `${r.registry}/${r.name}`);
          assert.deepEqual(page, ['regbb/b', 'regcc/a', 'regcc/b']);
          const q = allRepositoriesQuery(store.db, after, 3).compile();
          const plan = await store.transaction(async (trx) => {
            // Tiny tables would otherwise be read whole; the question is whether an index bound exists.
            if (backend === 'postgres') await sql`set local enable_seqscan = off; set local enable_sort = off`.execute(trx);
            const prefix = backend === 'postgres' ? 'explain' : 'explain query plan';
            const r = await trx.executeQuery(CompiledQuery.raw(`${prefix} ${q.sql}`, [...q.parameters]));
            return (r.rows as Record<string, unknown>[]).map((row) => String(row['QUERY PLAN'] ?? row.detail)).join('\n');
          });
          if (backend === 'postgres') assert.match(plan, /Index Cond: \(.*name_key >= /, plan);
          else assert.match(plan, /SEARCH registries USING (COVERING )?INDEX \S+ \(name_key>\?\)/, plan);
        }),
      );

      test(
        'deleteRepository reports what it removed and takes tags, manifests and links with it',
        withStore(async ({ store }) => {
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
        }),
      );
    });

    describe('blobs', () => {
      test(
        'linkBlob is idempotent and records each blob once globally',
        withStore(async ({ store }) => {
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
        }),
      );

      test(
        'a blob is visible only through repositories that link it',
        withStore(async ({ store }) => {
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
        }),
      );

      test(
        'missingBlobs and missingManifests, deduplicated, across chunk boundaries',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          const repo = await store.ensureRepository(store.db, reg.id, 'a');
          const digests = Array.from({ length: 1200 }, (_, i) => digestOf(`b${i}`));
          for (let i = 0; i < digests.length; i += 2) await store.linkBlob(store.db, repo, digests[i]!, i);
          const missing = await store.missingBlobs(store.db, repo, [...digests, ...digests]);
          assert.deepEqual(
            missing,
            digests.filter((_, i) => i % 2 === 1),
          );
          assert.deepEqual(await store.missingBlobs(store.db, repo, []), []);
          const m = await putManifest(store, store.db, repo, 'child');
          assert.deepEqual(await store.missingManifests(store.db, repo, [m.digest, digestOf('nope'), m.digest]), [digestOf('nope')]);
        }),
      );
    });

    describe('manifests and tags', () => {
      test(
        'putManifest is idempotent per repository and digest',
        withStore(async ({ store }) => {
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
        }),
      );

      test(
        'tags: set, move, read back, delete',
        withStore(async ({ store }) => {
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
        }),
      );

      test(
        'tags are case-sensitive and listed in byte order',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          const repo = await store.ensureRepository(store.db, reg.id, 'a');
          const m = await putManifest(store, store.db, repo, 'm');
          const tags = ['b', 'a', 'B', 'A', '1.9', '1.10', '_x', 'latest', 'V2', 'v10', 'v2', 'a-b', 'a.b', 'a_b'];
          for (const t of tags) await store.setTag(store.db, repo, t, m.id);
          const want = byteSort(tags);
          assert.deepEqual(want.slice(0, 4), ['1.10', '1.9', 'A', 'B']);
          assert.ok(
            want.indexOf('A') < want.indexOf('B') && want.indexOf('B') < want.indexOf('a') && want.indexOf('a') < want.indexOf('b'),
          );
          assert.deepEqual(await store.listTags(repo, undefined, 100), want);
          assert.deepEqual(
            (await store.listTagDetails(repo, undefined, 100)).map((t) => t.name),
            want,
          );
        }),
      );

      test(
        'tag listing is keyset-paged with after and limit',
        withStore(async ({ store }) => {
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
          assert.deepEqual(
            (await store.listTagDetails(repo, 't9', 5)).map((t) => t.name),
            [],
          );
          assert.deepEqual(
            (await store.listTagDetails(repo, 't8', 5)).map((t) => t.name),
            ['t9'],
          );
        }),
      );

      test(
        'deleteManifest removes its tags and refs and reports them',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          const repo = await store.ensureRepository(store.db, reg.id, 'a');
          const m = await putManifest(store, store.db, repo, 'm', {
            refs: [
              { digest: digestOf('x'), kind: 'blob' },
              { digest: digestOf('x'), kind: 'blob' },
            ],
          });
          assert.equal(await count(store.db, 'manifest_refs'), 1, 'duplicate refs are stored once');
          await store.setTag(store.db, repo, 'v2', m.id);
          await store.setTag(store.db, repo, 'v1', m.id);
          const r = await store.deleteManifest(store.db, repo, m.digest);
          assert.deepEqual(r && { ...r, tags: [...r.tags].sort() }, {
            tags: ['v1', 'v2'],
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            size: manifestBytes('m').byteLength,
          });
          assert.equal(await store.deleteManifest(store.db, repo, m.digest), undefined);
          assert.equal(await count(store.db, 'tags'), 0);
          assert.equal(await count(store.db, 'manifest_refs'), 0);
        }),
      );

      test(
        'listManifestDetails pages on digest and carries tags',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          const repo = await store.ensureRepository(store.db, reg.id, 'a');
          const ms: Awaited<ReturnType<typeof putManifest>>[] = [];
          for (let i = 0; i < 5; i++) ms.push(await putManifest(store, store.db, repo, `m${i}`));
          await store.setTag(store.db, repo, 'b', ms[0]!.id);
          await store.setTag(store.db, repo, 'a', ms[0]!.id);
          const want = byteSort(ms.map((m) => m.digest));
          const first = await store.listManifestDetails(repo, undefined, 3);
          assert.deepEqual(
            first.map((m) => m.digest),
            want.slice(0, 3),
          );
          const rest = await store.listManifestDetails(repo, first[2]!.digest, 3);
          assert.deepEqual(
            rest.map((m) => m.digest),
            want.slice(3),
          );
          const tagged = [...first, ...rest].find((m) => m.digest === ms[0]!.digest);
          assert.deepEqual(tagged?.tags, ['a', 'b']);
        }),
      );

      test(
        'referrers by subject, filtered by artifactType, paged on digest',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          const repo = await store.ensureRepository(store.db, reg.id, 'a');
          const subject = await putManifest(store, store.db, repo, 'subject');
          const sig = await putManifest(store, store.db, repo, 'sig', {
            subject: subject.digest,
            artifactType: 'application/vnd.cncf.notary.signature',
          });
          const sbom = await putManifest(store, store.db, repo, 'sbom', { subject: subject.digest, artifactType: 'application/spdx+json' });
          await putManifest(store, store.db, repo, 'unrelated', { subject: digestOf('other') });
          const all = await store.listReferrers(repo, subject.digest, undefined, undefined, 10);
          assert.deepEqual(
            all.map((r) => r.digest),
            byteSort([sig.digest, sbom.digest]),
          );
          const only = await store.listReferrers(repo, subject.digest, 'application/spdx+json', undefined, 10);
          assert.deepEqual(
            only.map((r) => r.digest),
            [sbom.digest],
          );
          const page = await store.listReferrers(repo, subject.digest, undefined, undefined, 1);
          assert.equal(page.length, 1);
          const next = await store.listReferrers(repo, subject.digest, undefined, page[0]!.digest, 1);
          assert.deepEqual(
            [...page, ...next].map((r) => r.digest),
            byteSort([sig.digest, sbom.digest]),
          );
        }),
      );
    });

    describe('uploads', () => {
      test(
        'offset advances only from the value the caller saw',
        withStore(async ({ store }) => {
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
          assert.deepEqual(
            (await store.listStaleUploads(new Date(Date.now() + 60_000).toISOString(), 10)).map((u) => u.id),
            [id],
          );
          assert.deepEqual(await store.listStaleUploads('2000-01-01T00:00:00.000Z', 10), []);
          assert.equal(await store.deleteUpload(store.db, id), true);
          assert.equal(await store.deleteUpload(store.db, id), false);
          assert.equal(await store.getUpload(id), undefined);
        }),
      );
    });

    describe('role stores: the rest of each role', () => {
      test(
        'getRegistryById; getRepository and repositoryRow; touch; a soft-deleted repository is hidden until a push revives it',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          assert.equal((await store.getRegistryById(reg.id))?.name, 'demoreg');
          assert.equal(await store.getRegistryById(reg.id + 1000), undefined);
          const id = await store.ensureRepository(store.db, reg.id, 'app');
          const row = await store.getRepository(reg.id, 'app');
          assert.equal(row?.id, id);
          assert.deepEqual(await store.repositoryRow(reg.id, 'app'), {
            ...row,
            delete_enabled: 1,
            write_enabled: 1,
            list_enabled: 1,
            read_enabled: 1,
          });
          await new Promise((r) => setTimeout(r, 5));
          await store.touchRepository(store.db, id);
          assert.ok((await store.getRepository(reg.id, 'app'))!.updated_at > row.updated_at);
          await store.markRepositoryDeleted(store.db, id, new Date().toISOString());
          assert.equal(await store.findRepositoryId(reg.id, 'app'), undefined);
          assert.equal(await store.getRepository(reg.id, 'app'), undefined);
          assert.equal(await store.repositoryRow(reg.id, 'app'), undefined);
          assert.deepEqual(await store.listRepositories(reg.id, undefined, 10), []);
          assert.deepEqual(await store.listAllRepositories(undefined, 10), []);
          assert.equal(await store.ensureRepository(store.db, reg.id, 'app'), id, 'a push revives the same repository');
          assert.deepEqual(await store.listRepositories(reg.id, undefined, 10), ['app']);
        }),
      );

      test(
        'linkStoredBlob links a stored blob (a mount) and refuses one that is gone',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          const a = await store.ensureRepository(store.db, reg.id, 'a');
          const b = await store.ensureRepository(store.db, reg.id, 'b');
          assert.equal(await store.transaction((trx) => store.linkStoredBlob(trx, b, digestOf('never stored'))), undefined);
          await store.linkBlob(store.db, a, digestOf('layer'), 9);
          const c = await store.transaction((trx) => store.linkStoredBlob(trx, b, digestOf('layer')));
          assert.deepEqual(
            c && { registry: c.registryDelta, repository: c.repositoryDelta },
            { registry: 0, repository: 9 },
            'counted once per registry',
          );
          assert.equal(await store.blobInRepository(reg.id, 'b', digestOf('layer')), 9);
          const again = await store.transaction((trx) => store.linkStoredBlob(trx, b, digestOf('layer')));
          assert.deepEqual(again && { registry: again.registryDelta, repository: again.repositoryDelta }, { registry: 0, repository: 0 });
        }),
      );

      test(
        'tagTarget, manifestsWithSubject, manifestDigestsOf, tagNamesOf; untagged_since follows the tags',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          const repo = await store.ensureRepository(store.db, reg.id, 'a');
          const subject = await putManifest(store, store.db, repo, 'subject');
          const sig = await putManifest(store, store.db, repo, 'sig', { subject: subject.digest });
          const other = await putManifest(store, store.db, repo, 'other');
          const untaggedSince = async (id: number) =>
            (await store.db.selectFrom('manifests').select('untagged_since').where('id', '=', id).executeTakeFirstOrThrow()).untagged_since;
          assert.ok(await untaggedSince(subject.id), 'untagged from birth');
          await store.setTag(store.db, repo, 'v1', subject.id);
          await store.setTag(store.db, repo, 'b', other.id);
          assert.equal(await untaggedSince(subject.id), null);
          assert.equal(await store.tagTarget(store.db, repo, 'v1'), subject.digest);
          assert.equal(await store.tagTarget(store.db, repo, 'nope'), undefined);
          assert.deepEqual(await store.manifestsWithSubject(store.db, repo, [subject.digest, digestOf('x')]), [sig.digest]);
          assert.deepEqual(await store.manifestsWithSubject(store.db, repo, []), []);
          assert.deepEqual(await store.manifestDigestsOf(store.db, repo), byteSort([subject.digest, sig.digest, other.digest]));
          assert.deepEqual(await store.tagNamesOf(store.db, repo), ['b', 'v1']);
          await store.setTag(store.db, repo, 'v1', other.id);
          assert.ok(await untaggedSince(subject.id), 'moving its last tag away stamps it');
          await store.setTag(store.db, repo, 'v1', subject.id);
          await store.markUntagged(store.db, [subject.id]);
          assert.equal(await untaggedSince(subject.id), null, 'still tagged: markUntagged leaves it');
        }),
      );

      test(
        'locks and changeable attributes',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          const repo = await store.ensureRepository(store.db, reg.id, 'a');
          const m = await putManifest(store, store.db, repo, 'm');
          await store.setTag(store.db, repo, 'v1', m.id);
          await store.setTag(store.db, repo, 'v2', m.id);
          assert.equal(await store.firstLockedInRepository(store.db, repo), undefined);
          assert.equal(await store.setTagAttributes(repo, 'v2', { write_enabled: 0 }), true);
          assert.equal(await store.setTagAttributes(repo, 'nope', { write_enabled: 0 }), false);
          assert.equal(await store.setTagAttributes(repo, 'nope', {}), true, 'an empty patch changes nothing');
          assert.deepEqual(
            await store.tagLocks(store.db, repo, ['v1', 'v2', 'nope']).then((r) => r.sort((x, y) => x.name.localeCompare(y.name))),
            [
              { name: 'v1', manifest_id: m.id, write_enabled: 1, delete_enabled: 1 },
              { name: 'v2', manifest_id: m.id, write_enabled: 0, delete_enabled: 1 },
            ],
          );
          assert.deepEqual(await store.tagLocks(store.db, repo, []), []);
          assert.deepEqual(await store.lockedTagsOf(store.db, m.id), [{ name: 'v2' }]);
          assert.deepEqual(await store.firstLockedInRepository(store.db, repo), { kind: 'tag', name: 'v2' });
          await store.setTagAttributes(repo, 'v2', { write_enabled: 1 });
          assert.equal(await store.setManifestAttributes(repo, m.digest, { delete_enabled: 0 }), true);
          assert.equal(await store.setManifestAttributes(repo, digestOf('nope'), { delete_enabled: 0 }), false);
          assert.deepEqual(await store.manifestLocks(store.db, repo, m.digest), { id: m.id, write_enabled: 1, delete_enabled: 0 });
          assert.equal(await store.manifestLocks(store.db, repo, digestOf('nope')), undefined);
          assert.deepEqual(await store.firstLockedInRepository(store.db, repo), { kind: 'manifest', name: m.digest });
          await store.setRepositoryAttributes(repo, { read_enabled: 0, list_enabled: 0 });
          await store.setRepositoryAttributes(repo, {});
          assert.deepEqual(
            await store.repositoryRow(reg.id, 'a').then((r) => r && [r.read_enabled, r.list_enabled, r.write_enabled]),
            [0, 0, 1],
          );
          assert.equal((await store.headManifest(reg.id, 'a', { tag: 'v1' }))?.repo_read, 0);
        }),
      );

      test(
        '/acr/v1 listings: tag and manifest attributes, keyset-paged by name and by time, with platform and contents',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          const repo = await store.ensureRepository(store.db, reg.id, 'a');
          const ms: Awaited<ReturnType<typeof putManifest>>[] = [];
          for (let i = 0; i < 5; i++) ms.push(await putManifest(store, store.db, repo, `m${i}`));
          const tags = ['t3', 't1', 't4', 't0', 't2'];
          for (const [i, t] of tags.entries()) await store.setTag(store.db, repo, t, ms[i]!.id);
          await store.setTagAttributes(repo, 't4', { list_enabled: 0 });
          const listable = ['t0', 't1', 't2', 't3'];
          const t0 = await store.getTagAttributes(repo, 't0');
          assert.deepEqual(
            t0 && { name: t0.name, digest: t0.digest, pulls: t0.pull_count, last: t0.last_pulled_at, list: t0.list_enabled },
            { name: 't0', digest: ms[3]!.digest, pulls: 0, last: null, list: 1 },
          );
          assert.equal(await store.getTagAttributes(repo, 'nope'), undefined);
          for (const order of ['none', 'timeasc', 'timedesc'] as const) {
            const all = await store.listTagAttributes(repo, { order, limit: 100 });
            assert.deepEqual([...all.map((t) => t.name)].sort(), listable, `${order}: listable tags only`);
            if (order === 'none')
              assert.deepEqual(
                all.map((t) => t.name),
                listable,
              );
            const seen: string[] = [];
            let after: { name: string; time?: string } | undefined;
            for (;;) {
              const page = await store.listTagAttributes(repo, { order, after, limit: 3 });
              if (page.length === 0) break;
              seen.push(...page.map((t) => t.name));
              const last = page[page.length - 1]!;
              after = { name: last.name, time: order === 'none' ? undefined : last.updated_at };
            }
            assert.deepEqual(
              seen,
              all.map((t) => t.name),
              `${order}: pages add up to the whole list`,
            );
          }
          assert.deepEqual(
            (await store.listTagAttributes(repo, { order: 'none', digest: ms[1]!.digest, limit: 10 })).map((t) => t.name),
            ['t1'],
          );

          await store.setManifestPlatform(ms[0]!.id, 'arm64', 'linux');
          const m0 = await store.getManifestAttributes(repo, ms[0]!.digest);
          assert.deepEqual(m0 && { arch: m0.architecture, os: m0.os, tags: m0.tags, size: m0.size }, {
            arch: 'arm64',
            os: 'linux',
            tags: ['t3'],
            size: manifestBytes('m0').byteLength,
          });
          assert.equal((await store.getManifestAttributes(repo, ms[2]!.digest))?.tags.length, 0, 'unlistable tags are not shown');
          assert.equal(await store.getManifestAttributes(repo, digestOf('nope')), undefined);
          await store.setManifestAttributes(repo, ms[4]!.digest, { list_enabled: 0 });
          for (const order of ['none', 'timeasc', 'timedesc'] as const) {
            const all = await store.listManifestAttributes(repo, { order, limit: 100 });
            assert.equal(all.length, 4, `${order}: listable manifests only`);
            const seen: string[] = [];
            let after: { name: string; time?: string } | undefined;
            for (;;) {
              const page = await store.listManifestAttributes(repo, { order, after, limit: 3 });
              if (page.length === 0) break;
              seen.push(...page.map((m) => m.digest));
              const last = page[page.length - 1]!;
              after = { name: last.digest, time: order === 'none' ? undefined : last.created_at };
            }
            assert.deepEqual(
              seen,
              all.map((m) => m.digest),
              `${order}: pages add up to the whole list`,
            );
          }
          const contents = await store.manifestContents([ms[0]!.id, ms[1]!.id]);
          assert.deepEqual(Buffer.from(contents.get(ms[1]!.id)!), Buffer.from(manifestBytes('m1')));
          assert.equal((await store.manifestContents([])).size, 0);
        }),
      );

      test(
        'addPulls counts pulls on manifests and tags and writes audit records born dispatched',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          const repo = await store.ensureRepository(store.db, reg.id, 'a');
          const m = await putManifest(store, store.db, repo, 'm');
          await store.setTag(store.db, repo, 'v1', m.id);
          const at = new Date().toISOString();
          const audit = Array.from({ length: 1205 }, () => ({
            registry_id: reg.id,
            repository: 'a',
            digest: m.digest,
            tag: 'v1',
            media_type: 'application/vnd.oci.image.manifest.v1+json',
            size: 10,
            created_at: at,
            request_id: null,
            request_host: null,
            request_method: 'GET',
            request_useragent: null,
            identity: 'alice',
            caller_ip: null,
          }));
          await store.addPulls([{ id: m.id, count: 3, at }], [{ repositoryId: repo, name: 'v1', count: 2, at }], audit);
          await store.addPulls([{ id: m.id, count: 1, at }], []);
          const ma = await store.getManifestAttributes(repo, m.digest);
          assert.deepEqual(ma && [ma.pull_count, ma.last_pulled_at], [4, at]);
          const ta = await store.getTagAttributes(repo, 'v1');
          assert.deepEqual(ta && [ta.pull_count, ta.last_pulled_at], [2, at]);
          const pulls = await store.db
            .selectFrom('events')
            .select(['action', 'dispatched', 'identity'])
            .where('action', '=', 'pull')
            .execute();
          assert.equal(pulls.length, 1205);
          assert.ok(pulls.every((p) => p.dispatched === 1 && p.identity === 'alice'));
        }),
      );

      test(
        'an event records the actor it is given, and nothing about a request without one',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          const actor = {
            request: { id: 'req-1', host: 'reg.example', method: 'PUT', useragent: 'skopeo/1.13' },
            identity: 'alice',
            ip: '10.0.0.7',
          };
          await store.transaction((trx) =>
            store.recordEvent(trx, actor, { registry_id: reg.id, action: 'push', repository: 'a', tag: 'v1' }),
          );
          await store.transaction((trx) =>
            store.recordEvent(trx, undefined, { registry_id: reg.id, action: 'push', repository: 'a', tag: 'v2' }),
          );
          const [withActor, without] = await store.listEvents(reg.id, 0, 10);
          assert.deepEqual(
            [
              withActor!.request_id,
              withActor!.request_host,
              withActor!.request_method,
              withActor!.request_useragent,
              withActor!.identity,
              withActor!.caller_ip,
            ],
            ['req-1', 'reg.example', 'PUT', 'skopeo/1.13', 'alice', '10.0.0.7'],
          );
          assert.deepEqual([without!.request_id, without!.identity, without!.caller_ip], [null, null, null]);
        }),
      );

      test(
        'recordEvents in slices; pruneAudit removes old dispatched events and login events only',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          await store.transaction((trx) =>
            store.recordEvents(
              trx,
              undefined,
              Array.from({ length: 450 }, (_, i) => ({
                registry_id: reg.id,
                action: 'delete',
                repository: 'a',
                tag: `t${i}`,
                operation: 'purge',
              })),
            ),
          );
          const events = await store.listEvents(reg.id, 0, 1000);
          assert.equal(events.length, 450);
          assert.equal(events[449]!.tag, 't449');
          assert.equal(events[0]!.operation, 'purge');
          await store.db.updateTable('events').set({ dispatched: 1 }).where('tag', 'in', ['t0', 't1', 't2']).execute();
          await store.db
            .insertInto('login_events')
            .values({
              time: '2000-01-01T00:00:00.000Z',
              identity: 'x',
              identity_type: 'user',
              caller_ip: '::1',
              user_agent: 'ua',
              operation: 'login',
              result: 'Success',
              status: 200,
              duration_ms: 1,
              registry: null,
              registry_id: null,
              jwt_id: null,
              reason: null,
            })
            .execute();
          assert.equal(await store.pruneAudit('2000-01-01T00:00:00.000Z'), 0, 'nothing is that old');
          assert.equal(
            await store.pruneAudit(new Date(Date.now() + 60_000).toISOString(), 2),
            4,
            '3 dispatched events and 1 login event, in batches of 2',
          );
          assert.equal((await store.listEvents(reg.id, 0, 1000)).length, 447, 'undispatched events still owe their webhooks');
        }),
      );
    });

    describe('activity log', () => {
      test(
        'records newest first, every filter, keyset paging; pruneAudit removes old records',
        withStore(async ({ store }) => {
          const log = new KyselyActivityLog(store.db);
          const row = (i: number, over: Partial<NewActivity> = {}): NewActivity => ({
            operation: i % 2 ? 'Microsoft.ContainerRegistry/registries/write' : 'Berth/users/write',
            registry: i % 2 ? 'r1' : null,
            registry_id: i % 2 ? 7 : null,
            resource: `/x/${i}`,
            result: i === 3 ? 'Failed' : 'Succeeded',
            status: i === 3 ? 403 : 200,
            error_code: i === 3 ? 'DENIED' : null,
            error_message: null,
            identity: i < 4 ? 'alice' : 'bob',
            identity_type: 'User',
            caller_ip: '10.0.0.1',
            user_agent: 'berth-cli/1',
            correlation_id: `req-${i}`,
            method: 'POST',
            duration_ms: i,
            properties: JSON.stringify({ i }),
            ...over,
          });
          for (let i = 1; i <= 6; i++) await log.insert(row(i));
          const all = await log.query({ limit: 100 });
          assert.deepEqual(
            all.map((r) => r.resource),
            ['/x/6', '/x/5', '/x/4', '/x/3', '/x/2', '/x/1'],
          );
          assert.equal(all[0]!.properties, '{"i":6}');
          assert.deepEqual(
            (await log.query({ registryId: 7, limit: 100 })).map((r) => r.resource),
            ['/x/5', '/x/3', '/x/1'],
          );
          assert.deepEqual(
            (await log.query({ identity: 'alice', result: 'Failed', limit: 100 })).map((r) => r.resource),
            ['/x/3'],
          );
          assert.equal((await log.query({ operations: ['Berth/users/write'], limit: 100 })).length, 3);
          assert.equal((await log.query({ operations: [], limit: 100 })).length, 0);
          const page = await log.query({ limit: 2, beforeId: Number(all[1]!.id) });
          assert.deepEqual(
            page.map((r) => r.resource),
            ['/x/4', '/x/3'],
          );
          assert.equal((await log.query({ since: new Date(Date.now() + 60_000).toISOString(), limit: 100 })).length, 0);
          await store.db
            .updateTable('activity_log')
            .set({ time: '2000-01-01T00:00:00.000Z' })
            .where('resource', 'in', ['/x/1', '/x/2'])
            .execute();
          assert.equal(await store.pruneAudit('2001-01-01T00:00:00.000Z'), 2);
          assert.equal((await log.query({ limit: 100 })).length, 4);
        }),
      );
    });

    describe('usage', () => {
      test(
        'counters follow links, manifests and repository deletes; a digest counts once per registry',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          const other = (await store.createRegistry('otherreg', 'Basic'))!;
          const a = await store.ensureRepository(store.db, reg.id, 'a');
          const b = await store.ensureRepository(store.db, reg.id, 'b');
          const o = await store.ensureRepository(store.db, other.id, 'a');
          const first = await store.linkBlob(store.db, a, digestOf('shared'), 100);
          assert.deepEqual([first.registryDelta, first.repositoryDelta, first.registryBytes, first.repositoryBytes], [100, 100, 100, 100]);
          const second = await store.linkBlob(store.db, b, digestOf('shared'), 100);
          assert.deepEqual([second.registryDelta, second.repositoryDelta], [0, 100]);
          await store.linkBlob(store.db, o, digestOf('shared'), 100);
          assert.equal(await store.registryHoldsBlob(reg.id, digestOf('shared')), true);
          assert.equal(await store.registryHoldsBlob(reg.id, digestOf('other')), false);
          const m = await putManifest(store, store.db, a, 'm', { refs: [{ digest: digestOf('shared'), kind: 'blob' }] });
          const size = manifestBytes('m').byteLength;
          assert.deepEqual(m.usage && [m.usage.registryDelta, m.usage.repositoryDelta], [size, size]);
          assert.deepEqual(await store.registryUsage(reg.id), { bytes: 100 + size, quota: null });
          assert.deepEqual(await store.repositoryUsage(a), { bytes: 100 + size, quota: null });
          assert.deepEqual(await store.repositoryUsage(b), { bytes: 100, quota: null });
          assert.deepEqual(await storedUsage(store.db, reg.id), await computedUsage(store.db, reg.id));
          await store.transaction((trx) => store.deleteRepository(trx, a));
          assert.deepEqual(await store.registryUsage(reg.id), { bytes: 100, quota: null }, 'b still holds the shared layer');
          await store.unlinkBlob(store.db, b, digestOf('shared'));
          assert.deepEqual(await store.registryUsage(reg.id), { bytes: 0, quota: null });
          assert.deepEqual(await store.registryUsage(other.id), { bytes: 100, quota: null }, 'registries never share counters');
          for (const id of [reg.id, other.id]) assert.deepEqual(await storedUsage(store.db, id), await computedUsage(store.db, id));
        }),
      );

      test(
        'recompute rebuilds the counters from scratch and keeps quotas',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          const a = await store.ensureRepository(store.db, reg.id, 'a');
          await store.linkBlob(store.db, a, digestOf('l1'), 10);
          await store.linkBlob(store.db, a, digestOf('l2'), 20);
          await putManifest(store, store.db, a, 'm');
          await store.setRegistryQuota(reg.id, 5000);
          await store.setRepositoryQuota(reg.id, a, 4000);
          const before = await storedUsage(store.db, reg.id);
          await store.db.deleteFrom('registry_content').execute();
          await store.db.updateTable('registry_usage').set({ bytes: 0 }).execute();
          await store.db.deleteFrom('repository_usage').where('repository_id', '=', a).execute();
          await recompute(store.db, reg.id);
          assert.deepEqual(await storedUsage(store.db, reg.id), before);
          assert.equal((await store.registryUsage(reg.id)).quota, 5000);
          await store.setRepositoryQuota(reg.id, a, 4000);
          await recompute(store.db);
          assert.deepEqual(await storedUsage(store.db, reg.id), before);
          assert.deepEqual(await store.repositoryUsage(a), { bytes: before.repositories.a, quota: 4000 });
          await store.setRegistryQuota(reg.id, null);
          assert.equal((await store.registryUsage(reg.id)).quota, null);
        }),
      );

      test(
        'quotas on registries and repositories without counters yet; what else a tier limits',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          const a = await store.ensureRepository(store.db, reg.id, 'a');
          assert.deepEqual(await store.registryUsage(reg.id), { bytes: 0, quota: null });
          await store.setRegistryQuota(reg.id, 1024);
          await store.setRepositoryQuota(reg.id, a, 512);
          assert.deepEqual(await store.registryUsage(reg.id), { bytes: 0, quota: 1024 });
          assert.deepEqual(await store.repositoryUsage(a), { bytes: 0, quota: 512 });
          const change = await store.linkBlob(store.db, a, digestOf('big'), 2048);
          assert.deepEqual(
            [change.registryQuota, change.repositoryQuota, change.registryBytes],
            [1024, 512, 2048],
            'a change reports the quotas it must respect',
          );
          const ts = new Date().toISOString();
          for (const t of ['tokens', 'scope_maps', 'webhooks'] as const) assert.equal(await store.countInRegistry(reg.id, t), 0, t);
          await store.db
            .insertInto('scope_maps')
            .values({ registry_id: reg.id, name: 'm', name_key: 'm', description: '', actions: '[]', created_at: ts, updated_at: ts })
            .execute();
          await store.db
            .insertInto('tokens')
            .values(
              [1, 2].map((i) => ({
                registry_id: reg.id,
                name: `t${i}`,
                name_key: `t${i}`,
                scope_map: 'm',
                status: 'enabled',
                created_at: ts,
                updated_at: ts,
              })),
            )
            .execute();
          assert.equal(await store.countInRegistry(reg.id, 'tokens'), 2);
          assert.equal(await store.countInRegistry(reg.id, 'scope_maps'), 1);
          assert.equal(await store.retentionEnabled(reg.id), false);
          await store.db
            .insertInto('retention_policies')
            .values({ registry_id: reg.id, status: 'enabled', days: 7, type: 'UntaggedManifests', enabled_at: ts, updated_at: ts })
            .execute();
          assert.equal(await store.retentionEnabled(reg.id), true);
        }),
      );
    });

    describe('jobs', () => {
      test(
        'insert, claim under a lease, complete, fail with backoff, dead, retry',
        withStore(async ({ store }) => {
          const t = Date.now();
          const id = await store.insertJob(store.db, { kind: 'webhook', payload: '{"a":1}', maxAttempts: 2 });
          const later = await store.transaction((trx) =>
            store.insertJob(trx, { kind: 'webhook', payload: '{}', maxAttempts: 2, runAfter: iso(t + 3_600_000) }),
          );
          assert.equal(await store.hasDueJobs(iso(t + 1000)), true);
          const claimed = await store.claimJobs('node-a', 10, { now: iso(t + 1000), leaseUntil: iso(t + 61_000) });
          assert.deepEqual(
            claimed.map((j) => [j.id, j.state, j.attempts, j.lease_owner, j.payload]),
            [[id, 'running', 1, 'node-a', '{"a":1}']],
            'the later job is not due',
          );
          assert.equal(await store.hasDueJobs(iso(t + 1000)), false);
          assert.deepEqual(await store.claimJobs('node-b', 10, { now: iso(t + 2000), leaseUntil: iso(t + 62_000) }), [], 'the lease holds');
          assert.equal(await store.renewJobLease(id, 'node-b', iso(t + 90_000), iso(t + 2000)), false, 'only the owner renews');
          assert.equal(await store.renewJobLease(id, 'node-a', iso(t + 90_000), iso(t + 2000)), true);
          assert.equal((await store.getJob(id))?.lease_until, iso(t + 90_000));
          await store.failJob(id, 'node-b', { dead: false, error: 'not mine', runAfter: iso(t), at: iso(t + 2000) });
          assert.equal((await store.getJob(id))?.state, 'running', 'a node that lost the lease cannot fail the job');
          await store.failJob(id, 'node-a', { dead: false, error: 'HTTP 500', runAfter: iso(t + 10_000), at: iso(t + 3000) });
          const failed = await store.getJob(id);
          assert.deepEqual(failed && [failed.state, failed.last_error, failed.lease_owner, failed.run_after], [
            'queued',
            'HTTP 500',
            null,
            iso(t + 10_000),
          ]);
          assert.deepEqual(await store.claimJobs('node-a', 10, { now: iso(t + 5000), leaseUntil: iso(t + 65_000) }), [], 'backing off');
          const [again] = await store.claimJobs('node-b', 10, { now: iso(t + 10_000), leaseUntil: iso(t + 70_000) });
          assert.deepEqual(again && [again.id, again.attempts, again.lease_owner], [id, 2, 'node-b']);
          await store.failJob(id, 'node-b', { dead: true, error: 'gave up', runAfter: again!.run_after, at: iso(t + 11_000) });
          assert.equal((await store.getJob(id))?.state, 'dead');
          assert.deepEqual(
            (await store.listJobs({ state: 'dead' })).map((j) => j.id),
            [id],
          );
          assert.deepEqual(
            (await store.listJobs({ kind: 'webhook' })).map((j) => j.id),
            [later, id],
            'newest first',
          );
          assert.deepEqual(
            (await store.listJobs({ kind: 'webhook', limit: 1 })).map((j) => j.id),
            [later],
          );
          await store.retryJob(id, iso(t + 12_000));
          const retried = await store.getJob(id);
          assert.deepEqual(retried && [retried.state, retried.attempts, retried.run_after], ['queued', 0, iso(t + 12_000)]);
          const [last] = await store.claimJobs('node-a', 10, { now: iso(t + 12_000), leaseUntil: iso(t + 72_000) });
          await store.completeJob(last!.id, 'node-b', iso(t + 13_000));
          assert.equal((await store.getJob(id))?.state, 'running', 'only the owner completes');
          await store.completeJob(last!.id, 'node-a', iso(t + 13_000));
          const done = await store.getJob(id);
          assert.deepEqual(done && [done.state, done.lease_owner, done.last_error], ['succeeded', null, null]);
          assert.equal(await store.getJob(id + 1000), undefined);
        }),
      );

      test(
        'an expired lease is claimed again; kinds filter claims',
        withStore(async ({ store }) => {
          const t = Date.now();
          const imp = await store.insertJob(store.db, { kind: 'import', payload: '{}', maxAttempts: 5 });
          const hook = await store.insertJob(store.db, { kind: 'webhook', payload: '{}', maxAttempts: 5 });
          const purge = await store.insertJob(store.db, { kind: 'purge', payload: '{}', maxAttempts: 5 });
          const long = await store.claimJobs('a', 10, { now: iso(t + 1000), leaseUntil: iso(t + 2000), only: ['import', 'purge'] });
          assert.deepEqual(long.map((j) => j.id).sort(), [imp, purge].sort());
          assert.deepEqual(await store.claimJobs('a', 10, { now: iso(t + 1000), leaseUntil: iso(t + 2000), only: [] }), []);
          const short = await store.claimJobs('a', 10, { now: iso(t + 1000), leaseUntil: iso(t + 2000), except: ['import', 'purge'] });
          assert.deepEqual(
            short.map((j) => j.id),
            [hook],
          );
          const taken = await store.claimJobs('b', 1, { now: iso(t + 5000), leaseUntil: iso(t + 65_000) });
          assert.equal(taken.length, 1, 'n limits a claim');
          assert.equal(taken[0]!.attempts, 2);
          assert.equal(
            (await store.claimJobs('b', 10, { now: iso(t + 5000), leaseUntil: iso(t + 65_000) })).length,
            2,
            'every expired lease is taken over',
          );
        }),
      );

      test(
        'racing claims from two nodes never share a job',
        withStore(async ({ store, openAnother }) => {
          const other = backend === 'postgres' ? new MetaStore(await openAnother()) : store;
          const t = Date.now();
          for (let i = 0; i < 30; i++) await store.insertJob(store.db, { kind: 'webhook', payload: String(i), maxAttempts: 3 });
          const o = { now: iso(t + 1000), leaseUntil: iso(t + 60_000) };
          const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? other : store).claimJobs(`node-${i}`, 5, o)));
          const ids = results.flat().map((j) => j.id);
          assert.equal(new Set(ids).size, ids.length, 'no job claimed twice');
          assert.equal(ids.length, 30);
        }),
      );
    });

    describe('schedules', () => {
      const base = (registryId: number, name: string, next: string) => ({
        registry_id: registryId,
        kind: 'purge',
        name,
        cron: '0 * * * *',
        payload: '{"spec":1}',
        status: 'enabled',
        next_run_at: next,
        at: new Date().toISOString(),
      });
      test(
        'create (names unique per registry and kind, any case), get, list, disable, delete',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          assert.equal(await store.createSchedule(base(reg.id, 'Nightly', '2030-01-01T00:00:00.000Z')), true);
          assert.equal(await store.createSchedule(base(reg.id, 'nightly', '2030-01-01T00:00:00.000Z')), false);
          assert.equal(
            await store.createSchedule({ ...base(reg.id, 'nightly', '2030-01-01T00:00:00.000Z'), kind: 'other' }),
            true,
            'another kind',
          );
          assert.equal(await store.createSchedule(base(reg.id, 'Hourly', '2030-01-01T00:00:00.000Z')), true);
          const got = await store.getSchedule(reg.id, 'purge', 'NIGHTLY');
          assert.deepEqual(got && [got.name, got.payload, got.status, got.last_run_at, got.last_job_id], [
            'Nightly',
            '{"spec":1}',
            'enabled',
            null,
            null,
          ]);
          assert.deepEqual(
            (await store.listSchedules(reg.id, 'purge')).map((s) => s.name),
            ['Hourly', 'Nightly'],
          );
          await store.disableSchedule(got!.id);
          assert.equal((await store.getSchedule(reg.id, 'purge', 'nightly'))?.status, 'disabled');
          assert.equal(await store.deleteSchedule(reg.id, 'purge', 'NightLY'), true);
          assert.equal(await store.deleteSchedule(reg.id, 'purge', 'nightly'), false);
          assert.equal(await store.getSchedule(reg.id, 'purge', 'nightly'), undefined);
        }),
      );

      test(
        'due schedules are claimed once: a compare-and-set on next_run_at',
        withStore(async ({ store, openAnother }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          await store.createSchedule(base(reg.id, 'due', '2020-01-01T00:00:00.000Z'));
          await store.createSchedule(base(reg.id, 'later', '2030-01-01T00:00:00.000Z'));
          await store.createSchedule({ ...base(reg.id, 'off', '2020-01-01T00:00:00.000Z'), status: 'disabled' });
          const now = '2025-01-01T00:00:00.000Z';
          const [due, ...rest] = await store.dueSchedules(now, 10);
          assert.deepEqual([due?.name, rest.length], ['due', 0]);
          const other = backend === 'postgres' ? new MetaStore(await openAnother()) : store;
          const wins = await Promise.all(
            Array.from({ length: 6 }, (_, i) =>
              (i % 2 ? other : store).transaction((trx) =>
                (i % 2 ? other : store).claimScheduleRun(trx, due!.id, due!.next_run_at, '2025-01-01T01:00:00.000Z', now),
              ),
            ),
          );
          assert.equal(wins.filter(Boolean).length, 1, 'one node wins the run');
          await store.transaction((trx) => store.setScheduleJob(trx, due!.id, 42));
          const after = await store.getSchedule(reg.id, 'purge', 'due');
          assert.deepEqual(after && [after.next_run_at, after.last_run_at, after.last_job_id], ['2025-01-01T01:00:00.000Z', now, 42]);
          assert.deepEqual(await store.dueSchedules(now, 10), []);
          await store.setScheduleJob(store.db, due!.id, 43, '2025-01-01T00:30:00.000Z');
          const ran = await store.getSchedule(reg.id, 'purge', 'due');
          assert.deepEqual(ran && [ran.last_job_id, ran.last_run_at, ran.next_run_at], [
            43,
            '2025-01-01T00:30:00.000Z',
            '2025-01-01T01:00:00.000Z',
          ]);
        }),
      );

      test(
        'maintenance tasks: the first claim runs at once, then once per interval, one node at a time',
        withStore(async ({ store, openAnother }) => {
          const at = (min: number) => new Date(Date.UTC(2025, 0, 1, 0, min)).toISOString();
          assert.equal(await store.claimMaintenanceTask('gc', at(0), at(10)), true);
          assert.equal(await store.claimMaintenanceTask('gc', at(5), at(15)), false, 'not due yet');
          assert.equal(await store.claimMaintenanceTask('retention', at(5), at(65)), true, 'tasks are independent');
          const other = backend === 'postgres' ? new MetaStore(await openAnother()) : store;
          const wins = await Promise.all(
            Array.from({ length: 6 }, (_, i) => (i % 2 ? other : store).claimMaintenanceTask('gc', at(10), at(20))),
          );
          assert.equal(wins.filter(Boolean).length, 1);
          const row = await store.db.selectFrom('maintenance_tasks').selectAll().where('name', '=', 'gc').executeTakeFirstOrThrow();
          assert.deepEqual([row.next_run_at, row.last_run_at], [at(20), at(10)]);
        }),
      );
    });

    describe('stats', () => {
      test(
        'storage used per registry and job queue depth',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          await store.createRegistry('emptyreg', 'Basic');
          const a = await store.ensureRepository(store.db, reg.id, 'a');
          await store.linkBlob(store.db, a, digestOf('l'), 1234);
          assert.deepEqual([...(await store.storageUsedByRegistry())].sort(), [
            ['demoreg', 1234],
            ['emptyreg', 0],
          ]);
          assert.deepEqual(await store.jobQueueDepth(), []);
          const t = Date.now();
          for (let i = 0; i < 3; i++) await store.insertJob(store.db, { kind: 'webhook', payload: '{}', maxAttempts: 3 });
          await store.insertJob(store.db, { kind: 'purge', payload: '{}', maxAttempts: 3 });
          await store.claimJobs('n', 1, { now: iso(t + 60_000), leaseUntil: iso(t + 120_000), only: ['purge'] });
          const done = await store.insertJob(store.db, { kind: 'gc', payload: '{}', maxAttempts: 3 });
          await store.claimJobs('n', 1, { now: iso(t + 60_000), leaseUntil: iso(t + 120_000), only: ['gc'] });
          await store.completeJob(done, 'n', iso(t));
          const depth = (await store.jobQueueDepth()).sort((x, y) => x.kind.localeCompare(y.kind));
          assert.deepEqual(
            depth.map((d) => [d.kind, d.state, d.count]),
            [
              ['purge', 'running', 1],
              ['webhook', 'queued', 3],
            ],
            'queued and running only',
          );
          assert.ok(depth.every((d) => typeof d.oldestMs === 'number' && Math.abs(d.oldestMs - t) < 60_000));
        }),
      );
    });

    describe('integrity', () => {
      test(
        'deleting a registry cascades to everything in it, and only it',
        withStore(async ({ store }) => {
          const doomed = (await store.createRegistry('doomed', 'Basic'))!;
          const kept = (await store.createRegistry('keptreg', 'Basic'))!;
          for (const reg of [doomed, kept]) {
            await store.transaction(async (trx) => {
              const repo = await store.ensureRepository(trx, reg.id, 'team/app');
              await store.linkBlob(trx, repo, digestOf('shared-layer'), 10);
              const m = await putManifest(store, trx, repo, `m-${reg.name}`, {
                refs: [{ digest: digestOf('shared-layer'), kind: 'blob' }],
              });
              await store.setTag(trx, repo, 'v1', m.id);
              await store.recordEvent(trx, undefined, {
                registry_id: reg.id,
                action: 'push',
                repository: 'team/app',
                digest: m.digest,
                tag: 'v1',
              });
            });
            await store.createUpload({
              id: reg === doomed ? '00000000-0000-4000-8000-000000000001' : '00000000-0000-4000-8000-000000000002',
              registry_id: reg.id,
              repository: 'team/app',
              algorithm: 'sha256',
            });
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
        }),
      );

      test(
        'a transaction that throws leaves nothing behind, including its events',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          await assert.rejects(
            store.transaction(async (trx) => {
              const repo = await store.ensureRepository(trx, reg.id, 'rolled/back');
              await store.linkBlob(trx, repo, digestOf('layer'), 5);
              const m = await putManifest(store, trx, repo, 'm', { refs: [{ digest: digestOf('layer'), kind: 'blob' }] });
              await store.setTag(trx, repo, 'v1', m.id);
              await store.recordEvent(trx, undefined, {
                registry_id: reg.id,
                action: 'push',
                repository: 'rolled/back',
                digest: m.digest,
                tag: 'v1',
              });
              assert.equal(await count(trx, 'events'), 1, 'visible inside the transaction');
              throw new Error('boom');
            }),
            /boom/,
          );
          for (const t of ['repositories', 'blobs', 'repository_blobs', 'manifests', 'manifest_refs', 'tags', 'events'] as const) {
            assert.equal(await count(store.db, t), 0, `${t} is empty after rollback`);
          }
          assert.deepEqual(await store.listEvents(reg.id, 0, 10), []);
          assert.equal(await store.findRepositoryId(reg.id, 'rolled/back'), undefined);
        }),
      );

      test(
        'a committed transaction records its events in order',
        withStore(async ({ store }) => {
          const reg = (await store.createRegistry('demoreg', 'Basic'))!;
          await store.transaction(async (trx) => {
            await store.recordEvent(trx, undefined, { registry_id: reg.id, action: 'push', repository: 'a', tag: 'v1', size: 10 });
            await store.recordEvent(trx, undefined, { registry_id: reg.id, action: 'delete', repository: 'a', tag: 'v1' });
          });
          const events = await store.listEvents(reg.id, 0, 10);
          assert.deepEqual(
            events.map((e) => e.action),
            ['push', 'delete'],
          );
          assert.equal(events[0]!.size, 10);
          assert.equal(events[1]!.digest, null);
          assert.deepEqual(await store.listEvents(reg.id, events[0]!.id, 10).then((r) => r.map((e) => e.action)), ['delete']);
        }),
      );

      test(
        'ping answers',
        withStore(async ({ store }) => {
          await store.ping();
        }),
      );
    });
  });
}
