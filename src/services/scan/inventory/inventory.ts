import { pipeline, type Readable, Transform, type TransformCallback } from 'node:stream';
import * as tar from 'tar-stream';
import type { ImageInventory, InstalledPackage, OsRelease } from '../../../domain/scan/types.js';
import { parseApkInstalled } from './analyzers/apk.js';
import { parseDpkgStatus } from './analyzers/dpkg.js';
import type { Found } from './analyzers/found.js';
import { ELF_MAGIC, GoBuildInfoScanner, goPackages } from './analyzers/go-buildinfo.js';
import { analyzeJar, JAVA_ARCHIVE } from './analyzers/java.js';
import { NPM_MANIFEST, parsePackageJson } from './analyzers/npm.js';
import { parseOsRelease } from './analyzers/os-release.js';
import { parsePythonMetadata, PYTHON_METADATA } from './analyzers/python.js';
import { parseRpmDb, type RpmDbFormat } from './analyzers/rpm.js';
import { DEFAULT_BUDGET, type InventoryBudget } from './budget.js';
import { decompressor, detectFormat, LayerFormatError, sniff, type LayerFormat } from './decompress.js';
import { InventoryError, printable } from './errors.js';
import { PathTrie } from './merged-view.js';
import { basename, dirname, normalizePath, whiteoutOf } from './paths.js';
import { ecosystemOf, purlOf } from './purl.js';

/** One layer as the scanner reads it: opened once, in order, base layer first. */
export interface LayerSource {
  digest: string;
  mediaType: string;
  open(): Promise<NodeJS.ReadableStream>;
}

export interface LayerSummary {
  digest: string;
  /** Tar entries read. */
  entries: number;
  /** Uncompressed tar bytes read. */
  bytes: number;
}

/** The inventory plus what the scan could not read (skipped archives, old Go binaries) and what it read per layer. */
export interface InventoryResult extends ImageInventory {
  warnings: string[];
  layers: LayerSummary[];
}

type FileKind =
  | 'os-release'
  | 'dpkg-status'
  | 'dpkg-statusd'
  | 'apk'
  | 'rpm-sqlite'
  | 'rpm-wal'
  | 'rpm-bdb'
  | 'rpm-ndb'
  | 'npm'
  | 'python'
  | 'jar'
  | 'go';

/** A file kept in the merged view: what the analyzers made of it, and for rpmdbs the bytes themselves. */
interface FileRecord {
  kind: FileKind;
  found?: Found[];
  os?: OsRelease;
  data?: Buffer;
}

const RPM_DIRS = ['var/lib/rpm', 'usr/lib/sysimage/rpm'];
const RPM_FILES: Record<string, FileKind> = {
  'rpmdb.sqlite': 'rpm-sqlite',
  'rpmdb.sqlite-wal': 'rpm-wal',
  Packages: 'rpm-bdb',
  'Packages.db': 'rpm-ndb',
};
/** Package databases: when one cannot be read whole, the inventory would be wrong, so the scan fails. */
const DATABASES = new Set<FileKind>(['dpkg-status', 'dpkg-statusd', 'apk', 'rpm-sqlite', 'rpm-wal', 'rpm-bdb', 'rpm-ndb']);
/** Package databases that are text: a NUL byte means the file is something else (or damaged). */
const TEXT_DATABASES = new Set<FileKind>(['dpkg-status', 'dpkg-statusd', 'apk']);

/** Which identity field of a package is longer than `max` characters, said for a person; undefined when none is. */
function oversizedField(f: Found, max: number): string | undefined {
  const fields: [string, string | undefined][] = [
    ['name', f.name],
    ['version', f.version],
    ['source name', f.source?.name],
    ['source version', f.source?.version],
    ['architecture', f.arch],
    ...(f.licenses ?? []).map((l): [string, string] => ['license', l]),
  ];
  for (const [what, v] of fields) if (v !== undefined && v.length > max) return `${what} is ${v.length} characters long`;
  return undefined;
}

/** Characters a package adds to the inventory (and to each SBOM). */
function identityChars(f: Found): number {
  let n = f.name.length + f.version.length + (f.arch?.length ?? 0) + (f.subpath?.length ?? 0);
  if (f.source) n += f.source.name.length + f.source.version.length;
  for (const l of f.licenses ?? []) n += l.length;
  return n;
}

