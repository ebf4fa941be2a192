import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, test } from 'node:test';
import { CoalescingFileWriter } from './coalescing-writer.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-coalesce-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('chunks of every size land in order at the start offset, nothing more and nothing less', async () => {
  const file = path.join(dir, 'a');
  const head = Buffer.from('kept prefix:');
  await fsp.writeFile(file, head);
  // 1 byte, socket-sized, exactly the buffer, larger than it, and a tail that ends mid-buffer.
  const sizes = [1, 16384, 65536, 1024 * 1024, 3 * 1024 * 1024 + 7, 5, 700_000];
  const parts = sizes.map((n) => randomBytes(n));
  const h = await fsp.open(file, constants.O_RDWR);
  const w = new CoalescingFileWriter(h.fd, head.length);
  await pipeline(Readable.from(parts), w);
  await h.close();
  const expected = Buffer.concat([head, ...parts]);
  assert.equal(w.bytesWritten, expected.length - head.length);
  assert.ok(readFileSync(file).equals(expected));
});

test('destroy waits for a write in flight, so the descriptor can be closed right after', async () => {
  const file = path.join(dir, 'b');
  const h = await fsp.open(file, constants.O_RDWR | constants.O_CREAT, 0o600);
  const w = new CoalescingFileWriter(h.fd, 0);
  w.write(randomBytes(4 * 1024 * 1024)); // written straight away, in flight now
  await new Promise<void>((resolve) => {
    w.once('close', resolve);
    w.destroy();
  });
  await h.close(); // would be EBADF for the write if it were still running
  assert.ok(w.destroyed);
});
