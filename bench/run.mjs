#!/usr/bin/env node
// npm run bench: Berth's own load driver. Pure Node, nothing outside this checkout.
//
//   node bench/run.mjs [--rounds N] [--only NAME[,NAME]] [--json] [--concurrency N] [--quick]
//                      [--metadata postgres://...] [--no-distribution] [--storage fs|azure]
//                      [--berth-config FILE] [--berth-env NAME=VALUE]... [--pin]
//   node bench/run.mjs --nodes N [...]        (scale-out: 1 node vs N on PostgreSQL + Azurite)
//   node bench/run.mjs --geo [--quick] [...]   (geo-replication between two regions; lib/geo.mjs)
//   node bench/run.mjs --against URL [--against URL_B] [--repo-prefix NAME] [--insecure] [...]
//
// By default it starts Berth from dist/ (fresh data dir, an owner password it makes up, one
// registry) and, when Debian's docker-registry is installed, CNCF Distribution beside it, both on
// free ports of 127.0.0.1 and both fresh for each scenario, and runs each scenario on them in turn
// (A, B, A, B, ...) so the two share the machine's noise. --against measures the registry at URL
// instead (twice for an A/B of two URLs), with BENCH_USERNAME / BENCH_PASSWORD for its Basic or
// Bearer (token) challenge; repositories go under --repo-prefix (for a Berth: REGISTRY/bench).
//
// Scenarios (--only): blobs-1M, blobs-64M, chunked, manifests, list (see lib/scenarios.mjs), and
// opt-in ones that run only when named: catalog-scale (lib/catalog-scale.mjs), tail and
// tail-noaudit (wrk; lib/tail.mjs). Local runs also report each server's idle RSS after warm-up.
// Prints medians over the rounds, min-max and the A/B ratio of the medians; --json prints one JSON
// document on stdout instead (progress goes to stderr either way). --quick shrinks every scenario
// to a few requests: a smoke test of the paths, not a measurement.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RegistryClient } from './lib/client.mjs';
import { BlobMaker } from './lib/registry-ops.mjs';
import { Results, table } from './lib/report.mjs';
import { geoBench, geoNotes } from './lib/geo.mjs';
import { ALL_SCENARIO_NAMES, SCENARIOS, SCENARIO_NAMES, SHAPES, warmUp } from './lib/scenarios.mjs';
import { SCALE_SHAPES, scaleOut } from './lib/scale-out.mjs';
import { dropSchema } from './lib/seed-catalog.mjs';
import { findDistribution, startAzurite, startBerth, startDistribution } from './lib/servers.mjs';
import { cpuCount, findWrk, rssMegabytes } from './lib/wrk.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LOCAL_REGISTRY = 'benchreg';
const NAME_PART = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';

// Where PostgreSQL scenarios (catalog-scale, --nodes) put their fresh schemas without --metadata.
const DEFAULT_PG = process.env.BERTH_BENCH_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

class UsageError extends Error {}

const HELP = `usage: node bench/run.mjs [options]      (npm run bench -- [options])
  --rounds N            rounds per scenario and registry (default 3); the table shows medians
  --only NAME[,NAME]    scenarios: ${SCENARIO_NAMES.join(', ')} (the default set);
                        opt-in: ${ALL_SCENARIO_NAMES.filter((n) => !SCENARIO_NAMES.includes(n)).join(', ')}
  --json                one JSON document on stdout instead of the table
  --concurrency N       requests in flight (default 4)
  --quick               a few requests per scenario: checks every path, measures little
  --metadata URL        run the local Berth on PostgreSQL (default: SQLite in its temp dir); each
                        start gets a fresh schema of it, dropped afterwards. catalog-scale and
                        --nodes need PostgreSQL: they default to $BERTH_BENCH_PG_URL or ${DEFAULT_PG}
  --no-distribution     measure the local Berth alone, even when docker-registry is installed
  --storage fs|azure    the local Berth's blob storage (azure: on an Azurite the bench starts)
  --berth-config FILE   a config file for the local Berth (berth serve --config FILE)
  --berth-env NAME=VAL  an extra variable for the local Berth, e.g. BERTH_AUDIT_PULL_EVENTS=false
                        (repeatable; wins over the bench's own settings)
  --pin                 taskset: the load generator (wrk) on the last CPU, servers on the others
  --nodes N             scale-out mode: 1 node against N nodes of one deployment on PostgreSQL +
                        Azurite (manifest GET by wrk, 1 MiB push); ignores --only
  --geo                 geo-replication mode: two regions (two nodes, one fs root each) on PostgreSQL;
                        replication MB/s against plain copies, push -> Ready in the other region;
                        ignores --only (see docs/bench.md)
  --against URL         measure the registry at URL instead of local ones (give it twice for A/B);
                        credentials from BENCH_USERNAME / BENCH_PASSWORD (Basic or Bearer token flow)
  --repo-prefix NAME    where --against pushes (default "bench"; for a Berth: REGISTRY/bench); once
                        per --against (same order) to compare two registries of one server
  --insecure            accept any TLS certificate from --against URLs`;

