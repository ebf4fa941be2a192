import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { computedUsage, storedUsage } from '../src/meta/usage.js';
import { silentLogger } from '../src/observability/logger.js';
import { DEFAULT_GC, GcService } from '../src/services/lifecycle/gc.js';
import type { SoftDeleteService } from '../src/services/lifecycle/soft-delete.js';
import { KyselyGcStore } from '../src/meta/gc.js';
import { ADMIN_PASSWORD, ADMIN_USER, adminAuthHeader, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { runCli } from './helpers/cli.js';
import { expectError, imageIndex, MT, randomBlob, sha256, manifestBytes, type V2, type PushedImage } from './helpers/oci.js';

// Soft delete (container-registry-soft-delete-policy.md): the registry policy, deletes that go to
// the recycle bin (manifests with their referrers, untags, repositories), listing it, restoring,
// purging after the retention days, and storage accounting that stays equal to a recomputation.

const DAY = 86_400_000;

// What the recycle-bin commands print (-o json): the service's views.
type DeletedManifest = Awaited<ReturnType<SoftDeleteService['listDeletedManifests']>>['items'][number];
type DeletedTag = Awaited<ReturnType<SoftDeleteService['listDeletedTags']>>['items'][number];
type DeletedRepository = Awaited<ReturnType<SoftDeleteService['listDeletedRepositories']>>[number];
type Restored = Awaited<ReturnType<SoftDeleteService['restore']>>;

for (const backend of BACKENDS) {
  describe(`soft delete on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let v2: V2;
    const realNow = () => new Date();

    before(async () => {
      t = await startTestApp(backend);
      v2 = t.v2();
    });
    after(async () => {
      await t?.close();
    });

    const berth = (args: string[]) => runCli([...args, '--server', t.url, '-u', ADMIN_USER, '-p', ADMIN_PASSWORD]);
    async function ok<T = unknown>(args: string[]): Promise<T> {
      const r = await berth(args);
      assert.equal(r.code, 0, `berth ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
      return (r.stdout.trim() ? JSON.parse(r.stdout) : undefined) as T;
    }
    const api = (path: string, init: RequestInit = {}) =>
      t.fetch(`${t.url}${path}`, {
        ...init,
        headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json', ...(init.headers ?? {}) },
      });
    const svc = () => t.app.services.softDelete;
    /** A management API error: status, code, message. */
    async function apiError(res: Response, status: number, code: string): Promise<{ code: string; message: string }> {
      const body = (await res.json()) as { errors: { code: string; message: string }[] };
      assert.equal(res.status, status, JSON.stringify(body));
      assert.equal(body.errors[0]!.code, code);
      return body.errors[0]!;
    }
    /** Stored counters equal a from-scratch recomputation (blob links of binned manifests count in both). */
    async function usageConsistent(reg: string) {
      const id = (await t.app.services.registries.get(reg)).id;
      assert.deepEqual(await storedUsage(t.app.meta.db, id), await computedUsage(t.app.meta.db, id));
    }
    async function enabledRegistry(days = 7): Promise<string> {
      const reg = await t.createRegistry();
      await ok(['config', 'soft-delete', 'update', '-r', reg, '--status', 'enabled', '--days', String(days)]);
      return reg;
    }
    async function pull(name: string, ref: string): Promise<Response> {
      return v2.fetch(`${name}/manifests/${ref}`, { headers: { Accept: [MT.ociManifest, MT.ociIndex].join(', ') } });
    }
    async function del(name: string, digest: string): Promise<void> {
      const res = await v2.fetch(`${name}/manifests/${digest}`, { method: 'DELETE' });
      assert.equal(res.status, 202, await res.text());
    }

    test('policy: show and update like az acr config soft-delete; days 0 and 91 are refused', async () => {
      const reg = await t.createRegistry();
      assert.deepEqual(await ok(['config', 'soft-delete', 'show', '-r', reg]), { status: 'disabled', retentionDays: 7 });
      for (const bad of ['0', '91', '1.5']) {
        const r = await berth(['config', 'soft-delete', 'update', '-r', reg, '--days', bad]);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /--days must be a whole number from 1 to 90/);
      }
      for (const bad of [0, 91]) {
        const res = await api(`/api/registries/${reg}/softDeletePolicy`, { method: 'PATCH', body: JSON.stringify({ retentionDays: bad }) });
        const e = await apiError(res, 400, 'REQUEST_INVALID');
        assert.match(e.message, /retention days must be a whole number from 1 to 90/);
      }
      const bad = await api(`/api/registries/${reg}/softDeletePolicy`, { method: 'PATCH', body: JSON.stringify({ status: 'on' }) });
      await apiError(bad, 400, 'REQUEST_INVALID');
      assert.equal((await berth(['config', 'soft-delete', 'update', '-r', reg])).code, 2);
      assert.deepEqual(await ok(['config', 'soft-delete', 'update', '-r', reg, '--status', 'enabled', '--days', '30']), {
        status: 'enabled',
        retentionDays: 30,
      });
      assert.deepEqual(await ok(['config', 'soft-delete', 'show', '-r', reg]), { status: 'enabled', retentionDays: 30 });
    });

    test('delete by digest -> list-deleted -> restore by tag -> the same bytes', async () => {
      const reg = await enabledRegistry();
      const name = `${reg}/app`;
      const img = await v2.pushImage(name, 'v1');
      await v2.putManifest(name, 'stable', img.bytes, MT.ociManifest);
      await del(name, img.digest);
      await expectError(await pull(name, 'v1'), 404, 'MANIFEST_UNKNOWN');
      await usageConsistent(reg);

      const deleted = await ok<DeletedManifest[]>(['manifest', 'list-deleted', '-r', reg, '-n', 'app']);
      assert.equal(deleted.length, 1);
      assert.equal(deleted[0]!.digest, img.digest);
      assert.deepEqual(deleted[0]!.tags, ['stable', 'v1']);
      assert.equal(deleted[0]!.deletedBy, ADMIN_USER);
      assert.ok(Date.parse(deleted[0]!.purgeTime) - Date.parse(deleted[0]!.deletedTime) === 7 * DAY);
      const tags = await ok<DeletedTag[]>(['manifest', 'list-deleted-tags', '-r', reg, '-n', 'app:v1']);
      assert.deepEqual(
        tags.map((x) => [x.tag, x.digest]),
        [['v1', img.digest]],
      );
      const tsv = await berth(['manifest', 'list-deleted', '-r', reg, '-n', 'app', '-o', 'tsv']);
      assert.match(tsv.stdout, new RegExp(img.digest));

      const out = await ok<Restored>(['manifest', 'restore', '-r', reg, '-n', 'app:v1']);
      assert.equal(out.digest, img.digest);
      assert.deepEqual(out.tags, ['stable', 'v1']);
      for (const ref of ['v1', 'stable', img.digest]) {
        const res = await pull(name, ref);
        assert.equal(res.status, 200);
        assert.deepEqual(Buffer.from(await res.arrayBuffer()), img.bytes);
      }
      assert.deepEqual(await ok(['manifest', 'list-deleted', '-r', reg, '-n', 'app']), []);
      await usageConsistent(reg);
      // Restored = pushed again: the outbox has a push event for it.
      const events = await t.app.meta.listEvents((await t.app.services.registries.get(reg)).id, 0, 100);
      assert.ok(events.some((e) => e.action === 'push' && e.digest === img.digest && e.id > events.find((x) => x.action === 'delete')!.id));
      // Nothing left to restore.
      const again = await berth(['manifest', 'restore', '-r', reg, '-n', 'app:v1']);
      assert.notEqual(again.code, 0);
      assert.match(again.stderr, /recycle bin/);
    });

    test('repository delete -> hidden from catalogs and /v2 -> list-deleted -> restore -> visible', async () => {
      const reg = await enabledRegistry();
      const a = await v2.pushImage(`${reg}/team/web`, 'v1');
      const b = await v2.pushImage(`${reg}/team/web`, 'v2');
      await v2.pushImage(`${reg}/other`, 'v1');
      await usageConsistent(reg);
      await ok(['repository', 'delete', '-n', reg, '--repository', 'team/web', '--yes']);
      assert.deepEqual(await ok(['repository', 'list', '-n', reg]), ['other']);
      const cat = (await (await v2.fetch(`${reg}/_catalog`)).json()) as { repositories: string[] };
      assert.deepEqual(cat.repositories, [`${reg}/other`]);
      const all = (await (await v2.fetch('_catalog')).json()) as { repositories: string[] };
      assert.ok(!all.repositories.includes(`${reg.toLowerCase()}/team/web`));
      await expectError(await v2.fetch(`${reg}/team/web/tags/list`), 404, 'NAME_UNKNOWN');
      await expectError(await pull(`${reg}/team/web`, 'v1'), 404, 'NAME_UNKNOWN');
      await expectError(await v2.fetch(`${reg}/team/web/blobs/${a.config.digest}`), 404, ['BLOB_UNKNOWN', 'NAME_UNKNOWN']);
      const acr = await t.fetch(`${t.url}/acr/v1/${reg}/_catalog`, { headers: { Authorization: adminAuthHeader() } });
      assert.deepEqual(((await acr.json()) as { repositories: string[] }).repositories, [`${reg}/other`]);
      await usageConsistent(reg);

      const repos = await ok<DeletedRepository[]>(['repository', 'list-deleted', '-n', reg]);
      assert.deepEqual(
        repos.map((r) => [r.name, r.deletedManifestCount]),
        [['team/web', 2]],
      );
      await ok(['manifest', 'restore', '-r', reg, '-n', 'team/web:v2']);
      assert.deepEqual(await ok(['repository', 'list', '-n', reg]), ['other', 'team/web']);
      assert.equal((await pull(`${reg}/team/web`, 'v2')).status, 200);
      await expectError(await pull(`${reg}/team/web`, 'v1'), 404, 'MANIFEST_UNKNOWN');
      assert.deepEqual(await ok(['repository', 'list-deleted', '-n', reg]), []);
      await ok(['manifest', 'restore', '-r', reg, '-n', 'team/web', '--digest', a.digest]);
      assert.deepEqual(Buffer.from(await (await pull(`${reg}/team/web`, 'v1')).arrayBuffer()), a.bytes);
      assert.equal(b.digest !== a.digest, true);
      await usageConsistent(reg);
    });

    test('a push into a soft-deleted repository revives it; its bin stays restorable', async () => {
      const reg = await enabledRegistry();
      const old = await v2.pushImage(`${reg}/app`, 'old');
      await ok(['repository', 'delete', '-n', reg, '--repository', 'app', '--yes']);
      await v2.pushImage(`${reg}/app`, 'new');
      assert.deepEqual(await ok(['repository', 'list', '-n', reg]), ['app']);
      assert.deepEqual(
        (await ok<DeletedManifest[]>(['manifest', 'list-deleted', '-r', reg, '-n', 'app'])).map((m) => m.digest),
        [old.digest],
      );
      await ok(['manifest', 'restore', '-r', reg, '-n', 'app:old']);
      assert.equal((await pull(`${reg}/app`, 'old')).status, 200);
      await usageConsistent(reg);
    });

    test('restore refuses a tag that now points elsewhere unless --force, which moves it (and bins the overwritten tag)', async () => {
      const reg = await enabledRegistry();
      const name = `${reg}/app`;
      const first = await v2.pushImage(name, 'latest');
      await del(name, first.digest);
      const second = await v2.pushImage(name, 'latest');
      const r = await berth(['manifest', 'restore', '-r', reg, '-n', 'app:latest']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`tag latest in app now points to ${second.digest}; restore with --force`));
      const res = await api(`/api/registries/${reg}/repositories/app/_restore`, {
        method: 'POST',
        body: JSON.stringify({ tag: 'latest' }),
      });
      await apiError(res, 409, 'CONFLICT');
      // A locked tag stays where it is even with --force.
      await ok(['repository', 'update', '-n', reg, '--image', 'app:latest', '--write-enabled', 'false']);
      const lockedRun = await berth(['manifest', 'restore', '-r', reg, '-n', 'app:latest', '--force']);
      assert.match(lockedRun.stderr, /locked: writeEnabled is false/);
      await ok(['repository', 'update', '-n', reg, '--image', 'app:latest', '--write-enabled', 'true']);

      const out = await ok<Restored>(['manifest', 'restore', '-r', reg, '-n', 'app:latest', '-d', first.digest, '-f']);
      assert.deepEqual(out.tags, ['latest']);
      assert.equal((await pull(name, 'latest')).headers.get('docker-content-digest'), first.digest);
      const binned = await ok<DeletedTag[]>(['manifest', 'list-deleted-tags', '-r', reg, '-n', 'app:latest']);
      assert.deepEqual(
        binned.map((x) => x.digest),
        [second.digest],
      );
      // list-deleted shows deleted manifests only; the overwritten tag's manifest is alive.
      assert.deepEqual(await ok(['manifest', 'list-deleted', '-r', reg, '-n', 'app']), []);
      await usageConsistent(reg);
    });

    test('the bin lists in pages, newest deletion first', async () => {
      const reg = await enabledRegistry();
      const digests: string[] = [];
      for (let i = 0; i < 5; i++) {
        const img = await v2.pushImage(`${reg}/app`, `t${i}`);
        await del(`${reg}/app`, img.digest);
        digests.unshift(img.digest);
      }
      const first = (await (await api(`/api/registries/${reg}/repositories/app/_deleted?n=2`)).json()) as {
        value: { digest: string }[];
        nextLink?: string;
      };
      assert.deepEqual(
        first.value.map((m) => m.digest),
        digests.slice(0, 2),
      );
      assert.ok(first.nextLink);
      const second = (await (await api(`/api/registries/${reg}/repositories/app/_deleted${first.nextLink}`)).json()) as {
        value: { digest: string }[];
      };
      assert.deepEqual(
        second.value.map((m) => m.digest),
        digests.slice(2, 4),
      );
      const tags = (await (await api(`/api/registries/${reg}/repositories/app/_deletedTags?n=1&tag=t3`)).json()) as {
        value: { tag: string }[];
      };
      assert.deepEqual(
        tags.value.map((x) => x.tag),
        ['t3'],
      );
      // The CLI fetches every page.
      assert.deepEqual(
        (await ok<DeletedManifest[]>(['manifest', 'list-deleted', '-r', reg, '-n', 'app'])).map((m) => m.digest),
        digests,
      );
      const bad = await api(`/api/registries/${reg}/repositories/app/_deleted?last=abc`);
      await apiError(bad, 400, 'PAGINATION_NUMBER_INVALID');
    });

    test('untag goes to the bin and restores by tag', async () => {
      const reg = await enabledRegistry();
      const name = `${reg}/app`;
      const img = await v2.pushImage(name, 'v1');
      const res = await v2.fetch(`${name}/manifests/v1`, { method: 'DELETE' });
      assert.equal(res.status, 202);
      const tags = await ok<DeletedTag[]>(['manifest', 'list-deleted-tags', '-r', reg, '-n', 'app']);
      assert.deepEqual(
        tags.map((x) => [x.tag, x.digest]),
        [['v1', img.digest]],
      );
      await ok(['manifest', 'restore', '-r', reg, '-n', 'app:v1']);
      assert.equal((await pull(name, 'v1')).headers.get('docker-content-digest'), img.digest);
      await usageConsistent(reg);
    });

    test('changing the retention days moves the purge time of what is in the bin', async () => {
      const reg = await enabledRegistry(3);
      const img = await v2.pushImage(`${reg}/app`, 'v1');
      await del(`${reg}/app`, img.digest);
      const [before1] = await ok<DeletedManifest[]>(['manifest', 'list-deleted', '-r', reg, '-n', 'app']);
      assert.equal(Date.parse(before1!.purgeTime) - Date.parse(before1!.deletedTime), 3 * DAY);
      await ok(['config', 'soft-delete', 'update', '-r', reg, '--days', '10']);
      const [after1] = await ok<DeletedManifest[]>(['manifest', 'list-deleted', '-r', reg, '-n', 'app']);
      assert.equal(after1!.purgeTime, new Date(Date.parse(before1!.deletedTime) + 10 * DAY).toISOString());
    });

    test('expired entries are no longer restorable and are purged; emptied repositories go for good', async () => {
      const reg = await enabledRegistry(2);
      const keep = await v2.pushImage(`${reg}/keep`, 'v1');
      const img = await v2.pushImage(`${reg}/gone`, 'v1');
      await ok(['repository', 'delete', '-n', reg, '--repository', 'gone', '--yes']);
      await del(`${reg}/keep`, keep.digest);
      try {
        svc().now = () => new Date(Date.now() + 2 * DAY + 60_000);
        const r = await berth(['manifest', 'restore', '-r', reg, '-n', 'gone:v1']);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /purged after its retention days/);
        const res = await api(`/api/registries/${reg}/repositories/gone/_restore`, {
          method: 'POST',
          body: JSON.stringify({ digest: img.digest }),
        });
        await apiError(res, 404, 'MANIFEST_UNKNOWN');
        assert.deepEqual(await ok(['manifest', 'list-deleted', '-r', reg, '-n', 'keep']), []);
        const purged = await svc().purgeExpiredSoftDeleted();
        assert.ok(purged.manifests >= 2, JSON.stringify(purged));
        assert.ok(purged.repositories >= 1, JSON.stringify(purged));
      } finally {
        svc().now = realNow;
      }
      assert.deepEqual(await ok(['repository', 'list-deleted', '-n', reg]), []);
      const left = await t.app.meta.db
        .selectFrom('deleted_manifests')
        .select('id')
        .where('registry_id', '=', (await t.app.services.registries.get(reg)).id)
        .execute();
      assert.equal(left.length, 0);
      // A fresh push of the same name starts a new repository.
      await v2.pushImage(`${reg}/gone`, 'v2');
      await usageConsistent(reg);
      const u = await storedUsage(t.app.meta.db, (await t.app.services.registries.get(reg)).id);
      assert.deepEqual(Object.keys(u.repositories).sort(), ['gone', 'keep']);
    });

    test('with the policy disabled a delete is hard; entries made while it was on stay until they expire', async () => {
      const reg = await enabledRegistry();
      const a = await v2.pushImage(`${reg}/app`, 'a');
      await del(`${reg}/app`, a.digest);
      await ok(['config', 'soft-delete', 'update', '-r', reg, '--status', 'disabled']);
      const b = await v2.pushImage(`${reg}/app`, 'b');
      await del(`${reg}/app`, b.digest);
      const listed = await ok<DeletedManifest[]>(['manifest', 'list-deleted', '-r', reg, '-n', 'app']);
      assert.deepEqual(
        listed.map((m) => m.digest),
        [a.digest],
      );
      const r = await berth(['manifest', 'restore', '-r', reg, '-n', 'app:b']);
      assert.equal(r.code, 1);
      // Deleting the repository keeps its row while the bin holds entries, so a is still restorable.
      await v2.pushImage(`${reg}/app`, 'c');
      await ok(['repository', 'delete', '-n', reg, '--repository', 'app', '--yes']);
      await ok(['manifest', 'restore', '-r', reg, '-n', 'app:a']);
      assert.equal((await pull(`${reg}/app`, 'a')).status, 200);
      await expectError(await pull(`${reg}/app`, 'c'), 404, 'MANIFEST_UNKNOWN');
      await usageConsistent(reg);
      // A registry that never enabled it: plain hard deletes, nothing listed.
      const plain = await t.createRegistry();
      const c = await v2.pushImage(`${plain}/app`, 'v1');
      await del(`${plain}/app`, c.digest);
      await ok(['repository', 'delete', '-n', plain, '--repository', 'app', '--yes']);
      assert.deepEqual(await ok(['repository', 'list-deleted', '-n', plain]), []);
      assert.deepEqual(await ok(['manifest', 'list-deleted', '-r', plain, '-n', 'app']), []);
      await usageConsistent(plain);
    });

    async function pushReferrer(
      name: string,
      subject: PushedImage | { digest: string; size: number; mediaType: string },
      type: string,
    ): Promise<PushedImage> {
      return v2.pushImage(name, sha256(type + Math.random()).slice(7, 20), {
        subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
        artifactType: type,
        configMediaType: 'application/vnd.oci.empty.v1+json',
      });
    }

    test('deleting a subject deletes its referrers, recursively; soft delete restores them with it', async () => {
      const hard = await t.createRegistry();
      const img = await v2.pushImage(`${hard}/app`, 'v1');
      const sig = await pushReferrer(`${hard}/app`, img, 'application/vnd.example.sig');
      const sigOfSig = await pushReferrer(`${hard}/app`, sig, 'application/vnd.example.countersig');
      const other = await v2.pushImage(`${hard}/app`, 'v2');
      await del(`${hard}/app`, img.digest);
      for (const d of [img.digest, sig.digest, sigOfSig.digest]) await expectError(await pull(`${hard}/app`, d), 404, 'MANIFEST_UNKNOWN');
      assert.equal((await pull(`${hard}/app`, other.digest)).status, 200);
      await usageConsistent(hard);

      const soft = await enabledRegistry();
      const img2 = await v2.pushImage(`${soft}/app`, 'v1');
      const sbom = await pushReferrer(`${soft}/app`, img2, 'application/vnd.example.sbom');
      const sbomSig = await pushReferrer(`${soft}/app`, sbom, 'application/vnd.example.sig');
      await del(`${soft}/app`, img2.digest);
      const listed = await ok<DeletedManifest[]>(['manifest', 'list-deleted', '-r', soft, '-n', 'app']);
      assert.deepEqual(listed.map((m) => m.digest).sort(), [img2.digest, sbom.digest, sbomSig.digest].sort());
      const out = await ok<Restored>(['manifest', 'restore', '-r', soft, '-n', 'app:v1']);
      assert.deepEqual(out.restored.map((r) => r.digest).sort(), [img2.digest, sbom.digest, sbomSig.digest].sort());
      const refs = (await (await v2.fetch(`${soft}/app/referrers/${img2.digest}`)).json()) as { manifests: { digest: string }[] };
      assert.deepEqual(
        refs.manifests.map((m) => m.digest),
        [sbom.digest],
      );
      assert.equal((await pull(`${soft}/app`, sbomSig.digest)).status, 200);
      assert.deepEqual(await ok(['manifest', 'list-deleted', '-r', soft, '-n', 'app']), []);
      await usageConsistent(soft);
    });

    test('a locked referrer blocks deleting its subject', async () => {
      const reg = await t.createRegistry();
      const img = await v2.pushImage(`${reg}/app`, 'v1');
      const sig = await pushReferrer(`${reg}/app`, img, 'application/vnd.example.sig');
      await ok(['repository', 'update', '-n', reg, '--image', `app@${sig.digest}`, '--delete-enabled', 'false']);
      const res = await v2.fetch(`${reg}/app/manifests/${img.digest}`, { method: 'DELETE' });
      const e = await expectError(res, 403, 'DENIED');
      assert.match(e.message, new RegExp(`referrer ${sig.digest} of manifest ${img.digest} is locked: deleteEnabled is false`));
      assert.equal((await pull(`${reg}/app`, 'v1')).status, 200);
    });

    test('an index restored after a repository delete brings its children back first', async () => {
      const reg = await enabledRegistry();
      const name = `${reg}/multi`;
      const amd = await v2.pushImage(name, 'amd-only');
      const arm = await v2.pushImage(name, 'arm-only');
      const index = imageIndex([
        { mediaType: MT.ociManifest, digest: amd.digest, size: amd.size, platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: MT.ociManifest, digest: arm.digest, size: arm.size, platform: { architecture: 'arm64', os: 'linux' } },
      ]);
      const res = await v2.putManifest(name, 'v1', index, MT.ociIndex);
      assert.equal(res.status, 201, await res.text());
      await ok(['repository', 'delete', '-n', reg, '--repository', 'multi', '--yes']);
      const out = await ok<Restored>(['manifest', 'restore', '-r', reg, '-n', 'multi:v1']);
      assert.equal(out.digest, sha256(manifestBytes(index)));
      assert.equal((await pull(name, 'v1')).status, 200);
      for (const m of [amd, arm]) assert.equal((await pull(name, m.digest)).status, 200);
      // Children come back with their own tags when those are free.
      assert.equal((await pull(name, 'amd-only')).headers.get('docker-content-digest'), amd.digest);
      await usageConsistent(reg);
    });

    test('viewing the bin needs read; restoring needs push', async () => {
      const reg = await enabledRegistry();
      const img = await v2.pushImage(`${reg}/app`, 'v1');
      await del(`${reg}/app`, img.digest);
      const user = `sdreader${Date.now() % 100000}`;
      await ok(['user', 'create', '--name', user, '--new-password', 'reader-password-123']);
      await ok(['role', 'assignment', 'create', '--assignee', user, '--role', 'AcrPull', '--scope', `/registries/${reg}`]);
      const as = (args: string[]) => runCli([...args, '--server', t.url, '-u', user, '-p', 'reader-password-123']);
      const list = await as(['manifest', 'list-deleted', '-r', reg, '-n', 'app']);
      assert.equal(list.code, 0, list.stderr);
      const restore = await as(['manifest', 'restore', '-r', reg, '-n', 'app:v1']);
      assert.notEqual(restore.code, 0);
      assert.match(restore.stderr, /not allowed/);
      const policy = await as(['config', 'soft-delete', 'update', '-r', reg, '--days', '5']);
      assert.notEqual(policy.code, 0);
      void randomBlob;
    });
  });
}

