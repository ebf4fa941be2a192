import type { ServerResponse } from 'node:http';
import type { PositionalBody } from '../../services/content/blobs.js';

// Sends a blob read at positions through a small pool of reused 1 MiB buffers. A stream would
// allocate a fresh buffer per chunk; at hundreds of MB/s that garbage, not the copying, is what
// costs a pull its CPU. Two buffers per response: one is read while the other is being written.

const CHUNK = 1024 * 1024;
/** Buffers kept for reuse at most (64 MiB): beyond it, a busy moment allocates and lets go. */
const POOL_MAX = 64;
const pool: Buffer[] = [];

function take(): Buffer {
  // Shared memory: an encrypted store's reader has its worker threads decrypt straight into it.
  return pool.pop() ?? Buffer.from(new SharedArrayBuffer(CHUNK));
}

function give(buf: Buffer): void {
  if (pool.length < POOL_MAX) pool.push(buf);
}

/** Writes body's range to res and ends it; a storage error or a short object destroys the response. */
export async function sendPositional(res: ServerResponse, body: PositionalBody): Promise<void> {
  const { reader } = body;
  const bufs = [take(), take()];
  // A buffer handed to res.write may be reused only once its write callback has run; when the
  // client goes away, pending callbacks may never run, so a closed response stops waiting and
  // leaves its buffers to the garbage collector.
  const inFlight: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
  let closed = false;
  const gone = new Promise<void>((resolve) =>
    res.once('close', () => {
      closed = true;
      resolve();
    }),
  );
  let pos = body.start;
  let i = 0;
  try {
    while (pos <= body.end) {
      await Promise.race([inFlight[i], gone]);
      if (closed) return;
      const buf = bufs[i]!;
      const want = Math.min(CHUNK, body.end + 1 - pos);
      const n = await reader.read(want === CHUNK ? buf : buf.subarray(0, want), pos);
      if (n === 0) throw new Error(`blob ended at byte ${pos}, before ${body.end + 1}`);
      pos += n;
      const chunk = buf.subarray(0, n);
      inFlight[i] = new Promise<void>((resolve) => res.write(chunk, () => resolve()));
      i ^= 1;
    }
    await Promise.race([Promise.all(inFlight), gone]);
    if (closed) return;
    bufs.forEach(give);
    res.end();
  } catch (e) {
    res.destroy(e as Error);
  } finally {
    await reader.close().catch(() => {});
  }
}