function options(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        rounds: { type: 'string', default: '3' },
        only: { type: 'string' },
        json: { type: 'boolean', default: false },
        concurrency: { type: 'string', default: '4' },
        quick: { type: 'boolean', default: false },
        metadata: { type: 'string', default: '' },
        'no-distribution': { type: 'boolean', default: false },
        storage: { type: 'string', default: 'fs' },
        'berth-config': { type: 'string', default: '' },
        'berth-env': { type: 'string', multiple: true, default: [] },
        pin: { type: 'boolean', default: false },
        nodes: { type: 'string' },
        geo: { type: 'boolean', default: false },
        against: { type: 'string', multiple: true, default: [] },
        'repo-prefix': { type: 'string', multiple: true, default: ['bench'] },
        insecure: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    throw new UsageError(e.message);
  }
  const v = parsed.values;
  const whole = (name) => {
    const n = Number(v[name]);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a whole number of at least 1, not "${v[name]}"`);
    return n;
  };
  const only = v.only ? v.only.split(',').map((s) => s.trim()) : SCENARIO_NAMES;
  for (const name of only) {
    if (!SCENARIOS[name]) throw new UsageError(`unknown scenario "${name}" in --only: use ${ALL_SCENARIO_NAMES.join(', ')}`);
  }
  if (v.against.length > 2) throw new UsageError('--against takes one URL, or two for an A/B comparison');
  if (!['fs', 'azure'].includes(v.storage)) throw new UsageError(`--storage must be fs or azure, not "${v.storage}"`);
  if (v['berth-config'] && !existsSync(v['berth-config'])) throw new UsageError(`--berth-config ${v['berth-config']} does not exist`);
  const berthEnv = {};
  for (const pair of v['berth-env']) {
    const m = /^(BERTH_[A-Z0-9_]+)=(.*)$/s.exec(pair);
    if (!m) throw new UsageError(`--berth-env wants BERTH_NAME=VALUE, not "${pair}"`);
    berthEnv[m[1]] = m[2];
  }
  if (v.metadata && !/^(postgres(ql)?:\/\/|sqlite:)/.test(v.metadata))
    throw new UsageError('--metadata wants postgres://... or sqlite:PATH');
  let nodes = 0;
  if (v.nodes !== undefined) {
    nodes = Number(v.nodes);
    if (!Number.isInteger(nodes) || nodes < 2) throw new UsageError(`--nodes must be a whole number of at least 2, not "${v.nodes}"`);
    if (v.against.length) throw new UsageError('--nodes starts its own deployments: it does not combine with --against');
  }
  if (v.geo && (v.nodes !== undefined || v.against.length || v['berth-config']))
    throw new UsageError('--geo starts its own deployment and config: it does not combine with --nodes, --against or --berth-config');
  const cpus = cpuCount();
  for (const url of v.against) {
    if (!/^https?:\/\/[^/\s]+\/?$/.test(url)) throw new UsageError(`--against wants http(s)://host[:port], not "${url}"`);
  }
  for (const prefix of v['repo-prefix'])
    if (!new RegExp(`^${NAME_PART}(?:/${NAME_PART})*$`).test(prefix))
      throw new UsageError(`--repo-prefix "${prefix}" is not a repository name`);
  if (v['repo-prefix'].length > 1 && v['repo-prefix'].length !== v.against.length)
    throw new UsageError('give one --repo-prefix for all --against targets, or one per --against, in the same order');
  return {
    help: v.help,
    rounds: whole('rounds'),
    concurrency: whole('concurrency'),
    only: ALL_SCENARIO_NAMES.filter((n) => only.includes(n)),
    json: v.json,
    shapes: v.quick ? SHAPES.quick : SHAPES.full,
    quick: v.quick,
    metadata: v.metadata,
    distribution: !v['no-distribution'],
    storage: v.storage,
    berthConfig: v['berth-config'],
    berthEnv,
    nodes,
    geo: v.geo,
    cpus,
    // Servers on every CPU but the last, the load generator on the last; nothing pinned on one CPU.
    pin:
      v.pin && cpus > 1
        ? { servers: cpus === 2 ? '0' : `0-${cpus - 2}`, driver: String(cpus - 1), node: (i) => String(i % (cpus - 1)) }
        : null,
    against: v.against.map((u) => u.replace(/\/+$/, '')),
    repoPrefix: v['repo-prefix'],
    insecure: v.insecure,
  };
}

