import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, unlinkSync } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import * as tar from 'tar-stream';
import { parseDigest } from '../src/domain/digest.js';
import { StorageUnavailableError } from '../src/storage/driver.js';
import { blobKey } from '../src/storage/paths.js';
import { adminAuthHeader, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { tarOf, type TarFile } from './helpers/layers.js';
import { blobOf, imageManifest, MT, uniqueRepo, type Blob } from './helpers/oci.js';

// Hostile images through the real scan job, on SQLite and PostgreSQL: each is pushed over /v2 and
// scanned by the job queue like any other push. Every one must end as its own scan `failed`, with a
// message that names the layer and says what is wrong, within the scan's time budget; none may
// crash the node, wedge the queue or blow up its memory, and a normal image pushed after them all
// is scanned as usual. The budgets are lowered through the scan.* configuration keys, so a tar bomb
// needs thousands of entries rather than millions and a decompression bomb megabytes, not gigabytes.

const MiB = 1024 * 1024;
const FUZZ_SEED = Number(process.env.BERTH_FUZZ_SEED ?? 20261206);

function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const TIMEOUT_SECONDS = 2;
const CONFIG = {
  // Blob files are replaced in place (deleted, a FIFO that stalls): the clear fs layout. A FIFO under
  // encryption at rest would block the decrypting reads of its header on libuv's threads instead.
  storage: { encryption: { enabled: false } },
  // A lease shorter than the scan timeout: a scan that does not keep its lease is claimed again mid-scan.
  jobs: { pollIntervalMs: 20, backoffBaseMs: 20, backoffMaxMs: 100, concurrency: 4, leaseSeconds: 1 },
  scan: {
    timeoutSeconds: TIMEOUT_SECONDS,
    maxLayerEntries: 2000,
    maxLayerBytes: 8 * MiB,
    maxMetadataFileBytes: 1 * MiB,
    maxAttempts: 3,
  },
};

interface ScanView {
  status: string;
  message?: string;
  packages?: number;
  findings?: { id: string; package: string }[];
}

const DEBIAN_OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n';
const dpkgEntry = (pkg: string, version: string) =>
  `Package: ${pkg}\nStatus: install ok installed\nArchitecture: amd64\nVersion: ${version}\nDescription: a package\n`;

/** A tar.gz built streaming: `size` bytes of zeros in one file compress to a few KiB per MiB. */
async function zeroBomb(size: number): Promise<Buffer> {
  const pack = tar.pack();
  const out: Buffer[] = [];
  const gz = createGzip({ level: 9 });
  gz.on('data', (c: Buffer) => out.push(c));
  const done = pipeline(pack as unknown as Readable, gz);
  const entry = pack.entry({ name: 'zeros', size, type: 'file', mode: 0o644 });
  const zeros = Buffer.alloc(MiB);
  await pipeline(
    Readable.from(
      (function* () {
        for (let left = size; left > 0; left -= MiB) yield left >= MiB ? zeros : zeros.subarray(0, left);
      })(),
    ),
    entry as unknown as NodeJS.WritableStream,
  );
  pack.finalize();
  await done;
  return Buffer.concat(out);
}

const gz = async (files: TarFile[]) => gzipSync(await tarOf(files));

/** An image config as buildah writes one; the scanner only needs its media type. */
const configBlob = () =>
  blobOf(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [] },
      config: {},
      created: new Date().toISOString(),
      history: [{ comment: randomBytes(8).toString('hex') }],
    }),
  );

