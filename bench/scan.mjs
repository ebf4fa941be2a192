#!/usr/bin/env node
// The scanner's speed and cost targets (issue 15), measured against dist/ (run `npm run build` first):
//
//   node bench/scan.mjs [--quick] [--rounds N] [--only inventory,memory,rematch,push] [--offline]
//                       [--records 40000] [--pg postgres://...|--no-pg] [--images N]
//
// 1. inventory: inventoryImage + VulnMatcher.match of a Debian-based image (debootstrap bookworm
//    minbase when it can run, else a synthetic base of the same size and package list) with npm,
//    Python and Go layers, against 40,000 synthetic Debian OSV records on SQLite. In a child process
//    pinned to one CPU (taskset); one warm-up, then timed rounds. Target: <= 5 s.
// 2. memory: inventoryImage of a ~1 GB image (random and compressible big files, 100,000 small
//    files) in a fresh child process per round; peak RSS growth from VmHWM and sampling. Target <= 200 MB.
// 3. rematch: ScanService.rematchAll over 1,000 stored inventories (~100 packages each) after the
//    import, on SQLite and PostgreSQL. Target: <= 30 s.
// 4. push: N small real images (a dpkg database, an npm package) pushed one after another to a real
//    `berth serve` with scanning on and off; manifest PUT p50/p99 and blob push p50, and the ratio.
//    With scanning on, the scans run in the background: the bench waits for them before the next
//    batch so they never overlap the other configuration's pushes.
//
// Every figure is the median over rounds; the machine it runs on is usually shared, so read the spread too.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { clearInterval, setInterval } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RegistryClient } from './lib/client.mjs';
import { packageNames, syntheticDebianNdjson } from './lib/osv-synthetic.mjs';
import { blobOf, pushMonolithic, putManifest, repoScope } from './lib/registry-ops.mjs';
import { median } from './lib/report.mjs';
import { appImage, bigImage, CACHE_DIR } from './lib/scan-images.mjs';
import { dropSchema } from './lib/seed-catalog.mjs';
import { startBerth } from './lib/servers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SELF = fileURLToPath(import.meta.url);
const dist = (p) => import(path.join(ROOT, 'dist', p));
const MB = 1e6;
const MiB = 1024 * 1024;
const PARTS = ['inventory', 'memory', 'rematch', 'push'];

const { values: o } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    rounds: { type: 'string' },
    only: { type: 'string', default: PARTS.join(',') },
    offline: { type: 'boolean' },
    records: { type: 'string', default: '40000' },
    pg: { type: 'string', default: process.env.BERTH_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    'no-pg': { type: 'boolean' },
    images: { type: 'string' },
    sboms: { type: 'string', default: '1000' },
    profile: { type: 'string' },
    child: { type: 'string' },
    spec: { type: 'string' },
  },
});

const log = (m) => console.error(`[scan-bench] ${m}`);
const sec = (ms) => ms / 1000;
const fmt = (v, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '-');
const spread = (xs, d = 2) => `${fmt(Math.min(...xs), d)}-${fmt(Math.max(...xs), d)}`;

if (o.child) {
  const spec = JSON.parse(readFileSync(o.spec, 'utf8'));
  const out = await { inventory: childInventory, memory: childMemory, rematch: childRematch }[o.child](spec);
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
}

// ---------------------------------------------------------------- children (the measured code)

async function openMeta(url, dataDir) {
  const { openDb, migrate } = await dist('meta/db.js');
  const { MetaStore } = await dist('meta/store.js');
  const db = await openDb({ url, dataDir, poolSize: 4 });
  await migrate(db);
  return { db, meta: new MetaStore(db) };
}

function layerSources(layers) {
  return layers.map((l) => ({
    digest: l.digest,
    mediaType: l.mediaType,
    open: async () => createReadStream(l.file, { highWaterMark: 256 * 1024 }),
  }));
}

