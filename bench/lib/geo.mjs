// --geo: geo-replication between two regions of one deployment, on this machine. One PostgreSQL
// schema, two `berth serve` processes (region westeurope = A, region eastus = B), one fs root per
// region under a temp dir. For each shape (N images of one layer each, pushed to A) and round:
//
//   backfill: a fresh registry on A gets its images pushed while it has no replica (untimed); then
//     a replica in B is created (POST /api/registries/R/replications) and the time until B holds
//     every blob and the replica shows Ready is the product's replication of those bytes (MB/s).
//     Beside it, the same blob files copied from A's root into a scratch root, once with plain Node
//     streams (read stream -> write stream, then fsync) and once through the product's own copy
//     path without the registry (copyBlob from dist/: FsDriver read -> sha256 verifier -> FsDriver
//     writer with fsync -> rename), both with copyConcurrency (4) copies at once. Ratios per round.
//   push -> Ready: with the replica in place, a new batch of N images is pushed to A (4 in flight:
//     config, layer, manifest PUT); from the last manifest PUT's 201 the bench polls B's
//     GET /api/registries/R/replications/eastus every 50 ms until status.displayStatus is Ready.
//   one image -> Ready: single images pushed one after another, each waited for the same way.
//
// Every poll goes to region B's node. The bytes counted are the layers and configs (manifests are
// metadata, not copied). Sources sit in the page cache in every case (they were just written).
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { RegistryClient } from './client.mjs';
import { inParallel, info, latency, mbPerSecond, throughput } from './measure.mjs';
import { imageManifest, MiB, pushImageBlobs, putManifest } from './registry-ops.mjs';
import { median } from './report.mjs';
import { dropSchema } from './seed-catalog.mjs';
import { startAzurite, startBerth } from './servers.mjs';

const KiB = 1024;
export const REGION_A = 'westeurope';
export const REGION_B = 'eastus';
const POLL_MS = 50;
const READY_TIMEOUT_MS = 600_000;

/** Shapes: N images of one layer each (plus its small config). */
export const GEO_SHAPES = {
  full: {
    pushConcurrency: 4,
    copyConcurrency: 4,
    shapes: [
      { name: 'geo 1M x100', layer: 1 * MiB, images: 100, single: 5 },
      { name: 'geo 64M x8', layer: 64 * MiB, images: 8, single: 3 },
    ],
  },
  quick: {
    pushConcurrency: 2,
    copyConcurrency: 4,
    shapes: [
      { name: 'geo 64K x4', layer: 64 * KiB, images: 4, single: 1 },
      { name: 'geo 1M x2', layer: 1 * MiB, images: 2, single: 1 },
    ],
  },
};

/** The notes printed under the table. */
export const geoNotes = (storage) => [
  `geo: two berth serve processes (regions westeurope -> eastus) on one PostgreSQL schema, ${storage === 'azure' ? 'a container each on one Azurite' : 'one fs root each, same disk'}; ` +
    'replication MB/s = bytes of layers+configs / (replica created -> every blob in B and Ready), polled every 50 ms.',
  storage === 'azure'
    ? 'geo: "copyBlob" = the product copy path (AzureDriver read, sha256 check, AzureDriver write, move) without the registry, in the bench process, 4 copies at once. x rows are per-round ratios (median shown).'
    : 'geo: "stream copy" = the same files with Node read/write streams + fsync; "copyBlob" = the product copy path (FsDriver, sha256 check, fsync, rename) without ' +
      'the registry; both in the bench process, 4 copies at once. x rows are per-round ratios (median shown).',
  "geo: push -> Ready is timed from the 201 of the batch's last manifest PUT on A to the first poll of B answering Ready; " +
    'the job worker polls every jobs.pollIntervalMs (default 500 ms) and runs at most jobs.concurrency/2 replication jobs at once per node.',
];

