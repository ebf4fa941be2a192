import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { strToU8, zipSync } from 'fflate';
import { layerOf, tarOf } from '../../../../test/helpers/layers.js';
import { makeRpmdb, toolMissing } from '../../../../test/helpers/scan-fixtures.js';
import { parseApkInstalled } from './analyzers/apk.js';
import { parseDpkgStatus } from './analyzers/dpkg.js';
import { GoBuildInfoScanner, goPackages } from './analyzers/go-buildinfo.js';
import { analyzeJar } from './analyzers/java.js';
import { parsePackageJson } from './analyzers/npm.js';
import { parseOsRelease } from './analyzers/os-release.js';
import { parsePythonMetadata } from './analyzers/python.js';
import { parseRpmDb } from './analyzers/rpm.js';
import { InventoryError, inventoryImage, type InventoryBudget } from './index.js';

// Random and mutated layers and package databases, from a fixed seed so a failure replays. The
// only acceptable outcomes are a result or an InventoryError; anything else (a TypeError, a
// RangeError escaping, a hang, memory blowing up) fails. Bounded by time, not by iterations.

function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.BERTH_FUZZ_SEED ?? 20261206);
const rand = prng(SEED);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

function mutate(input: Buffer, protect = 0): Buffer {
  let b = Buffer.from(input);
  const rounds = 1 + int(8);
  for (let i = 0; i < rounds; i++) {
    const at = protect + int(Math.max(1, b.length - protect));
    switch (int(6)) {
      case 0: // flip bits
        b[at] = (b[at] ?? 0) ^ (1 << int(8));
        break;
      case 1: // interesting bytes
        b[at] = pick([0, 0xff, 0x7f, 0x80, 0x0a, 0x3a, 0x30, 0x37]);
        break;
      case 2: // truncate
        b = b.subarray(0, at);
        break;
      case 3: // splice random bytes
        b = Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + int(64) }, () => int(256))), b.subarray(at)]);
        break;
      case 4: // duplicate a region
        b = Buffer.concat([b.subarray(0, at), b.subarray(int(b.length), int(b.length) + int(2048)), b.subarray(at)]);
        break;
      case 5: // a huge number where a size might be
        b.write(pick(['77777777777', '99999999999', '\xff\xff\xff\xff', '4294967295', '-1']), at, 'latin1');
        break;
    }
  }
  return b;
}

const BUDGET: Partial<InventoryBudget> = {
  maxEntriesPerLayer: 5000,
  maxLayerBytes: 8 << 20,
  maxMetadataFileBytes: 1 << 20,
  maxArchiveBytes: 1 << 20,
  maxRetainedBytes: 4 << 20,
  maxZipEntries: 2000,
  maxZipEntryBytes: 1 << 20,
  maxZipTotalBytes: 4 << 20,
  maxDurationMs: 5000,
};

async function mustBeClean(run: () => Promise<unknown>, what: string): Promise<'ok' | 'error'> {
  try {
    await run();
    return 'ok';
  } catch (err) {
    if (err instanceof InventoryError) return 'error';
    assert.fail(`${what} (seed ${SEED}) threw something other than an InventoryError: ${(err as Error)?.stack ?? String(err)}`);
  }
}

const ZST = readFileSync(new URL('./testdata/dpkg-2000-two-frames.tar.zst', import.meta.url));
const STATUS =
  'Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9\n\nPackage: bsdutils\nStatus: install ok installed\nSource: util-linux (2.38.1-5)\nVersion: 1:2.38.1-5\n';
const APK = 'P:musl\nV:1.2.4-r2\nA:x86_64\no:musl\nL:MIT\n\nP:busybox\nV:1.36.1-r15\no:busybox\n';
const METADATA = 'Metadata-Version: 2.1\nName: urllib3\nVersion: 1.26.4\nLicense: MIT\n';
const JAR = Buffer.from(
  zipSync({
    'META-INF/MANIFEST.MF': strToU8('Manifest-Version: 1.0\nImplementation-Vendor-Id: g\nImplementation-Version: 1\n'),
    'META-INF/maven/g/a/pom.properties': strToU8('groupId=g\nartifactId=a\nversion=1\n'),
    'lib/inner.jar': zipSync({ 'META-INF/maven/h/b/pom.properties': strToU8('groupId=h\nartifactId=b\nversion=2\n') }),
  }),
);
function goBlob(): Buffer {
  const head = Buffer.alloc(32);
  head.write('\xff Go buildinf:', 'latin1');
  head[14] = 8;
  head[15] = 2;
  const s = (x: string) => Buffer.concat([Buffer.from([x.length]), Buffer.from(x)]);
  const sentinel = '0123456789abcdef';
  return Buffer.concat([
    Buffer.from('\x7fELF'),
    Buffer.alloc(60),
    head,
    s('go1.21.5'),
    s(`${sentinel}mod\tm\tv1.0.0\t\ndep\td\tv0.1.0\t\n${sentinel}`),
  ]);
}