/** A failure while inflating or untarring a layer, in words that say what is wrong with the blob. */
function explain(err: unknown, format: LayerFormat | undefined): string {
  const e = err as NodeJS.ErrnoException | undefined;
  const message = e?.message ?? String(err);
  if (e?.code === 'Z_BUF_ERROR') return `the ${format ?? 'gzip'} data ends early: the blob is truncated (${message})`;
  if (e?.code === 'Z_DATA_ERROR') return `the gzip data is corrupt (${message})`;
  if (message === 'Unexpected end of data') return 'the archive ends in the middle of an entry: the blob is truncated';
  if (message.startsWith('Invalid tar header')) return 'a tar header is damaged, or the data is not a tar archive';
  if (message === 'Header exceeds max size') return 'a long-name or pax header is larger than 4 MiB';
  return message;
}

/** What an analyzer wants from a path alone; ELF binaries are recognised by content instead. */
export function classify(p: string): FileKind | undefined {
  switch (p) {
    case 'etc/os-release':
    case 'usr/lib/os-release':
      return 'os-release';
    case 'var/lib/dpkg/status':
      return 'dpkg-status';
    case 'lib/apk/db/installed':
      return 'apk';
  }
  const dir = dirname(p);
  if (dir === 'var/lib/dpkg/status.d' && !p.endsWith('.md5sums')) return 'dpkg-statusd';
  if (RPM_DIRS.includes(dir)) {
    const k = RPM_FILES[basename(p)];
    if (k) return k;
  }
  if (NPM_MANIFEST.test(p)) return 'npm';
  if (PYTHON_METADATA.test(p)) return 'python';
  if (JAVA_ARCHIVE.test(p)) return 'jar';
  return undefined;
}

/** The identity a package keeps across layers: distro packages by name/version/arch, language ones also by where they are. */
function keyOf(f: Found, path: string): string {
  const base = `${f.kind}\0${f.name}\0${f.version}`;
  return f.kind === 'deb' || f.kind === 'apk' || f.kind === 'rpm' ? `${base}\0${f.arch ?? ''}` : `${base}\0${path}${f.subpath ?? ''}`;
}

type TarEntry = AsyncIterable<Buffer> & { header: tar.Header };

type Tracked = { found: Found; path: string; layer: string };

/**
 * Inventories an image from its layers. Each layer is opened once and streamed (gzip, zstd or plain
 * tar, told apart by magic bytes); nothing is written to disk. Only files an analyzer wants are kept,
 * as parsed results (rpmdbs as bytes, since the database and its WAL are read together), in a merged
 * view that applies each layer's whiteouts and replacements over the ones below. After each layer
 * the package set is compared with the previous one: a package keeps the layer it first appeared
 * in, and one that disappears (purged, whited out) is gone even if the database file was rewritten.
 *
 * Throws InventoryError when a budget is exceeded or a layer cannot be read; anything an analyzer
 * cannot understand in one file is skipped and reported in `warnings`.
 */
