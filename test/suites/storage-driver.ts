import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import {
  StorageError,
  StorageInvalidKeyError,
  StorageNotFoundError,
  type ReadRange,
  type StorageDriver,
} from '../../src/storage/driver.js';

// The storage-driver conformance suite (ARCHITECTURE habit 5, after Distribution's
// registry/storage/driver/testsuites). Every StorageDriver implementation runs it:
//
//   storageDriverSuite('fs', async () => ({ driver: new FsDriver(dir), cleanup }));
//
// The factory is called once; every test works under its own key prefix, so a driver backed by a
// shared bucket or container can run the suite without emptying it. What the suite pins down,
// beyond the comments in src/storage/driver.ts:
//   - a prefix names a "directory": list('p') and list('p/') return keys under "p/" only, never "pq/…";
//   - list returns whole keys (prefix included) in byte order, however deeply nested;
//   - writer() without an offset replaces an existing object; with one it cuts, then appends;
//   - every method refuses unsafe keys with StorageInvalidKeyError before touching storage;
//   - errors are StorageError subclasses that carry the driver's name.

export interface DriverUnderTest {
  driver: StorageDriver;
  /** Removes whatever the driver created (temp dir, container…); called once after the suite. */
  cleanup?: () => Promise<void>;
}

export type DriverFactory = () => Promise<DriverUnderTest>;

export interface SuiteOptions {
  /** Skip the whole suite with this reason (e.g. the emulator is not running). */
  skip?: string;
}

export async function put(driver: StorageDriver, key: string, data: string | Uint8Array, offset?: number): Promise<number> {
  const w = await driver.writer(key, offset === undefined ? {} : { offset });
  await pipeline(Readable.from([Buffer.from(data)]), w.stream);
  return w.commit();
}

export async function get(driver: StorageDriver, key: string, range?: ReadRange): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await driver.read(key, range)) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

const UNSAFE_KEYS = [
  '',
  '..',
  '../x',
  'a/../b',
  'a/..',
  './a',
  'a/./b',
  '/a',
  '/',
  'a\\b',
  '..\\x',
  'a\0b',
  'a//b',
  'a/',
  'x'.repeat(1025),
];

