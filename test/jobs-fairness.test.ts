import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';

// Long jobs (imports, purges) take at most half of a node's job slots, so a batch of them never
// holds up short ones such as webhook deliveries.

for (const backend of BACKENDS) {
  describe(`job slots (${backend})`, await backendGate(backend), () => {
    let t: TestApp;

    before(async () => {
      t = await startTestApp(backend, { jobs: { concurrency: 4, pollIntervalMs: 20 } });
    });
    after(async () => {
      await t?.close();
    });

    test('five long jobs queued first: two run, and a short job queued after them still runs at once', async () => {
      const jobs = t.app.services.jobs;
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      let longRunning = 0;
      let longPeak = 0;
      jobs.handle(
        'test.long',
        async () => {
          longRunning++;
          longPeak = Math.max(longPeak, longRunning);
          await gate;
          longRunning--;
        },
        { long: true },
      );
      let shortDone!: () => void;
      const short = new Promise<void>((r) => {
        shortDone = r;
      });
      jobs.handle('test.short', () => {
        shortDone();
        return Promise.resolve();
      });

      for (let i = 0; i < 5; i++) await jobs.enqueue(t.app.meta.db, 'test.long', { i });
      await jobs.enqueue(t.app.meta.db, 'test.short', {});
      const ran = await Promise.race([short.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
      assert.ok(ran, 'the short job ran while long ones were running');
      assert.equal(longPeak, 2, 'long jobs took half of the four slots');
      release();
      for (let i = 0; i < 200; i++) {
        const left = await t.app.meta.db
          .selectFrom('jobs')
          .select('id')
          .where('kind', '=', 'test.long')
          .where('state', '!=', 'succeeded')
          .execute();
        if (left.length === 0) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      const done = await t.app.meta.db.selectFrom('jobs').select('state').where('kind', '=', 'test.long').execute();
      assert.deepEqual(
        done.map((j) => j.state),
        Array(5).fill('succeeded'),
        'the rest ran as slots freed',
      );
      assert.ok(longPeak <= 2);
    });
  });
}
