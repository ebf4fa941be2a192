import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseDigest } from '../src/domain/digest.js';
import { computedUsage, storedUsage } from '../src/meta/usage.js';
import { silentLogger } from '../src/observability/logger.js';
import { DEFAULT_GC, GcService, type GcOptions, type GcStatus } from '../src/services/lifecycle/gc.js';
import { KyselyGcStore } from '../src/meta/gc.js';
import { blobKey } from '../src/storage/paths.js';
import { ADMIN_PASSWORD, adminAuthHeader, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { runCli } from './helpers/cli.js';
import {
  blobOf,
  expectError,
  imageManifest,
  manifestBytes,
  MT,
  randomBlob,
  sha256,
  type V2,
  type Blob,
  type PushedImage,
} from './helpers/oci.js';

// Online garbage collection: garbage goes only after its grace period, never what a pushed
// manifest references, never while a push is about to reference it; a stress run with pushes,
// deletes and collections in parallel loses no acknowledged content and leaves no orphans.

const GRACE = 600;
const DAY_MS = 86_400_000;

for (const backend of BACKENDS) {
  describe(`online garbage collection on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let v2: V2;
    let clock = new Date();
    const at = (seconds: number) => {
      clock = new Date(Date.now() + seconds * 1000);
    };
    const gc = (opts: Partial<GcOptions> = {}) =>
      new GcService(
        t.app.meta,
        new KyselyGcStore(t.app.meta.db, t.app.meta.dialect),
        t.app.storage,
        t.app.services.manifests,
        { ...DEFAULT_GC, gracePeriodSeconds: GRACE, ...opts },
        silentLogger,
        () => clock,
      );

    before(async () => {
      t = await startTestApp(backend, { gc: { enabled: false } });
      v2 = t.v2();
    });
    after(async () => {
      await t?.close();
    });

    const stored = async (digest: string) => (await t.app.storage.stat(blobKey(parseDigest(digest)))) !== null;
    const regId = async (name: string) => (await t.app.services.registries.get(name)).id;
    async function assertUsageExact(reg: string) {
      const id = await regId(reg);
      assert.deepEqual(
        await storedUsage(t.app.meta.db, id),
        await computedUsage(t.app.meta.db, id),
        'storage counters equal a recomputation',
      );
    }
    async function pullsIntact(name: string, img: PushedImage) {
      const m = await v2.fetch(`${name}/manifests/${img.digest}`, { headers: { Accept: img.mediaType } });
      assert.equal(m.status, 200, `manifest ${img.digest} of ${name}`);
      for (const b of [img.config, ...img.layers]) {
        const r = await v2.fetch(`${name}/blobs/${b.digest}`);
        assert.equal(r.status, 200, `blob ${b.digest} of ${name}`);
        assert.equal(sha256(Buffer.from(await r.arrayBuffer())), b.digest);
      }
    }

    test('a deleted image is reclaimed only after the grace period; shared layers and other images stay', async () => {
      const reg = await t.createRegistry();
      const shared = randomBlob(3000);
      await v2.pushBlob(`${reg}/a`, shared);
      await v2.pushBlob(`${reg}/b`, shared);
      const a = await pushWith(v2, `${reg}/a`, 'v1', [shared, randomBlob(2000)]);
      const b = await pushWith(v2, `${reg}/b`, 'v1', [shared]);
      assert.equal((await v2.fetch(`${reg}/a/manifests/${a.digest}`, { method: 'DELETE' })).status, 202);
      const before = (await storedUsage(t.app.meta.db, await regId(reg))).registry;

      at(0);
      const r1 = await gc().run();
      assert.equal(r1.status, 'succeeded');
      assert.equal(r1.linksRemoved, 0, 'nothing goes on the first sight');
      assert.ok(r1.linksMarked >= 3, `a's config and both layers are marked in a (${r1.linksMarked})`);
      at(GRACE - 5);
      assert.equal((await gc().run()).linksRemoved, 0, 'still within the grace period');
      at(GRACE + 5);
      const r3 = await gc().run();
      assert.equal(r3.linksRemoved, 3);
      assert.equal(r3.blobsRemoved, 0, 'blobs wait out their own grace period once unlinked');
      assert.equal(r3.blobsMarked, 2, "a's config and its own layer are no longer linked anywhere");
      at(2 * GRACE + 10);
      const r4 = await gc().run();
      assert.equal(r4.blobsRemoved, 2);
      assert.equal(r4.bytesReclaimed, a.config.size + a.layers[1]!.size);
      assert.equal(await stored(a.layers[1]!.digest), false, 'the bytes are gone');
      assert.equal(await stored(a.config.digest), false);
      assert.equal(await stored(shared.digest), true, 'the shared layer stays: b references it');
      await pullsIntact(`${reg}/b`, b);
      const usage = await storedUsage(t.app.meta.db, await regId(reg));
      assert.equal(usage.registry, before - a.config.size - a.layers[1]!.size, 'the registry shrank by exactly the reclaimed bytes');
      await assertUsageExact(reg);
      const report = await gc().report(r4.id);
      assert.equal(report?.blobsRemoved, 2, 'the run is on record');
    });

    test('a dry run changes nothing and predicts the next run', async () => {
      const reg = await t.createRegistry();
      const img = await v2.pushImage(`${reg}/app`, 'v1', { layers: 2 });
      await v2.fetch(`${reg}/app/manifests/${img.digest}`, { method: 'DELETE' });
      at(0);
      await gc().run();
      at(GRACE + 1);
      const snapshot = async () =>
        JSON.stringify([
          await t.app.meta.db.selectFrom('repository_blobs').selectAll().orderBy('repository_id').orderBy('digest').execute(),
          await t.app.meta.db.selectFrom('blobs').selectAll().orderBy('digest').execute(),
          await t.app.meta.db.selectFrom('manifests').select(['id', 'digest']).orderBy('id').execute(),
        ]);
      const beforeDry = await snapshot();
      const plan = await gc().run({ dryRun: true });
      assert.equal(plan.dryRun, true);
      assert.equal(await snapshot(), beforeDry, 'the dry run changed no row');
      assert.ok(plan.linksRemoved >= 3);
      const real = await gc().run();
      assert.equal(real.linksRemoved, plan.linksRemoved, 'the real run removes what the dry run announced');
    });

    test('a blob HEAD clears the mark: the manifest pushed after it still finds the blob', async () => {
      const reg = await t.createRegistry();
      const layer = randomBlob(700);
      const config = randomBlob(80);
      await v2.pushBlob(`${reg}/slow`, layer);
      await v2.pushBlob(`${reg}/slow`, config);
      at(0);
      await gc().run(); // marks both: nothing references them yet
      // The client checks whether the blobs exist (as docker does before uploading) ...
      for (const b of [layer, config]) assert.equal((await v2.fetch(`${reg}/slow/blobs/${b.digest}`, { method: 'HEAD' })).status, 200);
      at(GRACE + 5);
      const r = await gc().run();
      assert.equal(r.linksRemoved, 0, 'a read gives the pusher a fresh grace period');
      // ... and pushes the manifest later: it is accepted.
      const res = await v2.putManifest(
        `${reg}/slow`,
        'v1',
        imageManifest({ mediaType: MT.ociConfig, digest: config.digest, size: config.size }, [
          { mediaType: MT.ociLayer, digest: layer.digest, size: layer.size },
        ]),
      );
      assert.equal(res.status, 201, await res.text());
      at(3 * GRACE);
      await gc().run();
      assert.equal(await stored(layer.digest), true);
    });

    test('a referrer whose subject never arrived is collected after the grace period; one with its subject stays', async () => {
      const reg = await t.createRegistry();
      const subject = await v2.pushImage(`${reg}/signed`, 'v1');
      const kept = await v2.pushImage(`${reg}/signed`, 'sig-kept', {
        artifactType: 'application/vnd.example.sig',
        subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      });
      const ghost = { mediaType: MT.ociManifest, digest: sha256(`never pushed ${Math.random()}`), size: 123 };
      const dangling = await v2.pushImage(`${reg}/signed`, 'sig-dangling', { artifactType: 'application/vnd.example.sig', subject: ghost });
      at(GRACE - 30);
      assert.equal((await gc().run()).referrersRemoved, 0, 'a subject may be pushed after its referrers: wait');
      at(GRACE + 30);
      const r = await gc().run();
      assert.equal(r.referrersRemoved, 1);
      await expectError(await v2.fetch(`${reg}/signed/manifests/${dangling.digest}`), 404, 'MANIFEST_UNKNOWN');
      assert.equal((await v2.fetch(`${reg}/signed/manifests/${kept.digest}`)).status, 200);
      const events = await t.app.meta.db
        .selectFrom('events')
        .select(['action', 'digest', 'identity'])
        .where('digest', '=', dangling.digest)
        .where('action', '=', 'delete')
        .execute();
      assert.deepEqual(
        events.map((e) => e.identity),
        ['garbage-collector'],
        'the removal is audited as the collector',
      );
      assert.equal((await gc({ deleteDanglingReferrers: false }).run({ dryRun: true })).referrersRemoved, 0);
    });

    test('stored bytes no row knows (a failed write) are removed once older than the grace period', async () => {
      const junk = blobOf(`left behind ${Math.random()}`);
      const key = blobKey(parseDigest(junk.digest));
      const w = await t.app.storage.writer(key, { durableName: true });
      w.stream.end(junk.data);
      await new Promise((r) => w.stream.once('finish', r));
      await w.commit();
      at(GRACE - 60);
      assert.equal((await gc().run()).filesRemoved, 0);
      assert.equal(await stored(junk.digest), true);
      at(GRACE + 60);
      assert.equal((await gc().run()).filesRemoved, 1);
      assert.equal(await stored(junk.digest), false);
    });

    test("one collection at a time across nodes; a dead node's run does not block forever", async () => {
      const now = new Date().toISOString();
      const far = new Date(Date.now() + 3600_000).toISOString();
      const { id } = await t.app.meta.db
        .insertInto('gc_runs')
        .values({ node: 'other-node:1', dry_run: 0, status: 'running', started_at: now, lease_until: far })
        .returning('id')
        .executeTakeFirstOrThrow();
      clock = new Date();
      const res = await t.fetch(`${t.url}/api/gc/runs`, {
        method: 'POST',
        headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
        body: '{}',
      });
      assert.equal(res.status, 409);
      assert.match(((await res.json()) as { errors: { message: string }[] }).errors[0]!.message, /already running on other-node:1/);
      await t.app.meta.db
        .updateTable('gc_runs')
        .set({ lease_until: new Date(Date.now() - 1000).toISOString() })
        .where('id', '=', id)
        .execute();
      const ok = await t.fetch(`${t.url}/api/gc/runs`, { method: 'POST', headers: { Authorization: adminAuthHeader() } });
      assert.equal(ok.status, 202);
      const run = (await ok.json()) as { id: number };
      assert.equal(ok.headers.get('location'), `/api/gc/runs/${run.id}`);
      const dead = await t.app.meta.db.selectFrom('gc_runs').select(['status', 'error']).where('id', '=', id).executeTakeFirstOrThrow();
      assert.equal(dead.status, 'failed');
      for (let i = 0; i < 100; i++) {
        const r = (await (await t.fetch(`${t.url}/api/gc/runs/${run.id}`, { headers: { Authorization: adminAuthHeader() } })).json()) as {
          status: string;
        };
        if (r.status !== 'running') break;
        await new Promise((r2) => setTimeout(r2, 100));
      }
    });

    test('berth gc status and gc run --dry-run; bad bodies and non-owners are refused', async () => {
      const status = await runCli(['gc', 'status', '--server', t.url, '-u', 'admin', '-p', ADMIN_PASSWORD]);
      assert.equal(status.code, 0, status.stderr);
      const s = JSON.parse(status.stdout) as { gracePeriodSeconds: number; pending: { links: number } };
      assert.equal(typeof s.pending.links, 'number');
      const dry = await runCli(['gc', 'run', '--dry-run', '--server', t.url, '-u', 'admin', '-p', ADMIN_PASSWORD]);
      assert.equal(dry.code, 0, dry.stderr);
      assert.equal((JSON.parse(dry.stdout) as { dryRun: boolean }).dryRun, true);
      const bad = await t.fetch(`${t.url}/api/gc/runs`, {
        method: 'POST',
        headers: { Authorization: adminAuthHeader() },
        body: '{"dryRun":"yes"}',
      });
      assert.equal(bad.status, 400);
      const extra = await t.fetch(`${t.url}/api/gc/runs`, {
        method: 'POST',
        headers: { Authorization: adminAuthHeader() },
        body: '{"force":true}',
      });
      assert.equal(extra.status, 400);
      assert.equal((await t.fetch(`${t.url}/api/gc`)).status, 401);
    });

    test('stress: pushes, deletes and collections in parallel lose nothing acknowledged and leave no orphans', async (ctx) => {
      const reg = await t.createRegistry();
      const common = Array.from({ length: 4 }, () => randomBlob(1500));
      const live = new Map<string, { repo: string; img: PushedImage }>();
      const deleted: { repo: string; img: PushedImage }[] = [];
      let pushing = true;
      let failedPushes = 0;
      // Grace 0: a mark set by one run may be swept by the next, the harshest schedule there is.
      const hot = gc({ gracePeriodSeconds: 0 });
      // Earlier tests moved the clock up to 3 grace periods ahead and marked garbage then: start past that.
      const base = Date.now() + 10 * GRACE * 1000;
      let tick = 0;
      const collector = (async () => {
        let runs = 0;
        while (pushing) {
          clock = new Date(base + ++tick);
          await hot.run();
          runs++;
        }
        return runs;
      })();
      const worker = async (w: number) => {
        for (let i = 0; i < 12; i++) {
          const repo = `${reg}/w${w % 3}`;
          const layers = [common[(w + i) % common.length]!, randomBlob(400 + i)];
          let img: PushedImage | undefined;
          for (let attempt = 0; attempt < 8 && !img; attempt++) {
            // As docker does: HEAD each blob, upload only what is missing, then PUT the manifest.
            for (const b of layers) {
              const head = await v2.fetch(`${repo}/blobs/${b.digest}`, { method: 'HEAD' });
              if (head.status !== 200) await v2.pushBlob(repo, b);
            }
            const config = randomBlob(60);
            await v2.pushBlob(repo, config);
            const manifest = imageManifest(
              { mediaType: MT.ociConfig, digest: config.digest, size: config.size },
              layers.map((l) => ({ mediaType: MT.ociLayer, digest: l.digest, size: l.size })),
            );
            const res = await v2.putManifest(repo, `t${w}-${i}`, manifest);
            if (res.status === 201) {
              const bytes = manifestBytes(manifest);
              img = {
                manifest,
                bytes,
                digest: sha256(bytes),
                size: bytes.length,
                config,
                layers,
                mediaType: MT.ociManifest,
                response: res,
              };
            } else {
              // Not acknowledged: GC took an unreferenced link between the HEAD and the PUT. Retry, as clients do.
              const text = await res.text();
              assert.equal(res.status, 400, text);
              assert.match(text, /MANIFEST_BLOB_UNKNOWN/);
              failedPushes++;
            }
          }
          assert.ok(img, 'a push succeeds within a few attempts');
          live.set(`${repo}@${img.digest}`, { repo, img });
          if (i % 3 === 2) {
            // Delete one of the images acknowledged so far.
            const [k, victim] = [...live.entries()][Math.floor(live.size / 2)]!;
            live.delete(k); // before any await: two workers must not pick the same victim
            const del = await v2.fetch(`${victim.repo}/manifests/${victim.img.digest}`, { method: 'DELETE' });
            assert.equal(del.status, 202);
            live.delete(k);
            deleted.push(victim);
          }
        }
      };
      try {
        await Promise.all([0, 1, 2, 3].map(worker));
      } finally {
        pushing = false;
      }
      const runs = await collector;
      assert.ok(runs >= 3, `the collector ran during the pushes (${runs} runs, ${failedPushes} pushes retried)`);
      ctx.diagnostic(
        `${runs} collections during ${live.size + deleted.length} pushes and ${deleted.length} deletes; ${failedPushes} manifest PUTs refused and retried`,
      );

      for (const { repo, img } of live.values()) await pullsIntact(repo, img);

      // Past every grace period: three runs take links, then blobs, then anything else.
      const final = gc({ gracePeriodSeconds: 0 });
      for (let i = 0; i < 3; i++) {
        clock = new Date(clock.getTime() + 1000);
        await final.run();
      }
      const db = t.app.meta.db;
      const unreferenced = await db
        .selectFrom('repository_blobs as rb')
        .select('rb.digest')
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom('manifest_refs as mr')
                .innerJoin('manifests as m', 'm.id', 'mr.manifest_id')
                .select('mr.child_digest')
                .whereRef('mr.child_digest', '=', 'rb.digest')
                .whereRef('m.repository_id', '=', 'rb.repository_id'),
            ),
          ),
        )
        .execute();
      assert.deepEqual(unreferenced, [], 'no link left that nothing references');
      const unlinked = await db
        .selectFrom('blobs as b')
        .select('b.digest')
        .where((eb) =>
          eb.not(eb.exists(eb.selectFrom('repository_blobs as rb').select('rb.digest').whereRef('rb.digest', '=', 'b.digest'))),
        )
        .execute();
      assert.deepEqual(unlinked, [], 'no blob left that no repository links');
      const rows = new Set((await db.selectFrom('blobs').select('digest').execute()).map((r) => r.digest));
      const files = (await t.app.storage.list('blobs/', { limit: 100000 })).map((k) => k.split('/')).map((p) => `${p[1]}:${p[3]}`);
      assert.deepEqual(
        files.filter((d) => !rows.has(d)),
        [],
        'no stored bytes without a row',
      );
      for (const { img } of deleted) {
        const own = [img.config, img.layers[1]!];
        for (const b of own) assert.equal(await stored(b.digest), false, `deleted image's own blob ${b.digest} is reclaimed`);
      }
      for (const { repo, img } of live.values()) await pullsIntact(repo, img);
      await assertUsageExact(reg);
    });
  });
}

