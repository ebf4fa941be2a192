import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../src/observability/logger.js';
import { DEFAULT_GC, GcService } from '../src/services/lifecycle/gc.js';
import { KyselyGcStore } from '../src/meta/gc.js';
import { ADMIN_PASSWORD, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { runCli } from './helpers/cli.js';
import { sha256, uniqueRepo, type V2 } from './helpers/oci.js';

// The lifecycle features together, beyond ACR (where soft delete and retention exclude each other):
// purge and the retention policy delete through the ordinary delete, so with soft delete on what
// they remove lands in the recycle bin and can be restored; garbage collection keeps the layers of
// binned manifests, and respects locks.

const DAY = 86400_000;

for (const backend of BACKENDS) {
  describe(`lifecycle features together (${backend})`, await backendGate(backend), () => {
    let t: TestApp;
    let v2: V2;
    let reg: string;
    const berth = (args: string[]) => runCli([...args, '--server', t.url, '-u', 'admin', '-p', ADMIN_PASSWORD]);
    const gcAt = (ms: number) =>
      new GcService(
        t.app.meta,
        new KyselyGcStore(t.app.meta.db, t.app.meta.dialect),
        t.app.storage,
        t.app.services.manifests,
        { ...DEFAULT_GC, gracePeriodSeconds: 60 },
        silentLogger,
        () => new Date(ms),
      );

    before(async () => {
      t = await startTestApp(backend, { gc: { enabled: false } });
      v2 = t.v2();
      reg = await t.createRegistry(undefined, 'Premium');
      const sd = await berth(['config', 'soft-delete', 'update', '-r', reg, '--status', 'enabled', '--days', '7']);
      assert.equal(sd.code, 0, sd.stderr);
    });
    after(async () => {
      await t?.close();
    });

    test('a purge with --untagged sends what it deletes to the recycle bin; restore brings it back intact', async () => {
      const repo = uniqueRepo('purged');
      const name = `${reg}/${repo}`;
      const img = await v2.pushImage(name, 'old', { layers: 2 });
      t.app.services.purge.clock = () => new Date(Date.now() + 30 * DAY);
      const run = await berth(['purge', '-r', reg, '--filter', `${repo}:.*`, '--ago', '1d', '--untagged', '-o', 'json']);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(JSON.parse(run.stdout).deletedManifests, 1);
      t.app.services.purge.clock = () => new Date();
      assert.equal((await v2.fetch(`${name}/manifests/${img.digest}`)).status, 404);

      const bin = await berth(['manifest', 'list-deleted', '-r', reg, '-n', repo]);
      assert.equal(bin.code, 0, bin.stderr);
      assert.ok(
        (JSON.parse(bin.stdout) as { digest: string }[]).some((e) => e.digest === img.digest),
        'the purged manifest is in the bin',
      );

      // GC long after the grace period: the binned manifest's layers must stay.
      for (let i = 1; i <= 3; i++) await gcAt(Date.now() + i * 3600_000).run();
      const restore = await berth(['manifest', 'restore', '-r', reg, '-n', `${repo}:old`, '--digest', img.digest]);
      assert.equal(restore.code, 0, restore.stderr);
      const m = await v2.fetch(`${name}/manifests/old`, { headers: { Accept: img.mediaType } });
      assert.equal(m.status, 200);
      assert.deepEqual(Buffer.from(await m.arrayBuffer()), img.bytes);
      for (const b of [img.config, ...img.layers]) {
        const r = await v2.fetch(`${name}/blobs/${b.digest}`);
        assert.equal(r.status, 200);
        assert.equal(sha256(Buffer.from(await r.arrayBuffer())), b.digest);
      }
    });

    test('the retention policy with soft delete on: the untagged manifest goes to the bin, restorable', async () => {
      const up = await berth([
        'config',
        'retention',
        'update',
        '-r',
        reg,
        '--status',
        'enabled',
        '--days',
        '1',
        '--type',
        'UntaggedManifests',
      ]);
      assert.equal(up.code, 0, up.stderr);
      const repo = uniqueRepo('retained');
      const name = `${reg}/${repo}`;
      const img = await v2.pushImage(name, 'v1');
      assert.equal((await v2.fetch(`${name}/manifests/v1`, { method: 'DELETE' })).status, 202);
      await t.app.meta.db
        .updateTable('retention_policies')
        .set({ enabled_at: new Date(Date.now() - 10 * DAY).toISOString() })
        .execute();
      t.app.services.retention.clock = () => new Date(Date.now() + 3 * DAY);
      const r = await t.app.services.retention.runAll();
      t.app.services.retention.clock = () => new Date();
      assert.ok(r.deletedManifests >= 1);
      assert.equal((await v2.fetch(`${name}/manifests/${img.digest}`)).status, 404);
      const restore = await berth(['manifest', 'restore', '-r', reg, '-n', `${repo}:v1`, '--digest', img.digest]);
      assert.equal(restore.code, 0, restore.stderr);
      assert.equal((await v2.fetch(`${name}/manifests/v1`, { headers: { Accept: img.mediaType } })).status, 200);
      await berth(['config', 'retention', 'update', '-r', reg, '--status', 'disabled']);
    });

    test('garbage collection leaves a dangling referrer alone while it is locked', async () => {
      const name = `${reg}/${uniqueRepo('locked')}`;
      const ghost = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(`absent ${Math.random()}`), size: 10 };
      const sig = await v2.pushImage(name, 'sig', { artifactType: 'application/vnd.example.sig', subject: ghost });
      const lock = await berth([
        'repository',
        'update',
        '-n',
        reg,
        '--image',
        `${name.slice(reg.length + 1)}@${sig.digest}`,
        '--delete-enabled',
        'false',
      ]);
      assert.equal(lock.code, 0, lock.stderr);
      const run = await gcAt(Date.now() + 3600_000).run();
      assert.equal(run.referrersRemoved, 0);
      assert.equal((await v2.fetch(`${name}/manifests/${sig.digest}`)).status, 200, 'deleteEnabled=false holds against the collector');
    });
  });
}