test('fuzz: mutated layers and package databases end in a result or an InventoryError', async (t) => {
  const rpmMissing = toolMissing('rpmbuild') ?? toolMissing('rpm');
  const rpmdb = rpmMissing ? undefined : makeRpmdb([{ name: 'a', version: '1', release: '1' }])['rpmdb.sqlite'];
  const files = () => [
    { name: 'etc/os-release', data: 'ID=debian\nVERSION_ID="12"\n' },
    { name: 'var/lib/dpkg/status', data: STATUS },
    { name: 'var/lib/dpkg/status.d/x', data: 'Package: x\nVersion: 1\n' },
    { name: 'lib/apk/db/installed', data: APK },
    { name: 'app/node_modules/lodash/package.json', data: '{"name":"lodash","version":"4.17.15"}' },
    { name: 'py/urllib3-1.26.4.dist-info/METADATA', data: METADATA },
    { name: 'app/app.jar', data: JAR },
    { name: 'bin/app', data: goBlob() },
    { name: 'srv/.wh.x', data: '' },
    { name: 'opt/.wh..wh..opq', data: '' },
    ...(rpmdb ? [{ name: 'var/lib/rpm/rpmdb.sqlite', data: rpmdb }] : []),
  ];
  const tarBytes = await tarOf(files());
  const base = await inventoryImage([layerOf(gzipSync(tarBytes))], BUDGET);
  assert.ok(base.packages.length >= 8, 'the unmutated image reads');

  const stats = { ok: 0, error: 0, runs: 0 };
  const until = Date.now() + 2500;
  while (Date.now() < until) {
    stats.runs++;
    const mode = int(4);
    let layer;
    if (mode === 0) {
      // A mutated tar, optionally compressed afterwards: header fields, sizes, checksums.
      const m = mutate(tarBytes);
      layer = layerOf(pick([(x: Buffer) => x, (x: Buffer) => gzipSync(x)])(m), 'application/vnd.oci.image.layer.v1.tar');
    } else if (mode === 1) {
      // A mutated compressed stream (past its magic, to reach the decoder): gzip or real zstd.
      layer = layerOf(mutate(rand() < 0.5 ? gzipSync(tarBytes) : ZST, 4));
    } else if (mode === 2) {
      // Valid tar, mutated package databases and metadata inside it.
      const fs = files().map((f) => (rand() < 0.5 ? { ...f, data: mutate(Buffer.from(f.data)) } : f));
      layer = layerOf(gzipSync(await tarOf(fs)));
    } else {
      // Pure noise, sometimes dressed with a gzip or zstd magic.
      const noise = Buffer.from(Array.from({ length: int(4096) }, () => int(256)));
      layer = layerOf(
        Buffer.concat([pick([Buffer.alloc(0), Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.from([0x28, 0xb5, 0x2f, 0xfd])]), noise]),
      );
    }
    const outcome = await mustBeClean(() => inventoryImage([layer], BUDGET), `mode ${mode}`);
    stats[outcome]++;
  }

  // The analyzers alone, on mutated input: they skip what they cannot read and never throw.
  const until2 = Date.now() + 1000;
  let analyzerRuns = 0;
  while (Date.now() < until2) {
    analyzerRuns++;
    parseDpkgStatus(mutate(Buffer.from(STATUS)).toString());
    parseApkInstalled(mutate(Buffer.from(APK)).toString());
    parsePackageJson(mutate(Buffer.from('{"name":"a","version":"1","license":{"type":"MIT"}}')).toString());
    parsePythonMetadata(mutate(Buffer.from(METADATA)).toString());
    parseOsRelease(mutate(Buffer.from('ID="debian"\nVERSION_ID=12\n')).toString());
    analyzeJar(mutate(JAR), 'a.jar', { maxEntries: 1000, maxEntryBytes: 1 << 20, maxTotalBytes: 4 << 20, maxDepth: 3 }, []);
    const go = new GoBuildInfoScanner(1 << 16);
    go.push(mutate(goBlob()));
    go.end();
    if (go.info) goPackages(go.info);
    if (rpmdb && analyzerRuns % 20 === 0) await parseRpmDb('sqlite', mutate(rpmdb, 100), undefined, 1 << 24);
  }
  t.diagnostic(`seed ${SEED}: ${stats.runs} images (${stats.ok} read, ${stats.error} refused), ${analyzerRuns} analyzer rounds`);
  assert.ok(stats.runs > 20 && stats.ok > 0 && stats.error > 0);
});
