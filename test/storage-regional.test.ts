import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { StorageNotFoundError, StorageUnavailableError, type StorageDriver } from '../src/storage/driver.js';
import { FsDriver } from '../src/storage/drivers/fs.js';
import { RegionalStorage, type Region } from '../src/storage/regional.js';
import { get, put, storageDriverSuite } from './suites/storage-driver.js';

// The regional view of several regions' stores passes the same suite as every driver (seen from
// its own region), and adds what geo-replication relies on: blobs read through from another
// region when this one lacks them or is down, deleted everywhere, and everything else regional.

const fsRegion = (name: string, dir: string): Region => ({ name, url: `http://${name}.example`, driver: new FsDriver(dir) });

storageDriverSuite('regional (fs + fs)', () => {
  const a = mkdtempSync(path.join(os.tmpdir(), 'berth-regional-a-'));
  const b = mkdtempSync(path.join(os.tmpdir(), 'berth-regional-b-'));
  return Promise.resolve({
    driver: new RegionalStorage(fsRegion('a', a), [fsRegion('b', b)]),
    cleanup: async () => {
      await rm(a, { recursive: true, force: true });
      await rm(b, { recursive: true, force: true });
    },
  });
});

/** A store that is down: every call fails as an outage does. */
function downStore(): StorageDriver {
  const down = () => Promise.reject(new StorageUnavailableError('down', 'connection refused'));
  return { name: 'down', stat: down, read: down, writer: down, move: down, delete: down, list: down };
}

describe('regional storage', () => {
  const dirs: string[] = [];
  const dir = () => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'berth-regional-'));
    dirs.push(d);
    return d;
  };
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  const KEY = 'blobs/sha256/ab/ab01';

  test('a blob this region lacks is read (and stat-ed) from another region, and the read is reported', async () => {
    const here = fsRegion('here', dir());
    const there = fsRegion('there', dir());
    const seen: string[] = [];
    const s = new RegionalStorage(here, [there], { readFromPeer: (key, region) => seen.push(`${region}:${key}`) });
    await put(there.driver, KEY, 'remote bytes');
    assert.equal((await get(s, KEY)).toString(), 'remote bytes');
    assert.equal((await get(s, KEY, { start: 7, end: 11 })).toString(), 'bytes', 'ranges too');
    assert.equal((await s.stat(KEY))?.size, 12);
    assert.equal(await s.stat(KEY, { here: true }), null, 'this store alone does not hold it');
    assert.deepEqual(seen, [`there:${KEY}`, `there:${KEY}`]);
    // Its own copy wins once it has one.
    await put(here.driver, KEY, 'local bytes!');
    assert.equal((await get(s, KEY)).toString(), 'local bytes!');
  });

  test('other regions are tried in the order of those known to hold a blob, then the rest', () => {
    const s = new RegionalStorage(fsRegion('a', dir()), [fsRegion('b', dir()), fsRegion('c', dir()), fsRegion('d', dir())]);
    assert.deepEqual(
      s.peersFor(['d', 'a', 'mars']).map((r) => r.name),
      ['d', 'b', 'c'],
      'this region and unknown names are not peers',
    );
    assert.deepEqual(
      s.peersFor().map((r) => r.name),
      ['b', 'c', 'd'],
    );
  });

  test('other keys (upload sessions, task logs) never leave the region', async () => {
    const here = fsRegion('here', dir());
    const thereDir = dir();
    const there = fsRegion('there', thereDir);
    const s = new RegionalStorage(here, [there]);
    await put(there.driver, 'uploads/x', 'theirs');
    await assert.rejects(() => s.read('uploads/x'), StorageNotFoundError);
    assert.equal(await s.stat('uploads/x'), null);
    await put(s, 'uploads/y', 'mine');
    assert.equal(existsSync(path.join(thereDir, 'uploads', 'y')), false);
    await s.delete('uploads/x');
    assert.equal((await get(there.driver, 'uploads/x')).toString(), 'theirs', 'deleting a regional key touches only this region');
  });

  test('a blob is deleted in every region; a region that is down does not fail the delete, and is reported', async () => {
    const here = fsRegion('here', dir());
    const there = fsRegion('there', dir());
    const failed: string[] = [];
    const s = new RegionalStorage(here, [there, { name: 'gone', url: '', driver: downStore() }], {
      deleteFailed: (key, region) => failed.push(region),
    });
    await put(here.driver, KEY, 'x');
    await put(there.driver, KEY, 'x');
    await s.delete(KEY);
    assert.equal(await here.driver.stat(KEY), null);
    assert.equal(await there.driver.stat(KEY), null);
    assert.deepEqual(failed, ['gone']);
  });

  test("this region's store down: blobs are still read from another region; a blob nobody holds is not found", async () => {
    const there = fsRegion('there', dir());
    const s = new RegionalStorage({ name: 'here', url: '', driver: downStore() }, [there]);
    await put(there.driver, KEY, 'still here');
    assert.equal((await get(s, KEY)).toString(), 'still here');
    await assert.rejects(() => s.read('blobs/sha256/cd/cd01'), StorageUnavailableError, 'the outage, not a false "not found"');
    const t = new RegionalStorage(fsRegion('x', dir()), [there]);
    await assert.rejects(() => t.read('blobs/sha256/cd/cd01'), StorageNotFoundError);
  });
});
