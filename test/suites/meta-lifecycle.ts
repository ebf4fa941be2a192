import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { digestOf } from '../../src/domain/digest.js';
import type { Db } from '../../src/meta/db.js';
import { KyselyGcStore } from '../../src/meta/gc.js';
import { KyselyImmutabilityPolicies } from '../../src/meta/immutability.js';
import { KyselyImports } from '../../src/meta/imports.js';
import { KyselyPurgeStore } from '../../src/meta/purge.js';
import { KyselyRecycleBin, type NewBinEntry } from '../../src/meta/recycle-bin.js';
import { KyselyRetentionPolicies } from '../../src/meta/retention.js';
import { MetaStore, type Executor } from '../../src/meta/store.js';
import { KyselyWebhooks, type NewWebhook } from '../../src/meta/webhooks.js';
import type { Backend } from '../helpers/backends.js';
import { freshDb, type FreshDb } from './fresh-db.js';

// The metadata conformance suite for the stores of the lifecycle and feature services (GC, recycle
// bin, purge, retention, immutability, webhooks, imports): SQLite and PostgreSQL run the same cases,
// including the dialect branches (advisory lock, row locks, SKIP LOCKED, date arithmetic). Each test
// gets a fresh database; MetaStore builds the fixtures. The caller gates PostgreSQL with backendGate.

interface Fresh extends FreshDb {
  meta: MetaStore;
  gc: KyselyGcStore;
  bin: KyselyRecycleBin;
  purge: KyselyPurgeStore;
  retention: KyselyRetentionPolicies;
  immutability: KyselyImmutabilityPolicies;
  webhooks: KyselyWebhooks;
  imports: KyselyImports;
}

async function fresh(backend: Backend): Promise<Fresh> {
  const f = await freshDb(backend);
  const { kysely, dialect } = f.db;
  return Object.assign(f, {
    meta: new MetaStore(f.db),
    gc: new KyselyGcStore(kysely, dialect),
    bin: new KyselyRecycleBin(kysely, dialect),
    purge: new KyselyPurgeStore(kysely),
    retention: new KyselyRetentionPolicies(kysely),
    immutability: new KyselyImmutabilityPolicies(kysely),
    webhooks: new KyselyWebhooks(kysely, dialect),
    imports: new KyselyImports(kysely),
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function gate(): { open: () => void; wait: Promise<void> } {
  let open!: () => void;
  const wait = new Promise<void>((r) => {
    open = r;
  });
  return { open, wait };
}

async function putManifest(
  meta: MetaStore,
  ex: Executor,
  repositoryId: number,
  label: string,
  extra: { subject?: string; refs?: { digest: string; kind: 'blob' | 'manifest' }[] } = {},
) {
  const content = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, label }));
  const digest = digestOf(content);
  const r = await meta.putManifest(ex, {
    repository_id: repositoryId,
    digest,
    media_type: 'application/vnd.oci.image.manifest.v1+json',
    artifact_type: null,
    subject_digest: extra.subject ?? null,
    config_digest: null,
    annotations: null,
    content,
    refs: extra.refs ?? [],
  });
  return { id: r.id, digest, content };
}

/** A registry with one repository. */
async function repository(meta: MetaStore, registry = 'demoreg', name = 'team/app') {
  const reg = (await meta.createRegistry(registry, 'Basic'))!;
  const repo = await meta.transaction((trx) => meta.ensureRepository(trx, reg.id, name));
  return { reg, repo };
}

const binEntry = (registryId: number, repositoryId: number, o: Partial<NewBinEntry> & { digest: string }): NewBinEntry => ({
  registry_id: registryId,
  repository_id: repositoryId,
  repository: 'team/app',
  kind: 'manifest',
  group_id: 'g1',
  media_type: 'application/vnd.oci.image.manifest.v1+json',
  artifact_type: null,
  subject_digest: null,
  config_digest: null,
  config_media_type: null,
  annotations: null,
  size: 3,
  content: new Uint8Array([1, 2, 3]),
  created_at: '2026-01-01T00:00:00.000Z',
  deleted_at: '2026-01-02T00:00:00.000Z',
  purge_after: '2999-01-01T00:00:00.000Z',
  tags: '[]',
  deleted_by: null,
  ...o,
});

const webhook = (registryId: number, name: string, o: Partial<NewWebhook> = {}): NewWebhook => ({
  registry_id: registryId,
  name,
  name_key: name.toLowerCase(),
  uri: 'https://hooks.example/x',
  actions: '["push"]',
  scope: '',
  headers: '{}',
  status: 'enabled',
  format: 'acr',
  secret: 'sealed',
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
  ...o,
});

