import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { makeRpmdb, toolMissing } from '../../../../../test/helpers/scan-fixtures.js';
import { parseRpmDb, sourceOfRpm } from './rpm.js';

const missing = toolMissing('rpmbuild') ?? toolMissing('rpm');

test('an rpmdb made by rpm 4.18: name, epoch, version, release, source rpm', { skip: missing }, async () => {
  const files = makeRpmdb([
    { name: 'tiny-tool', version: '1.4.2', release: '3.el9', epoch: 2 },
    { name: 'other', version: '0.9', release: '1.el9' },
  ]);
  const r = await parseRpmDb('sqlite', files['rpmdb.sqlite']!, files['rpmdb.sqlite-wal'], 1 << 30);
  assert.equal(r.error, undefined);
  const byName = new Map(r.found.map((f) => [f.name, f]));
  assert.deepEqual(byName.get('tiny-tool'), {
    kind: 'rpm',
    name: 'tiny-tool',
    version: '2:1.4.2-3.el9',
    rpm: { epoch: 2, version: '1.4.2', release: '3.el9' },
    arch: 'noarch',
    source: { name: 'tiny-tool', version: '2:1.4.2-3.el9' },
  });
  assert.equal(byName.get('other')?.version, '0.9-1.el9');
});

test('committed WAL frames are applied to the database before reading it', { skip: missing }, async () => {
  const files = makeRpmdb([
    { name: 'kept', version: '1', release: '1' },
    { name: 'erased', version: '2', release: '1' },
  ]);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-wal-'));
  try {
    const db = path.join(dir, 'rpmdb.sqlite');
    writeFileSync(db, files['rpmdb.sqlite']!);
    const conn = new Database(db);
    conn.pragma('journal_mode = WAL');
    conn.pragma('wal_autocheckpoint = 0');
    conn.pragma('foreign_keys = OFF');
    const before = await parseRpmDb('sqlite', readFileSync(db), undefined, 1 << 30);
    assert.equal(before.found.length, 2);
    // The deletion lives only in the WAL while the connection stays open.
    const ids = conn.prepare('SELECT hnum FROM Packages').all() as { hnum: number }[];
    const erased = ids.find((_, i) => i === 1)!.hnum;
    conn.prepare('DELETE FROM Packages WHERE hnum = ?').run(erased);
    copyFileSync(db, `${db}.snap`);
    copyFileSync(`${db}-wal`, `${db}-wal.snap`);
    conn.close();
    const mainOnly = await parseRpmDb('sqlite', readFileSync(`${db}.snap`), undefined, 1 << 30);
    assert.equal(mainOnly.found.length, 2, 'the main file alone still has both');
    const merged = await parseRpmDb('sqlite', readFileSync(`${db}.snap`), readFileSync(`${db}-wal.snap`), 1 << 30);
    assert.equal(merged.found.length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('garbage databases are reported, not thrown', async () => {
  for (const fmt of ['sqlite', 'bdb', 'ndb'] as const) {
    const r = await parseRpmDb(fmt, Buffer.from('SQLite format 3\0 garbage garbage'.repeat(20)), undefined, 1 << 20);
    assert.deepEqual(r.found, []);
  }
  assert.deepEqual(sourceOfRpm('openssl-libs-3.0.7-24.el9.src.rpm'), { name: 'openssl-libs', version: '3.0.7-24.el9' });
  assert.equal(sourceOfRpm('nonsense'), undefined);
});
