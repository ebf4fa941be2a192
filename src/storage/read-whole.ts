import type { StorageDriver } from './driver.js';

/** An object read whole was larger than the caller allows. */
export class TooLargeError extends Error {}

/**
 * A small object (a config, an envelope, an SBOM) read into memory, stopping as soon as it holds
 * more than maxBytes: a stored object larger than its caller expects is never buffered whole.
 */
export async function readWhole(driver: StorageDriver, key: string, maxBytes: number): Promise<Buffer> {
  const stream = await driver.read(key);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of stream as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > maxBytes) {
      stream.destroy();
      throw new TooLargeError(`it holds more than ${maxBytes} bytes`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}