export function metaLifecycleSuite(backend: Backend, backendGate: { skip?: string }): void {
  describe(`metadata conformance, lifecycle stores: ${backend}`, backendGate, () => {
    const withStores = (fn: (f: Fresh) => Promise<void>) => async () => {
      const f = await fresh(backend);
      try {
        await fn(f);
      } finally {
        await f.close();
      }
    };
    const nodes =
      backend === 'sqlite' ? { skip: 'embedded SQLite serves one node, with one writer; PostgreSQL nodes settle this with locks' } : {};

    describe('gc', () => {
      test(
        'runs: one real run alive at a time, dead ones expire, counters and reports',
        withStores(async ({ meta, gc }) => {
          const dead = await meta.transaction((trx) =>
            gc.insertRun(trx, { node: 'n1', dryRun: false, startedAt: '2026-01-01T00:00:00.000Z', leaseUntil: '2026-01-01T00:05:00.000Z' }),
          );
          await meta.transaction((trx) =>
            gc.insertRun(trx, { node: 'n2', dryRun: true, startedAt: '2026-01-01T00:01:00.000Z', leaseUntil: '2999-01-01T00:00:00.000Z' }),
          );
          assert.deepEqual(await meta.transaction((trx) => gc.aliveRun(trx)), { id: dead, node: 'n1' }, 'a dry run never counts as alive');
          await meta.transaction((trx) => gc.expireDeadRuns(trx, '2026-01-01T00:10:00.000Z'));
          assert.equal(await meta.transaction((trx) => gc.aliveRun(trx)), undefined);
          const expired = await gc.run(dead);
          assert.equal(expired?.status, 'failed');
          assert.equal(expired?.finished_at, '2026-01-01T00:10:00.000Z');
          assert.match(expired?.error ?? '', /stopped/);
          const live = await meta.transaction((trx) =>
            gc.insertRun(trx, { node: 'n3', dryRun: false, startedAt: '2026-01-02T00:00:00.000Z', leaseUntil: '2999-01-01T00:00:00.000Z' }),
          );
          await gc.updateRun(live, { links_marked: 3, bytes_reclaimed: 5_000_000_000, lease_until: '2999-02-01T00:00:00.000Z' });
          await meta.transaction((trx) => gc.expireDeadRuns(trx, '2026-01-02T00:10:00.000Z'));
          const row = await gc.run(live);
          assert.equal(row?.status, 'running', 'a run whose lease holds is left alone');
          assert.equal(Number(row?.links_marked), 3);
          assert.equal(Number(row?.bytes_reclaimed), 5_000_000_000, 'byte counts past 2^32');
          assert.equal(Number(row?.dry_run), 0);
          assert.deepEqual(
            (await gc.recentRuns(2)).map((r) => Number(r.id)),
            [live, live - 1],
          );
          assert.equal(await gc.run(9999), undefined);
        }),
      );

      test(
        'two nodes starting a run at once: the start lock lets one in',
        nodes,
        withStores(async ({ openAnother }) => {
          const start = async (db: Db, node: string) => {
            const store = new KyselyGcStore(db.kysely, db.dialect);
            return db.kysely.transaction().execute(async (trx) => {
              await store.lockRunStarts(trx);
              if (await store.aliveRun(trx)) return 'busy';
              await sleep(150); // hold the lock a while: without it both would see no run
              await store.insertRun(trx, {
                node,
                dryRun: false,
                startedAt: new Date().toISOString(),
                leaseUntil: '2999-01-01T00:00:00.000Z',
              });
              return 'started';
            });
          };
          const [a, b] = [await openAnother(), await openAnother()];
          assert.deepEqual((await Promise.all([start(a, 'a'), start(b, 'b')])).sort(), ['busy', 'started']);
        }),
      );

      test(
        'links: pages in (repository, digest) order, referenced by live and binned manifests, marks',
        withStores(async ({ meta, gc, bin }) => {
          const { reg, repo } = await repository(meta);
          const [used, binned, loose] = ['used', 'binned', 'loose'].map((s) => digestOf(s)) as [string, string, string];
          const m = await meta.transaction(async (trx) => {
            for (const d of [used, binned, loose]) await meta.linkBlob(trx, repo, d, 10);
            await putManifest(meta, trx, repo, 'live', { refs: [{ digest: used, kind: 'blob' }] });
            return putManifest(meta, trx, repo, 'gone', { refs: [{ digest: binned, kind: 'blob' }] });
          });
          await meta.transaction(async (trx) => {
            await bin.add(trx, binEntry(reg.id, repo, { digest: m.digest }), m.id);
            await meta.deleteManifest(trx, repo, m.digest);
          });
          const all = await gc.linkPage(undefined, 100);
          const sorted = [used, binned, loose].sort();
          assert.deepEqual(
            all.map((l) => l.digest),
            sorted,
          );
          const referenced = Object.fromEntries(all.map((l) => [l.digest, l.referenced]));
          assert.deepEqual(referenced, { [used]: true, [binned]: true, [loose]: false }, 'a recycle bin entry keeps its blobs referenced');
          const page1 = await gc.linkPage(undefined, 2);
          const page2 = await gc.linkPage({ repositoryId: page1[1]!.repository_id, digest: page1[1]!.digest }, 2);
          assert.deepEqual(
            [...page1, ...page2].map((l) => l.digest),
            sorted,
            'keyset pages',
          );
          await meta.transaction((trx) => gc.markLinks(trx, [{ repository_id: repo, digest: loose }], '2026-01-01T00:00:00.000Z'));
          await meta.transaction((trx) => gc.markLinks(trx, [{ repository_id: repo, digest: loose }], '2026-06-01T00:00:00.000Z'));
          assert.equal(
            (await gc.linkPage(undefined, 100)).find((l) => l.digest === loose)?.unreferenced_since,
            '2026-01-01T00:00:00.000Z',
            'a mark is not moved',
          );
          const b = await gc.backlog();
          assert.deepEqual(b.links, { count: 1, marked: 1, latestMark: '2026-01-01T00:00:00.000Z' }, 'the loose link awaits collection');
          assert.deepEqual(
            { ...b.blobs, latestMark: undefined },
            { count: 1, bytes: 10, linked: 1, marked: 0, latestMark: undefined },
            'its blob goes once the link goes; the binned one is kept',
          );
          assert.equal(b.recycleBin.count, 1);
          assert.deepEqual(b.referrers, { count: 0, newestCreatedAt: null });
          assert.equal(
            await meta.transaction((trx) => gc.lockMarkedLink(trx, repo, loose, '2025-12-31T00:00:00.000Z')),
            false,
            'marked after the cutoff',
          );
          assert.equal(await meta.transaction((trx) => gc.lockMarkedLink(trx, repo, loose, '2026-01-01T00:00:00.000Z')), true);
          assert.equal(
            await meta.transaction((trx) => gc.lockMarkedLink(trx, repo, used, '2999-01-01T00:00:00.000Z')),
            false,
            'not marked',
          );
          assert.equal(await meta.transaction((trx) => gc.linkReferenced(trx, repo, loose)), false);
          assert.equal(await meta.transaction((trx) => gc.linkReferenced(trx, repo, binned)), true);
          await meta.transaction((trx) => gc.unmarkLinks(trx, [{ repository_id: repo, digest: loose }]));
          assert.deepEqual((await gc.backlog()).links, { count: 1, marked: 0, latestMark: null }, 'unmarked, still unreferenced');
        }),
      );

      test(
        'a link held FOR SHARE by a manifest push is locked only after that push commits',
        nodes,
        withStores(async ({ meta, openAnother }) => {
          const { repo } = await repository(meta);
          const d = digestOf('layer');
          await meta.transaction((trx) => meta.linkBlob(trx, repo, d, 10));
          const gcA = new KyselyGcStore(meta.db, meta.dialect);
          await meta.transaction((trx) => gcA.markLinks(trx, [{ repository_id: repo, digest: d }], '2026-01-01T00:00:00.000Z'));
          const other = await openAnother();
          const pusher = new MetaStore(other);
          const held = gate();
          const release = gate();
          let committed = false;
          const push = other.kysely.transaction().execute(async (trx) => {
            assert.deepEqual(await pusher.missingBlobs(trx, repo, [d]), []);
            held.open();
            await release.wait;
            await putManifest(pusher, trx, repo, 'uses-layer', { refs: [{ digest: d, kind: 'blob' }] });
            committed = true;
          });
          await held.wait;
          const sweep = meta.db.transaction().execute(async (trx) => {
            const locked = await gcA.lockMarkedLink(trx, repo, d, '2026-01-01T00:00:00.000Z');
            return { locked, pushCommitted: committed, referenced: await gcA.linkReferenced(trx, repo, d) };
          });
          await sleep(200);
          release.open();
          await push;
          assert.deepEqual(
            await sweep,
            { locked: true, pushCommitted: true, referenced: true },
            'the sweep waited and then saw the reference',
          );
        }),
      );

      test(
        'blobs: pages with linked, marks, lock of an orphan, delete, claim of a digest without a row',
        withStores(async ({ meta, gc }) => {
          const { repo } = await repository(meta);
          const [kept, orphan] = [digestOf('kept'), digestOf('orphan')];
          await meta.transaction(async (trx) => {
            await meta.linkBlob(trx, repo, kept, 10);
            await meta.linkBlob(trx, repo, orphan, 7);
            await meta.unlinkBlob(trx, repo, orphan);
          });
          const page = await gc.blobPage('', 100);
          assert.deepEqual(Object.fromEntries(page.map((b) => [b.digest, [b.linked, b.size]])), {
            [kept]: [true, 10],
            [orphan]: [false, 7],
          });
          assert.deepEqual(
            (await gc.blobPage(page[0]!.digest, 100)).map((b) => b.digest),
            [page[1]!.digest],
          );
          await meta.transaction((trx) => gc.markBlobs(trx, [orphan], '2026-01-01T00:00:00.000Z'));
          await meta.transaction((trx) => gc.markBlobs(trx, [orphan], '2026-06-01T00:00:00.000Z'));
          // kept's link is referenced by no manifest either: it waits for that link; orphan is marked.
          assert.deepEqual((await gc.backlog()).blobs, {
            count: 2,
            bytes: 17,
            linked: 1,
            marked: 1,
            latestMark: '2026-01-01T00:00:00.000Z',
          });
          assert.equal(
            await meta.transaction((trx) => gc.lockOrphanedBlob(trx, orphan, '2025-01-01T00:00:00.000Z')),
            undefined,
            'marked after the cutoff',
          );
          assert.equal(
            await meta.transaction((trx) => gc.lockOrphanedBlob(trx, kept, '2999-01-01T00:00:00.000Z')),
            undefined,
            'not marked',
          );
          assert.equal(await meta.transaction((trx) => gc.lockOrphanedBlob(trx, orphan, '2026-01-01T00:00:00.000Z')), 7);
          assert.equal(await meta.transaction((trx) => gc.blobLinked(trx, orphan)), false);
          assert.equal(await meta.transaction((trx) => gc.blobLinked(trx, kept)), true);
          await meta.transaction((trx) => gc.unmarkBlobs(trx, [orphan]));
          assert.equal((await gc.backlog()).blobs.marked, 0);
          await meta.transaction((trx) => gc.deleteBlob(trx, orphan));
          assert.deepEqual(await gc.knownBlobs([kept, orphan, digestOf('never')]), new Set([kept]));
          assert.deepEqual(await gc.knownBlobs([]), new Set());
          const stray = digestOf('stray');
          assert.equal(await meta.transaction((trx) => gc.claimBlob(trx, stray, 4, '2026-01-01T00:00:00.000Z')), true);
          assert.equal(
            await meta.transaction((trx) => gc.claimBlob(trx, kept, 4, '2026-01-01T00:00:00.000Z')),
            false,
            'a digest with a row is not claimed',
          );
          assert.equal(await meta.blobSize(kept), 10, 'and its row is untouched');
        }),
      );

      test(
        'an orphaned blob locked by GC cannot be linked by a mount until GC is done',
        nodes,
        withStores(async ({ meta, gc, openAnother }) => {
          const { repo } = await repository(meta);
          const d = digestOf('orphan');
          await meta.transaction(async (trx) => {
            await meta.linkBlob(trx, repo, d, 7);
            await meta.unlinkBlob(trx, repo, d);
            await gc.markBlobs(trx, [d], '2026-01-01T00:00:00.000Z');
          });
          const mounter = new MetaStore(await openAnother());
          const locked = gate();
          const release = gate();
          const sweep = meta.db.transaction().execute(async (trx) => {
            assert.equal(await gc.lockOrphanedBlob(trx, d, '2026-01-01T00:00:00.000Z'), 7);
            locked.open();
            await release.wait;
            await gc.deleteBlob(trx, d);
          });
          await locked.wait;
          const mount = mounter.transaction((trx) => mounter.linkStoredBlob(trx, repo, d));
          await sleep(200);
          release.open();
          await sweep;
          assert.equal(await mount, undefined, 'the mount waited, then found the blob gone');
        }),
      );

      test(
        'dangling referrers: subject gone from their repository, pushed before the cutoff, by id',
        withStores(async ({ meta, gc }) => {
          const { reg, repo } = await repository(meta);
          const { repo: other } = await repository(meta, 'otherreg', 'team/app');
          const { ids, digests } = await meta.transaction(async (trx) => {
            const subject = await putManifest(meta, trx, repo, 'subject');
            const ok = await putManifest(meta, trx, repo, 'sig-ok', { subject: subject.digest });
            const lost1 = await putManifest(meta, trx, repo, 'sig-lost-1', { subject: digestOf('gone') });
            const lost2 = await putManifest(meta, trx, repo, 'sig-lost-2', { subject: digestOf('gone-too') });
            // The subject exists, but in another repository: still dangling here.
            const elsewhere = await putManifest(meta, trx, other, 'subject-elsewhere');
            const lost3 = await putManifest(meta, trx, repo, 'sig-lost-3', { subject: elsewhere.digest });
            return { ids: [lost1.id, lost2.id, lost3.id], digests: [lost1.digest, lost2.digest, lost3.digest], ok };
          });
          const all = await gc.danglingReferrers('2999-01-01T00:00:00.000Z', 0, 100);
          assert.deepEqual(
            all.map((r) => r.id),
            ids,
          );
          assert.deepEqual(
            all.map((r) => r.digest),
            digests,
          );
          assert.deepEqual(all[0], { id: ids[0], digest: digests[0], repository: 'team/app', registry_id: reg.id });
          assert.deepEqual(
            (await gc.danglingReferrers('2999-01-01T00:00:00.000Z', ids[0]!, 1)).map((r) => r.id),
            [ids[1]],
            'keyset on id, limited',
          );
          assert.deepEqual(await gc.danglingReferrers('2000-01-01T00:00:00.000Z', 0, 100), [], 'nothing pushed before the cutoff');
        }),
      );
    });

    describe('recycle bin', () => {
      test(
        'policy: defaults, update, and purge times moved in SQL to the same ISO-8601 form',
        withStores(async ({ meta, bin }) => {
          const { reg, repo } = await repository(meta);
          const { reg: other, repo: otherRepo } = await repository(meta, 'otherreg');
          assert.deepEqual(await bin.policy(reg.id), { enabled: false, days: 7 });
          await meta.transaction((trx) =>
            bin.setPolicy(trx, reg.id, { soft_delete_enabled: 1, soft_delete_days: 3 }, '2026-03-01T00:00:00.000Z'),
          );
          assert.deepEqual(await meta.transaction((trx) => bin.policy(reg.id, trx)), { enabled: true, days: 3 });
          assert.equal((await meta.getRegistryById(reg.id))?.updated_at, '2026-03-01T00:00:00.000Z');
          await meta.transaction(async (trx) => {
            await bin.add(
              trx,
              binEntry(reg.id, repo, { digest: digestOf('a'), deleted_at: '2026-01-31T23:59:59.123Z', purge_after: 'x' }),
              -1,
            );
            await bin.add(
              trx,
              binEntry(reg.id, repo, { digest: digestOf('b'), deleted_at: '2024-02-28T12:00:00.000Z', purge_after: 'x' }),
              -1,
            );
            await bin.add(trx, binEntry(other.id, otherRepo, { digest: digestOf('c'), purge_after: 'untouched' }), -1);
          });
          await meta.transaction((trx) => bin.movePurgeTimes(trx, reg.id, 3));
          const rows = await meta.db.selectFrom('deleted_manifests').select(['digest', 'purge_after']).execute();
          assert.deepEqual(Object.fromEntries(rows.map((r) => [r.digest, r.purge_after])), {
            [digestOf('a')]: '2026-02-03T23:59:59.123Z',
            [digestOf('b')]: '2024-03-02T12:00:00.000Z',
            [digestOf('c')]: 'untouched',
          });
        }),
      );

      test(
        'into the bin: the manifest, its tags and its references are copied',
        withStores(async ({ meta, bin }) => {
          const { reg, repo } = await repository(meta);
          const layer = digestOf('layer');
          const m = await meta.transaction(async (trx) => {
            await meta.linkBlob(trx, repo, layer, 5);
            const r = await putManifest(meta, trx, repo, 'img', {
              refs: [
                { digest: layer, kind: 'blob' },
                { digest: digestOf('child'), kind: 'manifest' },
              ],
            });
            await meta.setTag(trx, repo, 'v2', r.id);
            await meta.setTag(trx, repo, 'v1', r.id);
            return r;
          });
          assert.equal(await meta.transaction((trx) => bin.hasEntries(trx, repo)), false);
          const row = await meta.transaction((trx) => bin.manifest(trx, repo, m.digest));
          assert.deepEqual(Buffer.from(row!.content), Buffer.from(m.content));
          assert.equal(await meta.transaction((trx) => bin.manifest(trx, repo, digestOf('nope'))), undefined);
          assert.deepEqual(await meta.transaction((trx) => bin.tagsOf(trx, m.id)), ['v1', 'v2']);
          await meta.transaction((trx) =>
            bin.add(trx, binEntry(reg.id, repo, { digest: m.digest, content: row!.content, tags: '["v1","v2"]' }), m.id),
          );
          assert.equal(await meta.transaction((trx) => bin.hasEntries(trx, repo)), true);
          const [entry] = await bin.liveEntries(repo, {}, '2026-06-01T00:00:00.000Z');
          const refs = await meta.transaction((trx) => bin.entryRefs(trx, entry!.id));
          assert.deepEqual(
            refs.map((r) => `${r.kind}:${r.child_digest}`).sort(),
            [`blob:${layer}`, `manifest:${digestOf('child')}`].sort(),
          );
          assert.deepEqual(Buffer.from(await meta.transaction((trx) => bin.entryContent(trx, entry!.id))), Buffer.from(m.content));
          assert.equal(await meta.transaction((trx) => bin.manifestDigest(trx, m.id)), m.digest);
          assert.equal(await meta.transaction((trx) => bin.manifestDigest(trx, 9999)), undefined);
          await meta.transaction((trx) => bin.deleteEntry(trx, entry!.id));
          assert.equal(await meta.transaction((trx) => bin.hasEntries(trx, repo)), false);
          assert.deepEqual(await meta.transaction((trx) => bin.entryRefs(trx, entry!.id)), [], 'its references go with it');
        }),
      );

      test(
        'live entries: filters, exact tags (LIKE is only a superset), newest first, keyset, expiry',
        withStores(async ({ meta, bin }) => {
          const { reg, repo } = await repository(meta);
          const now = '2026-06-01T00:00:00.000Z';
          const add = (o: Partial<NewBinEntry> & { digest: string }) =>
            meta.transaction((trx) => bin.add(trx, binEntry(reg.id, repo, o), -1));
          await add({ digest: digestOf('1'), tags: '["v1"]' });
          await add({ digest: digestOf('2'), tags: '["V1"]', kind: 'tag' });
          await add({ digest: digestOf('3'), tags: '["v_"]', group_id: 'g2', subject_digest: digestOf('1') });
          await add({ digest: digestOf('4'), tags: '["v1","v9"]', purge_after: '2026-05-01T00:00:00.000Z' });
          const ids = (await bin.liveEntries(repo, {}, now)).map((e) => e.digest);
          assert.deepEqual(ids, [digestOf('3'), digestOf('2'), digestOf('1')], 'newest first; the expired entry is gone');
          assert.deepEqual(
            (await bin.liveEntries(repo, { tag: 'v1' }, now)).map((e) => e.digest),
            [digestOf('1')],
            'case-sensitive',
          );
          assert.deepEqual(
            (await bin.liveEntries(repo, { tag: 'v_' }, now)).map((e) => e.digest),
            [digestOf('3')],
            '"_" is literal',
          );
          assert.deepEqual(
            (await bin.liveEntries(repo, { tag: 'v9' }, '2026-04-01T00:00:00.000Z')).map((e) => e.digest),
            [digestOf('4')],
          );
          assert.deepEqual(
            (await bin.liveEntries(repo, { kind: 'tag' }, now)).map((e) => e.digest),
            [digestOf('2')],
          );
          assert.deepEqual(
            (await bin.liveEntries(repo, { group: 'g2', subject: digestOf('1') }, now)).map((e) => e.digest),
            [digestOf('3')],
          );
          assert.deepEqual(
            (await bin.liveEntries(repo, { digest: digestOf('2') }, now)).map((e) => e.tags),
            ['["V1"]'],
          );
          const first = await bin.liveEntries(repo, { limit: 1 }, now);
          const rest = await meta.transaction((trx) => bin.liveEntries(repo, { beforeId: first[0]!.id, limit: 5 }, now, trx));
          assert.deepEqual(
            [...first, ...rest].map((e) => e.digest),
            ids,
          );
          assert.equal('content' in first[0]!, false, 'listings leave the bytes behind');
        }),
      );

      test(
        'soft-deleted repositories: listing, revival, expiry purge, lock and busy checks',
        withStores(async ({ meta, bin }) => {
          const { reg, repo } = await repository(meta);
          const live = await meta.transaction((trx) => meta.ensureRepository(trx, reg.id, 'team/live'));
          const empty = await meta.transaction((trx) => meta.ensureRepository(trx, reg.id, 'team/empty'));
          await meta.db
            .updateTable('repositories')
            .set({ deleted_at: '2026-01-02T00:00:00.000Z' })
            .where('id', 'in', [repo, empty])
            .execute();
          const add = (o: Partial<NewBinEntry> & { digest: string }) =>
            meta.transaction((trx) => bin.add(trx, binEntry(reg.id, repo, o), -1));
          await add({ digest: digestOf('1'), purge_after: '2026-02-01T00:00:00.000Z' });
          await add({ digest: digestOf('2'), purge_after: '2026-03-01T00:00:00.000Z' });
          await add({ digest: digestOf('3'), purge_after: '2026-04-01T00:00:00.000Z', kind: 'tag' });
          assert.deepEqual(
            await bin.deletedRepositories(reg.id, '2026-01-15T00:00:00.000Z'),
            [{ name: 'team/app', deleted_at: '2026-01-02T00:00:00.000Z', count: 2, purge_after: '2026-03-01T00:00:00.000Z' }],
            'counts manifest entries only; an empty one is not listed',
          );
          assert.deepEqual(await bin.anyRepository(reg.id, 'team/app'), {
            id: repo,
            deleted_at: '2026-01-02T00:00:00.000Z',
            write_enabled: 1,
          });
          assert.deepEqual(
            await bin.softDeletedRepositories(0, 10),
            [repo, empty].sort((a, b) => a - b),
          );
          assert.deepEqual(await bin.softDeletedRepositories(Math.min(repo, empty), 10), [Math.max(repo, empty)]);
          assert.equal(await meta.transaction((trx) => bin.lockSoftDeletedRepository(trx, live)), false, 'a live repository');
          assert.equal(await meta.transaction((trx) => bin.lockSoftDeletedRepository(trx, empty)), true);
          assert.equal(await meta.transaction((trx) => bin.repositoryBusy(trx, empty)), false);
          assert.equal(await meta.transaction((trx) => bin.repositoryBusy(trx, repo)), true, 'bin entries');
          await meta.transaction((trx) => putManifest(meta, trx, live, 'm'));
          assert.equal(await meta.transaction((trx) => bin.repositoryBusy(trx, live)), true, 'live manifests');
          assert.equal(
            await meta.transaction((trx) => bin.deleteExpired(trx, '2026-03-01T00:00:00.000Z', 1)),
            1,
            'earliest first, up to the limit',
          );
          assert.equal(await meta.transaction((trx) => bin.deleteExpired(trx, '2026-03-01T00:00:00.000Z', 10)), 1);
          assert.equal(await meta.transaction((trx) => bin.deleteExpired(trx, '2026-03-01T00:00:00.000Z', 10)), 0);
          assert.deepEqual(
            (await bin.liveEntries(repo, {}, '2000-01-01T00:00:00.000Z')).map((e) => e.digest),
            [digestOf('3')],
          );
          await meta.transaction((trx) => bin.reviveRepository(trx, repo, '2026-05-01T00:00:00.000Z'));
          assert.equal(await meta.findRepositoryId(reg.id, 'team/app'), repo, 'live again');
          assert.deepEqual(await bin.softDeletedRepositories(0, 10), [empty]);
        }),
      );

      test(
        'two nodes purging one soft-deleted repository: the second waits, then finds it gone',
        nodes,
        withStores(async ({ meta, bin, openAnother }) => {
          const { repo } = await repository(meta);
          await meta.db.updateTable('repositories').set({ deleted_at: '2026-01-02T00:00:00.000Z' }).where('id', '=', repo).execute();
          const second = await openAnother();
          const bin2 = new KyselyRecycleBin(second.kysely, second.dialect);
          const locked = gate();
          const release = gate();
          let purged = false;
          const purge = meta.db.transaction().execute(async (trx) => {
            assert.equal(await bin.lockSoftDeletedRepository(trx, repo), true);
            locked.open();
            await release.wait;
            await meta.deleteRepository(trx, repo);
            purged = true;
          });
          await locked.wait;
          const other = second.kysely
            .transaction()
            .execute(async (trx) => ({ locked: await bin2.lockSoftDeletedRepository(trx, repo), afterPurge: purged }));
          await sleep(200);
          release.open();
          await purge;
          assert.deepEqual(await other, { locked: false, afterPurge: true });
        }),
      );
    });

    describe('purge', () => {
      test(
        'untagged candidates: index children and referrers of a present subject are kept; filters and order',
        withStores(async ({ meta, purge }) => {
          const { repo } = await repository(meta);
          const f = await meta.transaction(async (trx) => {
            const child = await putManifest(meta, trx, repo, 'child');
            const index = await putManifest(meta, trx, repo, 'index', { refs: [{ digest: child.digest, kind: 'manifest' }] });
            const subject = await putManifest(meta, trx, repo, 'subject');
            await meta.setTag(trx, repo, 'v1', subject.id);
            const sig = await putManifest(meta, trx, repo, 'sig', { subject: subject.digest });
            const orphanSig = await putManifest(meta, trx, repo, 'orphan-sig', { subject: digestOf('gone') });
            const plain = await putManifest(meta, trx, repo, 'plain');
            return { child, index, subject, sig, orphanSig, plain };
          });
          const future = '2999-01-01T00:00:00.000Z';
          const ids = async (q: Partial<Parameters<KyselyPurgeStore['untaggedCandidates']>[1]>) =>
            (await purge.untaggedCandidates(repo, { age: 'created_at', cutoff: future, limit: 100, ...q })).map((m) => m.id);
          assert.deepEqual(await ids({}), [f.plain.id, f.orphanSig.id, f.index.id], 'newest first');
          assert.deepEqual(await ids({ limit: 1 }), [f.plain.id]);
          assert.deepEqual(await ids({ beforeId: f.plain.id }), [f.orphanSig.id, f.index.id]);
          assert.deepEqual(await ids({ cutoff: '2000-01-01T00:00:00.000Z' }), []);
          assert.deepEqual(await ids({ age: 'untagged_since' }), [f.plain.id, f.orphanSig.id, f.index.id]);
          assert.deepEqual(await ids({ untaggedSince: future }), [], 'untagged before the policy began');
          assert.deepEqual(
            await ids({ ids: [f.subject.id, f.child.id, f.plain.id] }),
            [f.plain.id, f.subject.id],
            'given ids: tagged ones too, index children still kept',
          );
          assert.deepEqual(await ids({ ids: [] }), []);
          const [row] = await purge.untaggedCandidates(repo, { age: 'created_at', cutoff: future, limit: 1 });
          assert.deepEqual(row, { id: f.plain.id, digest: f.plain.digest, write_enabled: 1, delete_enabled: 1 });
        }),
      );

      test(
        'index children with their tag counts, the indexes referencing a digest, and a recheck of children still untagged',
        withStores(async ({ meta, purge }) => {
          const { repo } = await repository(meta);
          const other = (await repository(meta, 'other')).repo;
          const f = await meta.transaction(async (trx) => {
            const a = await putManifest(meta, trx, repo, 'a');
            const b = await putManifest(meta, trx, repo, 'b');
            await meta.setTag(trx, repo, 'b1', b.id);
            await meta.setTag(trx, repo, 'b2', b.id);
            const refs = [a, b].map((m) => ({ digest: m.digest, kind: 'manifest' as const }));
            const ix1 = await putManifest(meta, trx, repo, 'ix1', { refs });
            const ix2 = await putManifest(meta, trx, repo, 'ix2', { refs: [refs[0]!] });
            // The same child digest referenced from another repository is not this repository's concern.
            await putManifest(meta, trx, other, 'a');
            await putManifest(meta, trx, other, 'ix-other', { refs: [refs[0]!] });
            return { a, b, ix1, ix2 };
          });
          const kids = await purge.indexChildren(repo, [f.ix1.id]);
          assert.deepEqual(
            kids.map((k) => [k.parent_id, k.id, k.tags]).sort(),
            [
              [f.ix1.id, f.a.id, 0],
              [f.ix1.id, f.b.id, 2],
            ].sort(),
          );
          assert.deepEqual(await purge.indexChildren(repo, []), []);
          const parents = await purge.referencingIndexes(repo, [f.a.digest, f.b.digest, digestOf('none')]);
          assert.deepEqual(parents.get(f.a.digest)?.sort(), [f.ix1.id, f.ix2.id].sort());
          assert.deepEqual(parents.get(f.b.digest), [f.ix1.id]);
          assert.equal(parents.has(digestOf('none')), false);
          const future = '2999-01-01T00:00:00.000Z';
          const recheck = async () =>
            (
              await purge.untaggedCandidates(repo, {
                age: 'created_at',
                cutoff: future,
                ids: [f.a.id, f.b.id],
                stillUntagged: true,
                limit: 10,
              })
            ).map((m) => m.id);
          assert.deepEqual(await recheck(), [], 'both still referenced');
          await meta.transaction(async (trx) => {
            await meta.deleteManifest(trx, repo, f.ix1.digest);
            await meta.deleteManifest(trx, repo, f.ix2.digest);
          });
          assert.deepEqual(await recheck(), [f.a.id], 'b keeps its tags');
        }),
      );

      test(
        'tags: pages newest first by (updated_at, name), deletable ones, counts, delete',
        withStores(async ({ meta, purge }) => {
          const { repo } = await repository(meta);
          const m = await meta.transaction(async (trx) => {
            const a = await putManifest(meta, trx, repo, 'a');
            const b = await putManifest(meta, trx, repo, 'b');
            for (const t of ['t1', 't2', 't3']) await meta.setTag(trx, repo, t, a.id);
            await meta.setTag(trx, repo, 'u1', b.id);
            return { a, b };
          });
          const at = (name: string, updated_at: string) =>
            meta.db.updateTable('tags').set({ updated_at }).where('repository_id', '=', repo).where('name', '=', name).execute();
          await at('t1', '2026-01-01T00:00:00.000Z');
          await at('t2', '2026-01-02T00:00:00.000Z');
          await at('t3', '2026-01-02T00:00:00.000Z');
          await at('u1', '2026-02-01T00:00:00.000Z');
          const cutoff = '2026-01-15T00:00:00.000Z';
          const page = await purge.tagPage(repo, cutoff, undefined, 100);
          assert.deepEqual(
            page.map((t) => t.name),
            ['t3', 't2', 't1'],
          );
          assert.deepEqual(page[0], {
            name: 't3',
            updated_at: '2026-01-02T00:00:00.000Z',
            manifest_id: m.a.id,
            write_enabled: 1,
            delete_enabled: 1,
            digest: m.a.digest,
          });
          const p1 = await purge.tagPage(repo, cutoff, undefined, 1);
          const p2 = await purge.tagPage(repo, cutoff, { time: p1[0]!.updated_at, name: p1[0]!.name }, 1);
          const p3 = await purge.tagPage(repo, cutoff, { time: p2[0]!.updated_at, name: p2[0]!.name }, 5);
          assert.deepEqual(
            [...p1, ...p2, ...p3].map((t) => t.name),
            ['t3', 't2', 't1'],
            'keyset through equal times',
          );
          await meta.setTagAttributes(repo, 't2', { delete_enabled: 0 });
          const deletable = await meta.transaction((trx) => purge.deletableTags(trx, repo, ['t1', 't2', 't3', 'u1', 'nope'], cutoff));
          assert.deepEqual(deletable.map((t) => t.name).sort(), ['t1', 't3'], 'locked and newer tags are not');
          assert.deepEqual(
            await purge.tagCounts([m.a.id, m.b.id, 9999]),
            new Map([
              [m.a.id, 3],
              [m.b.id, 1],
            ]),
          );
          await meta.transaction((trx) => purge.deleteTags(trx, repo, ['t1', 't3']));
          assert.deepEqual(await purge.tagCounts([m.a.id]), new Map([[m.a.id, 1]]));
        }),
      );

      test(
        'repository pages (soft-deleted too) and job results',
        withStores(async ({ meta, purge }) => {
          const reg = (await meta.createRegistry('demoreg', 'Basic'))!;
          for (const n of ['b', 'a', 'c/d']) await meta.transaction((trx) => meta.ensureRepository(trx, reg.id, n));
          await meta.db
            .updateTable('repositories')
            .set({ deleted_at: '2026-01-01T00:00:00.000Z', write_enabled: 0 })
            .where('name', '=', 'b')
            .execute();
          const first = await purge.repositoryPage(reg.id, undefined, 2);
          assert.deepEqual(
            first.map((r) => [r.name, r.write_enabled, r.delete_enabled]),
            [
              ['a', 1, 1],
              ['b', 0, 1],
            ],
          );
          assert.deepEqual(
            (await purge.repositoryPage(reg.id, 'b', 2)).map((r) => r.name),
            ['c/d'],
          );
          const job = await meta.db
            .insertInto('jobs')
            .values({
              kind: 'purge',
              payload: '{}',
              state: 'running',
              attempts: 1,
              max_attempts: 3,
              run_after: '2026-01-01T00:00:00.000Z',
              lease_owner: null,
              lease_until: null,
              last_error: null,
              created_at: '2026-01-01T00:00:00.000Z',
              updated_at: '2026-01-01T00:00:00.000Z',
            })
            .returning('id')
            .executeTakeFirstOrThrow();
          await purge.setJobResult(Number(job.id), '{"deletedTags":3}');
          assert.equal(
            (await meta.db.selectFrom('jobs').select('result').where('id', '=', job.id).executeTakeFirstOrThrow()).result,
            '{"deletedTags":3}',
          );
        }),
      );
    });

    describe('retention policies', () => {
      test(
        'none until set; enabling stamps enabled_at, later updates keep it; only enabled ones are run',
        withStores(async ({ meta, retention }) => {
          const reg = (await meta.createRegistry('demoreg', 'Premium'))!;
          const off = (await meta.createRegistry('offreg', 'Premium'))!;
          assert.equal(await retention.get(reg.id), undefined);
          await retention.put({
            registryId: reg.id,
            status: 'enabled',
            days: 7,
            enabledAt: '2026-01-01T00:00:00.000Z',
            updatedAt: '2026-01-01T00:00:00.000Z',
          });
          await retention.put({ registryId: reg.id, status: 'enabled', days: 3, updatedAt: '2026-02-01T00:00:00.000Z' });
          await retention.put({ registryId: off.id, status: 'disabled', days: 1, updatedAt: '2026-02-01T00:00:00.000Z' });
          assert.deepEqual(await retention.get(reg.id), {
            registry_id: reg.id,
            status: 'enabled',
            days: 3,
            type: 'UntaggedManifests',
            enabled_at: '2026-01-01T00:00:00.000Z',
            updated_at: '2026-02-01T00:00:00.000Z',
          });
          const enabled = await retention.enabled();
          assert.equal(enabled.length, 1);
          const { days, enabled_at, ...registry } = enabled[0]!;
          assert.deepEqual({ days, enabled_at }, { days: 3, enabled_at: '2026-01-01T00:00:00.000Z' });
          assert.deepEqual(registry, await meta.getRegistryById(reg.id), 'with the whole registry row');
        }),
      );
    });

    describe('immutability policies', () => {
      test(
        'add (names unique in any case), list by name, remove in any case; tag reads',
        withStores(async ({ meta, immutability }) => {
          const { reg, repo } = await repository(meta);
          const other = (await meta.createRegistry('otherreg', 'Basic'))!;
          assert.equal(await immutability.add({ registryId: reg.id, name: 'Zeta', repositoryPattern: '**', tagPattern: 'v*' }), true);
          assert.equal(await immutability.add({ registryId: reg.id, name: 'alpha', repositoryPattern: 'team/*', tagPattern: '*' }), true);
          assert.equal(await immutability.add({ registryId: reg.id, name: 'ZETA', repositoryPattern: 'x', tagPattern: 'y' }), false);
          assert.equal(
            await immutability.add({ registryId: other.id, name: 'zeta', repositoryPattern: 'x', tagPattern: 'y' }),
            true,
            'per registry',
          );
          const list = await meta.transaction((trx) => immutability.list(reg.id, trx));
          assert.deepEqual(
            list.map((p) => [p.name, p.repository_pattern, p.tag_pattern]),
            [
              ['alpha', 'team/*', '*'],
              ['Zeta', '**', 'v*'],
            ],
          );
          assert.equal(await immutability.remove(reg.id, 'zeta'), true);
          assert.equal(await immutability.remove(reg.id, 'zeta'), false);
          assert.deepEqual(
            (await immutability.list(reg.id)).map((p) => p.name),
            ['alpha'],
          );
          const m = await meta.transaction(async (trx) => {
            const r = await putManifest(meta, trx, repo, 'm');
            for (const t of ['b', 'a', 'c']) await meta.setTag(trx, repo, t, r.id);
            return r;
          });
          assert.deepEqual((await meta.transaction((trx) => immutability.tagsOfManifest(trx, m.id))).sort(), ['a', 'b', 'c']);
          assert.deepEqual(await meta.transaction((trx) => immutability.tagPage(trx, repo, undefined, 2)), ['a', 'b']);
          assert.deepEqual(await meta.transaction((trx) => immutability.tagPage(trx, repo, 'b', 2)), ['c']);
        }),
      );
    });

    describe('webhooks', () => {
      test(
        'insert (names unique in any case), count, find, list, update, delete',
        withStores(async ({ meta, webhooks }) => {
          const reg = (await meta.createRegistry('demoreg', 'Basic'))!;
          const a = await meta.transaction((trx) => webhooks.insert(trx, webhook(reg.id, 'HookB')));
          assert.equal(a?.name, 'HookB');
          assert.equal(typeof a?.id, 'number');
          await meta.transaction((trx) => webhooks.insert(trx, webhook(reg.id, 'hooka')));
          assert.equal(await meta.transaction((trx) => webhooks.insert(trx, webhook(reg.id, 'HOOKB'))), undefined, 'the name is taken');
          assert.equal(await meta.transaction((trx) => webhooks.count(trx, reg.id)), 2);
          assert.deepEqual(
            (await webhooks.list(reg.id)).map((w) => w.name),
            ['hooka', 'HookB'],
          );
          assert.equal((await webhooks.find(reg.id, 'hookb'))?.id, a.id);
          await webhooks.update(a.id, { status: 'disabled', updated_at: '2026-02-01T00:00:00.000Z' });
          assert.deepEqual(
            [(await webhooks.webhook(a.id))?.status, (await webhooks.webhook(a.id))?.updated_at],
            ['disabled', '2026-02-01T00:00:00.000Z'],
          );
          await webhooks.delete(a.id);
          assert.equal(await webhooks.find(reg.id, 'HookB'), undefined);
          assert.equal(await meta.transaction((trx) => webhooks.count(trx, reg.id)), 1);
        }),
      );

      test(
        'deliveries: recorded, newest first, the last one of an event',
        withStores(async ({ meta, webhooks }) => {
          const reg = (await meta.createRegistry('demoreg', 'Basic'))!;
          const w = (await meta.transaction((trx) => webhooks.insert(trx, webhook(reg.id, 'hooka'))))!;
          const delivery = (eventId: string, attempt: number, outcome: string) =>
            webhooks.recordDelivery({
              webhook_id: w.id,
              event_id: eventId,
              action: 'push',
              attempt,
              outcome,
              request_uri: w.uri,
              request_headers: '{}',
              request_body: `{"attempt":${attempt}}`,
              response_status: outcome === 'succeeded' ? 200 : null,
              response_headers: null,
              response_body: null,
              error: null,
              duration_ms: 3,
              created_at: '2026-01-01T00:00:00.000Z',
            });
          await delivery('e1', 1, 'failed');
          await delivery('e1', 2, 'succeeded');
          await delivery('e2', 1, 'succeeded');
          assert.deepEqual(
            (await webhooks.deliveries(w.id, 10)).map((d) => [d.event_id, d.attempt]),
            [
              ['e2', 1],
              ['e1', 2],
              ['e1', 1],
            ],
          );
          assert.equal((await webhooks.deliveries(w.id, 1)).length, 1);
          assert.deepEqual(await webhooks.lastDelivery(w.id, 'e1'), { action: 'push', request_body: '{"attempt":2}' });
          assert.equal(await webhooks.lastDelivery(w.id, 'e3'), undefined);
        }),
      );

      test(
        'outbox: undispatched events oldest first, marked dispatched; hooks, registries and manifests for payloads',
        withStores(async ({ meta, webhooks }) => {
          const { reg, repo } = await repository(meta);
          const other = (await meta.createRegistry('otherreg', 'Standard'))!;
          const m = await meta.transaction((trx) => putManifest(meta, trx, repo, 'img'));
          await meta.transaction(async (trx) => {
            for (const tag of ['1', '2', '3'])
              await meta.recordEvent(trx, undefined, { registry_id: reg.id, action: 'push', repository: 'team/app', tag });
          });
          const events = await meta.transaction((trx) => webhooks.undispatched(trx, 2));
          assert.deepEqual(
            events.map((e) => e.tag),
            ['1', '2'],
          );
          await meta.transaction((trx) =>
            webhooks.markDispatched(
              trx,
              events.map((e) => e.id),
            ),
          );
          assert.deepEqual(
            (await meta.transaction((trx) => webhooks.undispatched(trx, 10))).map((e) => e.tag),
            ['3'],
          );
          await meta.transaction(async (trx) => {
            await webhooks.insert(trx, webhook(reg.id, 'on'));
            await webhooks.insert(trx, webhook(reg.id, 'off', { status: 'disabled' }));
            await webhooks.insert(trx, webhook(other.id, 'elsewhere'));
          });
          assert.deepEqual(
            (await meta.transaction((trx) => webhooks.enabledWebhooks(trx, [reg.id]))).map((w) => w.name),
            ['on'],
          );
          assert.deepEqual(await meta.transaction((trx) => webhooks.enabledWebhooks(trx, [])), []);
          const regs = await meta.transaction((trx) => webhooks.registries(trx, [reg.id, other.id]));
          assert.deepEqual(
            regs.sort((a, b) => a.id - b.id),
            [await meta.getRegistryById(reg.id), await meta.getRegistryById(other.id)],
          );
          assert.equal(await webhooks.registryName(other.id), 'otherreg');
          assert.equal(await webhooks.registryName(9999), undefined);
          const content = await meta.transaction((trx) => webhooks.manifestContent(trx, reg.id, 'team/app', m.digest));
          assert.deepEqual(Buffer.from(content!), Buffer.from(m.content));
          assert.equal(
            await meta.transaction((trx) => webhooks.manifestContent(trx, other.id, 'team/app', m.digest)),
            undefined,
            'by registry',
          );
        }),
      );

      test(
        'two dispatchers at once take disjoint events (SKIP LOCKED)',
        nodes,
        withStores(async ({ meta, webhooks, openAnother }) => {
          const reg = (await meta.createRegistry('demoreg', 'Basic'))!;
          await meta.transaction(async (trx) => {
            for (let i = 0; i < 6; i++)
              await meta.recordEvent(trx, undefined, { registry_id: reg.id, action: 'push', repository: 'a', tag: `t${i}` });
          });
          const second = await openAnother();
          const other = new KyselyWebhooks(second.kysely, second.dialect);
          const taken = gate();
          const release = gate();
          const first = meta.db.transaction().execute(async (trx) => {
            const events = await webhooks.undispatched(trx, 3);
            taken.open();
            await release.wait;
            await webhooks.markDispatched(
              trx,
              events.map((e) => e.id),
            );
            return events.map((e) => e.tag);
          });
          await taken.wait;
          const concurrent = await second.kysely.transaction().execute(async (trx) => {
            const events = await other.undispatched(trx, 10);
            await other.markDispatched(
              trx,
              events.map((e) => e.id),
            );
            return events.map((e) => e.tag);
          });
          release.open();
          assert.deepEqual(await first, ['t0', 't1', 't2']);
          assert.deepEqual(concurrent, ['t3', 't4', 't5'], 'did not wait for, nor take, the locked ones');
          assert.deepEqual(await meta.transaction((trx) => webhooks.undispatched(trx, 10)), []);
        }),
      );
    });

    describe('imports', () => {
      test(
        'insert with the job, read (within a registry), list newest first, update progress and result',
        withStores(async ({ meta, imports }) => {
          const reg = (await meta.createRegistry('demoreg', 'Basic'))!;
          const other = (await meta.createRegistry('otherreg', 'Basic'))!;
          const row = (id: number, registryId: number) => ({
            id,
            registry_id: registryId,
            request: `{"n":${id}}`,
            credentials: 'sealed',
            identity: 'alice',
            caller_ip: '10.0.0.1',
            progress: '{}',
            result: null,
            created_at: '2026-01-01T00:00:00.000Z',
            updated_at: '2026-01-01T00:00:00.000Z',
          });
          await meta.transaction(async (trx) => {
            await imports.insert(trx, row(5, reg.id));
            await imports.insert(trx, row(7, reg.id));
            await imports.insert(trx, row(6, other.id));
          });
          assert.deepEqual(await imports.ids(reg.id, 10), [7, 5]);
          assert.deepEqual(await imports.ids(reg.id, 1), [7]);
          assert.equal(await imports.get(6, reg.id), undefined, 'another registry');
          assert.equal((await imports.get(6))?.registry_id, other.id);
          assert.deepEqual(await imports.get(5, reg.id), row(5, reg.id));
          await imports.update(5, {
            progress: '{"phase":"done"}',
            credentials: null,
            result: '{"digest":"x"}',
            updated_at: '2026-01-02T00:00:00.000Z',
          });
          const done = await imports.get(5);
          assert.deepEqual(
            [done?.progress, done?.credentials, done?.result, done?.updated_at, done?.request],
            ['{"phase":"done"}', null, '{"digest":"x"}', '2026-01-02T00:00:00.000Z', '{"n":5}'],
          );
        }),
      );
    });
  });
}
