import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, truncateSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { openDb } from '../src/meta/db.js';
import { adminAuthHeader, basicAuthHeader, startTestApp, type FetchLike, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { uniqueRepo } from './helpers/oci.js';

// What keeps pulls flowing under load: a write transaction never holds up reads (SQLite reads
// outside a transaction run on their own connection and see only committed rows), and many
// connections signing in at once with one user name and password cost one password check.

describe('SQLite: reads beside an open write transaction', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-split-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a read outside the transaction answers at once with the committed state; after commit it sees the write', async () => {
    const db = await openDb({ url: '', dataDir: dir });
    try {
      await db.kysely.schema.createTable('t').addColumn('v', 'integer').execute();
      await db.kysely
        .insertInto('t' as never)
        .values({ v: 1 })
        .execute();
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let inside!: () => void;
      const entered = new Promise<void>((r) => (inside = r));
      const trx = db.kysely.transaction().execute(async (tx) => {
        await tx
          .insertInto('t' as never)
          .values({ v: 2 })
          .execute();
        inside();
        await held;
      });
      await entered;
      const during = await db.kysely
        .selectFrom('t' as never)
        .select('v' as never)
        .execute();
      assert.deepEqual(during, [{ v: 1 }], 'the uncommitted row is not visible, and the read did not wait');
      // A write outside the transaction waits its turn, in order, and lands after the commit.
      const write = db.kysely
        .insertInto('t' as never)
        .values({ v: 3 })
        .execute();
      release();
      await trx;
      await write;
      const done = await db.kysely
        .selectFrom('t' as never)
        .select('v' as never)
        .orderBy('v' as never)
        .execute();
      assert.deepEqual(done, [{ v: 1 }, { v: 2 }, { v: 3 }]);
    } finally {
      await db.close();
    }
  });

  test('a failed transaction rolls back and frees the writer for the next one', async () => {
    const db = await openDb({ url: '', dataDir: dir });
    try {
      await db.kysely.schema
        .createTable('u')
        .addColumn('v', 'integer', (c) => c.unique())
        .execute();
      await assert.rejects(
        db.kysely.transaction().execute(async (tx) => {
          await tx
            .insertInto('u' as never)
            .values({ v: 1 })
            .execute();
          await tx
            .insertInto('u' as never)
            .values({ v: 1 })
            .execute();
        }),
        /UNIQUE/,
      );
      await db.kysely.transaction().execute(async (tx) => {
        await tx
          .insertInto('u' as never)
          .values({ v: 7 })
          .execute();
      });
      assert.deepEqual(
        await db.kysely
          .selectFrom('u' as never)
          .select('v' as never)
          .execute(),
        [{ v: 7 }],
      );
    } finally {
      await db.close();
    }
  });
});

for (const backend of BACKENDS) {
  describe(`many connections signing in at once on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    after(async () => t?.close());

    test('one password check serves them all (one recorded sign-in); a wrong password fails for every one of them', async () => {
      t = await startTestApp(backend);
      const user = `burst${Date.now().toString(36)}`;
      const password = 'burst-user-password-1234';
      const created = await t.fetch(`${t.url}/api/users`, {
        method: 'POST',
        headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: user, password }),
      });
      assert.equal(created.status, 201, await created.text());
      const burst = (auth: string) =>
        Promise.all(Array.from({ length: 24 }, () => fetch(`${t.url}/v2/`, { headers: { Authorization: auth } }).then((r) => r.status)));
      assert.deepEqual(new Set(await burst(basicAuthHeader(user, password))), new Set([200]));
      assert.deepEqual(new Set(await burst(basicAuthHeader(user, 'not-the-password'))), new Set([401]));
      const res = await t.fetch(`${t.url}/api/audit/logins?identity=${user}`, { headers: { Authorization: adminAuthHeader() } });
      const rows = ((await res.json()) as { value: { resultType: string }[] }).value;
      assert.equal(rows.filter((r) => r.resultType === 'Granted').length, 1, 'one verified sign-in for the burst');
    });
  });
}

describe('blob pulls through reused buffers (fs)', () => {
  let t: TestApp;
  after(async () => t?.close());

  test('whole blobs and ranges arrive intact across buffer boundaries; a blob cut short in storage ends the response early', async () => {
    // Positional reads into reused buffers serve clear-text stores (encryption at rest opted out);
    // an encrypted store decrypts through streams (storage-encryption-app.test.ts).
    t = await startTestApp('sqlite', { storage: { encryption: { enabled: false } } });
    const reg = await t.createRegistry();
    const repo = `${reg}/${uniqueRepo('pool')}`;
    const v2 = t.v2({ fetch: fetch as FetchLike }); // real sockets: the pool's write callbacks are the network's
    // 2.5 MiB + 3 bytes: two full pool buffers and a short tail.
    const data = randomBytes(2.5 * 1024 * 1024 + 3);
    const blob = await v2.pushBlob(repo, data);
    const pulls = await Promise.all(Array.from({ length: 6 }, () => v2.fetch(`${repo}/blobs/${blob.digest}`)));
    for (const res of pulls) {
      assert.equal(res.status, 200);
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(`sha256:${createHash('sha256').update(body).digest('hex')}`, blob.digest);
    }
    const start = 1024 * 1024 - 5;
    const end = 2 * 1024 * 1024 + 7;
    const ranged = await v2.fetch(`${repo}/blobs/${blob.digest}`, { headers: { Range: `bytes=${start}-${end}` } });
    assert.equal(ranged.status, 206);
    assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(data.subarray(start, end + 1)));

    const hex = blob.digest.slice('sha256:'.length);
    truncateSync(path.join(t.dataDir, 'storage', 'blobs', 'sha256', hex.slice(0, 2), hex), 1024 * 1024 + 10);
    const cut = await v2.fetch(`${repo}/blobs/${blob.digest}`);
    assert.equal(cut.status, 200);
    await assert.rejects(cut.arrayBuffer(), 'the client sees a broken transfer, never a short body taken for the whole blob');
  });
});
