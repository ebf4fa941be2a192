import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { FsDriver } from '../src/storage/drivers/fs.js';
import { put, storageDriverSuite } from './suites/storage-driver.js';

storageDriverSuite('fs', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-fs-driver-'));
  return Promise.resolve({ driver: new FsDriver(dir), cleanup: () => rm(dir, { recursive: true, force: true }) });
});

describe('fs driver specifics', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-fs-specific-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a key is a file path under the root, "/" mapped to directories', async () => {
    const d = new FsDriver(dir);
    await put(d, 'blobs/sha256/ab/abcd', 'bytes');
    assert.equal(readFileSync(path.join(dir, 'blobs', 'sha256', 'ab', 'abcd'), 'utf8'), 'bytes');
  });

  test('nothing is written outside the root', async () => {
    const inner = path.join(dir, 'inner');
    const d = new FsDriver(inner);
    await assert.rejects(() => put(d, '../escape', 'x'));
    assert.equal(existsSync(path.join(dir, 'escape')), false);
  });

  test('a relative root is resolved once, at construction', async () => {
    const rel = path.relative(process.cwd(), path.join(dir, 'rel'));
    const d = new FsDriver(rel);
    await put(d, 'k', 'v');
    assert.equal(readFileSync(path.join(dir, 'rel', 'k'), 'utf8'), 'v');
  });
});