for (const backend of BACKENDS) {
  describe(`referrers.deleteWithSubject false on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let v2: V2;
    before(async () => {
      t = await startTestApp(backend, { referrers: { deleteWithSubject: false } });
      v2 = t.v2();
    });
    after(async () => {
      await t?.close();
    });

    test('deleting a subject leaves its referrers in place', async () => {
      const reg = await t.createRegistry();
      const img = await v2.pushImage(`${reg}/app`, 'v1');
      const sig = await v2.pushImage(`${reg}/app`, 'sig', {
        subject: { mediaType: img.mediaType, digest: img.digest, size: img.size },
        artifactType: 'application/vnd.example.sig',
      });
      const res = await v2.fetch(`${reg}/app/manifests/${img.digest}`, { method: 'DELETE' });
      assert.equal(res.status, 202);
      assert.equal((await v2.fetch(`${reg}/app/manifests/${sig.digest}`, { headers: { Accept: MT.ociManifest } })).status, 200);
      const refs = (await (await v2.fetch(`${reg}/app/referrers/${img.digest}`)).json()) as { manifests: { digest: string }[] };
      assert.deepEqual(
        refs.manifests.map((m) => m.digest),
        [sig.digest],
      );
    });
  });
}

for (const backend of BACKENDS) {
  describe(`soft delete and garbage collection on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let v2: V2;
    before(async () => {
      t = await startTestApp(backend, { gc: { enabled: false } });
      v2 = t.v2();
    });
    after(async () => {
      await t?.close();
    });

    test('GC keeps the layers of binned manifests until their entry is purged', async () => {
      let clock = new Date();
      const gc = new GcService(
        t.app.meta,
        new KyselyGcStore(t.app.meta.db, t.app.meta.dialect),
        t.app.storage,
        t.app.services.manifests,
        { ...DEFAULT_GC, gracePeriodSeconds: 0 },
        silentLogger,
        () => clock,
      );
      const collect = async (ms: number) => {
        clock = new Date(Date.now() + ms);
        await gc.run();
        clock = new Date(Date.now() + ms + 1000);
        await gc.run();
      };
      const reg = await t.createRegistry();
      await t.app.services.softDelete.updatePolicy(await t.app.services.registries.get(reg), { status: 'enabled', retentionDays: 1 });
      const name = `${reg}/app`;
      const img = await v2.pushImage(name, 'v1');
      assert.equal((await v2.fetch(`${name}/manifests/${img.digest}`, { method: 'DELETE' })).status, 202);
      await collect(1000);
      for (const b of [img.config, ...img.layers])
        assert.equal((await v2.fetch(`${name}/blobs/${b.digest}`, { method: 'HEAD' })).status, 200);
      await t.app.services.softDelete.restore(await t.app.services.registries.get(reg), 'app', { tag: 'v1' });
      for (const b of [img.config, ...img.layers]) {
        const r = await v2.fetch(`${name}/blobs/${b.digest}`);
        assert.equal(sha256(Buffer.from(await r.arrayBuffer())), b.digest);
      }
      // Deleted again and purged: now the layers are garbage.
      assert.equal((await v2.fetch(`${name}/manifests/${img.digest}`, { method: 'DELETE' })).status, 202);
      const purged = await t.app.services.softDelete.purgeExpiredSoftDeleted(new Date(Date.now() + 2 * DAY));
      assert.equal(purged.manifests, 1);
      await collect(10_000);
      for (const b of [img.config, ...img.layers])
        assert.equal((await v2.fetch(`${name}/blobs/${b.digest}`, { method: 'HEAD' })).status, 404);
      const id = (await t.app.services.registries.get(reg)).id;
      assert.deepEqual(await storedUsage(t.app.meta.db, id), await computedUsage(t.app.meta.db, id));
    });
  });
}