for (const backend of BACKENDS) {
  describe(`gc status says what a delete left and when it is reclaimable (${backend})`, await backendGate(backend), () => {
    test('right after a delete: links, blobs and bytes pending, reclaimable after one grace period for links and two for blobs', async () => {
      // A deployment of its own: the counts are exact only where nothing else is garbage.
      const t = await startTestApp(backend, { gc: { enabled: false, gracePeriodSeconds: GRACE } });
      try {
        const v2 = t.v2();
        const reg = await t.createRegistry();
        const img = await v2.pushImage(`${reg}/app`, 'v1', { layers: 2 });
        const bytes = img.config.size + img.layers.reduce((n, l) => n + l.size, 0);
        const status = async () => {
          const res = await t.fetch(`${t.url}/api/gc`, { headers: { Authorization: adminAuthHeader() } });
          assert.equal(res.status, 200);
          return (await res.json()) as GcStatus;
        };
        const idle = await status();
        assert.equal(idle.pending.links + idle.pending.blobs + idle.pending.bytes, 0, 'nothing pending while the image is in use');
        assert.deepEqual(idle.pending.reclaimableAfter, { manifests: null, links: null, blobs: null });

        assert.equal((await v2.fetch(`${reg}/app/manifests/${img.digest}`, { method: 'DELETE' })).status, 202);
        const t0 = Date.now();
        const s1 = await status();
        const t1 = Date.now();
        assert.equal(s1.nextRunAt, null, 'background collection is off here');
        assert.equal(s1.pending.links, 3, 'the config and both layers are no longer referenced');
        assert.equal(s1.pending.blobs, 3);
        assert.equal(s1.pending.bytes, bytes, 'exactly the bytes a collection will reclaim');
        assert.deepEqual(s1.pending.marked, { links: 0, blobs: 0 }, 'no collection has seen them yet');
        const links1 = Date.parse(s1.pending.reclaimableAfter.links!);
        assert.ok(links1 >= t0 + GRACE * 1000 && links1 <= t1 + GRACE * 1000, 'links: a grace period after the next collection marks them');
        assert.equal(Date.parse(s1.pending.reclaimableAfter.blobs!), links1 + GRACE * 1000, 'blobs: a grace period after their links go');

        const cli = await runCli(['gc', 'status', '--server', t.url, '-u', 'admin', '-p', ADMIN_PASSWORD]);
        assert.equal(cli.code, 0, cli.stderr);
        assert.equal((JSON.parse(cli.stdout) as GcStatus).pending.bytes, bytes, 'berth gc status shows it');

        // The collections, on a clock of our own: each status says when the next step can happen.
        let clock = new Date();
        const c0 = clock.getTime();
        const gc = () =>
          new GcService(
            t.app.meta,
            new KyselyGcStore(t.app.meta.db, t.app.meta.dialect),
            t.app.storage,
            t.app.services.manifests,
            { ...DEFAULT_GC, gracePeriodSeconds: GRACE },
            silentLogger,
            () => clock,
          );
        assert.equal((await gc().run()).linksMarked, 3);
        const s2 = (await gc().status()).pending;
        assert.deepEqual(s2.marked, { links: 3, blobs: 0 });
        assert.equal(s2.reclaimableAfter.links, new Date(c0 + GRACE * 1000).toISOString());
        assert.equal(s2.reclaimableAfter.blobs, new Date(c0 + 2 * GRACE * 1000).toISOString());

        clock = new Date(c0 + (GRACE + 5) * 1000);
        assert.equal((await gc().run()).linksRemoved, 3);
        const s3 = (await gc().status()).pending;
        assert.equal(s3.links, 0);
        assert.equal(s3.reclaimableAfter.links, null);
        assert.deepEqual({ blobs: s3.blobs, bytes: s3.bytes, marked: s3.marked.blobs }, { blobs: 3, bytes, marked: 3 });
        assert.equal(s3.reclaimableAfter.blobs, new Date(c0 + (2 * GRACE + 5) * 1000).toISOString());

        clock = new Date(c0 + (2 * GRACE + 5) * 1000);
        const last = await gc().run();
        assert.equal(last.bytesReclaimed, bytes, 'at the announced time the announced bytes are reclaimed');
        const s4 = (await gc().status()).pending;
        assert.deepEqual([s4.links, s4.blobs, s4.bytes], [0, 0, 0]);
        assert.deepEqual(s4.reclaimableAfter, { manifests: null, links: null, blobs: null });
      } finally {
        await t.close();
      }
    });

    test('soft-deleted manifests are shown as held by the recycle bin until their purge time', async () => {
      const t = await startTestApp(backend, { gc: { enabled: false, gracePeriodSeconds: GRACE } });
      try {
        const v2 = t.v2();
        const reg = await t.createRegistry();
        const policy = await t.fetch(`${t.url}/api/registries/${reg}/softDeletePolicy`, {
          method: 'PUT',
          headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
          body: JSON.stringify({ status: 'enabled', retentionDays: 2 }),
        });
        assert.ok(policy.status < 300, await policy.text());
        const img = await v2.pushImage(`${reg}/app`, 'v1');
        assert.equal((await v2.fetch(`${reg}/app/manifests/${img.digest}`, { method: 'DELETE' })).status, 202);
        const s = (await t.app.services.gc.status()).pending;
        assert.equal(s.links, 0, 'the bin keeps the layers referenced');
        assert.equal(s.recycleBin.manifests, 1);
        assert.ok(Date.parse(s.recycleBin.until!) > Date.now() + DAY_MS, 'until the entry is purged');
      } finally {
        await t.close();
      }
    });
  });
}

async function pushWith(v2: V2, name: string, tag: string, layers: Blob[]): Promise<PushedImage> {
  const config = await v2.pushBlob(name, randomBlob(90));
  for (const l of layers) await v2.pushBlob(name, l);
  const manifest = imageManifest(
    { mediaType: MT.ociConfig, digest: config.digest, size: config.size },
    layers.map((l) => ({ mediaType: MT.ociLayer, digest: l.digest, size: l.size })),
  );
  const res = await v2.putManifest(name, tag, manifest);
  assert.equal(res.status, 201, await res.text());
  const bytes = manifestBytes(manifest);
  return { manifest, bytes, digest: sha256(bytes), size: bytes.length, config, layers, mediaType: MT.ociManifest, response: res };
}
