import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { backendGate } from '../helpers/backends.js';
import { BerthFixture } from '../helpers/berth-process.js';
import { planImage, pullAndVerify, pushPlannedImage, type ImagePlan } from '../helpers/image-push.js';
import { request } from './helpers.js';

// A deployment made with encryption at rest off (the old default), started again with it on: a
// real `berth serve` encrypts its clear-text objects in place with a job, and is SIGKILLed while
// the job runs, several times. After each restart everything pulls; the migration resumes from
// its cursor and completes; then no file of the store holds plaintext of a pushed layer.

interface Status {
  atRest: string;
  migration: { state: string; objectsDone: number; objectsTotal?: number; bytesDone: number; lastError?: string } | null;
}

async function status(base: string): Promise<Status> {
  const r = await request('GET', `${base}/api/encryption`);
  assert.equal(r.status, 200, r.body.toString());
  return JSON.parse(r.body.toString()) as Status;
}

function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.join(d.parentPath, d.name));
}

// Short leases: the killed node's claim on the job expires quickly, so the restarted one takes it over.
const JOBS = { BERTH_JOBS_LEASE_SECONDS: '2', BERTH_JOBS_POLL_INTERVAL_MS: '100', BERTH_JOBS_BACKOFF_BASE_MS: '100' };

describe('encrypting a clear-text store in place (postgres)', await backendGate('postgres'), () => {
  test('SIGKILL while the migration runs: every image pulls after each restart; the job resumes and completes; no plaintext remains', async (t) => {
    const f = await BerthFixture.start('postgres', { BERTH_STORAGE_ENCRYPTION_ENABLED: 'false', ...JOBS });
    try {
      await f.createRegistry('migreg');
      let t0 = Date.now();
      const plans: ImagePlan[] = [];
      // Enough objects (about 170) that the job is still at work when it is killed.
      for (let i = 0; i < 16; i++) plans.push(planImage(`migreg/app${i % 4}`, `t${i}`, { layers: [8, 12], maxLayerBytes: 24 * 1024 }));
      for (const p of plans) await pushPlannedImage(p, { bases: [f.url] });
      assert.equal((await status(f.url)).atRest, 'off');
      await f.server.stop('SIGTERM');

      // The new default: encryption on with the Berth-managed key.
      t.diagnostic(`pushed in ${(Date.now() - t0) / 1000} s`);
      t0 = Date.now();
      await f.restart({ BERTH_STORAGE_ENCRYPTION_ENABLED: '' });
      let kills = 0;
      let lastDone = -1;
      for (;;) {
        // Served while clear and encrypted objects are mixed.
        await pullAndVerify(f.url, plans[kills % plans.length]!);
        let s = await status(f.url);
        while (s.migration?.state === 'running' && s.migration.objectsDone <= lastDone) {
          await new Promise((r) => setTimeout(r, 20));
          s = await status(f.url);
        }
        if (s.migration?.state !== 'running' || kills === 2) break;
        assert.equal(s.atRest, 'berth-managed');
        lastDone = s.migration.objectsDone;
        await f.server.stop('SIGKILL');
        kills++;
        await f.restart({ BERTH_STORAGE_ENCRYPTION_ENABLED: '' });
      }
      assert.ok(kills >= 1, 'the server was killed at least once while the migration ran');
      t.diagnostic(`killed ${kills} times during the migration; ${(Date.now() - t0) / 1000} s since the switch`);

      let s = await status(f.url);
      while (s.migration?.state !== 'done') {
        assert.notEqual(s.migration?.state, 'failing', `the migration fails: ${s.migration?.lastError}`);
        await new Promise((r) => setTimeout(r, 100));
        s = await status(f.url);
      }
      for (const p of plans) await pullAndVerify(f.url, p);

      // The store: every object sealed under encrypted/, no leftovers, no plaintext.
      const root = path.join(f.dataDir, 'storage');
      const files = allFiles(root);
      const probes = plans.flatMap((p) => p.layers.filter((l) => l.data.length >= 64).map((l) => l.data.subarray(16, 48)));
      for (const file of files) {
        const rel = path.relative(root, file);
        assert.ok(rel.startsWith(`encrypted${path.sep}blobs${path.sep}`), `${rel}: only encrypted blobs remain`);
        const raw = readFileSync(file);
        for (const probe of probes) assert.equal(raw.includes(probe), false, `${rel} holds plaintext of a layer`);
      }

      // A later start uses the encrypted layout only, and serves everything.
      await f.server.stop('SIGTERM');
      await f.restart({ BERTH_STORAGE_ENCRYPTION_ENABLED: '' });
      for (const p of plans) await pullAndVerify(f.url, p);
      const fresh = planImage('migreg/after', 'v1', { layers: [2, 2] });
      await pushPlannedImage(fresh, { bases: [f.url] });
      await pullAndVerify(f.url, fresh);
    } finally {
      await f.cleanup();
    }
  });
});
