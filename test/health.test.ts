import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { startTestApp } from './helpers/app.js';
import { backendGate } from './helpers/backends.js';

// /healthz (alive, no dependencies) and /readyz (metadata reachable, migrations applied, storage
// writable), both unauthenticated; 503 with a JSON reason when not ready.

describe('health endpoints', await backendGate('sqlite'), () => {
  test('healthy: /healthz and /readyz answer 200 without credentials', async () => {
    const t = await startTestApp('sqlite');
    try {
      const live = await t.fetch(`${t.url}/healthz`);
      assert.equal(live.status, 200);
      assert.deepEqual(await live.json(), { status: 'ok' });
      const ready = await t.fetch(`${t.url}/readyz`);
      assert.equal(ready.status, 200);
      assert.deepEqual(await ready.json(), { status: 'ready' });
      // The probe object is gone again.
      assert.deepEqual(
        (await t.app.storage.list('uploads/')).filter((k) => k.includes('.ready-')),
        [],
      );
    } finally {
      await t.close();
    }
  });

  test('metadata closed: /readyz 503 with a reason; /healthz still 200', async () => {
    const t = await startTestApp('sqlite');
    try {
      await t.app.meta.close();
      const res = await t.fetch(`${t.url}/readyz`);
      assert.equal(res.status, 503);
      const body = (await res.json()) as { status: string; reason: string };
      assert.equal(body.status, 'unavailable');
      assert.match(body.reason, /metadata/);
      assert.equal((await t.fetch(`${t.url}/healthz`)).status, 200);
    } finally {
      await t.close().catch(() => undefined);
    }
  });

  test('storage path replaced by a file: /readyz 503 naming the storage', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-health-'));
    const storage = path.join(dir, 'storage');
    const t = await startTestApp('sqlite', { storage: { path: storage } });
    try {
      assert.equal((await t.fetch(`${t.url}/readyz`)).status, 200);
      rmSync(storage, { recursive: true, force: true });
      writeFileSync(storage, 'not a directory');
      const res = await t.fetch(`${t.url}/readyz`);
      assert.equal(res.status, 503);
      const body = (await res.json()) as { reason: string };
      assert.match(body.reason, /storage/);
    } finally {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
