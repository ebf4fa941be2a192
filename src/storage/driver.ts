import type { Readable, Writable } from 'node:stream';

// The byte-storage driver: a handful of methods over opaque keys ("blobs/sha256/ab/<hex>",
// "uploads/<id>"). Registry semantics (dedup, links, manifests) live in services, never here.
// Keys are produced only by storage/paths.ts, which validates every part; drivers still refuse
// keys that could escape their root.

export interface StatResult {
  size: number;
  modifiedAt: Date;
}

import type { ByteRange as ReadRange } from '../domain/byte-range.js';

export type { ReadRange };

export interface Writer {
  /** The stream to pipe bytes into. */
  readonly stream: Writable;
  /** Makes everything written durable (flushed to stable storage) and returns the object's total size. */
  commit(): Promise<number>;
  /** Discards this writer's handle; bytes already written may remain until the key is deleted. */
  abort(): Promise<void>;
}

/** An object opened for reads at any position into the caller's buffers (no allocation per chunk). */
export interface PositionalReader {
  /** Reads up to into.length bytes at position; 0 at the end. */
  read(into: Buffer, position: number): Promise<number>;
  /** The size of the object this reader has open (which a later move over its key does not change). */
  size(): Promise<number>;
  close(): Promise<void>;
}

export interface StorageDriver {
  readonly name: string;
  /**
   * null when the key does not exist. `here`: in this node's own store only (with regions, a blob
   * another region holds is otherwise found there; a commit deciding whether to keep its upload
   * needs to know whether this store has it).
   */
  stat(key: string, opts?: { here?: boolean }): Promise<StatResult | null>;
  /** A stream of the object's bytes (or a range of them). Throws StorageNotFoundError. */
  read(key: string, range?: ReadRange): Promise<Readable>;
  /**
   * Opens a writer. With `offset`, the object is first cut to `offset` bytes and writing appends
   * from there (how upload chunks resume after a crash left unacknowledged bytes behind); offset 0
   * starts the object afresh. With `durableName`, commit also makes the key itself crash-safe
   * (not needed when the object is moved right after: move is durable).
   */
  writer(key: string, opts?: { offset?: number; durableName?: boolean }): Promise<Writer>;
  /** Atomically and durably moves an object; an existing destination is replaced. */
  move(from: string, to: string): Promise<void>;
  /** Deletes an object; a missing key is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Optional, for drivers whose reads are cheap syscalls (fs): the object opened for positional
   * reads, so a pull copies through reused buffers. Throws StorageNotFoundError.
   */
  openPositional?(key: string): Promise<PositionalReader>;
  /** Keys under a prefix in byte order, after `startAfter`, at most `limit`. */
  list(prefix: string, opts?: { startAfter?: string; limit?: number }): Promise<string[]>;
  /**
   * Optional: a URL from which anyone holding it can read this one object, and only read it,
   * until it expires after `expiresInSeconds`; it carries no long-lived secret (no account key).
   * Blob GETs redirect clients to it so the bytes never pass through Berth (storage.reads). null
   * when this instance cannot sign (e.g. it was given only a SAS token); absent on drivers that
   * have no such URLs (fs).
   */
  signedReadUrl?(key: string, opts: { expiresInSeconds: number }): Promise<string | null>;
}

export class StorageError extends Error {
  constructor(
    readonly driver: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${driver}: ${message}`, options);
    this.name = 'StorageError';
  }
}

export class StorageNotFoundError extends StorageError {
  constructor(
    driver: string,
    readonly key: string,
  ) {
    super(driver, `not found: ${key}`);
    this.name = 'StorageNotFoundError';
  }
}

export class StorageInvalidKeyError extends StorageError {
  constructor(
    driver: string,
    readonly key: string,
  ) {
    super(driver, `invalid key: ${JSON.stringify(key)}`);
    this.name = 'StorageInvalidKeyError';
  }
}

/**
 * The storage could not be reached, timed out, or kept failing (5xx, throttling) after the
 * driver's own retries: a condition expected to pass. Clients are answered 503 UNAVAILABLE with
 * Retry-After (see domain/errors.ts isTransient), never 500.
 */
export class StorageUnavailableError extends StorageError {
  /** What is unavailable, for the marker domain/errors.ts recognises without importing storage. */
  readonly transient = 'storage';
  constructor(driver: string, message: string, options?: { cause?: unknown }) {
    super(driver, message, options);
    this.name = 'StorageUnavailableError';
  }
}

/** Keys are relative, "/"-separated, with no empty, "." or ".." parts and no backslash or NUL. */
export function isSafeKey(key: string): boolean {
  if (!key || key.length > 1024 || key.startsWith('/') || key.includes('\\') || key.includes('\0')) return false;
  return key.split('/').every((p) => p !== '' && p !== '.' && p !== '..');
}