/** Target 1: rounds of inventory + match in this (pinned) process; the first is a warm-up. */
async function childInventory(spec) {
  const { inventoryImage } = await dist('services/scan/inventory/index.js');
  const { VulnMatcher } = await dist('services/scan/match.js');
  const { db, meta } = await openMeta('', spec.dataDir);
  const matcher = new VulnMatcher(meta);
  const rounds = [];
  for (let r = 0; r <= spec.rounds; r++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const inv = await inventoryImage(layerSources(spec.layers));
    const t1 = performance.now();
    const c1 = process.cpuUsage();
    matcher.refresh();
    const { findings } = await matcher.match({ os: inv.os, packages: inv.packages });
    const t2 = performance.now();
    const c2 = process.cpuUsage();
    const cpu = (a, b) => (b.user + b.system - a.user - a.system) / 1000;
    rounds.push({
      warmup: r === 0,
      inventoryMs: t1 - t0,
      matchMs: t2 - t1,
      totalMs: t2 - t0,
      cpuMs: cpu(c0, c2),
      inventoryCpuMs: cpu(c0, c1),
      matchCpuMs: cpu(c1, c2),
      packages: inv.packages.length,
      byEcosystem: inv.packages.reduce((m, p) => ((m[p.ecosystem] = (m[p.ecosystem] ?? 0) + 1), m), {}),
      findings: findings.length,
      tarBytes: inv.layers.reduce((n, l) => n + l.bytes, 0),
      entries: inv.layers.reduce((n, l) => n + l.entries, 0),
    });
  }
  await db.close();
  return rounds;
}

