import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

// Opening (authenticating and decrypting) records off the main thread. A node's main thread
// serves every request; AES-GCM on it made an encrypted pull cost several times a clear one's CPU
// there, and its fresh output buffers fed the main heap's garbage collector. Workers open records
// straight from and into shared memory: the ciphertext is read into a SharedArrayBuffer and the
// plaintext lands in the caller's shared buffer (the pull's reused send buffers), so the main
// thread allocates nothing per byte and only reads files and writes sockets, as for clear blobs.
//
// A record's plaintext is copied out only after its tag has been checked (final() succeeded):
// unauthenticated bytes never reach the destination.

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createDecipheriv } = require('node:crypto');
const PIECE = 64 * 1024;
parentPort.on('message', (m) => {
  try {
    const src = Buffer.from(m.src);
    const dst = Buffer.from(m.dst);
    for (const r of m.records) {
      const d = createDecipheriv('aes-256-gcm', m.key, r.nonce);
      d.setAAD(src.subarray(r.at, r.at + 4));
      d.setAuthTag(src.subarray(r.at + 4 + r.len, r.at + 4 + r.len + 16));
      const parts = [];
      for (let p = 0; p < r.len; p += PIECE) parts.push(d.update(src.subarray(r.at + 4 + p, r.at + 4 + Math.min(r.len, p + PIECE))));
      try {
        d.final();
      } catch {
        parentPort.postMessage({ id: m.id, failed: r.index });
        return;
      }
      // Bytes skip..skip+take of the record go to dst at r.to.
      let at = 0;
      let to = r.to;
      for (const part of parts) {
        const s = Math.max(r.skip, at);
        const e = Math.min(r.skip + r.take, at + part.length);
        if (e > s) to += part.copy(dst, to, s - at, e - at);
        at += part.length;
      }
    }
    parentPort.postMessage({ id: m.id });
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String(e && e.message || e) });
  }
});
`;

/** One record to open: its ciphertext at `at` in src (length field, body of len bytes, tag). */
export interface RecordJob {
  index: number;
  nonce: Uint8Array;
  at: number;
  len: number;
  /** Plaintext bytes skip..skip+take go to dst at `to`. */
  skip: number;
  take: number;
  to: number;
}

export class RecordOpenError extends Error {
  constructor(readonly index: number) {
    super(`record ${index} does not authenticate`);
  }
}

interface Pending {
  resolve: () => void;
  reject: (e: Error) => void;
}

class OpenWorker {
  readonly worker: Worker;
  readonly pending = new Map<number, Pending>();

  constructor(onDead: (w: OpenWorker) => void) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.worker.unref();
    this.worker.on('message', (m: { id: number; failed?: number; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      if (m.failed !== undefined) p.reject(new RecordOpenError(m.failed));
      else if (m.error !== undefined) p.reject(new Error(`decryption worker: ${m.error}`));
      else p.resolve();
    });
    const die = (e: Error): void => {
      onDead(this);
      for (const p of [...this.pending.values()]) p.reject(e);
    };
    this.worker.on('error', die);
    this.worker.on('exit', (code) => die(new Error(`decryption worker exited (code ${code})`)));
  }
}

/** A small pool of decryption workers, started on first use; they never keep the process alive. */
export class OpenPool {
  private readonly workers: OpenWorker[] = [];
  private next = 0;
  private seq = 0;

  constructor(private readonly size = Math.max(1, Math.min(4, availableParallelism() - 1))) {}

  /** Opens records from src into dst (both shared); rejects with RecordOpenError on a bad tag. */
  open(key: Buffer, src: SharedArrayBuffer, dst: SharedArrayBuffer, records: RecordJob[]): Promise<void> {
    if (this.workers.length < this.size) {
      this.workers.push(
        new OpenWorker((dead) => {
          const i = this.workers.indexOf(dead);
          if (i >= 0) this.workers.splice(i, 1);
        }),
      );
    }
    const w = this.workers[this.next++ % this.workers.length]!;
    const id = ++this.seq;
    return new Promise<void>((resolve, reject) => {
      // Referenced while it has work: a caller awaiting it keeps the process alive; idle, it never does.
      if (w.pending.size === 0) w.worker.ref();
      const settle = (): void => {
        w.pending.delete(id);
        if (w.pending.size === 0) w.worker.unref();
      };
      w.pending.set(id, {
        resolve: () => {
          settle();
          resolve();
        },
        reject: (e) => {
          settle();
          reject(e);
        },
      });
      w.worker.postMessage({ id, key: new Uint8Array(key), src, dst, records });
    });
  }
}

/** The process's pool: one per node, shared by every encrypted store. */
export const openPool = new OpenPool();
