import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, describe, test } from 'node:test';
import type { StorageDriver } from '../driver.js';
import { FsDriver } from '../drivers/fs.js';
import { EncryptingDriver } from './encrypted.js';
import { ENCRYPTED_PREFIX, JOB_TEMP_PREFIX, MigratingDriver } from './migrating.js';
import { PrefixedDriver } from './prefixed.js';

// The driver that serves a store while its clear-text objects are encrypted in place, and the
// states a crash can leave between the steps of one conversion.

const root = mkdtempSync(path.join(os.tmpdir(), 'berth-migrating-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

function setup() {
  const dir = path.join(root, String(++n));
  const physical = new FsDriver(dir);
  const encrypted = new EncryptingDriver(new PrefixedDriver(physical, ENCRYPTED_PREFIX), randomBytes(32), { segmentSize: 64 });
  return { dir, physical, encrypted, m: new MigratingDriver(encrypted, physical) };
}

async function put(d: StorageDriver, key: string, data: Buffer, offset?: number): Promise<void> {
  const w = await d.writer(key, offset === undefined ? {} : { offset });
  await pipeline(Readable.from([data]), w.stream);
  await w.commit();
}

async function get(d: StorageDriver, key: string, range?: { start: number; end: number }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await d.read(key, range)) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

const blobKeyOf = (data: Buffer) => {
  const hex = createHash('sha256').update(data).digest('hex');
  return `blobs/sha256/${hex.slice(0, 2)}/${hex}`;
};

describe('MigratingDriver', () => {
  test('reads, stats and ranges clear objects until they are converted; then the clear file is gone and the bytes are sealed', async () => {
    const { dir, physical, m } = setup();
    const data = randomBytes(300);
    const key = blobKeyOf(data);
    await put(physical, key, data);
    assert.deepEqual(await get(m, key), data);
    assert.deepEqual(await get(m, key, { start: 70, end: 140 }), data.subarray(70, 141));
    assert.equal((await m.stat(key))?.size, 300);
    const r = await m.convert(key, key, { temp: JOB_TEMP_PREFIX });
    assert.deepEqual(r, { bytes: 300, damaged: false });
    assert.equal(existsSync(path.join(dir, key)), false, 'the clear file is deleted');
    const sealed = readFileSync(path.join(dir, ENCRYPTED_PREFIX, key));
    assert.equal(sealed.includes(data.subarray(0, 32)), false);
    assert.deepEqual(await get(m, key), data);
    assert.equal(await m.convert(key, key), undefined, 'nothing left to convert');
  });

  test('a crash after the move but before the clear delete: the encrypted copy is served, and converting again only deletes the clear one', async () => {
    const { dir, physical, encrypted, m } = setup();
    const data = randomBytes(100);
    const key = blobKeyOf(data);
    await put(physical, key, data);
    await put(encrypted, key, data); // the state after move(temp -> key)
    assert.deepEqual(await m.list('blobs'), [key], 'listed once');
    assert.deepEqual(await get(m, key), data);
    assert.deepEqual(await m.convert(key, key), { bytes: 100, damaged: false });
    assert.equal(existsSync(path.join(dir, key)), false);
    assert.deepEqual(await get(m, key), data);
    // a temporary left by a crash before the move is not an object
    await put(encrypted, `${JOB_TEMP_PREFIX}left-over`, data);
    assert.deepEqual(await m.list(''), [key]);
  });

  test('a blob whose clear bytes do not match their digest is encrypted as it is, and reported', async () => {
    const { physical, m } = setup();
    const key = blobKeyOf(Buffer.from('something else'));
    await put(physical, key, Buffer.from('damaged'));
    assert.deepEqual(await m.convert(key, key), { bytes: 7, damaged: true });
    assert.equal((await get(m, key)).toString(), 'damaged');
  });

  test('writes go to the encrypted side; a resumed clear upload is converted first; a move of a clear upload lands encrypted', async () => {
    const { dir, physical, m } = setup();
    const first = randomBytes(150);
    const rest = randomBytes(90);
    await put(physical, 'uploads/u1', first);
    await put(m, 'uploads/u1', rest, first.length);
    assert.equal(existsSync(path.join(dir, 'uploads/u1')), false, 'no clear copy is left');
    assert.deepEqual(await get(m, 'uploads/u1'), Buffer.concat([first, rest]));
    const whole = Buffer.concat([first, rest]);
    await m.move('uploads/u1', blobKeyOf(whole));
    assert.deepEqual(await get(m, blobKeyOf(whole)), whole);
    // a clear upload moved as it is (a monolithic push whose session outlived the restart)
    const mono = randomBytes(50);
    await put(physical, 'uploads/u2', mono);
    await put(physical, blobKeyOf(mono), mono); // the same blob stored in clear before
    await m.move('uploads/u2', blobKeyOf(mono));
    assert.equal(existsSync(path.join(dir, blobKeyOf(mono))), false, 'the clear destination is replaced');
    assert.equal(existsSync(path.join(dir, 'uploads/u2')), false);
    assert.deepEqual(await get(m, blobKeyOf(mono)), mono);
    const fresh = randomBytes(20);
    await put(m, 'tasks/logs/1', fresh);
    assert.equal(existsSync(path.join(dir, 'tasks/logs/1')), false);
    assert.deepEqual(await get(m, 'tasks/logs/1'), fresh);
  });

  test('delete removes both sides; list merges both in order with startAfter and limit', async () => {
    const { physical, encrypted, m } = setup();
    for (const k of ['blobs/a', 'blobs/c', 'blobs/e']) await put(physical, k, Buffer.from(k));
    for (const k of ['blobs/b', 'blobs/c', 'blobs/d']) await put(encrypted, k, Buffer.from(k));
    assert.deepEqual(await m.list('blobs'), ['blobs/a', 'blobs/b', 'blobs/c', 'blobs/d', 'blobs/e']);
    assert.deepEqual(await m.list('blobs', { startAfter: 'blobs/b', limit: 2 }), ['blobs/c', 'blobs/d']);
    await m.delete('blobs/c');
    assert.equal(await m.stat('blobs/c'), null);
    assert.deepEqual(await m.list('blobs'), ['blobs/a', 'blobs/b', 'blobs/d', 'blobs/e']);
    await assert.rejects(() => m.read('blobs/c'), /not found: blobs\/c/);
  });
});
