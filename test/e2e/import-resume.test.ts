import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BACKENDS, backendGate } from '../helpers/backends.js';
import { FakeUpstream, makeImage } from '../helpers/fake-upstream.js';
import { BerthFixture, getBlob, getManifest, request, sleep, waitFor } from './helpers.js';

// Kill and resume: a real `berth serve` imports a large image from a slow upstream, is killed
// with SIGKILL mid-copy, and is started again on the same data and metadata. The import job's
// lease expires, the job runs again, skips the layers already stored, and completes; the image
// then pulls intact.

const MiB = 1024 * 1024;

interface ImportView {
  id: number;
  status: string;
  attempts: number;
  progress: { blobs: { done: number; total: number; skipped: number }; bytes: { done: number; total: number } };
  error: { code: string; message: string } | null;
}

for (const backend of BACKENDS) {
  describe(`berth import survives SIGKILL (${backend})`, await backendGate(backend), () => {
    let f: BerthFixture;
    let up: FakeUpstream;
    const REG = `importresume${backend}`;

    before(async () => {
      // About 8 MiB/s: four 10 MiB layers take ~5 s, time enough to kill the server mid-import.
      up = new FakeUpstream({ bytesPerSecond: 8 * MiB });
      await up.start();
      f = await BerthFixture.start(backend, {
        BERTH_EGRESS_ALLOW_PRIVATE: 'true',
        BERTH_JOBS_LEASE_SECONDS: '2',
        BERTH_JOBS_POLL_INTERVAL_MS: '100',
        BERTH_JOBS_BACKOFF_BASE_MS: '100',
      });
      await f.createRegistry(REG);
    });
    after(async () => {
      await f?.cleanup();
      await up?.close();
    });

    const show = async (id: number): Promise<ImportView> => {
      const r = await request('GET', `${f.url}/api/registries/${REG}/imports/${id}`);
      assert.equal(r.status, 200, r.body.toString());
      return JSON.parse(r.body.toString()) as ImportView;
    };

    test('the job resumes after a restart, without fetching stored layers again', async () => {
      const img = makeImage([10 * MiB, 10 * MiB, 10 * MiB, 10 * MiB]);
      up.add('big/app', 'v1', img);
      const r = await request('POST', `${f.url}/api/registries/${REG}/importImage`, {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ source: { registryUri: up.host, sourceImage: 'big/app:v1' }, targetTags: ['big:v1'] }),
      });
      assert.equal(r.status, 202, r.body.toString());
      const id = (JSON.parse(r.body.toString()) as ImportView).id;

      // Config and the first layer stored, the rest still to come: kill.
      const before = await waitFor(
        'two blobs copied',
        async () => {
          const v = await show(id);
          return v.progress.blobs.done >= 2 && v.progress.blobs.done < v.progress.blobs.total ? v : undefined;
        },
        60_000,
        50,
      );
      assert.equal(before.status, 'Running');
      const exit = await f.server.stop('SIGKILL');
      assert.equal(exit.signal, 'SIGKILL');
      const fetchedBefore = new Map(up.blobGets);

      await f.restart({ BERTH_EGRESS_ALLOW_PRIVATE: 'true', BERTH_JOBS_LEASE_SECONDS: '2', BERTH_JOBS_POLL_INTERVAL_MS: '100' });
      const done = await waitFor(
        'the import to finish',
        async () => {
          const v = await show(id);
          return v.status === 'Succeeded' || v.status === 'Failed' ? v : undefined;
        },
        120_000,
        100,
      );
      assert.equal(done.status, 'Succeeded', JSON.stringify(done));
      assert.ok(done.attempts >= 2, `ran again (attempts ${done.attempts})`);
      assert.ok(
        done.progress.blobs.skipped >= before.progress.blobs.done,
        `skipped ${done.progress.blobs.skipped} of the ${before.progress.blobs.done} blobs stored before the kill`,
      );
      // Blobs finished before the kill were fetched once only.
      let stored = 0;
      for (const d of img.blobs.keys()) {
        const head = await request('HEAD', `${f.url}/v2/${REG}/big/blobs/${d}`);
        assert.equal(head.status, 200);
        if (fetchedBefore.get(d) === 1 && up.blobGets.get(d) === 1) stored++;
      }
      assert.ok(stored >= before.progress.blobs.done, `${stored} blobs fetched once`);

      const m = await getManifest(f.url, `${REG}/big`, 'v1');
      assert.equal(m.status, 200);
      assert.equal(m.headers['docker-content-digest'], img.digest);
      assert.ok(m.body.equals(img.manifest));
      for (const [d, data] of img.blobs) {
        const b = await getBlob(f.url, `${REG}/big`, d);
        assert.equal(b.status, 200);
        assert.ok(b.body.equals(data), `blob ${d} intact`);
      }
      await sleep(0);
    });
  });
}
