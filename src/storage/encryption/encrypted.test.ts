import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, describe, test } from 'node:test';
import { FsDriver } from '../drivers/fs.js';
import { EncryptingDriver, EncryptionIntegrityError, HEADER_SIZE } from './encrypted.js';

const SEG = 64;
const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-enc-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const fs = new FsDriver(dir);
const dek = randomBytes(32);
const enc = new EncryptingDriver(fs, dek, { segmentSize: SEG });
// The same store through an inner driver without positional reads (as Azure): reads stream records.
const streamed = new EncryptingDriver(
  {
    name: 'fs',
    stat: (k) => fs.stat(k),
    read: (k, r) => fs.read(k, r),
    writer: (k, o) => fs.writer(k, o),
    move: (a, b) => fs.move(a, b),
    delete: (k) => fs.delete(k),
    list: (p, o) => fs.list(p, o),
  },
  dek,
  { segmentSize: SEG },
);
let n = 0;
const fresh = () => `t/${++n}`;

async function put(key: string, parts: Buffer[], offset?: number): Promise<number> {
  const w = await enc.writer(key, offset === undefined ? {} : { offset });
  await pipeline(Readable.from(parts), w.stream);
  return w.commit();
}

async function get(key: string, range?: { start: number; end: number }, driver = enc): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await driver.read(key, range)) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

/**
 * The plaintext through openPositional, read `step` bytes at a time into one buffer: shared (as a
 * pull's send buffers: decryption workers open the records) or not (opened on this thread).
 */
async function positional(key: string, range?: { start: number; end: number }, shared = true, step = 50): Promise<Buffer> {
  const r = await enc.openPositional!(key);
  try {
    const start = range?.start ?? 0;
    const end = range?.end ?? (await r.size()) - 1;
    const into = shared ? Buffer.from(new SharedArrayBuffer(step + 8), 4, step) : Buffer.alloc(step);
    const out: Buffer[] = [];
    for (let pos = start; pos <= end;) {
      const n = await r.read(into.subarray(0, Math.min(step, end + 1 - pos)), pos);
      if (n === 0) break;
      out.push(Buffer.from(into.subarray(0, n)));
      pos += n;
    }
    return Buffer.concat(out);
  } finally {
    await r.close();
  }
}

const raw = (key: string) => readFileSync(path.join(dir, key));
const setRaw = (key: string, b: Buffer) => writeFileSync(path.join(dir, key), b);

const SIZES = [0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG, 3 * SEG + 5];

describe('encrypted storage format', () => {
  for (const size of SIZES) {
    test(`round trip of ${size} bytes, with stat and every edge range`, async () => {
      const key = fresh();
      const data = randomBytes(size);
      assert.equal(await put(key, [data]), size);
      assert.equal((await enc.stat(key))?.size, size);
      assert.deepEqual(await get(key), data);
      // the stored bytes: header, one record per started segment (length + tag), terminator
      assert.equal(raw(key).length, HEADER_SIZE + Math.ceil(size / SEG) * 20 + size + 32);
      assert.equal(raw(key)[0], 1);
      const edges = new Set<number>();
      for (let s = 0; s <= size; s += SEG) for (const d of [-1, 0, 1]) if (s + d >= 0 && s + d < size) edges.add(s + d);
      edges.add(size - 1);
      const pts = [...edges].filter((x) => x >= 0).sort((a, b) => a - b);
      for (const driver of [enc, streamed]) {
        assert.deepEqual(await get(key, undefined, driver), data);
        for (const a of pts)
          for (const b of pts)
            if (b >= a) assert.deepEqual(await get(key, { start: a, end: b }, driver), data.subarray(a, b + 1), `${a}-${b}`);
      }
      const r = await enc.openPositional!(key);
      assert.equal(await r.size(), size);
      await r.close();
      for (const shared of [true, false]) {
        assert.deepEqual(await positional(key, undefined, shared), data, `positional, shared ${shared}`);
        for (const a of pts)
          for (const b of pts)
            if (b >= a && (a % 3 === 0 || b === size - 1))
              assert.deepEqual(await positional(key, { start: a, end: b }, shared, 17), data.subarray(a, b + 1), `positional ${a}-${b}`);
      }
    });
  }

  test('many small writes are sealed into full segments', async () => {
    const key = fresh();
    const parts = Array.from({ length: 50 }, () => randomBytes(7));
    assert.equal(await put(key, parts), 350);
    assert.deepEqual(await get(key), Buffer.concat(parts));
    assert.deepEqual(await get(key, { start: 100, end: 300 }), Buffer.concat(parts).subarray(100, 301));
  });

  test('no plaintext in the stored bytes; two writes of the same bytes differ', async () => {
    const data = Buffer.from('the quick brown fox jumps over the lazy dog '.repeat(10));
    const [a, b] = [fresh(), fresh()];
    await put(a, [data]);
    await put(b, [data]);
    assert.equal(raw(a).includes(Buffer.from('quick brown')), false);
    assert.notDeepEqual(raw(a), raw(b));
  });

  test('an object moved to another key still decrypts (the key is not bound to the path)', async () => {
    const [a, b] = [fresh(), fresh()];
    const data = randomBytes(3 * SEG + 3);
    await put(a, [data]);
    await enc.move(a, b);
    assert.deepEqual(await get(b), data);
  });

  test('another data key cannot read it', async () => {
    const key = fresh();
    await put(key, [randomBytes(100)]);
    const other = new EncryptingDriver(fs, randomBytes(32), { segmentSize: SEG });
    await assert.rejects(() => get(key, undefined, other), EncryptionIntegrityError);
  });

  test('segment size is read from the object, so a reader configured differently still reads it', async () => {
    const key = fresh();
    const data = randomBytes(5 * SEG + 1);
    await put(key, [data]);
    const other = new EncryptingDriver(fs, dek, { segmentSize: 1000 });
    assert.deepEqual(await get(key, { start: 2 * SEG - 1, end: 4 * SEG }, other), data.subarray(2 * SEG - 1, 4 * SEG + 1));
  });
});

