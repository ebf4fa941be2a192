import { constants } from 'node:fs';
import { chmod, lstat, mkdir, open, readlink, realpath, symlink, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { ContextError } from '../../domain/tasks/context.js';

// Unpacking a build context someone else made (a downloaded or uploaded tarball) into a run's
// folder. The archive is hostile until proven otherwise: only regular files, folders and symlinks
// that stay inside the context are written; nothing is ever written through a symlink (each parent
// is lstat'ed, files are opened O_NOFOLLOW|O_EXCL); sizes and counts are capped while reading, so a
// gzip bomb stops at the limit rather than at the end of the disk; modes lose setuid/setgid/sticky.

export interface ExtractLimits {
  /** Sum of the files' sizes; the decompressed archive may be this plus the tar headers. */
  maxBytes: number;
  /** Entries of any kind (files, folders, symlinks). */
  maxFiles: number;
}

export interface ExtractResult {
  files: number;
  bytes: number;
}

const GZIP_MAGIC = [0x1f, 0x8b];
/** Room for tar headers (512 B each, two for a long name) and padding on top of the files' bytes. */
const HEADER_ROOM = 1536;
/** How many symlinks one path may pass through before it counts as a loop (Linux's limit). */
const MAX_HOPS = 40;

export function sizeText(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
  return `${bytes} bytes`;
}

function tooLarge(maxBytes: number): ContextError {
  return new ContextError(`the context is larger than the ${sizeText(maxBytes)} limit`);
}

/** Counts the (decompressed) bytes flowing through and stops the stream past the cap. */
class ByteCap extends Transform {
  private seen = 0;
  constructor(
    private readonly cap: number,
    private readonly maxBytes: number,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.cap) done(tooLarge(this.maxBytes));
    else done(null, chunk);
  }
}

/** The first chunk decides whether the stream is gzip (magic bytes), not the name or a header. */
async function sniffGzip(src: AsyncIterable<Buffer | Uint8Array>): Promise<{ gzip: boolean; stream: Readable }> {
  const it = src[Symbol.asyncIterator]();
  let first: Buffer = Buffer.alloc(0);
  const head: Buffer[] = [];
  while (first.length < 2) {
    const n = await it.next();
    if (n.done) break;
    head.push(Buffer.from(n.value));
    first = Buffer.concat(head);
  }
  async function* all(): AsyncGenerator<Buffer> {
    if (first.length) yield first;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      yield Buffer.from(n.value);
    }
  }
  return { gzip: first[0] === GZIP_MAGIC[0] && first[1] === GZIP_MAGIC[1], stream: Readable.from(all()) };
}

