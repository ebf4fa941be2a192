import type { IncomingMessage } from 'node:http';
import { Transform } from 'node:stream';
import { RegistryError } from '../../domain/errors.js';
import type { RegistryRow } from '../../meta/store.js';
import type { Logger } from '../../observability/logger.js';
import type { UploadService } from '../content/uploads.js';
import { UpstreamError, type Upstream } from './upstream.js';

// An import's blob copy: the upstream's bytes streamed into an upload, never held whole in memory,
// resumed with Range requests when the connection breaks off.

export interface BlobCopy {
  up: Upstream;
  uploads: UploadService;
  log: Logger;
}

/**
 * Copies one blob from the upstream into a repository through UploadService.ingest (verified
 * against its digest), bounded by the size its manifest declares; progress.bytes counts it.
 */
export async function streamBlob(
  c: BlobCopy,
  reg: RegistryRow,
  repo: string,
  digest: string,
  size: number,
  progress: { bytes: { done: number } },
  save: () => Promise<void>,
): Promise<void> {
  const { up } = c;
  let received = 0;
  // Bounded by the declared size (no upstream can fill the disk past it), counted for progress.
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      received += chunk.length;
      if (received > size) {
        cb(new RegistryError('SIZE_INVALID', `blob ${digest} from ${up.name} is larger than the ${size} bytes its manifest declares`));
        return;
      }
      progress.bytes.done += chunk.length;
      void save().catch(() => {});
      cb(null, chunk);
    },
  });
  // The upstream's bytes go into the meter; a connection that breaks mid-blob is resumed with
  // a Range request from the last byte received (the digest is still checked over the whole).
  const feed = feedBlob(c, digest, size, meter);
  try {
    await Promise.all([c.uploads.ingest(reg, repo, digest, size, meter), feed]);
  } catch (e) {
    progress.bytes.done -= Math.min(received, size);
    meter.destroy();
    await feed.catch(() => undefined);
    if (e instanceof RegistryError && (e.code === 'DIGEST_INVALID' || e.code === 'SIZE_INVALID')) {
      throw new RegistryError(
        e.code,
        `blob ${digest} from ${up.name} does not match its descriptor (${e.message}); nothing was stored for it`,
      );
    }
    throw e;
  }
}

/** Writes a blob's bytes into `sink`, resuming with ranged requests (up to 5 times) when the connection breaks. */
async function feedBlob(c: BlobCopy, digest: string, size: number, sink: Transform): Promise<void> {
  const { up } = c;
  let resumes = 0;
  // Bytes handed to the sink (the meter may not have counted buffered ones yet): where a resume starts.
  let written = 0;
  for (;;) {
    const offset = written;
    let part: { body: IncomingMessage; start: number };
    try {
      part = await up.blob(digest, offset);
    } catch (e) {
      sink.destroy(e as Error);
      throw e;
    }
    let skip = offset - part.start; // the upstream ignored the range: drop what we already have
    try {
      for await (const raw of part.body) {
        if (sink.destroyed) {
          part.body.destroy();
          return;
        }
        let chunk = raw as Buffer;
        if (skip > 0) {
          const n = Math.min(skip, chunk.length);
          skip -= n;
          chunk = chunk.subarray(n);
          if (chunk.length === 0) continue;
        }
        written += chunk.length;
        if (!sink.write(chunk)) await drained(sink);
      }
      if (written >= size || sink.destroyed) {
        sink.end();
        return;
      }
      throw new Error(`the connection closed after ${written} of ${size} bytes`);
    } catch (e) {
      part.body.destroy();
      if (sink.destroyed) return;
      if (++resumes > 5) {
        const err = new UpstreamError(
          `blob ${digest} from ${up.name} broke off ${resumes} times (last: ${(e as Error).message})`,
          'transient',
        );
        sink.destroy(err);
        throw err;
      }
      c.log.info({ digest, offset: written, size, resumes }, 'import: blob download broke off; resuming with a range request');
    }
  }
}

/** Resolves when a stream under backpressure drains, or closes (then the caller sees it destroyed). */
function drained(s: Transform): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      s.off('drain', done);
      s.off('close', done);
      resolve();
    };
    s.on('drain', done);
    s.on('close', done);
  });
}