export async function inventoryImage(
  layers: AsyncIterable<LayerSource> | Iterable<LayerSource>,
  budget: Partial<InventoryBudget> = {},
  signal?: AbortSignal,
): Promise<InventoryResult> {
  const b: InventoryBudget = { ...DEFAULT_BUDGET, ...budget };
  const deadline = Date.now() + b.maxDurationMs;
  const deadlineError = (digest: string) =>
    new InventoryError('deadline', `the scan took longer than ${b.maxDurationMs / 1000} s (at layer ${digest})`, digest);
  // The caller says why it stopped the scan (its own time budget); a bare abort() is a cancellation.
  const abortError = (digest: string) => {
    const why = signal?.reason as unknown;
    const message = why instanceof Error && why.name !== 'AbortError' ? why.message : 'the scan was cancelled';
    return new InventoryError('aborted', message, digest);
  };
  const view = new PathTrie<FileRecord>();
  const warnings: string[] = [];
  const summaries: LayerSummary[] = [];
  const rpmCache = new Map<string, { db?: FileRecord; wal?: FileRecord; found: Found[] }>();
  let retained = 0;
  let tracked = new Map<string, Tracked>();
  const release = (r: FileRecord) => {
    retained -= r.data?.length ?? 0;
  };
  const warn = (msg: string) => {
    if (warnings.length < 1000) warnings.push(printable(msg));
  };

  for await (const layer of layers) {
    const digest = layer.digest;
    const check = () => {
      if (signal?.aborted) throw abortError(digest);
      if (Date.now() > deadline) throw deadlineError(digest);
    };
    check();
    const added = new PathTrie<FileRecord>();
    const summary: LayerSummary = { digest, entries: 0, bytes: 0 };
    summaries.push(summary);

    const onEntry = async (entry: TarEntry) => {
      const h = entry.header;
      if (++summary.entries > b.maxEntriesPerLayer) {
        throw new InventoryError('too-many-entries', `layer ${digest} has more than ${b.maxEntriesPerLayer} entries`, digest);
      }
      for (const raw of [h.name, h.linkname ?? '']) {
        if (raw.length > b.maxPathLength) {
          throw new InventoryError(
            'path-too-long',
            `layer ${digest} has a path longer than ${b.maxPathLength} characters (${raw.slice(0, 80)}…)`,
            digest,
          );
        }
      }
      const p = normalizePath(h.name);
      if (p.split('/').length > b.maxPathDepth) {
        throw new InventoryError('path-too-long', `layer ${digest} has a path deeper than ${b.maxPathDepth} directories`, digest);
      }
      if (p === '') return;
      const wo = whiteoutOf(p);
      if (wo === 'ignore') return;
      if (wo) {
        if (wo.kind === 'delete') view.removeSubtree(wo.target, true, release);
        else view.removeSubtree(wo.dir, false, release);
        return;
      }
      if (h.type === 'directory') {
        // A directory replaces a file of the same name below it, but merges with a directory.
        view.removeValue(p, release);
        added.removeValue(p, release);
        return;
      }
      // Anything else at this path hides what lower layers (or earlier entries of this one) had there.
      view.removeSubtree(p, true, release);
      added.removeSubtree(p, true, release);
      if (h.type === 'link') {
        const target = normalizePath(h.linkname ?? '');
        const rec = added.get(target) ?? view.get(target);
        if (rec && !rec.data && (rec.kind === 'go' || classify(p) === rec.kind)) added.set(p, rec);
        return;
      }
      if (h.type !== 'file' && h.type !== 'contiguous-file') return;
      const kind = classify(p);
      const size = h.size ?? 0;
      if (kind) {
        const cap = kind === 'jar' ? b.maxArchiveBytes : b.maxMetadataFileBytes;
        if (size > cap) {
          const what = `${p} in layer ${digest} is ${size} bytes, more than the ${cap} allowed`;
          if (DATABASES.has(kind)) throw new InventoryError('file-too-large', `the package database ${what}`, digest);
          warn(`skipped ${what}`);
          return;
        }
        if (retained + size > b.maxRetainedBytes) {
          throw new InventoryError(
            'too-much-retained',
            `layer ${digest}: reading ${p} would hold more than ${b.maxRetainedBytes} bytes of package metadata in memory`,
            digest,
          );
        }
        retained += size;
        const parts: Buffer[] = [];
        let got = 0;
        try {
          for await (const chunk of entry) {
            got += chunk.length;
            if (got <= size) parts.push(chunk);
            check();
          }
        } finally {
          retained -= size;
        }
        const data = Buffer.concat(parts);
        if (TEXT_DATABASES.has(kind) && data.includes(0)) {
          throw new InventoryError(
            'bad-package-database',
            `the package database ${p} in layer ${digest} is not a text file (it holds binary data), so what the image installs cannot be known`,
            digest,
          );
        }
        const rec = analyze(kind, p, data);
        if (rec?.found) rec.found = withinLimits(rec.found, kind, p);
        if (rec) {
          retained += rec.data?.length ?? 0;
          added.set(p, rec, release);
        }
        return;
      }
      let scanner: GoBuildInfoScanner | undefined;
      let first = true;
      for await (const chunk of entry) {
        if (first) {
          first = false;
          if (chunk.length >= 4 && chunk.subarray(0, 4).equals(ELF_MAGIC)) scanner = new GoBuildInfoScanner(b.maxGoBuildInfoBytes);
        }
        scanner?.push(chunk);
        check();
      }
      if (!scanner) return;
      scanner.end();
      if (scanner.info) added.set(p, { kind: 'go', found: withinLimits(goPackages(scanner.info), 'go', p) });
      else if (scanner.unreadable) warn(`${p} in layer ${digest} is a Go binary whose build info could not be read (Go older than 1.18?)`);
    };

    /** Packages with absurdly long fields: a database naming one is corrupt (the scan fails); elsewhere the package is skipped. */
    const withinLimits = (found: Found[], kind: FileKind, p: string): Found[] => {
      const kept: Found[] = [];
      for (const f of found) {
        const why = oversizedField(f, b.maxPackageFieldLength);
        if (!why) kept.push(f);
        else if (DATABASES.has(kind)) {
          throw new InventoryError(
            'bad-package-database',
            `the package database ${p} in layer ${digest} names a package whose ${why}, more than the ${b.maxPackageFieldLength} allowed`,
            digest,
          );
        } else warn(`skipped a package in ${p} in layer ${digest}: its ${why}, more than the ${b.maxPackageFieldLength} allowed`);
      }
      return kept;
    };

    const analyze = (kind: FileKind, p: string, data: Buffer): FileRecord | undefined => {
      const text = () => data.toString('utf8');
      switch (kind) {
        case 'os-release': {
          const os = parseOsRelease(text());
          return os ? { kind, os } : undefined;
        }
        case 'dpkg-status':
          return { kind, found: parseDpkgStatus(text()) };
        case 'dpkg-statusd':
          return { kind, found: parseDpkgStatus(text(), true) };
        case 'apk':
          return { kind, found: parseApkInstalled(text()) };
        case 'npm':
          return { kind, found: parsePackageJson(text()) };
        case 'python':
          return { kind, found: parsePythonMetadata(text()) };
        case 'jar': {
          const w: string[] = [];
          const found = analyzeJar(
            data,
            basename(p),
            { maxEntries: b.maxZipEntries, maxEntryBytes: b.maxZipEntryBytes, maxTotalBytes: b.maxZipTotalBytes, maxDepth: b.maxZipDepth },
            w,
          );
          for (const m of w) warn(`${p} in layer ${digest}: ${m}`);
          return { kind, found };
        }
        default:
          // rpm databases are read at the end of the layer, with their WAL.
          return { kind, data };
      }
    };

    // Everything a layer holds open, so a deadline or cancellation can tear it down.
    const open: { raw?: NodeJS.ReadableStream; stream?: Readable; extract?: tar.Extract; format?: LayerFormat } = {};
    const readLayer = async () => {
      let raw: NodeJS.ReadableStream;
      try {
        raw = open.raw = await layer.open();
      } catch (err) {
        const message = (err as Error)?.message ?? String(err);
        // The registry's metadata lists the blob but its bytes are gone (deleted behind its back, a lost disk).
        if ((err as Error)?.name === 'StorageNotFoundError') {
          throw new LayerFormatError(`is missing from storage (${message}): it was deleted outside the registry or lost`, { cause: err });
        }
        throw new LayerFormatError(`could not be opened: ${message}`, { cause: err });
      }
      // 512 bytes: a whole tar header, to tell a mislabelled tar from data that is no archive at all.
      const { head, stream } = await sniff(raw, 512);
      open.stream = stream;
      const format = (open.format = detectFormat(head, layer.mediaType));
      let tooLarge = false;
      const counter = new Transform({
        transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
          summary.bytes += chunk.length;
          if (summary.bytes > b.maxLayerBytes) {
            tooLarge = true;
            cb(new Error('too large'));
          } else cb(null, chunk);
        },
      });
      const extract = (open.extract = tar.extract());
      let pipeErr: Error | undefined;
      // tar-stream is built on streamx: node's pipeline feeds it, and its failure is handed on.
      pipeline(stream, decompressor(format, b.maxZstdWindowBytes), counter, (err) => {
        if (err) {
          pipeErr = err;
          extract.destroy(err);
        }
      }).pipe(extract);
      const tooLargeError = () =>
        new InventoryError('layer-too-large', `layer ${digest} unpacks to more than ${b.maxLayerBytes} bytes`, digest);
      try {
        for await (const entry of extract) {
          const e = entry as unknown as TarEntry;
          await onEntry(e);
          // Whatever onEntry did not read is skipped here (an ended entry yields nothing).
          for await (const _ of e) check();
          check();
        }
      } catch (err) {
        if (err instanceof InventoryError) throw err;
        throw tooLarge ? tooLargeError() : err;
      }
      if (tooLarge) throw tooLargeError();
      if (pipeErr) throw pipeErr;
    };

    // A source that stalls sends no chunks, so nothing inside the read would notice the deadline.
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const stop = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(deadlineError(digest)), Math.max(0, deadline - Date.now()));
      onAbort = () => reject(abortError(digest));
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const reading = readLayer();
      // When the deadline wins, the read's own failure (its streams torn down below) is expected.
      reading.catch(() => {});
      await Promise.race([reading, stop]);
    } catch (err) {
      if (err instanceof InventoryError) throw err;
      const why = err instanceof LayerFormatError ? err.message : `could not be read as a tar archive: ${explain(err, open.format)}`;
      throw new InventoryError('unreadable-layer', `layer ${digest} ${why}`, digest, { cause: err });
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      open.extract?.destroy();
      open.stream?.destroy();
      (open.raw as Partial<Readable> | undefined)?.destroy?.();
    }

    for (const [p, rec] of added.entries()) view.set(p, rec, release);
    const current = await collect(view, rpmCache, warn, b);
    if (current.size > b.maxPackages) {
      throw new InventoryError('too-many-packages', `the image has more than ${b.maxPackages} packages (at layer ${digest})`, digest);
    }
    let chars = 0;
    for (const { found: f, path } of current.values()) chars += identityChars(f) + path.length;
    if (chars > b.maxInventoryChars) {
      throw new InventoryError(
        'inventory-too-large',
        `the names, versions and paths of the image's ${current.size} packages come to more than ${b.maxInventoryChars} characters (at layer ${digest}); real images need far less`,
        digest,
      );
    }
    const next = new Map<string, Tracked>();
    for (const [key, v] of current) next.set(key, { ...v, layer: tracked.get(key)?.layer ?? digest });
    tracked = next;
  }

  const os = view.get('etc/os-release')?.os ?? view.get('usr/lib/os-release')?.os;
  const packages: InstalledPackage[] = [];
  for (const { found: f, path, layer } of tracked.values()) {
    const pkg: InstalledPackage = {
      ecosystem: ecosystemOf(f, os),
      name: f.name,
      version: f.version,
      purl: purlOf(f, os),
      layer,
      path: `${path}${f.subpath ?? ''}`,
    };
    if (f.source) pkg.source = f.source;
    if (f.licenses) pkg.licenses = f.licenses;
    packages.push(pkg);
  }
  packages.sort((x, y) => cmp(x.ecosystem, y.ecosystem) || cmp(x.name, y.name) || cmp(x.version, y.version) || cmp(x.path, y.path));
  const result: InventoryResult = { packages, warnings, layers: summaries };
  if (os) result.os = os;
  return result;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Every package the merged view holds now, keyed for attribution. */
