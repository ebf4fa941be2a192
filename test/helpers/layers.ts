// Layers for the scanner's tests: tar archives built in memory with tar-stream, compressed as a
// registry would store them, handed out in the LayerSource shape the inventory reads.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';

export interface TarFile {
  name: string;
  /** Contents of a regular file; omit for directories and links. */
  data?: string | Buffer;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  linkname?: string;
  mode?: number;
}

export async function tarOf(files: TarFile[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c) => chunks.push(c as Buffer));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const f of files) {
    const type = f.type ?? (f.data === undefined ? 'directory' : 'file');
    const header = { name: f.name, type, mode: f.mode ?? (type === 'directory' ? 0o755 : 0o644), linkname: f.linkname };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (type === 'file') pack.entry(header, f.data ?? '', cb);
      else pack.entry(header, cb); // no body: tar-stream ends directories and links itself
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export interface TestLayer {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  open(): Promise<NodeJS.ReadableStream>;
}

/** A layer blob (gzip by default) with its real digest; open() streams it in small chunks, as a registry would. */
export function layerOf(blob: Buffer, mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip'): TestLayer {
  const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
  return {
    digest,
    mediaType,
    bytes: blob,
    open: () => {
      const parts: Buffer[] = [];
      for (let i = 0; i < blob.length; i += 16384) parts.push(blob.subarray(i, i + 16384));
      return Promise.resolve(Readable.from(parts));
    },
  };
}

export async function gzLayer(files: TarFile[]): Promise<TestLayer> {
  return layerOf(gzipSync(await tarOf(files)));
}