describe('tampering fails the read with EncryptionIntegrityError', () => {
  const size = 3 * SEG + 10;
  const cases: Array<[string, (b: Buffer) => Buffer]> = [
    ['a bit of the version', (b) => flip(b, 0)],
    ['a bit of the salt', (b) => flip(b, 5)],
    ['a bit of the nonce prefix', (b) => flip(b, 38)],
    ['a bit of a length field', (b) => flip(b, HEADER_SIZE + 3)],
    ['a bit of segment 0', (b) => flip(b, HEADER_SIZE + 10)],
    ['a bit of segment 1', (b) => flip(b, HEADER_SIZE + SEG + 20 + 10)],
    ['a bit of a tag', (b) => flip(b, HEADER_SIZE + 4 + SEG + 3)],
    ['a bit of the end record', (b) => flip(b, b.length - 20)],
    ['a bit of the end tag', (b) => flip(b, b.length - 1)],
    ['truncated by one byte', (b) => b.subarray(0, b.length - 1)],
    ['truncated to a segment edge (no end record)', (b) => b.subarray(0, HEADER_SIZE + 2 * (SEG + 20))],
    ['the end record dropped', (b) => b.subarray(0, b.length - 32)],
    ['bytes appended', (b) => Buffer.concat([b, Buffer.from('x')])],
    ['the last data segment dropped', (b) => Buffer.concat([b.subarray(0, b.length - 32 - 34), b.subarray(b.length - 32)])],
    ['two segments swapped', (b) => swap(b, 0, 1)],
    ['a segment duplicated', (b) => dup(b, 1)],
  ];
  for (const [what, tamper] of cases) {
    test(what, async () => {
      const key = fresh();
      const data = randomBytes(size);
      await put(key, [data]);
      setRaw(key, tamper(raw(key)));
      // positional reads (fs) and streamed records (drivers without them) alike
      for (const driver of [enc, streamed]) {
        await assert.rejects(() => get(key, undefined, driver), EncryptionIntegrityError);
        for (const shared of [true, false])
          await assert.rejects(
            () => positional(key, undefined, shared),
            (e) => e instanceof EncryptionIntegrityError,
          );
        // a range inside a segment that was not touched may still read, but never wrong bytes
        for (const r of [
          { start: 0, end: 5 },
          { start: SEG, end: SEG + 5 },
          { start: size - 3, end: size - 1 },
        ]) {
          const got = await get(key, r, driver).catch((e: unknown) => {
            assert.ok(e instanceof EncryptionIntegrityError, String(e));
            return undefined;
          });
          if (got) assert.deepEqual(got, data.subarray(r.start, r.end + 1));
        }
      }
    });
  }
});

const rec = (i: number) => [HEADER_SIZE + i * (SEG + 20), HEADER_SIZE + (i + 1) * (SEG + 20)] as const;
function flip(b: Buffer, at: number): Buffer {
  const c = Buffer.from(b);
  c[at] = c[at]! ^ 1;
  return c;
}
function swap(b: Buffer, i: number, j: number): Buffer {
  const [a0, a1] = rec(i);
  const [b0, b1] = rec(j);
  return Buffer.concat([b.subarray(0, a0), b.subarray(b0, b1), b.subarray(a1, b0), b.subarray(a0, a1), b.subarray(b1)]);
}
function dup(b: Buffer, i: number): Buffer {
  const [a0, a1] = rec(i);
  return Buffer.concat([b.subarray(0, a1), b.subarray(a0, a1), b.subarray(a1)]);
}

