import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { startApp, type App } from '../src/app.js';
import { silentLogger } from '../src/observability/logger.js';
import { backendGate, freshMetadataUrl } from './helpers/backends.js';
import { testConfig } from './helpers/app.js';

// A job whose node dies mid-run is completed by another node once its lease expires: two
// in-process nodes on one PostgreSQL schema; node A's handler never returns, node A is closed
// (its worker abandons the job, as a killed process would), and node B runs the job again.

async function until<T>(fn: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('job failover between nodes', await backendGate('postgres'), () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'berth-failover-'));
  let drop: (() => Promise<void>) | undefined;
  const open: App[] = [];

  after(async () => {
    for (const n of open) await n.close().catch(() => undefined);
    await drop?.();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a job claimed by a node that dies is completed by the other node after the lease expires', async () => {
    const meta = await freshMetadataUrl('postgres');
    drop = meta.drop;
    const node = (i: number) =>
      startApp(
        testConfig({
          dataDir: path.join(dataDir, `node${i}`),
          metadata: { url: meta.url },
          storage: { path: path.join(dataDir, 'shared-storage') },
          shutdownTimeoutSeconds: 1,
          jobs: { pollIntervalMs: 20, leaseSeconds: 1 },
        }),
        silentLogger,
      );
    const a = await node(0);
    open.push(a);
    const b = await node(1);
    open.push(b);

    // Node B's worker is paused so that node A claims the job.
    await b.services.jobs.stop();
    let startedOnA: (id: number) => void = () => undefined;
    const claimedByA = new Promise<number>((r) => (startedOnA = r));
    a.services.jobs.handle('test.hang', async (_p, job) => {
      startedOnA(Number(job.id));
      await new Promise(() => undefined); // never returns: the node "dies" mid-run
    });
    const ranOnB: number[] = [];
    b.services.jobs.handle('test.hang', (p: { n: number }, job) => {
      assert.equal(p.n, 42);
      ranOnB.push(Number(job.id));
      return Promise.resolve();
    });

    const id = await a.services.jobs.enqueue(a.meta.db, 'test.hang', { n: 42 }, { maxAttempts: 3 });
    assert.equal(await claimedByA, id);
    const running = await b.services.jobs.get(id);
    assert.equal(running?.state, 'running');
    assert.equal(running?.lease_owner, a.services.jobs.node);

    // Kill node A: its worker stops without completing the claimed job; then B's worker resumes.
    await a.close();
    open.splice(open.indexOf(a), 1);
    b.services.jobs.start();

    const done = await until(async () => {
      const j = await b.services.jobs.get(id);
      return j?.state === 'succeeded' ? j : undefined;
    });
    assert.deepEqual(ranOnB, [id]);
    assert.equal(done.attempts, 2, 'claimed once by A, once by B');
    assert.equal(done.lease_owner, null);
    // Node B did not take it before A's lease expired.
    assert.ok(Date.parse(done.updated_at) >= Date.parse(running.lease_until!), 'completed after the lease expired');
  });
});