async function collect(
  view: PathTrie<FileRecord>,
  rpmCache: Map<string, { db?: FileRecord; wal?: FileRecord; found: Found[] }>,
  warn: (m: string) => void,
  b: InventoryBudget,
): Promise<Map<string, { found: Found; path: string }>> {
  const out = new Map<string, { found: Found; path: string }>();
  const add = (f: Found, path: string) => {
    const key = keyOf(f, path);
    if (!out.has(key)) out.set(key, { found: f, path });
  };
  for (const dir of RPM_DIRS) {
    let db: FileRecord | undefined;
    let format: RpmDbFormat | undefined;
    let file = '';
    for (const [name, fmt] of [
      ['rpmdb.sqlite', 'sqlite'],
      ['Packages.db', 'ndb'],
      ['Packages', 'bdb'],
    ] as const) {
      db = view.get(`${dir}/${name}`);
      if (db) {
        format = fmt;
        file = `${dir}/${name}`;
        break;
      }
    }
    const wal = format === 'sqlite' ? view.get(`${dir}/rpmdb.sqlite-wal`) : undefined;
    const cached = rpmCache.get(dir);
    if (!db || !format) {
      rpmCache.delete(dir);
      continue;
    }
    let found = cached?.found;
    if (!cached || cached.db !== db || cached.wal !== wal) {
      const r = await parseRpmDb(format, db.data!, wal?.data, b.maxMetadataFileBytes * 2);
      if (r.error) warn(`${file}: the rpm database could not be read completely (${r.error})`);
      found = r.found.filter((f) => {
        const why = oversizedField(f, b.maxPackageFieldLength);
        if (why) warn(`${file}: skipped a package whose ${why}, more than the ${b.maxPackageFieldLength} allowed`);
        return !why;
      });
      rpmCache.set(dir, { db, wal, found });
    }
    for (const f of found!) add(f, file);
  }
  for (const [path, rec] of view.entries()) for (const f of rec.found ?? []) add(f, path);
  return out;
}