describe('appends (resumable uploads)', () => {
  test('three chunks committed in turn, resumed at each acknowledged offset; ranges across the chunk edges', async () => {
    const key = fresh();
    const chunks = [randomBytes(SEG + 10), randomBytes(5), randomBytes(2 * SEG + 7)];
    let offset = 0;
    for (const c of chunks) {
      offset = await put(key, [c], offset);
      assert.equal((await enc.stat(key))?.size, offset);
    }
    const all = Buffer.concat(chunks);
    assert.deepEqual(await get(key), all);
    const edges = [0, SEG - 1, SEG, SEG + 9, SEG + 10, SEG + 14, SEG + 15, SEG + 16, all.length - 1];
    for (const a of edges)
      for (const b of edges) if (b >= a) assert.deepEqual(await get(key, { start: a, end: b }), all.subarray(a, b + 1), `${a}-${b}`);
    for (const shared of [true, false]) {
      assert.deepEqual(await positional(key, undefined, shared, 13), all);
      for (const a of edges)
        for (const b of edges)
          if (b >= a)
            assert.deepEqual(await positional(key, { start: a, end: b }, shared, 11), all.subarray(a, b + 1), `positional ${a}-${b}`);
    }
  });

  test('an object appended to (irregular records) detects tampering anywhere, and a dropped record', async () => {
    const key = fresh();
    const chunks = [randomBytes(SEG + 10), randomBytes(5), randomBytes(2 * SEG + 7)];
    let offset = 0;
    for (const c of chunks) offset = await put(key, [c], offset);
    const good = raw(key);
    for (let at = 0; at < good.length; at += 7) {
      setRaw(key, flip(good, at));
      await assert.rejects(() => get(key), EncryptionIntegrityError, `bit flipped at ${at}`);
      await assert.rejects(() => positional(key), EncryptionIntegrityError, `bit flipped at ${at} (positional)`);
    }
    // the 5-byte record of the second chunk (length + 5 + tag = 25 bytes) after a full and a 10-byte record
    const second = HEADER_SIZE + (4 + SEG + 16) + (4 + 10 + 16);
    assert.equal(good.readUInt32BE(second), 5);
    setRaw(key, Buffer.concat([good.subarray(0, second), good.subarray(second + 25)]));
    await assert.rejects(() => get(key), EncryptionIntegrityError);
    setRaw(key, good);
    assert.deepEqual(await get(key), Buffer.concat(chunks));
  });

  test('a crash after acknowledged chunks: the unacknowledged tail is cut, acknowledged bytes stay', async () => {
    const key = fresh();
    const a = randomBytes(SEG + 3);
    await put(key, [a]);
    const ackBytes = raw(key);
    // a second chunk was written but the process died before its commit: records but no end record
    const w = await enc.writer(key, { offset: a.length });
    await new Promise<void>((resolve) => w.stream.write(randomBytes(3 * SEG), () => resolve()));
    await new Promise((r) => setTimeout(r, 20));
    await w.abort();
    assert.ok(raw(key).length > HEADER_SIZE);
    assert.ok(
      raw(key)
        .subarray(0, ackBytes.length - 32)
        .equals(ackBytes.subarray(0, ackBytes.length - 32)),
      'acknowledged records untouched',
    );
    await assert.rejects(() => get(key), EncryptionIntegrityError); // no end record: not a complete object
    assert.ok(((await enc.stat(key))?.size ?? 0) >= a.length, 'stat still counts the acknowledged bytes');
    const b = randomBytes(7);
    assert.equal(await put(key, [b], a.length), a.length + 7);
    assert.deepEqual(await get(key), Buffer.concat([a, b]));
  });

  test('a writer aborted before writing leaves the committed object readable', async () => {
    const key = fresh();
    await put(key, [Buffer.from('committed')]);
    const w = await enc.writer(key, { offset: 9 });
    await w.abort();
    assert.equal((await get(key)).toString(), 'committed');
  });

  test('resuming inside a record keeps its first bytes', async () => {
    const key = fresh();
    const data = randomBytes(2 * SEG + 5);
    await put(key, [data]);
    assert.equal(await put(key, [Buffer.from('xyz')], SEG + 3), SEG + 6);
    assert.deepEqual(await get(key), Buffer.concat([data.subarray(0, SEG + 3), Buffer.from('xyz')]));
  });

  test('an offset beyond the object is refused; a missing object resumes only at 0', async () => {
    const key = fresh();
    await put(key, [Buffer.from('abc')]);
    await assert.rejects(() => enc.writer(key, { offset: 4 }), /holds 3 bytes/);
    await assert.rejects(() => enc.writer(fresh(), { offset: 4 }));
  });
});

describe('capabilities', () => {
  test('positional reads (decrypting) only over a driver that has them; never signed URLs', () => {
    assert.equal(typeof fs.openPositional, 'function');
    assert.equal(typeof enc.openPositional, 'function');
    assert.equal(streamed.openPositional, undefined);
    assert.equal('signedReadUrl' in enc, false);
  });

  test('clear-text objects are told apart', async () => {
    const key = fresh();
    await put(key, [Buffer.from('x')]);
    assert.equal(await enc.looksEncrypted(key), true);
    setRaw('t/plain', Buffer.from('{"schemaVersion":2,"layers":[]} and some more plain bytes'));
    assert.equal(await enc.looksEncrypted('t/plain'), false);
    await assert.rejects(() => get('t/plain'), EncryptionIntegrityError);
  });
});
