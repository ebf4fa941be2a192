import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { computedUsage, recompute, storedUsage } from '../src/meta/usage.js';
import { adminAuthHeader, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { expectError, imageManifest, manifestBytes, MT, randomBlob, type V2, type Blob } from './helpers/oci.js';

// Storage accounting: exact and dedup-aware, maintained transactionally, equal to a from-scratch
// recomputation after any mix of pushes, deletes, mounts and repository deletions.

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

for (const backend of BACKENDS) {
  describe(`storage accounting on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let v2: V2;

    before(async () => {
      t = await startTestApp(backend);
      v2 = t.v2();
    });
    after(async () => {
      await t?.close();
    });

    const regId = async (name: string) => (await t.app.services.registries.get(name)).id;
    const stored = async (name: string) => storedUsage(t.app.meta.db, await regId(name));
    const computed = async (name: string) => computedUsage(t.app.meta.db, await regId(name));

    test('a layer shared by two repositories counts once for the registry, once for each repository', async () => {
      const reg = await t.createRegistry();
      const layer = randomBlob(1000);
      const a = await v2.pushImage(`${reg}/a`, 'v1', { config: randomBlob(100) });
      await v2.pushBlob(`${reg}/a`, layer);
      await v2.pushBlob(`${reg}/b`, layer);
      const cfgB = randomBlob(50);
      const b = await v2.pushImage(`${reg}/b`, 'v1', { config: cfgB });
      const u = await stored(reg);
      const sizeA = 100 + a.layers[0]!.size + 1000 + a.size;
      const sizeB = 50 + b.layers[0]!.size + 1000 + b.size;
      assert.equal(u.repositories.a, sizeA);
      assert.equal(u.repositories.b, sizeB);
      assert.equal(u.registry, sizeA + sizeB - 1000);
      assert.deepEqual(u, await computed(reg));
    });

    test('counters equal the recomputation after random pushes, deletes, mounts and repository deletions', async () => {
      const reg = await t.createRegistry();
      const other = await t.createRegistry();
      const next = rng(backend === 'sqlite' ? 7 : 11);
      const pick = <T>(xs: T[]): T => xs[Math.floor(next() * xs.length)]!;
      const pool: Blob[] = Array.from({ length: 8 }, (_, i) => randomBlob(100 + i * 37));
      const repos = ['r0', 'r1', 'r2', 'ns/r3'];
      const images: { repo: string; digest: string }[] = [];
      for (let step = 0; step < 60; step++) {
        const op = next();
        const repo = `${reg}/${pick(repos)}`;
        if (op < 0.35) {
          const layers = [pick(pool), pick(pool)];
          const config = pick(pool);
          for (const b of [config, ...layers]) await v2.pushBlob(repo, b);
          const m = imageManifest(
            { mediaType: MT.ociConfig, digest: config.digest, size: config.size },
            [...new Map(layers.map((l) => [l.digest, l])).values()].map((l) => ({
              mediaType: MT.ociLayer,
              digest: l.digest,
              size: l.size,
            })),
            { annotations: { step: String(step) } },
          );
          const res = await v2.putManifest(repo, `t${step}`, manifestBytes(m), MT.ociManifest);
          assert.equal(res.status, 201, await res.text());
          images.push({ repo, digest: res.headers.get('docker-content-digest')! });
        } else if (op < 0.5) {
          const b = pick(pool);
          const res = await v2.fetch(`${repo}/blobs/uploads/?mount=${b.digest}&from=${reg}/${pick(repos)}`, {
            method: 'POST',
            headers: { 'Content-Length': '0' },
          });
          assert.ok([201, 202].includes(res.status));
        } else if (op < 0.62) {
          await v2.pushBlob(`${other}/x`, pick(pool)); // another registry never counts here
        } else if (op < 0.75 && images.length > 0) {
          const img = images.splice(Math.floor(next() * images.length), 1)[0]!;
          const res = await v2.fetch(`${img.repo}/manifests/${img.digest}`, { method: 'DELETE' });
          assert.ok([202, 404].includes(res.status));
        } else if (op < 0.88) {
          const res = await v2.fetch(`${repo}/blobs/${pick(pool).digest}`, { method: 'DELETE' });
          assert.ok([202, 404].includes(res.status));
        } else {
          const name = pick(repos);
          const res = await t.fetch(`${t.url}/api/registries/${reg}/repositories/${name}`, {
            method: 'DELETE',
            headers: { Authorization: adminAuthHeader() },
          });
          assert.ok([202, 404].includes(res.status), `${res.status}`);
          for (let i = images.length - 1; i >= 0; i--) if (images[i]!.repo === `${reg}/${name}`) images.splice(i, 1);
        }
        if (step % 10 === 9) assert.deepEqual(await stored(reg), await computed(reg), `after step ${step}`);
      }
      assert.deepEqual(await stored(reg), await computed(reg));
      assert.deepEqual(await stored(other), await computed(other));
      assert.ok((await stored(reg)).registry > 0);
    });

    test('concurrent pushes of the same layer into different repositories count it once', async () => {
      const reg = await t.createRegistry();
      const layer = randomBlob(4096);
      await Promise.all(Array.from({ length: 6 }, (_, i) => v2.pushBlob(`${reg}/c${i}`, layer)));
      const u = await stored(reg);
      assert.equal(u.registry, 4096);
      assert.deepEqual(u, await computed(reg));
    });

    test('recompute repairs drifted counters; deleting a registry drops its counters', async () => {
      const reg = await t.createRegistry();
      await v2.pushImage(`${reg}/app`, 'v1');
      const id = await regId(reg);
      const good = await stored(reg);
      await t.app.meta.db.updateTable('registries').set({ updated_at: 'x' }).where('id', '=', id).execute();
      await t.app.meta.db.updateTable('registry_usage').set({ bytes: 1 }).where('registry_id', '=', id).execute();
      await t.app.meta.db.updateTable('repository_usage').set({ bytes: 7 }).where('registry_id', '=', id).execute();
      assert.notDeepEqual(await stored(reg), good);
      await recompute(t.app.meta.db, id);
      assert.deepEqual(await stored(reg), good);
      await t.app.services.registries.delete(reg);
      const left = await t.app.meta.db.selectFrom('registry_content').select('digest').where('registry_id', '=', id).execute();
      assert.equal(left.length, 0);
      await expectError(await v2.fetch(`${reg}/app/manifests/v1`), 404, 'NAME_UNKNOWN');
    });
  });
}