/** An entry's name as path components below the root, or a ContextError saying why it may not be. */
function entryParts(name: string): string[] {
  const shown = name.slice(0, 200);
  if (name.startsWith('/')) throw new ContextError(`the context entry ${shown} is an absolute path`);
  if (name.includes('\0')) throw new ContextError(`the context entry ${JSON.stringify(shown)} has a NUL in its name`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new ContextError(`the context entry ${shown} leaves the context`);
  return parts;
}

/** An entry's bytes (a streamx stream): read to the end, or skipped with resume(). */
type EntryBody = AsyncIterable<unknown> & { resume(): unknown };

class Extractor {
  private files = 0;
  private bytes = 0;
  /** Folders this extraction made or checked: they are real folders (never replaced later). */
  private readonly dirs = new Set<string>(['']);
  private readonly links: string[] = [];

  constructor(
    private readonly root: string,
    private readonly limits: ExtractLimits,
  ) {}

  private count(): void {
    this.files++;
    if (this.files > this.limits.maxFiles) throw new ContextError(`the context holds more than ${this.limits.maxFiles} files`);
  }

  /** Makes sure every parent of `parts` is a real folder inside the root (never a symlink). */
  private async parents(parts: string[], name: string): Promise<void> {
    for (let i = 1; i < parts.length; i++) await this.folder(parts.slice(0, i), name);
  }

  private async folder(parts: string[], name: string): Promise<void> {
    const rel = parts.join('/');
    if (this.dirs.has(rel)) return;
    const abs = path.join(this.root, ...parts);
    const st = await lstat(abs).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (st?.isSymbolicLink()) throw new ContextError(`the context entry ${name} goes through the symlink ${rel}`);
    if (st && !st.isDirectory()) throw new ContextError(`the context entry ${name} needs ${rel} to be a folder, but it is a file`);
    if (!st) {
      this.count();
      await mkdir(abs, { mode: 0o755 });
    }
    this.dirs.add(rel);
  }

  async entry(header: tar.Header, body: EntryBody): Promise<void> {
    const name = header.name;
    const shown = name.slice(0, 200);
    // tar-stream applies pax and GNU long-name headers itself; an unknown type flag comes as null.
    switch (header.type) {
      case 'link':
        throw new ContextError(`the context entry ${shown} is a hard link, which a context may not hold`);
      case 'character-device':
      case 'block-device':
      case 'fifo':
        throw new ContextError(`the context entry ${shown} is a ${header.type.replace('-', ' ')}, which a context may not hold`);
      case 'file':
      case 'contiguous-file':
      case 'directory':
      case 'symlink':
        break;
      default:
        throw new ContextError(`the context entry ${shown} is of a kind (${String(header.type)}) a context may not hold`);
    }
    const parts = entryParts(name);
    if (parts.length === 0) {
      body.resume(); // "./" itself
      return;
    }
    await this.parents(parts, shown);
    const rel = parts.join('/');
    const abs = path.join(this.root, ...parts);
    if (header.type === 'directory') {
      await this.folder(parts, shown);
      await chmod(abs, 0o755);
      body.resume();
      return;
    }
    const existing = await lstat(abs).catch(() => undefined);
    if (header.type === 'symlink') {
      const target = header.linkname ?? '';
      if (existing) throw new ContextError(`the context entry ${shown} appears twice`);
      if (target === '' || target.includes('\0')) throw new ContextError(`the context entry ${shown} is a symlink without a target`);
      const leaves = `the context entry ${shown} is a symlink to ${target.slice(0, 200)}, which leaves the context`;
      if (path.posix.isAbsolute(target)) throw new ContextError(leaves);
      // Lexically first (a clear early answer); through other symlinks once everything is written.
      const lexical = path.posix.normalize(path.posix.join(path.posix.dirname(rel), target));
      if (lexical === '..' || lexical.startsWith('../')) throw new ContextError(leaves);
      this.count();
      await symlink(target, abs);
      this.links.push(rel);
      body.resume();
      return;
    }
    // A regular file. A later entry of the same name replaces a file, never a folder or a link.
    if (existing && (!existing.isFile() || this.dirs.has(rel)))
      throw new ContextError(`the context entry ${shown} would replace a ${existing.isSymbolicLink() ? 'symlink' : 'folder'}`);
    if (existing) await unlink(abs);
    else this.count();
    const size = header.size ?? 0;
    this.bytes += size;
    if (this.bytes > this.limits.maxBytes) throw tooLarge(this.limits.maxBytes);
    const mode = (header.mode ?? 0o644) & 0o111 ? 0o755 : 0o644;
    const fh = await open(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
    try {
      await fh.chmod(mode); // the umask may have taken bits; the result is exactly 0755 or 0644
    } catch (e) {
      await fh.close();
      throw e;
    }
    await pipeline(body, fh.createWriteStream()); // the stream closes the handle, on error too
  }

  /**
   * Every symlink, followed through the symlinks it meets (as the kernel would), must stay inside
   * the root: `a -> .` then `b -> a/..` passes a lexical check yet leaves.
   */
  async checkLinks(): Promise<void> {
    for (const link of this.links) {
      const queue = link.split('/');
      const at: string[] = [];
      let hops = 0;
      while (queue.length) {
        const c = queue.shift()!;
        if (c === '' || c === '.') continue;
        if (c === '..') {
          if (at.length === 0) throw new ContextError(`the context entry ${link} is a symlink that leads outside the context`);
          at.pop();
          continue;
        }
        const abs = path.join(this.root, ...at, c);
        const st = await lstat(abs).catch(() => undefined);
        if (!st?.isSymbolicLink()) {
          at.push(c);
          continue;
        }
        if (++hops > MAX_HOPS) throw new ContextError(`the context entry ${link} is a symlink loop`);
        const target = await readlink(abs);
        if (path.posix.isAbsolute(target)) throw new ContextError(`the context entry ${link} is a symlink that leads outside the context`);
        queue.unshift(...target.split('/'));
      }
    }
  }

  result(): ExtractResult {
    return { files: this.files, bytes: this.bytes };
  }
}

/**
 * Unpacks a tar (gzipped or not, told by its first bytes) into `dir`, an existing folder that
 * should be empty. Throws ContextError on anything a context may not hold; what was written so far
 * stays below `dir` (the run's workspace is deleted as a whole).
 */
export async function extractTarball(
  input: AsyncIterable<Buffer | Uint8Array>,
  dir: string,
  limits: ExtractLimits,
  signal?: AbortSignal,
): Promise<ExtractResult> {
  const root = await realpath(dir);
  const { gzip, stream } = await sniffGzip(input);
  const ex = tar.extract();
  const x = new Extractor(root, limits);
  const cap = new ByteCap(limits.maxBytes + (limits.maxFiles + 2) * HEADER_ROOM, limits.maxBytes);
  let pipeErr: unknown;
  const stages: NodeJS.ReadWriteStream[] = gzip ? [createGunzip(), cap] : [cap];
  const piping = pipeline([stream, ...stages, ex], { signal }).catch((e: unknown) => {
    pipeErr = e;
  });
  try {
    for await (const entry of ex) await x.entry(entry.header, entry);
  } catch (e) {
    ex.destroy();
    stream.destroy();
    await piping;
    throw explain(e, pipeErr, signal);
  }
  await piping;
  if (pipeErr) throw explain(pipeErr, undefined, signal);
  await x.checkLinks();
  return x.result();
}

/** The error to show: ours if either side raised one, else what went wrong in words. */
function explain(a: unknown, b: unknown, signal?: AbortSignal): Error {
  if (a instanceof ContextError) return a;
  if (b instanceof ContextError) return b;
  if (signal?.aborted && signal.reason instanceof ContextError) return signal.reason;
  const msg = a instanceof Error ? a.message : String(a);
  return new ContextError(`the context archive could not be read: ${msg}`);
}
