import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { CliError } from '../errors.js';
import { DockerIgnore } from './dockerignore.js';

// The local folder of `berth acr build SOURCE` as the gzipped tar the CLI uploads, as `az acr build`
// and `docker build` send theirs: .dockerignore honoured (Docker's rules, dockerignore.ts), the
// Dockerfile and .dockerignore always sent, symlinks archived as symlinks (never followed, so
// nothing outside the folder goes in through one; one pointing outside is refused, as the registry would), entries in name order so the same folder makes
// the same archive. Sizes are counted first, so an oversized folder is refused before any upload.

export interface PackOptions {
  /** The Dockerfile's path relative to the folder (sent even when .dockerignore leaves it out). */
  dockerfile?: string;
  /** Sum of the files' sizes a context may have (the registry refuses more). */
  maxBytes: number;
}

export interface PackedContext {
  /** The gzipped tar, streamed as it is read from disk. */
  tarGz: Readable;
  /** Entries in the archive (files, folders and symlinks). */
  files: number;
  /** Sum of the files' sizes. */
  bytes: number;
}

interface Item {
  rel: string;
  abs: string;
  type: 'file' | 'directory' | 'symlink';
  size: number;
  mode: number;
  mtime: Date;
}

function mib(n: number): string {
  return `${Math.round((n / (1024 * 1024)) * 10) / 10} MiB`;
}

/** The Dockerfile's path inside the folder, if it is inside (one elsewhere is not sent from here). */
function dockerfileRel(dir: string, dockerfile: string | undefined): string {
  const rel = path.relative(dir, path.resolve(dir, dockerfile ?? 'Dockerfile'));
  return rel.split(path.sep).join('/');
}

/**
 * The registry refuses a context whose symlink leads out of it (checked there too, through other
 * links); saying so here spares an upload that cannot be built.
 */
async function insideLink(abs: string, rel: string): Promise<void> {
  const target = await readlink(abs);
  const to = path.posix.normalize(path.posix.join(path.posix.dirname(rel), target));
  if (path.posix.isAbsolute(target) || to === '..' || to.startsWith('../'))
    throw new CliError(
      `${rel} is a symlink to ${target}, outside the folder, which a build context may not hold; leave it out with .dockerignore`,
      2,
    );
}

async function walk(dir: string, ig: DockerIgnore, always: Set<string>, o: PackOptions): Promise<Item[]> {
  const items: Item[] = [];
  let bytes = 0;
  // Folders below which something must be sent even though the folder itself is ignored.
  const keepBelow = [...always].map((a) => a.split('/').slice(0, -1).join('/'));
  const visit = async (absDir: string, relDir: string): Promise<void> => {
    const names = (await readdir(absDir)).sort();
    for (const name of names) {
      const rel = relDir ? `${relDir}/${name}` : name;
      const abs = path.join(absDir, name);
      const st = await lstat(abs);
      const type = st.isFile() ? 'file' : st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : undefined;
      if (!type) continue; // sockets, fifos, devices: nothing a build can use
      const ignored = ig.ignores(rel) && !always.has(rel);
      if (!ignored) {
        if (type === 'symlink') await insideLink(abs, rel);
        items.push({ rel, abs, type, size: type === 'file' ? st.size : 0, mode: st.mode & 0o777, mtime: st.mtime });
        if (type === 'file') {
          bytes += st.size;
          if (bytes > o.maxBytes)
            throw new CliError(
              `${dir} holds more than ${mib(o.maxBytes)} to send, the most a build context may be; leave files out with .dockerignore`,
            );
        }
      }
      // An ignored folder is still read when an exception (or the Dockerfile) may bring back a file below it.
      if (type === 'directory' && (!ignored || ig.hasExceptions || keepBelow.some((k) => k === rel || k.startsWith(`${rel}/`))))
        await visit(abs, rel);
    }
  };
  await visit(dir, '');
  return items;
}

async function writeEntries(pack: tar.Pack, items: Item[]): Promise<void> {
  for (const it of items) {
    const header = { name: it.rel, type: it.type, mode: it.mode, mtime: it.mtime, uid: 0, gid: 0, uname: '', gname: '' };
    if (it.type === 'directory') {
      await new Promise<void>((resolve, reject) => pack.entry(header, (e) => (e ? reject(e) : resolve())));
    } else if (it.type === 'symlink') {
      const linkname = await readlink(it.abs);
      await new Promise<void>((resolve, reject) => pack.entry({ ...header, linkname }, (e) => (e ? reject(e) : resolve())));
    } else {
      await new Promise<void>((resolve, reject) => {
        // The callback comes once the entry is complete (or its size proved wrong: the file changed).
        const sink = pack.entry({ ...header, size: it.size }, (e) => (e ? reject(e) : resolve()));
        const src = createReadStream(it.abs);
        src.once('error', (e) => {
          sink.destroy(e);
          reject(e);
        });
        src.pipe(sink);
      });
    }
  }
  pack.finalize();
}

/** Packs a local folder as a build context (see the top of this file). */
export async function packContext(dir: string, o: PackOptions): Promise<PackedContext> {
  const root = path.resolve(dir);
  const st = await lstat(root).catch(() => undefined);
  if (!st?.isDirectory()) throw new CliError(`${dir} is not a folder`, 2);
  const ignoreText = await readFile(path.join(root, '.dockerignore'), 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return '';
    throw e;
  });
  const ig = new DockerIgnore(ignoreText);
  // Docker sends these two even when .dockerignore names them: the build needs both.
  const always = new Set(['.dockerignore', dockerfileRel(root, o.dockerfile)].filter((p) => !p.startsWith('..')));
  const items = await walk(root, ig, always, o);
  const pack = tar.pack();
  const gz = createGzip();
  // tar-stream is built on streamx: node's pipeline joins it to zlib and hands a failure on.
  pipeline(pack as unknown as Readable, gz, () => {});
  writeEntries(pack, items).catch((e: unknown) => pack.destroy(e instanceof Error ? e : new Error(String(e))));
  return {
    tarGz: gz,
    files: items.length,
    bytes: items.reduce((n, it) => n + it.size, 0),
  };
}
