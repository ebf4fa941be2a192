// Images for the scanner bench (bench/scan.mjs), written as layer blobs (tar+gzip, or tar+zstd
// when the zstd tool is there) under a cache directory so reruns are fast:
//
// - a Debian base: `debootstrap --variant=minbase bookworm` when it can run (root, the tool,
//   Debian's mirror), with apt's package cache and lists removed as Debian's container images do;
//   otherwise a synthetic one of the same size and package list (debian-minbase-packages.json,
//   taken from such a debootstrap), so the bench also runs offline. `kind` says which.
// - application layers: an npm install (node_modules), Python dist-info, a Go binary when go is
//   installed;
// - for the memory bound, about 1 GB: the base, 400 MB of random (incompressible) files, 300 MB of
//   compressible text, and 100,000 small files with thousands of npm and Python manifests.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGzip, gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const CACHE_DIR = process.env.BERTH_BENCH_CACHE || path.join(os.tmpdir(), 'berth-bench-cache');
const MiB = 1024 * 1024;
const GZIP_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const ZSTD_LAYER = 'application/vnd.oci.image.layer.v1.tar+zstd';

const has = (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

/** The bookworm minbase package list: [name, version, arch, source?]. */
export const MINBASE_PACKAGES = JSON.parse(readFileSync(path.join(HERE, 'debian-minbase-packages.json'), 'utf8'));

const OS_RELEASE =
  'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\n' +
  'VERSION_CODENAME=bookworm\nID=debian\nHOME_URL="https://www.debian.org/"\n';

/** A dpkg status file for the given packages, with descriptions as long as real ones. */
export function dpkgStatus(packages) {
  return (
    packages
      .map(([name, version, arch, source]) =>
        [
          `Package: ${name}`,
          'Status: install ok installed',
          'Priority: required',
          'Section: admin',
          `Installed-Size: ${100 + name.length * 37}`,
          'Maintainer: Debian Maintainers <debian@example.org>',
          `Architecture: ${arch}`,
          ...(source ? [`Source: ${source}`] : []),
          `Version: ${version}`,
          'Depends: libc6 (>= 2.34)',
          `Description: the ${name} package`,
          ` ${'This is the long description of the package, as long as a real one usually is. '.repeat(4)}`,
        ].join('\n'),
      )
      .join('\n\n') + '\n'
  );
}

/** Writes tar entries to `file`, compressed; resolves with the blob's digest, size and uncompressed size. */
async function writeLayer(file, entries, format = 'gzip') {
  const pack = tar.pack();
  let tarBytes = 0;
  const producing = (async () => {
    for await (const e of entries) {
      if (e.data !== undefined || e.type === 'directory' || e.type === 'symlink') {
        await new Promise((resolve, reject) =>
          pack.entry({ mode: 0o644, ...e, data: undefined }, e.data ?? '', (err) => (err ? reject(err) : resolve())),
        );
        continue;
      }
      // A big file in chunks, with backpressure.
      await new Promise((resolve, reject) => {
        const w = pack.entry({ name: e.name, size: e.size, mode: e.mode ?? 0o644 }, (err) => (err ? reject(err) : resolve()));
        (async () => {
          for (const chunk of e.chunks()) if (!w.write(chunk)) await new Promise((r) => w.once('drain', r));
          w.end();
        })().catch(reject);
      });
    }
    pack.finalize();
  })();
  const counter = new Transform({
    transform(chunk, _enc, cb) {
      tarBytes += chunk.length;
      cb(null, chunk);
    },
  });
  await writeCompressed(file, pack, counter, format);
  await producing;
  return finish(file, tarBytes, format);
}

async function writeCompressed(file, source, counter, format) {
  const tmp = `${file}.tmp`;
  if (format === 'zstd') {
    const z = spawn('zstd', ['-3', '-q', '-c'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const done = new Promise((resolve, reject) =>
      z.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`zstd exited ${code}`)))),
    );
    await Promise.all([pipeline(source, counter, z.stdin), pipeline(z.stdout, createWriteStream(tmp)), done]);
  } else {
    await pipeline(source, counter, createGzip({ level: 6 }), createWriteStream(tmp));
  }
  renameSync(tmp, file);
}

async function finish(file, tarBytes, format) {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: MiB })) {
    h.update(chunk);
    size += chunk.length;
  }
  const layer = {
    file,
    digest: `sha256:${h.digest('hex')}`,
    size,
    uncompressed: tarBytes,
    mediaType: format === 'zstd' ? ZSTD_LAYER : GZIP_LAYER,
  };
  writeFileSync(`${file}.json`, JSON.stringify(layer));
  return layer;
}