/** The product's modules from dist/ (the bench measures what `npm run build` produced). */
async function product(root) {
  const mod = (p) => import(pathToFileURL(path.join(root, 'dist', p)).href);
  const [{ FsDriver }, { AzureDriver }, { copyBlob }, { blobKey }, { parseDigest }] = await Promise.all([
    mod('storage/drivers/fs.js'),
    mod('storage/drivers/azure.js'),
    mod('services/replication/copy.js'),
    mod('storage/paths.js'),
    mod('domain/digest.js'),
  ]);
  return { FsDriver, AzureDriver, copyBlob, key: (digest) => blobKey(parseDigest(digest)) };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A small JSON API client for one node (Basic auth: the node caches the password check). */
function api(node) {
  const auth = `Basic ${Buffer.from(`${node.username}:${node.password}`).toString('base64')}`;
  return async (method, p, body, expect = [200]) => {
    const res = await fetch(`${node.url}${p}`, {
      method,
      headers: { Authorization: auth, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!expect.includes(res.status)) throw new Error(`${method} ${p} on ${node.url}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : {};
  };
}

/**
 * Polls region B's replica status every POLL_MS until it is Ready (and, when given, done() holds);
 * resolves with performance.now() of the answer that said so, and how many polls it took.
 */
async function untilReady(apiB, registry, done = () => true) {
  const until = Date.now() + READY_TIMEOUT_MS;
  let polls = 0;
  for (;;) {
    const started = performance.now();
    const r = await apiB('GET', `/api/registries/${registry}/replications/${REGION_B}`);
    polls++;
    const at = performance.now();
    if (r.status?.displayStatus === 'Ready' && (await done())) return { at, polls };
    if (Date.now() > until)
      throw new Error(`replica ${REGION_B} of ${registry} not Ready after ${READY_TIMEOUT_MS / 1000} s: ${JSON.stringify(r.status)}`);
    await sleep(Math.max(0, POLL_MS - (at - started)));
  }
}

/** Pushes n images of one layer to repo (concurrency in flight); each manifest PUT's ack time. */
async function pushImages(client, repo, blobs, n, layerSize, concurrency, id) {
  const images = [];
  const acks = [];
  const r = await inParallel(n, concurrency, async (i) => {
    const { config, layer } = await pushImageBlobs(client, repo, blobs, layerSize, `${id}-${i}`);
    const manifest = imageManifest(config, [layer], `${id}-${i}`);
    await putManifest(client, repo, `v${i}`, manifest);
    acks.push(performance.now());
    images.push({ config, layer });
  });
  const digests = images.flatMap((im) => [im.config, im.layer]);
  return { digests, bytes: digests.reduce((s, b) => s + b.size, 0), acks, wallMs: r.wallMs };
}

/** Copies files src[i] -> dst[i] with plain streams, then fsyncs each; concurrency at once. */
async function streamCopy(pairs, concurrency) {
  const r = await inParallel(pairs.length, concurrency, async (i) => {
    const [src, dst] = pairs[i];
    mkdirSync(path.dirname(dst), { recursive: true });
    await pipeline(createReadStream(src, { highWaterMark: MiB }), createWriteStream(dst));
    const fh = await fsp.open(dst, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  });
  return r.wallMs;
}

/**
 * Runs the geo benchmark: starts the deployment, runs rounds x shapes, stops everything.
 * ctx: { root, pgUrl, runId, blobs, berthEnv, storage ('fs' or 'azure': each region a container
 * of one Azurite), log, fmt, running }. Results under `label`.
 */
export async function geoBench(rounds, quick, ctx, results, label) {
  const { log, running } = ctx;
  const spec = quick ? GEO_SHAPES.quick : GEO_SHAPES.full;
  const stops = [];
  const track = (stop) => {
    stops.push(stop);
    running.add(stop);
  };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-geo-bench-'));
  track(async () => rmSync(dir, { recursive: true, force: true }));
  const roots = { [REGION_A]: path.join(dir, 'region-a'), [REGION_B]: path.join(dir, 'region-b') };
  const sep = ctx.pgUrl.includes('?') ? '&' : '?';
  const metadata = `${ctx.pgUrl}${sep}schema=berth_bench_${ctx.runId}_geo`;
  track(() => dropSchema(metadata));
  const config = path.join(dir, 'berth.yaml');
  const azure = ctx.storage === 'azure';
  const clients = [];
  try {
    const p = await product(ctx.root);
    let azurite = null;
    if (azure) {
      azurite = await startAzurite(ctx.root);
      track(azurite.stop);
    }
    const storageOf = (name) =>
      azure
        ? { driver: 'azure', azure: { connectionString: azurite.connectionString, container: `geo-${name}` } }
        : { driver: 'fs', path: roots[name] };
    // The bench's own view of a store (baselines, and checking that B holds the bytes).
    const driverOf = async (st) => {
      if (st.driver === 'fs') return new p.FsDriver(st.path);
      const d = new p.AzureDriver({ ...st.azure, createContainer: true });
      await d.init();
      return d;
    };
    // JSON is YAML: the regions, each with its own store. The URLs are the regions' public names
    // only (regional endpoints); the bench talks to each node on its own port.
    writeFileSync(
      config,
      JSON.stringify({
        regions: [
          { name: REGION_A, url: 'http://westeurope.geo-bench.invalid', storage: storageOf(REGION_A) },
          { name: REGION_B, url: 'http://eastus.geo-bench.invalid', storage: storageOf(REGION_B) },
        ],
        gc: { enabled: false },
      }),
    );
    const password = randomBytes(18).toString('base64url');
    const nodes = {};
    // One after another: the first migrates the schema.
    for (const region of [REGION_A, REGION_B]) {
      const node = await startBerth({
        root: ctx.root,
        registry: '',
        metadata,
        config,
        password,
        createRegistry: false,
        env: { ...ctx.berthEnv, BERTH_REGION: region },
      });
      track(node.stop);
      nodes[region] = node;
    }
    const A = nodes[REGION_A];
    const apiA = api(A);
    const apiB = api(nodes[REGION_B]);
    const regions = await apiB('GET', '/api/regions');
    if (regions.serving !== REGION_B) throw new Error(`node B serves ${regions.serving}, not ${REGION_B}`);
    log(
      `   geo: ${REGION_A} ${A.url} (pid ${A.pid}), ${REGION_B} ${nodes[REGION_B].url} (pid ${nodes[REGION_B].pid}); ${azure ? `Azurite pid ${azurite.pid}` : `roots under ${dir}`}`,
    );
    const client = new RegistryClient({ url: A.url, username: A.username, password });
    clients.push(client);
    const driverB = await driverOf(storageOf(REGION_B));
    const inB = (digests) => async () => {
      for (const d of digests) if (!(await driverB.stat(p.key(d.digest)))) return false;
      return true;
    };
    const regionA = { name: REGION_A, url: '', driver: await driverOf(storageOf(REGION_A)) };
    let registries = 0;

    for (let round = 0; round < rounds; round++) {
      for (const shape of spec.shapes) {
        const registry = `geo${ctx.runId.slice(0, 6)}r${++registries}`;
        await apiA('POST', '/api/registries', { name: registry, sku: 'Premium' }, [201]);
        const repo = `${registry}/geo/img`;
        const id = `${ctx.runId}-${registry}`;
        const out = [];

        // 1. Backfill throughput: images first, then the replica.
        const first = await pushImages(client, repo, ctx.blobs, shape.images, shape.layer, spec.pushConcurrency, `${id}-a`);
        const mb = first.bytes / MiB;
        // Baselines on the same files: plain streams, then the product's copy path.
        const scratch = path.join(dir, `scratch-${registries}`);
        const pairs = first.digests.map((d) => [
          path.join(roots[REGION_A], p.key(d.digest)),
          path.join(scratch, 'stream', p.key(d.digest)),
        ]);
        // Plain streams between two roots: fs only.
        const streamMs = azure ? NaN : await streamCopy(pairs, spec.copyConcurrency);
        const scratchStore = azure
          ? { driver: 'azure', azure: { connectionString: azurite.connectionString, container: `geo-scratch-${registries}` } }
          : { driver: 'fs', path: path.join(scratch, 'copyblob') };
        const regionC = { name: 'scratch', url: '', driver: await driverOf(scratchStore) };
        const copyMs = (
          await inParallel(first.digests.length, spec.copyConcurrency, (i) =>
            p.copyBlob(regionA, regionC, first.digests[i].digest, first.digests[i].size),
          )
        ).wallMs;
        rmSync(scratch, { recursive: true, force: true });
        const t0 = performance.now();
        await apiA('POST', `/api/registries/${registry}/replications`, { location: REGION_B }, [201]);
        const ready = await untilReady(apiB, registry, inB(first.digests));
        const replMs = ready.at - t0;
        const repl = mbPerSecond(first.bytes, replMs);
        const stream = mbPerSecond(first.bytes, streamMs);
        const copy = mbPerSecond(first.bytes, copyMs);
        out.push(
          info('data replicated (layers + configs)', mb, 'MiB'),
          throughput('backfill: replication A->B', repl, 'MB/s'),
          latency('backfill: replica created -> Ready', replMs),
          throughput('baseline: copyBlob (product path, no registry)', copy, 'MB/s'),
          throughput('replication / copyBlob', repl / copy, 'x'),
        );
        if (!azure)
          out.push(
            throughput('baseline: stream copy + fsync', stream, 'MB/s'),
            throughput('replication / stream copy', repl / stream, 'x'),
          );

        // 2. Push -> Ready for a new batch, the replica in place.
        const batch = await pushImages(client, repo, ctx.blobs, shape.images, shape.layer, spec.pushConcurrency, `${id}-b`);
        const lastAck = Math.max(...batch.acks);
        const done = await untilReady(apiB, registry);
        if (!(await inB(batch.digests)())) throw new Error(`${registry} is Ready but region ${REGION_B} lacks blobs of the batch`);
        out.push(
          info('batch push on A (wall)', batch.wallMs, 'ms'),
          latency('batch: last push ack -> Ready', done.at - lastAck),
          latency('batch: first push ack -> Ready', done.at - Math.min(...batch.acks)),
        );

        // 3. One image at a time.
        const singles = [];
        for (let i = 0; i < shape.single; i++) {
          const one = await pushImages(client, repo, ctx.blobs, 1, shape.layer, 1, `${id}-s${i}`);
          const r = await untilReady(apiB, registry);
          if (!(await inB(one.digests)())) throw new Error(`${registry} is Ready but region ${REGION_B} lacks a single image's blobs`);
          singles.push(r.at - one.acks[0]);
        }
        out.push(latency(`one image: push ack -> Ready (median of ${shape.single})`, median(singles)));

        const scenario = azure ? `${shape.name} azure` : shape.name;
        results.add(scenario, label, out);
        log(`   round ${round + 1} ${scenario}: ${out.map((m) => `${m.metric} ${ctx.fmt(m.value)} ${m.unit}`).join(', ')}`);
      }
    }
  } finally {
    for (const c of clients) c.close();
    for (const stop of stops.reverse()) {
      running.delete(stop);
      await stop().catch((e) => log(`   cleanup: ${e.message}`));
    }
  }
}