export function storageDriverSuite(name: string, factory: DriverFactory, opts: SuiteOptions = {}): void {
  describe(`storage driver conformance: ${name}`, opts.skip ? { skip: opts.skip } : {}, () => {
    let d: StorageDriver;
    let cleanup: (() => Promise<void>) | undefined;
    const run = `conf-${randomBytes(4).toString('hex')}`;
    let counter = 0;
    /** A fresh prefix for one test. */
    const fresh = () => `${run}/t${++counter}`;

    before(async () => {
      const made = await factory();
      d = made.driver;
      cleanup = made.cleanup;
    });
    after(async () => {
      await cleanup?.();
    });

    test('has a name', () => {
      assert.equal(typeof d.name, 'string');
      assert.ok(d.name.length > 0);
    });

    describe('stat', () => {
      test('a missing key is null', async () => {
        assert.equal(await d.stat(`${fresh()}/missing`), null);
      });

      test('a committed object has its size and a recent modification time', async () => {
        const key = `${fresh()}/obj`;
        const before = Date.now();
        await put(d, key, 'hello world');
        const s = await d.stat(key);
        assert.ok(s);
        assert.equal(s.size, 11);
        assert.ok(s.modifiedAt instanceof Date);
        assert.ok(Math.abs(s.modifiedAt.getTime() - before) < 5 * 60_000, 'modifiedAt is about now');
      });

      test('a prefix that only holds other keys is not an object', async () => {
        const p = fresh();
        await put(d, `${p}/dir/child`, 'x');
        assert.equal(await d.stat(`${p}/dir`), null);
      });
    });

    describe('read', () => {
      test('the whole object', async () => {
        const key = `${fresh()}/obj`;
        await put(d, key, '0123456789');
        assert.equal((await get(d, key)).toString(), '0123456789');
      });

      test('an empty object', async () => {
        const key = `${fresh()}/empty`;
        assert.equal(await put(d, key, ''), 0);
        assert.equal((await d.stat(key))?.size, 0);
        assert.equal((await get(d, key)).length, 0);
      });

      test('a range is inclusive at both ends', async () => {
        const key = `${fresh()}/obj`;
        await put(d, key, '0123456789');
        assert.equal((await get(d, key, { start: 2, end: 5 })).toString(), '2345');
        assert.equal((await get(d, key, { start: 0, end: 0 })).toString(), '0');
        assert.equal((await get(d, key, { start: 9, end: 9 })).toString(), '9');
        assert.equal((await get(d, key, { start: 0, end: 9 })).toString(), '0123456789');
        assert.equal((await get(d, key, { start: 7, end: 9 })).toString(), '789');
      });

      test('a missing key throws StorageNotFoundError carrying the driver and key', async () => {
        const key = `${fresh()}/missing`;
        await assert.rejects(
          () => d.read(key),
          (e: unknown) => {
            assert.ok(e instanceof StorageNotFoundError);
            assert.ok(e instanceof StorageError);
            assert.equal(e.driver, d.name);
            assert.equal(e.key, key);
            assert.ok(e.message.startsWith(`${d.name}: `));
            return true;
          },
        );
      });

      test('several megabytes stream back byte for byte', async () => {
        const key = `${fresh()}/big`;
        const parts = Array.from({ length: 12 }, () => randomBytes(256 * 1024 + 17));
        const want = createHash('sha256');
        for (const p of parts) want.update(p);
        const w = await d.writer(key);
        await pipeline(Readable.from(parts), w.stream);
        const total = parts.reduce((n, p) => n + p.length, 0);
        assert.equal(await w.commit(), total);
        const got = createHash('sha256');
        let n = 0;
        for await (const c of await d.read(key)) {
          got.update(c as Buffer);
          n += (c as Buffer).length;
        }
        assert.equal(n, total);
        assert.equal(got.digest('hex'), want.digest('hex'));
        const mid = await get(d, key, { start: 300_000, end: 300_009 });
        assert.deepEqual(mid, Buffer.concat(parts).subarray(300_000, 300_010));
      });
    });

    describe('openPositional (optional)', () => {
      test('reads at any position into the caller buffer; 0 at the end; a missing key is StorageNotFoundError', async (t) => {
        if (!d.openPositional) return t.skip(`${d.name} streams reads only`);
        const key = `${fresh()}/obj`;
        await put(d, key, '0123456789');
        const r = await d.openPositional(key);
        try {
          const buf = Buffer.alloc(4);
          assert.equal(await r.read(buf, 3), 4);
          assert.equal(buf.toString(), '3456');
          assert.equal(await r.read(buf, 8), 2);
          assert.equal(buf.subarray(0, 2).toString(), '89');
          assert.equal(await r.read(buf, 10), 0);
        } finally {
          await r.close();
        }
        await assert.rejects(() => d.openPositional!(`${fresh()}/missing`), StorageNotFoundError);
      });
    });

    describe('writer', () => {
      test('commit returns the total size and makes the object readable', async () => {
        const key = `${fresh()}/obj`;
        const w = await d.writer(key);
        w.stream.write(Buffer.from('abc'));
        w.stream.write(Buffer.from('def'));
        await new Promise<void>((resolve, reject) => w.stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
        assert.equal(await w.commit(), 6);
        assert.equal((await get(d, key)).toString(), 'abcdef');
      });

      test('creates intermediate levels as needed', async () => {
        const key = `${fresh()}/a/b/c/d/e`;
        await put(d, key, 'deep');
        assert.equal((await get(d, key)).toString(), 'deep');
      });

      test('without an offset, an existing object is replaced', async () => {
        const key = `${fresh()}/obj`;
        await put(d, key, 'a long first version');
        assert.equal(await put(d, key, 'short'), 5);
        assert.equal((await get(d, key)).toString(), 'short');
        assert.equal((await d.stat(key))?.size, 5);
      });

      test('with an offset, the object is cut there and writing appends', async () => {
        const key = `${fresh()}/obj`;
        await put(d, key, 'hello world');
        // a crash left " world" unacknowledged: resume at 5
        assert.equal(await put(d, key, '!!!', 5), 8);
        assert.equal((await get(d, key)).toString(), 'hello!!!');
        assert.equal((await d.stat(key))?.size, 8);
      });

      test('an offset equal to the size appends', async () => {
        const key = `${fresh()}/obj`;
        assert.equal(await put(d, key, 'chunk1-'), 7);
        assert.equal(await put(d, key, 'chunk2-', 7), 14);
        assert.equal(await put(d, key, 'chunk3', 14), 20);
        assert.equal((await get(d, key)).toString(), 'chunk1-chunk2-chunk3');
      });

      test('offset 0 on an existing object starts it over', async () => {
        const key = `${fresh()}/obj`;
        await put(d, key, 'old bytes');
        assert.equal(await put(d, key, 'new', 0), 3);
        assert.equal((await get(d, key)).toString(), 'new');
      });

      test('an offset may open an object that does not exist yet only at 0', async () => {
        const key = `${fresh()}/obj`;
        assert.equal(await put(d, key, 'first', 0), 5);
        assert.equal((await get(d, key)).toString(), 'first');
      });

      test('abort does not throw, leaves at most the bytes written, and a new writer starts clean', async () => {
        const key = `${fresh()}/obj`;
        const w = await d.writer(key);
        await new Promise<void>((resolve) => w.stream.write(Buffer.from('partial'), () => resolve()));
        await w.abort();
        const s = await d.stat(key);
        assert.ok(s === null || s.size <= 7, 'aborted bytes may remain, nothing more');
        await put(d, key, 'clean');
        assert.equal((await get(d, key)).toString(), 'clean');
        await d.delete(key);
        assert.equal(await d.stat(key), null);
      });

      test('abort of an existing object keeps its committed bytes readable or absent, never corrupt beyond them', async () => {
        const key = `${fresh()}/obj`;
        await put(d, key, 'committed');
        const w = await d.writer(key, { offset: 9 });
        await w.abort();
        const s = await d.stat(key);
        if (s) assert.equal((await get(d, key)).toString(), 'committed');
      });

      test('abort while writes are still in flight', async () => {
        const key = `${fresh()}/obj`;
        const w = await d.writer(key);
        for (let i = 0; i < 16; i++) w.stream.write(randomBytes(64 * 1024));
        await w.abort();
        const s = await d.stat(key);
        assert.ok(s === null || s.size <= 16 * 64 * 1024);
        assert.equal(await put(d, key, 'after'), 5);
        assert.equal((await get(d, key)).toString(), 'after');
      });

      test('durableName is accepted and changes nothing visible', async () => {
        const key = `${fresh()}/obj`;
        const w = await d.writer(key, { offset: 0, durableName: true });
        await pipeline(Readable.from([Buffer.from('durable')]), w.stream);
        assert.equal(await w.commit(), 7);
        assert.equal((await get(d, key)).toString(), 'durable');
      });

      test('abort before writing anything, then commit elsewhere', async () => {
        const p = fresh();
        const w = await d.writer(`${p}/a`);
        await w.abort();
        assert.equal(await put(d, `${p}/b`, 'b'), 1);
      });

      test('writers on different keys run concurrently', async () => {
        const p = fresh();
        const sizes = await Promise.all(Array.from({ length: 8 }, (_, i) => put(d, `${p}/k${i}`, 'x'.repeat(i * 1000))));
        assert.deepEqual(
          sizes,
          Array.from({ length: 8 }, (_, i) => i * 1000),
        );
        for (let i = 0; i < 8; i++) assert.equal((await d.stat(`${p}/k${i}`))?.size, i * 1000);
      });
    });

    describe('move', () => {
      test('moves an object to a new key (creating levels); the source is gone', async () => {
        const p = fresh();
        await put(d, `${p}/uploads/u1`, 'payload');
        await d.move(`${p}/uploads/u1`, `${p}/blobs/sha256/ab/abcd`);
        assert.equal(await d.stat(`${p}/uploads/u1`), null);
        assert.equal((await get(d, `${p}/blobs/sha256/ab/abcd`)).toString(), 'payload');
      });

      test('replaces an existing destination', async () => {
        const p = fresh();
        await put(d, `${p}/src`, 'new content');
        await put(d, `${p}/dst`, 'old');
        await d.move(`${p}/src`, `${p}/dst`);
        assert.equal((await get(d, `${p}/dst`)).toString(), 'new content');
        assert.equal((await d.stat(`${p}/dst`))?.size, 11);
        assert.equal(await d.stat(`${p}/src`), null);
      });

      test('a missing source throws StorageNotFoundError and leaves the destination alone', async () => {
        const p = fresh();
        await put(d, `${p}/dst`, 'keep');
        await assert.rejects(
          () => d.move(`${p}/nope`, `${p}/dst`),
          (e: unknown) => e instanceof StorageNotFoundError && e.driver === d.name,
        );
        assert.equal((await get(d, `${p}/dst`)).toString(), 'keep');
      });
    });

    describe('delete', () => {
      test('removes an object', async () => {
        const key = `${fresh()}/obj`;
        await put(d, key, 'x');
        await d.delete(key);
        assert.equal(await d.stat(key), null);
        await assert.rejects(() => d.read(key), StorageNotFoundError);
      });

      test('is idempotent: a missing key is not an error', async () => {
        const key = `${fresh()}/obj`;
        await d.delete(key);
        await put(d, key, 'x');
        await d.delete(key);
        await d.delete(key);
        assert.equal(await d.stat(key), null);
      });

      test('leaves sibling keys alone', async () => {
        const p = fresh();
        await put(d, `${p}/a`, 'a');
        await put(d, `${p}/b`, 'b');
        await d.delete(`${p}/a`);
        assert.deepEqual(await d.list(p), [`${p}/b`]);
      });
    });

    describe('list', () => {
      // Byte order: "-" 0x2d < "." 0x2e < "/" 0x2f < "0" < "B" 0x42 < "_" 0x5f < "a" 0x61.
      // "a/b" sorts between "a.b" and "aB" even though it lives one level deeper.
      const names = ['aB', 'a/b', 'B', 'a.b', '_x', 'a-b', '0', 'z/y/x', 'a/c'];
      const sorted = ['0', 'B', '_x', 'a-b', 'a.b', 'a/b', 'a/c', 'aB', 'z/y/x'];

      async function seed(): Promise<string> {
        const p = fresh();
        for (const n of names) await put(d, `${p}/${n}`, n);
        return p;
      }

      test('whole keys under the prefix, in byte order across levels', async () => {
        const p = await seed();
        assert.deepEqual(
          await d.list(p),
          sorted.map((n) => `${p}/${n}`),
        );
      });

      test('a trailing slash on the prefix changes nothing', async () => {
        const p = await seed();
        assert.deepEqual(await d.list(`${p}/`), await d.list(p));
      });

      test('a prefix is a level: keys of a sibling that merely starts with the same text are not listed', async () => {
        const p = fresh();
        await put(d, `${p}/ab/x`, '1');
        await put(d, `${p}/abc/y`, '2');
        await put(d, `${p}/ab.txt`, '3');
        assert.deepEqual(await d.list(`${p}/ab`), [`${p}/ab/x`]);
      });

      test('nested prefixes', async () => {
        const p = await seed();
        assert.deepEqual(await d.list(`${p}/a`), [`${p}/a/b`, `${p}/a/c`]);
        assert.deepEqual(await d.list(`${p}/z/y`), [`${p}/z/y/x`]);
      });

      test('a missing prefix lists nothing', async () => {
        assert.deepEqual(await d.list(`${fresh()}/nothing/here`), []);
      });

      test('startAfter is exclusive and need not be an existing key', async () => {
        const p = await seed();
        assert.deepEqual(
          await d.list(p, { startAfter: `${p}/a-b` }),
          sorted.slice(4).map((n) => `${p}/${n}`),
        );
        assert.deepEqual(
          await d.list(p, { startAfter: `${p}/a.c` }),
          ['a/b', 'a/c', 'aB', 'z/y/x'].map((n) => `${p}/${n}`),
        );
        assert.deepEqual(
          await d.list(p, { startAfter: `${p}/` }),
          sorted.map((n) => `${p}/${n}`),
        );
        assert.deepEqual(await d.list(p, { startAfter: `${p}/z/y/x` }), []);
        assert.deepEqual(await d.list(p, { startAfter: `${p}/zzz` }), []);
      });

      test('limit caps the page', async () => {
        const p = await seed();
        assert.deepEqual(
          await d.list(p, { limit: 3 }),
          sorted.slice(0, 3).map((n) => `${p}/${n}`),
        );
        assert.deepEqual(
          await d.list(p, { limit: 100 }),
          sorted.map((n) => `${p}/${n}`),
        );
        assert.deepEqual(await d.list(p, { startAfter: `${p}/a.b`, limit: 2 }), [`${p}/a/b`, `${p}/a/c`]);
      });

      test('paging with startAfter + limit visits every key once, in order', async () => {
        const p = await seed();
        const seen: string[] = [];
        let after: string | undefined;
        for (let guard = 0; guard < 100; guard++) {
          const page = await d.list(p, { limit: 2, ...(after === undefined ? {} : { startAfter: after }) });
          assert.ok(page.length <= 2);
          if (page.length === 0) break;
          seen.push(...page);
          after = page[page.length - 1];
        }
        assert.deepEqual(
          seen,
          sorted.map((n) => `${p}/${n}`),
        );
      });

      test('listing does not include objects being moved away or deleted', async () => {
        const p = fresh();
        await put(d, `${p}/in/a`, 'a');
        await put(d, `${p}/in/b`, 'b');
        await d.move(`${p}/in/a`, `${p}/out/a`);
        await d.delete(`${p}/in/b`);
        assert.deepEqual(await d.list(`${p}/in`), []);
        assert.deepEqual(await d.list(`${p}/out`), [`${p}/out/a`]);
      });
    });

    describe('keys', () => {
      const refused = async (what: string, fn: () => Promise<unknown>, key: string) => {
        await assert.rejects(fn, (e: unknown) => {
          assert.ok(
            e instanceof StorageInvalidKeyError,
            `${what}(${JSON.stringify(key)}) must throw StorageInvalidKeyError, got ${String(e)}`,
          );
          assert.equal(e.driver, d.name);
          return true;
        });
      };

      test('unsafe keys (.., leading /, backslash, NUL, empty parts) are refused by every method', async () => {
        const good = `${fresh()}/good`;
        await put(d, good, 'g');
        for (const key of UNSAFE_KEYS) {
          await refused('stat', () => d.stat(key), key);
          await refused('read', () => d.read(key), key);
          await refused('writer', () => d.writer(key), key);
          await refused('delete', () => d.delete(key), key);
          await refused('move from', () => d.move(key, `${good}2`), key);
          await refused('move to', () => d.move(good, key), key);
        }
        assert.equal((await get(d, good)).toString(), 'g', 'a refused move left the source in place');
      });

      test('list refuses unsafe prefixes (the empty prefix is the root, and a trailing "/" is allowed)', async () => {
        for (const key of ['..', '../x', 'a/../b', '/a', 'a\\b', 'a\0b', 'a//b']) {
          await refused('list', () => d.list(key), key);
        }
      });

      test('keys may use the characters the layout needs', async () => {
        const p = fresh();
        const keys = [
          `${p}/blobs/sha256/ab/${'ab'.repeat(32)}`,
          `${p}/uploads/0f8fad5b-d9cb-469f-a165-70867728950e`,
          `${p}/x_y.z-1~2+3=4`,
          `${p}/...dots`,
          `${p}/.hidden`,
        ];
        for (const k of keys) await put(d, k, k);
        for (const k of keys) assert.equal((await get(d, k)).toString(), k);
        assert.deepEqual(await d.list(p), [...keys].sort());
      });
    });
  });
}