/** The layer `name` from the cache, or made by `make(file)` and cached. */
async function cached(name, make) {
  mkdirSync(CACHE_DIR, { recursive: true });
  const file = path.join(CACHE_DIR, name);
  if (existsSync(file) && existsSync(`${file}.json`)) return JSON.parse(readFileSync(`${file}.json`, 'utf8'));
  return make(file);
}

// ---------------------------------------------------------------- the Debian base

/** A debootstrapped bookworm minbase as a plain tar (cached), or null when debootstrap cannot run here. */
function debootstrapTar(log) {
  const out = path.join(CACHE_DIR, 'debian-bookworm-minbase.tar');
  if (existsSync(out)) return out;
  if (process.getuid?.() !== 0) return (log('debootstrap needs root: using the synthetic base'), null);
  if (!has('debootstrap')) return (log('debootstrap is not installed (apt-get install debootstrap): using the synthetic base'), null);
  mkdirSync(CACHE_DIR, { recursive: true });
  const dir = mkdtempSync(path.join(CACHE_DIR, 'debootstrap-'));
  try {
    log('running debootstrap --variant=minbase bookworm (a few minutes, once; cached in ' + CACHE_DIR + ')');
    const r = spawnSync('debootstrap', ['--variant=minbase', 'bookworm', path.join(dir, 'root'), 'http://deb.debian.org/debian'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 15 * 60 * 1000,
    });
    if (r.status !== 0) {
      log(
        `debootstrap failed (${r.error?.message ?? `exit ${r.status}`}: ${String(r.stderr).trim().split('\n').pop()}): using the synthetic base`,
      );
      return null;
    }
    // As Debian's container images: no downloaded .debs, no apt lists.
    spawnSync('sh', ['-c', 'rm -rf root/var/cache/apt/archives/*.deb root/var/lib/apt/lists/*'], { cwd: dir });
    const t = spawnSync('tar', ['--numeric-owner', '-C', path.join(dir, 'root'), '-cf', `${out}.tmp`, '.']);
    if (t.status !== 0) throw new Error(`tar failed: ${t.stderr}`);
    renameSync(`${out}.tmp`, out);
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Plain tar bytes re-emitted as entries: the debootstrap tar becomes a layer through the same writer. */
async function* entriesOfTar(file) {
  const extract = tar.extract();
  createReadStream(file).pipe(extract);
  for await (const entry of extract) {
    const h = entry.header;
    if (h.type === 'file') {
      const parts = [];
      for await (const c of entry) parts.push(c);
      yield { name: h.name, mode: h.mode, mtime: h.mtime, data: Buffer.concat(parts) };
    } else {
      for await (const _ of entry);
      if (
        h.type === 'directory' ||
        h.type === 'symlink' ||
        h.type === 'link' ||
        h.type === 'character-device' ||
        h.type === 'block-device' ||
        h.type === 'fifo'
      )
        yield { name: h.name, type: h.type, mode: h.mode, linkname: h.linkname, devmajor: h.devmajor, devminor: h.devminor, data: '' };
    }
  }
}

/** Text that gzip shrinks about as much as binaries and docs in a real image (3-4x). */
function mixedBytes(size, seed) {
  const out = Buffer.alloc(size);
  const noise = randomBytes(Math.ceil(size / 3));
  const words = `usr lib share doc ${seed} config data error warning function return value string buffer`.split(' ');
  let at = 0;
  let n = 0;
  while (at < size) {
    const w = n % 3 === 0 ? noise.subarray(at / 3, at / 3 + 16).toString('latin1') : words[(n * 7 + seed) % words.length];
    at += out.write(w + ' ', at, 'latin1');
    n++;
  }
  return out;
}

/** The synthetic base: os-release, the minbase dpkg status, and filler files of the debootstrap's size and count. */
async function* syntheticBaseEntries() {
  yield { name: 'etc/os-release', data: OS_RELEASE };
  yield { name: 'var/lib/dpkg/status', data: dpkgStatus(MINBASE_PACKAGES) };
  // ~6,700 files, ~120 MiB, as the real minbase.
  const total = 120 * MiB;
  const files = 6700;
  for (let i = 0; i < files; i++) {
    const size = Math.floor(((i % 97) + 1) * (total / files / 49));
    const dir = ['usr/bin', 'usr/lib/x86_64-linux-gnu', 'usr/share/doc', 'usr/share/locale', 'var/lib/dpkg/info'][i % 5];
    yield { name: `${dir}/file${i}`, data: mixedBytes(size, i) };
  }
}

/** The Debian base layer: { layer, kind } where kind names what it is. */
export async function debianBase({ offline = false, log = () => {} } = {}) {
  const real = offline ? null : debootstrapTar(log);
  if (real) {
    const layer = await cached('base-debootstrap-bookworm.tar.gz', (file) => writeLayer(file, entriesOfTar(real)));
    return { layer, kind: 'debootstrap bookworm minbase' };
  }
  const layer = await cached('base-synthetic-bookworm.tar.gz', (file) => writeLayer(file, syntheticBaseEntries()));
  return { layer, kind: offline ? 'synthetic (--offline)' : 'synthetic (debootstrap unavailable)' };
}

// ---------------------------------------------------------------- application layers

const NPM_PACKAGES = [
  ['express', '4.18.2'],
  ['body-parser', '1.20.1'],
  ['debug', '2.6.9'],
  ['ms', '2.0.0'],
  ['qs', '6.11.0'],
  ['lodash', '4.17.20'],
  ['minimist', '1.2.5'],
  ['semver', '7.3.8'],
  ['cookie', '0.5.0'],
  ['send', '0.18.0'],
  ['mime', '1.6.0'],
  ['depd', '2.0.0'],
  ['finalhandler', '1.2.0'],
  ['path-to-regexp', '0.1.7'],
  ['safe-buffer', '5.2.1'],
  ['axios', '0.21.1'],
  ['follow-redirects', '1.14.7'],
  ['ws', '7.4.5'],
  ['jsonwebtoken', '8.5.1'],
  ['moment', '2.29.1'],
];
const PYPI_PACKAGES = [
  ['requests', '2.25.1'],
  ['urllib3', '1.26.4'],
  ['idna', '2.10'],
  ['certifi', '2020.12.5'],
  ['chardet', '4.0.0'],
  ['six', '1.16.0'],
  ['PyYAML', '5.3.1'],
  ['Jinja2', '2.11.2'],
];

function* npmEntries(packages, root = 'app') {
  yield {
    name: `${root}/package.json`,
    data: JSON.stringify({ name: 'bench-app', version: '1.0.0', dependencies: Object.fromEntries(packages) }),
  };
  yield { name: `${root}/package-lock.json`, data: JSON.stringify({ name: 'bench-app', lockfileVersion: 3, packages: {} }) };
  for (const [name, version] of packages) {
    const dir = `${root}/node_modules/${name}`;
    yield {
      name: `${dir}/package.json`,
      data: JSON.stringify({ name, version, license: 'MIT', main: 'index.js', description: `the ${name} module` }, null, 2),
    };
    for (let i = 0; i < 12; i++) yield { name: `${dir}/lib/part${i}.js`, data: mixedBytes(20_000, i) };
  }
}

function* pythonEntries(packages) {
  const site = 'usr/lib/python3/dist-packages';
  for (const [name, version] of packages) {
    const info = `${site}/${name}-${version}.dist-info`;
    yield {
      name: `${info}/METADATA`,
      data: `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\nLicense: MIT\nSummary: ${name}\n\n${'Long description. '.repeat(200)}\n`,
    };
    yield { name: `${info}/RECORD`, data: `${name}/__init__.py,,\n` };
    for (let i = 0; i < 20; i++) yield { name: `${site}/${name.toLowerCase()}/mod${i}.py`, data: mixedBytes(15_000, i) };
  }
}

/** A Go program using net/http, built once (no network: only the standard library). */
function goBinary(log) {
  const out = path.join(CACHE_DIR, 'bench-go-app');
  if (existsSync(out)) return readFileSync(out);
  if (!has('go')) return (log('go is not installed: no Go binary layer'), null);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-go-'));
  try {
    writeFileSync(path.join(dir, 'go.mod'), 'module example.com/benchapp\n\ngo 1.19\n');
    writeFileSync(
      path.join(dir, 'main.go'),
      'package main\n\nimport (\n\t"fmt"\n\t"net/http"\n)\n\nfunc main() {\n\thttp.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })\n\t_ = http.ListenAndServe(":8080", nil)\n}\n',
    );
    const r = spawnSync('go', ['build', '-trimpath', '-o', out, '.'], {
      cwd: dir,
      env: { ...process.env, GOFLAGS: '-mod=mod', GOPROXY: 'off', CGO_ENABLED: '0', GOCACHE: path.join(os.tmpdir(), 'berth-test-gocache') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    if (r.status !== 0) return (log(`go build failed: ${String(r.stderr).trim()}`), null);
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The ~100 MB Debian-based application image: base + npm + Python + Go layers. */
export async function appImage({ offline = false, log = () => {} } = {}) {
  const base = await debianBase({ offline, log });
  const layers = [base.layer];
  layers.push(await cached('app-npm.tar.gz', (file) => writeLayer(file, npmEntries(NPM_PACKAGES, 'usr/src/app'))));
  layers.push(await cached('app-python.tar.gz', (file) => writeLayer(file, pythonEntries(PYPI_PACKAGES))));
  const go = goBinary(log);
  if (go) layers.push(await cached('app-go.tar.gz', (file) => writeLayer(file, [{ name: 'usr/local/bin/app', mode: 0o755, data: go }])));
  return { kind: base.kind, layers, go: !!go };
}

// ---------------------------------------------------------------- the 1 GB image

function* randomFiles(count, size) {
  for (let i = 0; i < count; i++) {
    yield {
      name: `opt/data/blob${i}.bin`,
      size,
      *chunks() {
        for (let at = 0; at < size; at += MiB) yield randomBytes(Math.min(MiB, size - at));
      },
    };
  }
}

function* textFiles(count, size) {
  const block = mixedBytes(MiB, 7);
  for (let i = 0; i < count; i++) {
    yield {
      name: `var/log/app/log${i}.txt`,
      size,
      *chunks() {
        for (let at = 0; at < size; at += MiB) yield block.subarray(0, Math.min(MiB, size - at));
      },
    };
  }
}

function* manyFiles(count) {
  for (let i = 0; i < count; i++) {
    const d = `srv/app/node_modules/pkg${Math.floor(i / 25)}`;
    if (i % 25 === 0)
      yield { name: `${d}/package.json`, data: JSON.stringify({ name: `pkg${Math.floor(i / 25)}`, version: `1.${i % 7}.0` }) };
    else if (i % 200 === 1)
      yield {
        name: `usr/lib/python3/dist-packages/py${i}-1.0.dist-info/METADATA`,
        data: `Metadata-Version: 2.1\nName: py${i}\nVersion: 1.0\n`,
      };
    else yield { name: `${d}/f${i}.js`, data: mixedBytes(1200 + (i % 800), i) };
  }
}

/** About 1 GB uncompressed: the Debian base, random and compressible big files, and 100,000 small files. */
export async function bigImage({ offline = false, log = () => {} } = {}) {
  const base = await debianBase({ offline, log });
  const textFormat = has('zstd') ? 'zstd' : 'gzip';
  log('making the 1 GB image (once; cached)');
  const layers = [
    base.layer,
    await cached('big-random.tar.gz', (file) => writeLayer(file, randomFiles(4, 100 * MiB))),
    await cached(`big-text.tar.${textFormat === 'zstd' ? 'zst' : 'gz'}`, (file) => writeLayer(file, textFiles(30, 10 * MiB), textFormat)),
    await cached('big-many.tar.gz', (file) => writeLayer(file, manyFiles(100_000))),
  ];
  return { kind: base.kind, layers };
}

// ---------------------------------------------------------------- small images for the push bench

/** A small real layer (os-release, the minbase dpkg status, a file unique to `id`) as tar+gzip bytes, in memory. */
export async function smallLayer(id) {
  const pack = tar.pack();
  const chunks = [];
  pack.on('data', (c) => chunks.push(c));
  const ended = new Promise((resolve) => pack.on('end', resolve));
  const add = (name, data) =>
    new Promise((resolve, reject) => pack.entry({ name, mode: 0o644 }, data, (err) => (err ? reject(err) : resolve())));
  await add('etc/os-release', OS_RELEASE);
  await add('var/lib/dpkg/status', dpkgStatus(MINBASE_PACKAGES));
  await add(`usr/src/app/node_modules/lodash/package.json`, JSON.stringify({ name: 'lodash', version: '4.17.20' }));
  await add(`usr/src/app/build-id`, id);
  pack.finalize();
  await ended;
  return gzipSync(Buffer.concat(chunks));
}
