import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { ImageInventory } from '../../domain/scan/types.js';
import { migrate, openDb, type Db } from '../../meta/db.js';
import { MetaStore } from '../../meta/store.js';
import { silentLogger } from '../../observability/logger.js';
import { VulnMatcher } from './match.js';
import { VulnDbService } from './vulndb.js';

// The matcher reuses looked-up advisories between matches (a re-match of many images reads each
// package once). New data must still be seen at once, also when another node imported it (no
// refresh() here), and matches running side by side must agree. Real SQLite store.

const record = (fixed: string, modified: string) => ({
  id: 'DSA-5532-1',
  summary: 'openssl - security update',
  aliases: ['CVE-2023-5363'],
  modified,
  affected: [
    {
      package: { ecosystem: 'Debian:12', name: 'openssl' },
      ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed }] }],
    },
  ],
});

const inventory: ImageInventory = {
  os: { id: 'debian', versionId: '12' },
  packages: [
    {
      ecosystem: 'Debian',
      name: 'libssl3',
      version: '3.0.11-1~deb12u1',
      source: { name: 'openssl', version: '3.0.11-1~deb12u1' },
      purl: 'pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12',
      layer: 'sha256:1',
      path: 'var/lib/dpkg/status',
    },
    {
      ecosystem: 'Debian',
      name: 'libc6',
      version: '2.36-9+deb12u1',
      source: { name: 'glibc', version: '2.36-9+deb12u1' },
      purl: 'pkg:deb/debian/libc6@2.36-9+deb12u1?arch=amd64&distro=debian-12',
      layer: 'sha256:1',
      path: 'var/lib/dpkg/status',
    },
  ],
};

describe('VulnMatcher cache', () => {
  let dir: string;
  let db: Db;
  let meta: MetaStore;
  const load = (r: object) =>
    new VulnDbService(meta, silentLogger)
      .importOsv(Readable.from([Buffer.from(JSON.stringify(r))]), 'json', 'debian')
      .then((x) => x.records);

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'berth-match-'));
    db = await openDb({ url: '', dataDir: dir });
    await migrate(db);
    meta = new MetaStore(db);
  });
  after(async () => {
    await db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('an import sees through the cache without refresh(); concurrent matches agree', async () => {
    const matcher = new VulnMatcher(meta);
    assert.deepEqual((await matcher.match(inventory)).findings, []);
    // Another node imports (this matcher is not told): the stamp changes, the cached "no advisories" goes.
    assert.equal(await load(record('3.0.11-1~deb12u2', '2026-11-01T00:00:00Z')), 1);
    const first = await matcher.match(inventory);
    assert.deepEqual(
      first.findings.map((f) => [f.id, f.package, f.fixedVersion]),
      [['DSA-5532-1', 'libssl3', '3.0.11-1~deb12u2']],
    );
    // Matched again from the cache: the same answer, also for matches started together.
    const again = await Promise.all([matcher.match(inventory), matcher.match(inventory), matcher.match(inventory)]);
    for (const r of again) assert.deepEqual(r.findings, first.findings);
    // A newer version of the record says the installed version is already fixed: the finding goes.
    assert.equal(await load(record('3.0.11-1~deb12u1', '2026-11-02T00:00:00Z')), 1);
    assert.deepEqual((await matcher.match(inventory)).findings, []);
  });
});
