import { StorageNotFoundError, type StorageDriver } from './driver.js';

// Storage operation latency and errors by driver, measured around any StorageDriver (the metrics
// implement StorageObserver): services keep the small interface, and every backend is measured
// the same way.

export type StorageOp = 'stat' | 'read' | 'write' | 'commit' | 'move' | 'delete' | 'list' | 'sign';

export interface StorageObserver {
  /** One operation's duration; `failed` is false for a plain miss (a key that does not exist). */
  storageOp(driver: string, op: StorageOp, seconds: number, failed: boolean): void;
}

/**
 * The driver, with each call timed. A read is timed to its opened stream (time to first byte
 * is what a pull waits for); a failure while streaming counts as a failed read too.
 */
export function instrumentStorage(driver: StorageDriver, observer: StorageObserver): StorageDriver {
  const timed = async <T>(op: StorageOp, run: () => Promise<T>): Promise<T> => {
    const start = performance.now();
    try {
      const value = await run();
      observer.storageOp(driver.name, op, (performance.now() - start) / 1000, false);
      return value;
    } catch (e) {
      observer.storageOp(driver.name, op, (performance.now() - start) / 1000, !(e instanceof StorageNotFoundError));
      throw e;
    }
  };
  const signedReadUrl = driver.signedReadUrl?.bind(driver);
  return {
    name: driver.name,
    stat: (key, opts) => timed('stat', () => driver.stat(key, opts)),
    read: async (key, range) => {
      const stream = await timed('read', () => driver.read(key, range));
      stream.once('error', () => observer.storageOp(driver.name, 'read', 0, true));
      return stream;
    },
    ...(driver.openPositional ? { openPositional: (key: string) => timed('read', () => driver.openPositional!(key)) } : {}),
    writer: async (key, opts) => {
      const w = await timed('write', () => driver.writer(key, opts));
      return { stream: w.stream, commit: () => timed('commit', () => w.commit()), abort: () => w.abort() };
    },
    move: (from, to) => timed('move', () => driver.move(from, to)),
    delete: (key) => timed('delete', () => driver.delete(key)),
    list: (prefix, opts) => timed('list', () => driver.list(prefix, opts)),
    // Present exactly when the driver has it: callers test for the capability. Signing is local
    // work, so its count (one per redirected read) says more than its duration.
    ...(signedReadUrl ? { signedReadUrl: (key, opts) => timed('sign', () => signedReadUrl(key, opts)) } : {}),
  };
}