for (const backend of BACKENDS) {
  describe(`hostile images fail their own scan (${backend})`, await backendGate(backend), () => {
    let t: TestApp;
    let reg: string;
    const post = (body: string) =>
      t.fetch('/api/vulndb/imports?source=badinput', {
        method: 'POST',
        headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
        body,
      });
    const record = {
      id: 'DSA-9100-1',
      modified: '2026-11-30T10:00:00Z',
      affected: [
        {
          package: { ecosystem: 'Debian:12', name: 'bash' },
          ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '5.2.15-3' }] }],
        },
      ],
    };

    before(async () => {
      t = await startTestApp(backend, CONFIG);
      reg = await t.createRegistry();
      // Vulnerability data first: a deployment scans pushes once it has some.
      const loaded = await post(JSON.stringify([record]));
      assert.equal(loaded.status, 201, await loaded.text());
    });
    after(async () => {
      await t?.close();
    });

    /** Pushes config + the given layer blobs and an image manifest; `beforeManifest` runs between the blobs and the manifest. */
    async function push(repo: string, layers: Buffer[], beforeManifest?: (layers: Blob[]) => Promise<void>): Promise<string> {
      const v2 = t.v2();
      const name = `${reg}/${repo}`;
      const config = await v2.pushBlob(name, configBlob());
      const blobs: Blob[] = [];
      for (const l of layers) blobs.push(await v2.pushBlob(name, blobOf(l)));
      await beforeManifest?.(blobs);
      const manifest = imageManifest(
        { mediaType: MT.ociConfig, digest: config.digest, size: config.size },
        blobs.map((b) => ({ mediaType: MT.ociLayer, digest: b.digest, size: b.size })),
      );
      const res = await v2.putManifest(name, 'v1', manifest);
      assert.equal(res.status, 201, await res.text());
      return res.headers.get('docker-content-digest')!;
    }

    async function scan(repo: string, digest: string): Promise<ScanView> {
      const res = await t.fetch(`/api/registries/${reg}/repositories/${repo}/_manifests/${digest}/_scan`, {
        headers: { Authorization: adminAuthHeader() },
      });
      assert.equal(res.status, 200);
      return (await res.json()) as ScanView;
    }

    /** Waits for the scan to end; fails when it is still queued or running after `ms`. */
    async function settled(repo: string, digest: string, ms = 15000): Promise<ScanView & { seconds: number }> {
      const start = Date.now();
      for (;;) {
        const v = await scan(repo, digest);
        if (v.status !== 'queued' && v.status !== 'running') return { ...v, seconds: (Date.now() - start) / 1000 };
        if (Date.now() - start > ms) assert.fail(`the scan of ${repo}@${digest} is still ${v.status} after ${ms} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }

    const blobFile = (digest: string) => path.join(t.dataDir, 'storage', ...blobKey(parseDigest(digest)).split('/'));

    test('each hostile image fails its own scan with the reason, on time; a normal image pushed after them succeeds', async () => {
      const rssBefore = process.memoryUsage().rss;
      const normalLayer = await gz([
        { name: 'etc/os-release', data: DEBIAN_OS_RELEASE },
        { name: 'var/lib/dpkg/status', data: `${dpkgEntry('bash', '5.2.15-2')}\n${dpkgEntry('libc6', '2.36-9')}` },
      ]);
      const goodTar = await tarOf([{ name: 'usr/share/doc/big', data: randomBytes(256 * 1024) }]);
      const cases: { what: string; layers: Buffer[]; message: RegExp; beforeManifest?: (layers: Blob[]) => Promise<void> }[] = [
        {
          what: 'random bytes declared as tar+gzip',
          layers: [normalLayer, randomBytes(200 * 1024)],
          message:
            /^layer sha256:[0-9a-f]{64} is declared application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip but is neither compressed nor a tar$/,
        },
        {
          what: 'a truncated gzip layer',
          layers: [gzipSync(goodTar).subarray(0, 100 * 1024)],
          message: /^layer sha256:[0-9a-f]{64} could not be read as a tar archive: the gzip data ends early: the blob is truncated/,
        },
        {
          what: 'a decompression bomb (64 MiB of zeros in a few KiB)',
          layers: [normalLayer, await zeroBomb(64 * MiB)],
          message: new RegExp(`^layer sha256:[0-9a-f]{64} unpacks to more than ${8 * MiB} bytes`),
        },
        {
          what: 'a tar bomb (more entries than scan.maxLayerEntries)',
          layers: [await gz(Array.from({ length: 2500 }, (_, i) => ({ name: `d/f${i}`, data: '' })))],
          message: /^layer sha256:[0-9a-f]{64} has more than 2000 entries/,
        },
        {
          what: 'an enormous path name (pax header)',
          layers: [await gz([{ name: `${'x'.repeat(200_000)}/f`, data: 'x' }])],
          message: /^layer sha256:[0-9a-f]{64} has a path longer than 4096 characters \(x{80}…\)$/,
        },
        {
          what: 'a long path carrying terminal escapes',
          layers: [await gz([{ name: `\x1b]0;owned\x07\x1b[2J${'z'.repeat(5000)}`, data: 'x' }])],
          message: /^layer sha256:[0-9a-f]{64} has a path longer than 4096 characters \(\\x1b\]0;owned\\x07\\x1b\[2Jz{66}…\)$/,
        },
        {
          what: 'a tar header larger than tar-stream holds (a 5 MiB path)',
          layers: [await gz([{ name: 'y'.repeat(5 * MiB), data: 'x' }])],
          message: /^layer sha256:[0-9a-f]{64} could not be read as a tar archive: a long-name or pax header is larger than 4 MiB$/,
        },
        {
          what: 'a deep path',
          layers: [await gz([{ name: `${'a/'.repeat(300)}f`, data: 'x' }])],
          message: /^layer sha256:[0-9a-f]{64} has a path deeper than 256 directories$/,
        },
        {
          what: 'a dpkg status larger than scan.maxMetadataFileBytes',
          layers: [await gz([{ name: 'var/lib/dpkg/status', data: dpkgEntry('bash', '1').repeat(1 + MiB / 60) }])],
          message: /^the package database var\/lib\/dpkg\/status in layer sha256:[0-9a-f]{64} is \d+ bytes, more than the 1048576 allowed$/,
        },
        {
          what: 'a dpkg status of binary garbage',
          layers: [
            await gz([{ name: 'var/lib/dpkg/status', data: Buffer.concat([Buffer.from(dpkgEntry('bash', '1')), randomBytes(64 * 1024)]) }]),
          ],
          message: /^the package database var\/lib\/dpkg\/status in layer sha256:[0-9a-f]{64} is not a text file/,
        },
        {
          what: 'a dpkg status with a gigantic field',
          layers: [await gz([{ name: 'var/lib/dpkg/status', data: `${dpkgEntry('bash', '1')}\n${dpkgEntry('p'.repeat(500_000), '1')}` }])],
          message:
            /^the package database var\/lib\/dpkg\/status in layer sha256:[0-9a-f]{64} names a package whose name is 500000 characters long/,
        },
        {
          what: 'a layer blob deleted from storage behind the registry',
          layers: [normalLayer, randomBytes(1024)],
          beforeManifest: ([, gone]) => fsp.unlink(blobFile(gone!.digest)),
          message: /^layer sha256:[0-9a-f]{64} is missing from storage/,
        },
      ];

      const pushed: { what: string; repo: string; digest: string; message: RegExp }[] = [];
      for (const c of cases) {
        const repo = uniqueRepo('bad');
        pushed.push({ what: c.what, repo, digest: await push(repo, c.layers, c.beforeManifest), message: c.message });
      }
      // Pushed last, scanned after (or beside) all the hostile ones.
      const normalRepo = uniqueRepo('good');
      const normal = await push(normalRepo, [normalLayer]);

      for (const p of pushed) {
        const v = await settled(p.repo, p.digest);
        assert.equal(v.status, 'failed', `${p.what}: ${JSON.stringify(v)}`);
        assert.match(v.message ?? '', p.message, p.what);
        assert.ok(v.seconds < TIMEOUT_SECONDS + 10, `${p.what}: took ${v.seconds} s`);
      }
      const ok = await settled(normalRepo, normal);
      assert.equal(ok.status, 'succeeded', JSON.stringify(ok));
      assert.equal(ok.packages, 2);
      // No job was left behind: every scan job ends (a job is completed just after its scan row), none retrying or dead.
      let unfinished: unknown[] = [];
      for (let i = 0; i < 100; i++) {
        const jobs = await t.app.services.jobs.list({ kind: 'scan' });
        unfinished = jobs.filter((j) => j.state !== 'succeeded').map((j) => [j.state, j.attempts, j.last_error]);
        if (unfinished.length === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(unfinished, []);
      const growth = (process.memoryUsage().rss - rssBefore) / MiB;
      assert.ok(growth < 300, `RSS grew by ${growth.toFixed(0)} MiB`);
    });

    test('a layer whose storage read stalls fails with the timeout message; the next scan runs', async () => {
      const repo = uniqueRepo('stall');
      const head = gzipSync(await tarOf([{ name: 'etc/os-release', data: DEBIAN_OS_RELEASE }]));
      let opened: Promise<fsp.FileHandle> | undefined;
      const storage = t.app.storage;
      const read = storage.read.bind(storage);
      let fifoKey = '';
      let fifoReads = 0;
      storage.read = (k, range) => {
        if (k === fifoKey) fifoReads++;
        return read(k, range);
      };
      try {
        const digest = await push(repo, [head], ([layer]) => {
          // The stored blob becomes a FIFO: the scan's read gets the first bytes, then nothing, forever.
          fifoKey = blobKey(parseDigest(layer!.digest));
          const file = blobFile(layer!.digest);
          unlinkSync(file);
          mkdirSync(path.dirname(file), { recursive: true });
          execFileSync('mkfifo', [file]);
          // Opening either end of a FIFO waits for the other: this resolves once the scan opens the blob.
          opened = fsp.open(file, 'w');
          void opened.then((w) => w.write(head.subarray(0, 20)));
          return Promise.resolve();
        });
        const v = await settled(repo, digest);
        assert.equal(v.status, 'failed', JSON.stringify(v));
        assert.match(v.message ?? '', new RegExp(`^the scan of ${repo}@${digest} took longer than ${TIMEOUT_SECONDS} s and was stopped$`));
        assert.ok(v.seconds < TIMEOUT_SECONDS + 5, `took ${v.seconds} s`);
        // Scanned once: the job kept its lease (1 s here) for the whole scan and was not claimed again.
        assert.equal(fifoReads, 1);
        // The reader was still blocked when the scan gave up: the node went on regardless.
        const nextRepo = uniqueRepo('after');
        const next = await push(nextRepo, [head]);
        const n = await settled(nextRepo, next);
        assert.equal(n.status, 'succeeded', JSON.stringify(n));
      } finally {
        storage.read = read;
        // Closing the writer ends the read the scan abandoned (it still holds a libuv thread).
        await (await opened)?.close();
      }
    });

    test('fuzz: mutated layers through the job end as succeeded or failed with a message; the queue is not wedged', async () => {
      const rand = prng(FUZZ_SEED);
      const int = (n: number) => Math.floor(rand() * n);
      const tarBytes = await tarOf([
        { name: 'etc/os-release', data: DEBIAN_OS_RELEASE },
        { name: 'var/lib/dpkg/status', data: `${dpkgEntry('bash', '5.2.15-2')}\n${dpkgEntry('libc6', '2.36-9')}` },
        { name: 'usr/lib/node_modules/a/package.json', data: '{"name":"a","version":"1.0.0"}' },
      ]);
      const mutate = (b: Buffer): Buffer => {
        const out = Buffer.from(b);
        for (let i = 0, n = 1 + int(6); i < n; i++) {
          const at = int(out.length);
          if (int(3) === 0) return out.subarray(0, at);
          out[at] = int(256);
        }
        return out;
      };
      const images: { repo: string; digest: string }[] = [];
      for (let i = 0; i < 16; i++) {
        // Half damaged before compression (tar headers, the database), half after (the gzip stream).
        const layer = i % 2 ? gzipSync(mutate(tarBytes)) : mutate(gzipSync(tarBytes));
        const repo = uniqueRepo('fuzz');
        images.push({ repo, digest: await push(repo, [layer]) });
      }
      const normalRepo = uniqueRepo('good');
      const normal = await push(normalRepo, [gzipSync(tarBytes)]);
      for (const { repo, digest } of images) {
        const v = await settled(repo, digest);
        const seen = `seed ${FUZZ_SEED}: ${JSON.stringify({ status: v.status, message: v.message })}`;
        assert.ok(v.status === 'succeeded' || v.status === 'failed', seen);
        if (v.status === 'failed') assert.match(v.message ?? '', /^(layer sha256:[0-9a-f]{64} |the package database )/, seen);
      }
      assert.equal((await settled(normalRepo, normal)).status, 'succeeded');
    });

    test('corrupt vulnerability data is refused without touching what was loaded: scans still match the good records', async () => {
      // Truncated, then a newer copy of the same record that is garbage where ranges should be.
      const truncated = await post(`${JSON.stringify([{ ...record, modified: '2026-12-01T00:00:00Z' }]).slice(0, 60)}`);
      assert.equal(truncated.status, 400, await truncated.text());
      const garbage = await post(
        JSON.stringify([{ ...record, modified: '2026-12-02T00:00:00Z', affected: [{ ranges: 'x'.repeat(10000) }] }]),
      );
      const answer = (await garbage.json()) as { rejected: number; errors: string[] };
      assert.equal(answer.rejected, 1, JSON.stringify(answer));

      const repo = uniqueRepo('osv');
      const layer = await gz([
        { name: 'etc/os-release', data: DEBIAN_OS_RELEASE },
        { name: 'var/lib/dpkg/status', data: dpkgEntry('bash', '5.2.15-2') },
      ]);
      const v = await settled(repo, await push(repo, [layer]));
      assert.equal(v.status, 'succeeded', JSON.stringify(v));
      assert.deepEqual(
        v.findings?.map((f) => [f.id, f.package]),
        [['DSA-9100-1', 'bash']],
      );
    });

    test('a storage outage is retried; one that outlasts scan.maxAttempts fails the scan with the storage error', async () => {
      const storage = t.app.storage;
      const read = storage.read.bind(storage);
      const layer = gzipSync(
        await tarOf([
          { name: 'etc/os-release', data: DEBIAN_OS_RELEASE },
          { name: 'x', data: randomBytes(64) },
        ]),
      );
      const key = blobKey(parseDigest(blobOf(layer).digest));
      let failures = 0;
      let failFor = 1;
      // The storage seam of this very node: reads of one layer fail as an unreachable storage does.
      storage.read = (k, range) => {
        if (k === key && failures < failFor) {
          failures++;
          return Promise.reject(new StorageUnavailableError(storage.name, `the storage did not answer reading ${k}`));
        }
        return read(k, range);
      };
      try {
        const once = uniqueRepo('outage');
        const first = await settled(once, await push(once, [layer]));
        assert.equal(first.status, 'succeeded', JSON.stringify(first));
        assert.equal(failures, 1);

        failures = 0;
        failFor = Infinity;
        const always = uniqueRepo('outage');
        const digest = await push(always, [layer]);
        const v = await settled(always, digest);
        assert.equal(v.status, 'failed', JSON.stringify(v));
        assert.match(v.message ?? '', /^layer sha256:[0-9a-f]{64} could not be opened: fs: the storage did not answer/);
        assert.equal(failures, CONFIG.scan.maxAttempts);
      } finally {
        storage.read = read;
      }
    });
  });
}