function vmHwm() {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Target 2: one inventory of the big image in this fresh process; RSS growth over the baseline. */
async function childMemory(spec) {
  const { inventoryImage } = await dist('services/scan/inventory/index.js');
  globalThis.gc?.();
  const rss0 = process.memoryUsage().rss;
  const hwm0 = vmHwm();
  let peak = rss0;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const inv = await inventoryImage(layerSources(spec.layers));
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  const hwm = vmHwm();
  // VmHWM is exact but counts from process start; when the baseline was already the high-water mark, it is the scan's.
  const growth = hwm > hwm0 ? hwm - rss0 : peak - rss0;
  return {
    rssBefore: rss0,
    peakGrowth: growth,
    sampledGrowth: peak - rss0,
    ms,
    cpuMs: (c.user + c.system) / 1000,
    packages: inv.packages.length,
    tarBytes: inv.layers.reduce((n, l) => n + l.bytes, 0),
    entries: inv.layers.reduce((n, l) => n + l.entries, 0),
  };
}

/** Target 3: ScanService.rematchAll over the seeded scans, `rounds` times. */
async function childRematch(spec) {
  const { VulnMatcher } = await dist('services/scan/match.js');
  const { ScanService } = await dist('services/scan/scanner.js');
  const { KyselyScans } = await dist('meta/scans.js');
  const { silentLogger } = await dist('observability/logger.js');
  const { db, meta } = await openMeta(spec.url, spec.dataDir);
  const matcher = new VulnMatcher(meta);
  // Only rematchAll runs here: it uses the scans store, the matcher and the logger. The job queue
  // only gets the handlers registered; storage, uploads and manifests are never touched.
  const jobs = { handle() {} };
  const service = new ScanService(new KyselyScans(meta.db), meta, meta, null, jobs, null, null, null, matcher, {}, silentLogger, 'bench');
  const rounds = [];
  for (let r = 0; r < spec.rounds; r++) {
    matcher.refresh();
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const n = await service.rematchAll();
    const c = process.cpuUsage(c0);
    rounds.push({ ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1000, matched: n });
  }
  const findings = await meta.db
    .selectFrom('scans')
    .select((eb) => eb.fn.sum(eb.fn('length', ['findings'])).as('bytes'))
    .executeTakeFirst();
  await db.close();
  return { rounds, findingsBytes: Number(findings.bytes) };
}

function runChild(kind, spec, { pin = false, nodeArgs = [] } = {}) {
  const specFile = path.join(spec.workDir, `${kind}-${randomBytes(4).toString('hex')}.json`);
  writeFileSync(specFile, JSON.stringify(spec));
  const cpus = os.availableParallelism();
  const taskset = pin && spawnSync('sh', ['-c', 'command -v taskset']).status === 0;
  // --profile DIR: each child writes a CPU profile there (node --cpu-prof), for a look at where the time goes.
  const prof = o.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(o.profile)}`] : [];
  const args = [...prof, ...nodeArgs, SELF, '--child', kind, '--spec', specFile];
  const r = taskset
    ? spawnSync('taskset', ['-c', String(cpus - 1), process.execPath, ...args], { encoding: 'utf8', maxBuffer: 64 * MiB })
    : spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 * MiB });
  if (r.status !== 0) throw new Error(`the ${kind} child failed (exit ${r.status}):\n${r.stderr}`);
  return { result: JSON.parse(r.stdout), pinned: taskset ? `CPU ${cpus - 1}` : 'not pinned' };
}

// ---------------------------------------------------------------- setup

async function importData(url, dataDir, records, names) {
  const { db, meta } = await openMeta(url, dataDir);
  const { VulnDbService } = await dist('services/scan/vulndb.js');
  const { silentLogger } = await dist('observability/logger.js');
  const t0 = performance.now();
  const r = await new VulnDbService(meta, silentLogger).importOsv(
    syntheticDebianNdjson(records, { packages: packageNames(names) }),
    'ndjson',
    'debian',
  );
  log(`  imported ${r.records} synthetic Debian records into ${db.target} in ${fmt(sec(performance.now() - t0), 1)} s`);
  return { db, meta };
}

const NPM_POOL = Array.from({ length: 300 }, (_, i) => `npm-pkg-${i}`);

/**
 * 1,000 scans with inventories like the image's: its Debian packages with some versions moved
 * back (older images), Debian 11 for every third, plus a dozen npm packages from a pool.
 */
async function seedScans(meta, base, count) {
  const ts = new Date().toISOString();
  const db = meta.db;
  const reg = await db
    .insertInto('registries')
    .values({ name: 'scanbench', name_key: 'scanbench', sku: 'Premium', created_at: ts, updated_at: ts })
    .returning('id')
    .executeTakeFirstOrThrow();
  const debs = base.packages.filter((p) => p.ecosystem === 'Debian');
  const batch = [];
  const flush = async () => {
    if (!batch.length) return;
    await db.insertInto('scans').values(batch.splice(0)).execute();
  };
  for (let i = 0; i < count; i++) {
    const repo = await db
      .insertInto('repositories')
      .values({ registry_id: reg.id, name: `app${i}`, created_at: ts, updated_at: ts })
      .returning('id')
      .executeTakeFirstOrThrow();
    const content = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', id: i }));
    const m = await db
      .insertInto('manifests')
      .values({
        repository_id: repo.id,
        digest: `sha256:${i.toString(16).padStart(64, '0')}`,
        media_type: 'application/vnd.oci.image.manifest.v1+json',
        artifact_type: null,
        subject_digest: null,
        config_digest: null,
        annotations: null,
        size: content.length,
        content,
        created_at: ts,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const packages = debs.map((p, k) => {
      if ((i + k) % 3 !== 0) return p;
      const older = p.version.replace(/(\d+)(?!.*\d)/, (d) => String(Math.max(0, Number(d) - 1 - (i % 3))));
      return { ...p, version: older, ...(p.source ? { source: { name: p.source.name, version: older } } : {}) };
    });
    for (let k = 0; k < 12; k++) {
      const name = NPM_POOL[(i * 7 + k * 13) % NPM_POOL.length];
      packages.push({
        ecosystem: 'npm',
        name,
        version: `1.${k}.${i % 10}`,
        purl: `pkg:npm/${name}@1.${k}.${i % 10}`,
        layer: 'sha256:0',
        path: `app/node_modules/${name}/package.json`,
      });
    }
    const os = i % 3 === 2 ? { ...base.os, versionId: '11', versionCodename: 'bullseye' } : base.os;
    batch.push({
      manifest_id: m.id,
      registry_id: reg.id,
      status: 'succeeded',
      message: null,
      inventory: JSON.stringify({ os, packages }),
      requested_at: ts,
      scanned_at: ts,
      matched_at: ts,
    });
    if (batch.length === 100) await flush();
  }
  await flush();
}

// ---------------------------------------------------------------- push latency

/** POSTs the synthetic records to a running Berth's /api/vulndb/imports as NDJSON, streamed. */
function importOver(berth, records, names) {
  return new Promise((resolve, reject) => {
    const u = new URL('/api/vulndb/imports?source=debian', berth.url);
    const req = http.request(u, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-ndjson',
        Authorization: `Basic ${Buffer.from(`${berth.username}:${berth.password}`).toString('base64')}`,
      },
    });
    req.on('response', async (res) => {
      const chunks = [];
      for await (const c of res) chunks.push(c);
      if (res.statusCode !== 201) reject(new Error(`import: HTTP ${res.statusCode} ${Buffer.concat(chunks)}`));
      else resolve(JSON.parse(Buffer.concat(chunks).toString()));
    });
    req.on('error', reject);
    (async () => {
      for await (const chunk of syntheticDebianNdjson(records, { packages: packageNames(names) }))
        if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
      req.end();
    })().catch(reject);
  });
}

async function scanStates(berth, registry) {
  const res = await fetch(`${berth.url}/api/registries/${registry}/scans?n=1000`, {
    headers: { Authorization: `Basic ${Buffer.from(`${berth.username}:${berth.password}`).toString('base64')}` },
  });
  if (res.status !== 200) throw new Error(`scan list: HTTP ${res.status} ${await res.text()}`);
  const body = await res.json();
  const items = body.items ?? body.value ?? body;
  const count = {};
  for (const s of items) count[s.status] = (count[s.status] ?? 0) + 1;
  return { count, items };
}

async function pushBatch(server, label, round, n, layers) {
  const repo = `${server.registry}/app-${round}`;
  await server.client.prepare(repoScope(repo));
  const blobMs = [];
  const putMs = [];
  for (let i = 0; i < n; i++) {
    const layer = blobOf(layers[i]);
    const config = blobOf(
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          rootfs: { type: 'layers', diff_ids: [layer.digest] },
          id: `${label}-${round}-${i}`,
        }),
      ),
    );
    await pushMonolithic(server.client, repo, config);
    let t = performance.now();
    await pushMonolithic(server.client, repo, layer);
    blobMs.push(performance.now() - t);
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.size }],
      }),
    );
    const manifest = blobOf(bytes);
    t = performance.now();
    await putManifest(server.client, repo, `v${i}`, { bytes, size: bytes.length, digest: manifest.digest });
    putMs.push(performance.now() - t);
  }
  return { blobMs, putMs };
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

async function pushBench(rounds, n, records, names) {
  const { smallLayer } = await import('./lib/scan-images.mjs');
  const servers = {};
  // scan.enabled (true/false) became scan.mode (auto/always/off): whichever this build has.
  const { configKeys } = await dist('config/config.js');
  const keys = new Map(configKeys().map((k) => [k.path.join('.'), k.env]));
  const setting = keys.has('scan.mode')
    ? { 'scan on': { [keys.get('scan.mode')]: 'always' }, 'scan off': { [keys.get('scan.mode')]: 'off' } }
    : { 'scan on': { [keys.get('scan.enabled')]: 'true' }, 'scan off': { [keys.get('scan.enabled')]: 'false' } };
  try {
    for (const label of ['scan on', 'scan off']) {
      const berth = await startBerth({ root: ROOT, registry: 'scanbench', env: setting[label] });
      const client = new RegistryClient({ url: berth.url, username: berth.username, password: berth.password });
      const imp = await importOver(berth, records, names);
      log(`  ${label}: berth serve on ${berth.url}, ${imp.records} records imported over the API`);
      servers[label] = { ...berth, client, registry: 'scanbench' };
    }
    const out = { 'scan on': [], 'scan off': [] };
    for (let round = 0; round < rounds; round++) {
      // Alternate which goes first, so neither always follows the other's background work.
      const order = round % 2 ? ['scan on', 'scan off'] : ['scan off', 'scan on'];
      for (const label of order) {
        const s = servers[label];
        const layers = await Promise.all(
          Array.from({ length: n }, (_, i) => smallLayer(`${label}-${round}-${i}-${randomBytes(8).toString('hex')}`)),
        );
        const t0 = performance.now();
        const { blobMs, putMs } = await pushBatch(s, label.replace(' ', '-'), round, n, layers);
        const pushSeconds = sec(performance.now() - t0);
        const r = { putP50: pct(putMs, 50), putP99: pct(putMs, 99), blobP50: pct(blobMs, 50), pushSeconds };
        if (label === 'scan on') {
          // How far the scans got while the pushes ran, then wait for the rest (never overlapping the next batch).
          const atEnd = await scanStates(s, s.registry);
          const t1 = performance.now();
          let states = atEnd;
          for (;;) {
            const pending = (states.count.queued ?? 0) + (states.count.running ?? 0);
            if (pending === 0) break;
            if (performance.now() - t1 > 300_000) throw new Error(`scans still pending after 300 s: ${JSON.stringify(states.count)}`);
            await new Promise((res) => setTimeout(res, 200));
            states = await scanStates(s, s.registry);
          }
          const images = states.items.filter((x) => x.repository === `app-${round}`);
          const failed = images.filter((x) => x.status !== 'succeeded');
          if (failed.length) throw new Error(`${failed.length} scans did not succeed: ${failed[0].status} ${failed[0].message ?? ''}`);
          r.scansDoneAtPushEnd = (atEnd.count.succeeded ?? 0) - round * n;
          r.drainSeconds = sec(performance.now() - t1);
          r.scansPerSecond = n / (pushSeconds + r.drainSeconds);
          r.findingsPerImage = images[0]?.summary?.total;
        }
        out[label].push(r);
        log(
          `  round ${round + 1} ${label}: PUT manifest p50 ${fmt(r.putP50)} ms p99 ${fmt(r.putP99)} ms, blob p50 ${fmt(r.blobP50)} ms` +
            (r.drainSeconds !== undefined
              ? `; ${r.scansDoneAtPushEnd}/${n} scans done when the pushes ended, the rest ${fmt(r.drainSeconds, 1)} s later`
              : ''),
        );
      }
    }
    return out;
  } finally {
    for (const s of Object.values(servers)) {
      s.client.close();
      await s.stop();
    }
  }
}

// ---------------------------------------------------------------- main

const only = new Set(o.only.split(',').map((s) => s.trim()));
const rounds = Number(o.rounds ?? (o.quick ? 3 : 5));
const records = Number(o.records);
const workDir = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-scan-'));
const rows = [];
const row = (target, metric, values, unit, goal, digits = 2) => rows.push({ target, metric, values, unit, goal, digits });
let pgUrl = '';
try {
  const { inventoryImage } = await dist('services/scan/inventory/index.js');
  log(`cache: ${CACHE_DIR}`);
  const app = await appImage({ offline: o.offline, log });
  const appSize = app.layers.reduce((n, l) => n + l.size, 0);
  const appTar = app.layers.reduce((n, l) => n + l.uncompressed, 0);
  log(
    `image: ${app.kind} base + npm + Python${app.go ? ' + Go' : ''}: ${app.layers.length} layers, ${fmt(appSize / MB, 0)} MB compressed, ${fmt(appTar / MB, 0)} MB of tar`,
  );
  // The image's own source packages get advisories in the synthetic data, as in the real export.
  const inv = await inventoryImage(layerSources(app.layers));
  const names = [...new Set(inv.packages.filter((p) => p.ecosystem === 'Debian').map((p) => p.source?.name ?? p.name))];
  const needData = only.has('inventory') || only.has('rematch');
  const dataDir = path.join(workDir, 'sqlite');
  if (needData) {
    const { db, meta } = await importData('', dataDir, records, names);
    if (only.has('rematch')) await seedScans(meta, inv, Number(o.sboms));
    await db.close();
  }

  if (only.has('inventory')) {
    log(`inventory + match: ${rounds} rounds after a warm-up, in one child process`);
    const { result, pinned } = runChild('inventory', { workDir, dataDir, layers: app.layers, rounds }, { pin: true });
    const timed = result.filter((r) => !r.warmup);
    const first = result[0];
    const what = `${app.kind}, ${first.packages} pkgs (${Object.entries(first.byEcosystem)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}), ${fmt(appSize / MB, 0)} MB gz / ${fmt(appTar / MB, 0)} MB tar, ${first.findings} findings; ${pinned}`;
    log(`  ${what}`);
    row(
      '1 inventory+match',
      'wall (inventory+match)',
      timed.map((r) => sec(r.totalMs)),
      's',
      '<= 5 s',
    );
    row(
      '1 inventory+match',
      'CPU (inventory+match)',
      timed.map((r) => sec(r.cpuMs)),
      's',
      '',
    );
    row(
      '1 inventory+match',
      'inventory wall',
      timed.map((r) => sec(r.inventoryMs)),
      's',
      '',
    );
    row(
      '1 inventory+match',
      'match wall',
      timed.map((r) => r.matchMs),
      'ms',
      '',
      0,
    );
    row('1 inventory+match', 'first (cold) wall', [sec(first.totalMs)], 's', '');
    rows.push({ note: `1: ${what}` });
  }

  if (only.has('memory')) {
    const big = await bigImage({ offline: o.offline, log });
    const size = big.layers.reduce((n, l) => n + l.size, 0);
    const tarBytes = big.layers.reduce((n, l) => n + l.uncompressed, 0);
    const memRounds = Math.max(1, Math.min(rounds, 3));
    log(`memory: ${memRounds} fresh child processes, each inventorying the ${fmt(tarBytes / MB, 0)} MB image once`);
    const res = [];
    for (let r = 0; r < memRounds; r++) {
      const { result } = runChild('memory', { workDir, layers: big.layers }, { nodeArgs: ['--expose-gc'] });
      log(
        `  round ${r + 1}: RSS growth ${fmt(result.peakGrowth / MB, 0)} MB (sampled ${fmt(result.sampledGrowth / MB, 0)} MB) in ${fmt(sec(result.ms), 1)} s`,
      );
      res.push(result);
    }
    row(
      '2 memory (1 GB)',
      'peak RSS growth',
      res.map((r) => r.peakGrowth / MB),
      'MB',
      '<= 200 MB',
      0,
    );
    row(
      '2 memory (1 GB)',
      'inventory wall',
      res.map((r) => sec(r.ms)),
      's',
      '',
      1,
    );
    row(
      '2 memory (1 GB)',
      'throughput',
      res.map((r) => r.tarBytes / MB / sec(r.ms)),
      'MB/s',
      '',
      0,
    );
    rows.push({
      note: `2: ${big.kind} base + 400 MB random + 300 MB text (${big.layers[2].mediaType.endsWith('zstd') ? 'zstd' : 'gzip'}) + 100,000 small files: ${fmt(tarBytes / MB, 0)} MB of tar, ${fmt(size / MB, 0)} MB compressed, ${res[0].entries} entries, ${res[0].packages} packages`,
    });
  }

  if (only.has('rematch')) {
    const n = Number(o.sboms);
    const rr = Math.max(1, Math.min(rounds, 3));
    log(`rematch: ${n} stored inventories, SQLite, ${rr} rounds`);
    const { result } = runChild('rematch', { workDir, url: '', dataDir, rounds: rr });
    row(
      '3 rematch',
      `${n} SBOMs, SQLite`,
      result.rounds.map((r) => sec(r.ms)),
      's',
      '<= 30 s',
    );
    row(
      '3 rematch',
      `  CPU, SQLite`,
      result.rounds.map((r) => sec(r.cpuMs)),
      's',
      '',
    );
    rows.push({
      note: `3: ${n} inventories of ~${inv.packages.filter((p) => p.ecosystem === 'Debian').length + 12} packages; findings stored: ${fmt(result.findingsBytes / MB, 1)} MB of JSON`,
    });
    if (!o['no-pg']) {
      const reachable = await (async () => {
        const pg = (await import('pg')).default;
        const c = new pg.Client({ connectionString: o.pg, connectionTimeoutMillis: 5000 });
        try {
          await c.connect();
          return true;
        } catch (e) {
          log(`  PostgreSQL at ${o.pg} not reachable (${e.message}): SQLite only`);
          return false;
        } finally {
          await c.end().catch(() => {});
        }
      })();
      if (reachable) {
        pgUrl = `${o.pg}${o.pg.includes('?') ? '&' : '?'}schema=berth_bench_scan_${randomBytes(4).toString('hex')}`;
        const { db, meta } = await importData(pgUrl, workDir, records, names);
        await seedScans(meta, inv, n);
        await db.close();
        const { result: pgr } = runChild('rematch', { workDir, url: pgUrl, dataDir: workDir, rounds: rr });
        row(
          '3 rematch',
          `${n} SBOMs, PostgreSQL`,
          pgr.rounds.map((r) => sec(r.ms)),
          's',
          '<= 30 s',
        );
        row(
          '3 rematch',
          `  CPU, PostgreSQL (client)`,
          pgr.rounds.map((r) => sec(r.cpuMs)),
          's',
          '',
        );
      }
    }
  }

  if (only.has('push')) {
    const n = Number(o.images ?? (o.quick ? 40 : 100));
    const pr = Math.max(2, Math.min(rounds, 4));
    log(`push: ${pr} rounds of ${n} images to each of two berth serve (scan on, scan off)`);
    const res = await pushBench(pr, n, o.quick ? Math.min(records, 10000) : records, names);
    const on = res['scan on'];
    const off = res['scan off'];
    for (const [k, metric] of [
      ['putP50', 'manifest PUT p50'],
      ['putP99', 'manifest PUT p99'],
      ['blobP50', 'blob push p50'],
    ]) {
      row(
        '4 push',
        `${metric}, scan off`,
        off.map((r) => r[k]),
        'ms',
        '',
      );
      row(
        '4 push',
        `${metric}, scan on`,
        on.map((r) => r[k]),
        'ms',
        '',
      );
      row(
        '4 push',
        `${metric}, on/off`,
        on.map((r, i) => r[k] / off[i][k]),
        'x',
        '~1',
      );
    }
    row(
      '4 push',
      'scans done when pushes ended',
      on.map((r) => r.scansDoneAtPushEnd),
      `of ${n}`,
      '',
      0,
    );
    row(
      '4 push',
      'scan throughput (background)',
      on.map((r) => r.scansPerSecond),
      'scans/s',
      '',
      1,
    );
    rows.push({
      note: `4: ${n} images a round, pushed one after another (config, layer, manifest); each layer a real tar.gz with the minbase dpkg database (${inv.packages.filter((p) => p.ecosystem === 'Debian').length} packages) and an npm package; ${on[0].findingsPerImage ?? '?'} findings per image`,
    });
  }

  // The table: medians over rounds.
  const table = rows.filter((r) => !r.note);
  const cells = [['target', 'metric', 'median', 'min-max', 'unit', 'goal', 'n']].concat(
    table.map((r) => [
      r.target,
      r.metric,
      fmt(median(r.values), r.digits),
      spread(r.values, r.digits),
      r.unit,
      r.goal,
      String(r.values.length),
    ]),
  );
  const widths = cells[0].map((_, c) => Math.max(...cells.map((x) => x[c].length)));
  console.log(
    `\nScanner bench (${os.availableParallelism()} CPUs, ${os.cpus()[0]?.model ?? '?'}; medians over rounds; a shared machine is noisy)\n`,
  );
  for (const x of cells)
    console.log(
      x
        .map((v, c) => (c === 2 || c === 3 ? v.padStart(widths[c]) : v.padEnd(widths[c])))
        .join('  ')
        .trimEnd(),
    );
  console.log('');
  for (const r of rows.filter((x) => x.note)) console.log(r.note);
} finally {
  if (pgUrl) await dropSchema(pgUrl).catch((e) => log(`dropping the schema failed: ${e.message}`));
  rmSync(workDir, { recursive: true, force: true });
}