const log = (line) => process.stderr.write(`${line}\n`);
const fmt = (v) => (Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));

/** A registry under test: a label for the table, a client, and where its repositories go. */
function target(label, url, client, prefix, runId, blobs, extra = {}) {
  return { label, url, client, runId, blobs, repo: (name) => `${prefix}/${runId}/${name}`, ...extra };
}

/** Stops whatever is running when the run is interrupted or fails. */
const running = new Set();
async function stopAll() {
  const stops = [...running];
  running.clear();
  await Promise.allSettled(stops.map((s) => s()));
}

/**
 * The local registries for one scenario: they start fresh for each (but under --quick), so
 * catalogs and storage start equal and the temp dirs never hold more than one scenario's blobs.
 * --against targets are the same registries throughout.
 */
let starts = 0;
let azurite = null; // one Azurite for the run (--storage azure), a fresh container per Berth

/**
 * The metadata URL of one Berth start: SQLite (''), or a fresh schema of the PostgreSQL database
 * (dropped by the returned cleanup) so every start begins empty, as on SQLite.
 */
function freshMetadata(o, runId, needsPostgres) {
  const base = o.metadata || (needsPostgres ? DEFAULT_PG : '');
  if (!/^postgres(ql)?:\/\//.test(base) || /[?&]schema=/.test(base)) return { url: base, drop: async () => {} };
  const url = `${base}${base.includes('?') ? '&' : '?'}schema=berth_bench_${runId}_${++starts}`;
  return { url, drop: () => dropSchema(url) };
}

async function localTargets(o, runId, blobs, distributionBinary, scenario = {}) {
  const out = [];
  const meta = freshMetadata(o, runId, scenario.postgres);
  if (scenario.postgres && !meta.url.startsWith('postgres'))
    throw new Error('this scenario needs PostgreSQL: give --metadata postgres://...');
  let azure = null;
  if (o.storage === 'azure') {
    if (!azurite) {
      azurite = await startAzurite(ROOT, { cpus: o.pin?.servers ?? '' });
      running.add(azurite.stop);
    }
    azure = { connectionString: azurite.connectionString, container: `bench-${runId}-${starts}-${randomBytes(2).toString('hex')}` };
  }
  let berth;
  try {
    berth = await startBerth({
      root: ROOT,
      registry: LOCAL_REGISTRY,
      metadata: meta.url,
      azure,
      config: o.berthConfig,
      env: { ...scenario.berthEnv, ...o.berthEnv },
      cpus: o.pin?.servers ?? '',
    });
  } catch (e) {
    await meta.drop().catch(() => {});
    throw e;
  }
  const stopBerth = async () => {
    await berth.stop();
    await meta.drop();
  };
  running.add(stopBerth);
  const prefix = `${LOCAL_REGISTRY}/bench`;
  const berthClient = new RegistryClient({ url: berth.url, username: berth.username, password: berth.password });
  out.push({ ...target('Berth', berth.url, berthClient, prefix, runId, blobs, { pid: berth.pid, berth }), stop: stopBerth });
  if (distributionBinary && !scenario.berthOnly) {
    const dist = await startDistribution(distributionBinary, { cpus: o.pin?.servers ?? '' });
    running.add(dist.stop);
    // The same repository names as on Berth, so both parse and store the same paths.
    const client = new RegistryClient({ url: dist.url });
    out.push({ ...target('Distribution', dist.url, client, prefix, runId, blobs, { pid: dist.pid }), stop: dist.stop });
  }
  return out;
}

async function release(targets) {
  for (const t of targets) {
    t.client.close();
    if (t.stop) {
      running.delete(t.stop);
      await t.stop();
    }
  }
}

async function runScenario(name, targets, o, results) {
  const scenario = SCENARIOS[name];
  const shape = o.shapes[name];
  log(`== ${name}: ${scenario.what(shape)}; concurrency ${o.concurrency}, ${o.rounds} round(s)`);
  const setups = new Map();
  try {
    for (const t of targets) setups.set(t, scenario.setup ? await scenario.setup(t, shape, o.concurrency, log) : undefined);
    for (let round = 0; round < o.rounds; round++) {
      for (const t of targets) {
        const metrics = await scenario.run(t, shape, round, o.concurrency, setups.get(t), o);
        results.add(name, t.label, metrics);
        log(`   round ${round + 1} ${t.label}: ${metrics.map((m) => `${m.metric} ${fmt(m.value)} ${m.unit}`).join(', ')}`);
      }
    }
  } finally {
    for (const [t, s] of setups) scenario.cleanup?.(t, s);
  }
}

/** Each local server's resident memory once started and warmed up (before the scenario's load). */
function recordIdleRss(targets, results) {
  for (const t of targets) {
    const mb = t.pid ? rssMegabytes(t.pid) : NaN;
    if (Number.isFinite(mb)) results.add('idle', t.label, [{ metric: 'RSS after warm-up', unit: 'MB', value: mb, better: 'lower' }]);
  }
}

/** The caveats a reader needs beside the figures of this machine. */
function caveats(o) {
  // Other work on the machine shows here first: a load above the CPU count means the servers queued for CPU.
  const load = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ');
  const lines = [`load average ${load} (1/5/15 min) on ${o.cpus} CPU(s) at the end of the run`];
  if (o.nodes) {
    lines.push(
      `this machine has ${o.cpus} CPU(s): ${o.nodes} nodes, PostgreSQL, Azurite and the load generators share them, so the N-node figure` +
        " shows contention as much as scale-out; compare the nodes' CPU with the load generators' to see which one ran out.",
    );
    if (o.pin)
      lines.push(
        `--pin: nodes and Azurite on CPU ${o.pin.servers}, wrk on CPU ${o.pin.driver}; PostgreSQL and the bench's own push client are not pinned.`,
      );
  }
  if (o.only.some((n) => SCENARIOS[n].wrk)) {
    lines.push(
      'wrk CPU / server CPU: CPU seconds per wall second (100% = one core busy). A driver near 100% of its core(s) caps the req/s.',
    );
  }
  if (o.geo) lines.push(...geoNotes(o.storage));
  if (o.pin && !o.nodes) lines.push(`--pin: servers on CPU ${o.pin.servers}, wrk on CPU ${o.pin.driver}.`);
  if (o.storage === 'azure' && !o.geo)
    lines.push('--storage azure: Berth keeps blobs on Azurite (an emulator on this machine), Distribution on its filesystem.');
  return lines;
}

async function main() {
  const o = options(process.argv.slice(2));
  if (o.help) {
    console.log(HELP);
    return;
  }
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const blobs = new BlobMaker();
  if (o.only.some((n) => SCENARIOS[n].wrk) || o.nodes) {
    if (!findWrk()) throw new UsageError('tail, tail-noaudit and --nodes need wrk (apt-get install wrk)');
  }
  if (o.nodes) return scaleOutMode(o, runId, blobs);
  if (o.geo) return geoMode(o, runId, blobs);
  let labels;
  let shared = null; // --against targets, kept for the whole run
  let distributionBinary = null;
  if (o.against.length) {
    const env = process.env;
    const hosts = o.against.map((u) => new URL(u).host);
    // Two registries of one server are told apart by their prefixes.
    labels =
      o.repoPrefix.length > 1
        ? o.repoPrefix.map((prefix) => prefix.split('/')[0])
        : hosts.map((h, i) => (hosts.indexOf(h) === i ? h : `${h}#${i + 1}`));
    shared = o.against.map((url, i) => {
      const client = new RegistryClient({ url, username: env.BENCH_USERNAME, password: env.BENCH_PASSWORD, insecure: o.insecure });
      return target(labels[i], url, client, o.repoPrefix[i] ?? o.repoPrefix[0], runId, blobs);
    });
    for (const t of shared) await warmUp(t, o.concurrency, o.quick);
    log(`measuring ${shared.map((t) => `${t.label} (${t.url}, auth ${t.client.scheme})`).join(' and ')}`);
  } else {
    distributionBinary = o.distribution ? findDistribution() : null;
    if (o.distribution && !distributionBinary) {
      log(
        "note: Debian's docker-registry (CNCF Distribution) is not installed: measuring Berth alone (apt-get install docker-registry to compare)",
      );
    }
    labels = distributionBinary ? ['Berth', 'Distribution'] : ['Berth'];
  }

  const results = new Results(labels);
  // A smoke run keeps one set of local registries for the ordinary scenarios: starting them is
  // most of its time. Scenarios with servers of their own (PostgreSQL, Berth settings) start fresh.
  const ownServers = (s) => s.postgres || s.berthOnly || s.berthEnv;
  if (!shared && o.quick && o.only.some((n) => !ownServers(SCENARIOS[n]))) {
    shared = await localTargets(o, runId, blobs, distributionBinary);
    for (const t of shared) await warmUp(t, o.concurrency, true);
    recordIdleRss(shared, results);
  }
  const local = !o.against.length;
  for (const name of o.only) {
    let targets = shared;
    if (!targets || (local && ownServers(SCENARIOS[name]))) {
      targets = await localTargets(o, runId, blobs, distributionBinary, SCENARIOS[name]);
      for (const t of targets) await warmUp(t, o.concurrency, o.quick);
      recordIdleRss(targets, results);
    }
    try {
      await runScenario(name, targets, o, results);
    } finally {
      if (targets !== shared) await release(targets);
    }
  }
  if (shared) await release(shared);
  if (azurite) {
    running.delete(azurite.stop);
    await azurite.stop();
  }
  report(o, labels, results, Object.fromEntries(o.only.map((n) => [n, SCENARIOS[n].what(o.shapes[n])])));
}

/** --nodes N: 1 node against N nodes, on PostgreSQL + Azurite. */
async function scaleOutMode(o, runId, blobs) {
  // N nodes first: the ratio column then reads as the scale-out factor.
  const labels = [`${o.nodes} nodes`, '1 node'];
  const shape = o.quick ? SCALE_SHAPES.quick : SCALE_SHAPES.full;
  const results = new Results(labels);
  log(
    `== scale-out: manifest GET by tag (wrk, ${shape.connections} connections in all, split over the nodes, ${shape.seconds} s), ` +
      `${shape.pushes} pushes of 1 MiB (concurrency ${shape.pushConcurrency}, round-robin over the nodes); ${o.rounds} round(s)`,
  );
  for (const line of caveats(o)) log(`   note: ${line}`);
  await scaleOut(
    o.nodes,
    o.rounds,
    shape,
    {
      root: ROOT,
      registry: LOCAL_REGISTRY,
      pgUrl: o.metadata && o.metadata.startsWith('postgres') ? o.metadata : DEFAULT_PG,
      runId,
      blobs,
      pin: o.pin,
      berthEnv: o.berthEnv,
      berthConfig: o.berthConfig,
      log,
      fmt,
      running,
    },
    results,
    labels,
  );
  report(o, labels, results, { 'scale-out': `1 node vs ${o.nodes} nodes on PostgreSQL + Azurite` }, ['scale-out']);
}

/** --geo: replication between two regions of one deployment. */
async function geoMode(o, runId, blobs) {
  const labels = ['Berth'];
  const results = new Results(labels);
  log(`== geo-replication: two regions, ${o.rounds} round(s)${o.quick ? ' (--quick)' : ''}`);
  const pgUrl = o.metadata && o.metadata.startsWith('postgres') ? o.metadata : DEFAULT_PG;
  await geoBench(
    o.rounds,
    o.quick,
    { root: ROOT, pgUrl, runId, blobs, berthEnv: o.berthEnv, storage: o.storage, log, fmt, running },
    results,
    labels[0],
  );
  const names = [...new Set(results.summary().map((r) => r.scenario))];
  report(o, labels, results, Object.fromEntries(names.map((n) => [n, 'geo-replication westeurope -> eastus'])), names);
}

function report(o, labels, results, scenarios, names = o.only) {
  const rows = results.summary();
  if (o.json) {
    const doc = {
      tool: 'berth-bench',
      date: new Date().toISOString(),
      options: {
        rounds: o.rounds,
        concurrency: o.concurrency,
        quick: o.quick,
        scenarios: names,
        storage: o.storage,
        nodes: o.nodes || undefined,
        geo: o.geo || undefined,
        pin: Boolean(o.pin),
      },
      machine: { cpus: o.cpus },
      notes: caveats(o),
      targets: labels,
      scenarios,
      rows,
    };
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return;
  }
  console.log(
    `\nmedians of ${o.rounds} round(s), concurrency ${o.concurrency}${o.quick ? ' (--quick: a smoke run, not a measurement)' : ''}`,
  );
  if (labels.length === 2) {
    console.log(`${labels[0]}/${labels[1]}: ratio of the medians; "better"/"worse" where it passes 10% in the unit's good direction`);
  }
  console.log(table(rows, labels));
  for (const line of caveats(o)) console.log(`note: ${line}`);
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    void stopAll().finally(() => process.exit(130));
  });
}

main().then(
  // Children are stopped and agents closed; exit once stdout has taken the report.
  () => process.stdout.write('', () => process.exit(0)),
  async (e) => {
    await stopAll();
    if (e instanceof UsageError) {
      console.error(`bench: ${e.message}\n${HELP}`);
      process.exit(2);
    }
    console.error(`bench failed: ${e.message}`);
    process.exit(1);
  },
);
