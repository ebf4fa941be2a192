import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FsDriver } from '../src/storage/drivers/fs.js';
import { EncryptingDriver } from '../src/storage/encryption/encrypted.js';
import { storageDriverSuite } from './suites/storage-driver.js';

// Encryption at rest is a decorator: it must keep every StorageDriver promise.
for (const [label, segmentSize] of [
  ['1 MiB segments', undefined],
  ['7-byte segments', 7],
] as const) {
  storageDriverSuite(`encrypted fs (${label})`, () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-enc-driver-'));
    const driver = new EncryptingDriver(new FsDriver(dir), randomBytes(32), segmentSize ? { segmentSize } : {});
    return Promise.resolve({ driver, cleanup: () => rm(dir, { recursive: true, force: true }) });
  });
}
