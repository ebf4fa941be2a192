#!/usr/bin/env node
// npm run bench: Berth's own load driver. Pure Node, nothing outside this checkout.
//
//   node bench/run.mjs [--rounds N] [--only NAME[,NAME]] [--json] [--concurrency N] [--quick]
//                      [--metadata postgres://...] [--no-distribution]
//   node bench/run.mjs --against URL [--against URL_B] [--repo-prefix NAME] [--insecure] [...]
//
// By default it starts Berth from dist/ (fresh data dir, an owner password it makes up, one
// registry) and, when Debian's docker-registry is installed, CNCF Distribution beside it, both on
// free ports of 127.0.0.1 and both fresh for each scenario, and runs each scenario on them in turn
// (A, B, A, B, ...) so the two share the machine's noise. --against measures the registry at URL
// instead (twice for an A/B of two URLs), with BENCH_USERNAME / BENCH_PASSWORD for its Basic or
// Bearer (token) challenge; repositories go under --repo-prefix (for a Berth: REGISTRY/bench).
//
// Scenarios (--only): blobs-1M, blobs-64M, chunked, manifests, list (see lib/scenarios.mjs).
// Prints medians over the rounds, min-max and the A/B ratio of the medians; --json prints one JSON
// document on stdout instead (progress goes to stderr either way). --quick shrinks every scenario
// to a few requests: a smoke test of the paths, not a measurement.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RegistryClient } from './lib/client.mjs';
import { BlobMaker } from './lib/registry-ops.mjs';
import { Results, table } from './lib/report.mjs';
import { SCENARIOS, SCENARIO_NAMES, SHAPES, warmUp } from './lib/scenarios.mjs';
import { findDistribution, startBerth, startDistribution } from './lib/servers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LOCAL_REGISTRY = 'benchreg';
const NAME_PART = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';

class UsageError extends Error {}

const HELP = `usage: node bench/run.mjs [options]      (npm run bench -- [options])
  --rounds N            rounds per scenario and registry (default 3); the table shows medians
  --only NAME[,NAME]    scenarios: ${SCENARIO_NAMES.join(', ')}
  --json                one JSON document on stdout instead of the table
  --concurrency N       requests in flight (default 4)
  --quick               a few requests per scenario: checks every path, measures little
  --metadata URL        run the local Berth on PostgreSQL (default: SQLite in its temp dir)
  --no-distribution     measure the local Berth alone, even when docker-registry is installed
  --against URL         measure the registry at URL instead of local ones (give it twice for A/B);
                        credentials from BENCH_USERNAME / BENCH_PASSWORD (Basic or Bearer token flow)
  --repo-prefix NAME    where --against pushes (default "bench"; for a Berth: REGISTRY/bench)
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
        against: { type: 'string', multiple: true, default: [] },
        'repo-prefix': { type: 'string', default: 'bench' },
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
    if (!SCENARIOS[name]) throw new UsageError(`unknown scenario "${name}" in --only: use ${SCENARIO_NAMES.join(', ')}`);
  }
  if (v.against.length > 2) throw new UsageError('--against takes one URL, or two for an A/B comparison');
  for (const url of v.against) {
    if (!/^https?:\/\/[^/\s]+\/?$/.test(url)) throw new UsageError(`--against wants http(s)://host[:port], not "${url}"`);
  }
  if (!new RegExp(`^${NAME_PART}(?:/${NAME_PART})*$`).test(v['repo-prefix'])) {
    throw new UsageError(`--repo-prefix "${v['repo-prefix']}" is not a repository name`);
  }
  return {
    help: v.help,
    rounds: whole('rounds'),
    concurrency: whole('concurrency'),
    only: SCENARIO_NAMES.filter((n) => only.includes(n)),
    json: v.json,
    shapes: v.quick ? SHAPES.quick : SHAPES.full,
    quick: v.quick,
    metadata: v.metadata,
    distribution: !v['no-distribution'],
    against: v.against.map((u) => u.replace(/\/+$/, '')),
    repoPrefix: v['repo-prefix'],
    insecure: v.insecure,
  };
}

const log = (line) => process.stderr.write(`${line}\n`);
const fmt = (v) => (Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));

/** A registry under test: a label for the table, a client, and where its repositories go. */
function target(label, url, client, prefix, runId, blobs) {
  return { label, url, client, runId, blobs, repo: (name) => `${prefix}/${runId}/${name}` };
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
async function localTargets(o, runId, blobs, distributionBinary) {
  const out = [];
  const berth = await startBerth({ root: ROOT, registry: LOCAL_REGISTRY, metadata: o.metadata });
  running.add(berth.stop);
  const prefix = `${LOCAL_REGISTRY}/bench`;
  const berthClient = new RegistryClient({ url: berth.url, username: berth.username, password: berth.password });
  out.push({ ...target('Berth', berth.url, berthClient, prefix, runId, blobs), stop: berth.stop });
  if (distributionBinary) {
    const dist = await startDistribution(distributionBinary);
    running.add(dist.stop);
    // The same repository names as on Berth, so both parse and store the same paths.
    out.push({ ...target('Distribution', dist.url, new RegistryClient({ url: dist.url }), prefix, runId, blobs), stop: dist.stop });
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
  for (const t of targets) setups.set(t, scenario.setup ? await scenario.setup(t, shape, o.concurrency) : undefined);
  for (let round = 0; round < o.rounds; round++) {
    for (const t of targets) {
      const metrics = await scenario.run(t, shape, round, o.concurrency, setups.get(t));
      results.add(name, t.label, metrics);
      log(`   round ${round + 1} ${t.label}: ${metrics.map((m) => `${m.metric} ${fmt(m.value)} ${m.unit}`).join(', ')}`);
    }
  }
}

async function main() {
  const o = options(process.argv.slice(2));
  if (o.help) {
    console.log(HELP);
    return;
  }
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const blobs = new BlobMaker();
  let labels;
  let shared = null; // --against targets, kept for the whole run
  let distributionBinary = null;
  if (o.against.length) {
    const env = process.env;
    const hosts = o.against.map((u) => new URL(u).host);
    labels = hosts.map((h, i) => (hosts.indexOf(h) === i ? h : `${h}#${i + 1}`));
    shared = o.against.map((url, i) => {
      const client = new RegistryClient({ url, username: env.BENCH_USERNAME, password: env.BENCH_PASSWORD, insecure: o.insecure });
      return target(labels[i], url, client, o.repoPrefix, runId, blobs);
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

  // A smoke run keeps one set of local registries for all scenarios: starting them is most of its time.
  if (!shared && o.quick) {
    shared = await localTargets(o, runId, blobs, distributionBinary);
    for (const t of shared) await warmUp(t, o.concurrency, true);
  }
  const results = new Results(labels);
  for (const name of o.only) {
    let targets = shared;
    if (!targets) {
      targets = await localTargets(o, runId, blobs, distributionBinary);
      for (const t of targets) await warmUp(t, o.concurrency);
    }
    try {
      await runScenario(name, targets, o, results);
    } finally {
      if (targets !== shared) await release(targets);
    }
  }
  if (shared) await release(shared);

  const rows = results.summary();
  if (o.json) {
    const doc = {
      tool: 'berth-bench',
      date: new Date().toISOString(),
      options: { rounds: o.rounds, concurrency: o.concurrency, quick: o.quick, scenarios: o.only },
      targets: labels,
      scenarios: Object.fromEntries(o.only.map((n) => [n, SCENARIOS[n].what(o.shapes[n])])),
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
