// --nodes N: scale-out of one Berth deployment on PostgreSQL + Azurite, 1 node against N nodes.
// For each node count it starts a fresh deployment (one PostgreSQL schema, one Azurite, k `berth
// serve` processes sharing both, no shared disk) and measures:
//   manifest GET by tag: one wrk per node, all at once, the same total connections split between
//     them; req/s summed, p99 the worst node's;
//   1 MiB blob push: monolithic pushes from the bench's own client, spread round-robin over nodes.
// Beside each figure: the CPU the load generators used (wrk; the bench process for pushes) and the
// nodes used, as a share of one core, so a reader can tell when the driver is what is measured.
import { randomBytes } from 'node:crypto';
import { RegistryClient } from './client.mjs';
import { info, inParallel, latency, percentile, throughput } from './measure.mjs';
import { MiB, pushMonolithic, repoScope } from './registry-ops.mjs';
import { startAzurite, startBerth } from './servers.mjs';
import { authHeader, pushOneImage } from './tail.mjs';
import { dropSchema } from './seed-catalog.mjs';
import { processCpuSeconds, rssMegabytes, runWrk } from './wrk.mjs';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export const SCALE_SHAPES = {
  full: { connections: 64, seconds: 10, pushes: 200, pushConcurrency: 16, size: 1 * MiB },
  quick: { connections: 4, seconds: 1, pushes: 8, pushConcurrency: 4, size: 1 * MiB },
};

/**
 * One deployment of k nodes: starts them, measures, stops everything. ctx: { root, registry,
 * pgUrl, runId, blobs, pin, log, running } (running: the set of stop functions of the run).
 */
async function measureNodes(k, shape, ctx) {
  const { log, running } = ctx;
  const stops = [];
  const track = (stop) => {
    stops.push(stop);
    running.add(stop);
  };
  const schema = `berth_bench_${ctx.runId}_n${k}`;
  const sep = ctx.pgUrl.includes('?') ? '&' : '?';
  const metadata = `${ctx.pgUrl}${sep}schema=${schema}`;
  track(() => dropSchema(metadata));
  const clients = [];
  try {
    const azurite = await startAzurite(ctx.root, { cpus: ctx.pin?.servers ?? '' });
    track(azurite.stop);
    const azure = { connectionString: azurite.connectionString, container: `bench-${randomBytes(4).toString('hex')}` };
    const password = randomBytes(18).toString('base64url');
    const nodes = [];
    // One after another: the first migrates the schema and creates the registry.
    for (let i = 0; i < k; i++) {
      const node = await startBerth({
        root: ctx.root,
        registry: ctx.registry,
        metadata,
        azure,
        password,
        createRegistry: i === 0,
        env: ctx.berthEnv,
        config: ctx.berthConfig,
        cpus: ctx.pin ? ctx.pin.node(i) : '',
      });
      track(node.stop);
      nodes.push(node);
    }
    log(`   ${k} node(s) up: ${nodes.map((n) => `${n.url} (pid ${n.pid})`).join(', ')}; Azurite pid ${azurite.pid}`);
    for (const n of nodes) clients.push(new RegistryClient({ url: n.url, username: n.username, password }));
    const repo = `${ctx.registry}/bench/${ctx.runId}/scale`;
    // Push through node 0; every node serves it from the shared database and container.
    const url0 = await pushOneImage(
      { client: clients[0], url: nodes[0].url, repo: () => repo, blobs: ctx.blobs, runId: ctx.runId },
      repo,
      'latest',
    );
    const path = new URL(url0).pathname;
    // One Host for every node, as behind a load balancer: a token is issued for (and checked
    // against) the service name the request's Host gives.
    const headers = { Host: new URL(nodes[0].url).host, Accept: OCI_MANIFEST, ...(await authHeader(clients[0], repoScope(repo))) };
    // Untimed: each client learns the token flow from its first 401 and signs in (bcrypt) here.
    for (const c of clients) await pushMonolithic(c, repo, ctx.blobs.make(1024));
    // Warm-up: each node's JIT and pools, untimed.
    await Promise.all(nodes.map((n) => runWrk({ url: `${n.url}${path}`, headers, connections: 4, seconds: 1, threads: 1 })));
    const rss = nodes.map((n) => rssMegabytes(n.pid));

    const perNode = Math.max(1, Math.floor(shape.connections / k));
    const threads = Math.max(1, Math.floor(2 / k));
    const cpu0 = nodes.map((n) => processCpuSeconds(n.pid));
    const runs = await Promise.all(
      nodes.map((n) =>
        runWrk({ url: `${n.url}${path}`, headers, connections: perNode, seconds: shape.seconds, threads, cpus: ctx.pin?.driver ?? '' }),
      ),
    );
    const wall = Math.max(...runs.map((r) => r.wallSeconds));
    const nodeCpu = nodes.map((n, i) => (processCpuSeconds(n.pid) - cpu0[i]) / wall);
    const getRps = runs.reduce((s, r) => s + r.rps, 0);
    const wrkCpu = runs.reduce((s, r) => s + r.cpuSeconds, 0) / wall;

    const blobs = Array.from({ length: shape.pushes }, () => ctx.blobs.make(shape.size));
    const pushCpu0 = process.cpuUsage();
    const nodeCpuPush0 = nodes.map((n) => processCpuSeconds(n.pid));
    const azuriteCpu0 = processCpuSeconds(azurite.pid);
    const push = await inParallel(shape.pushes, shape.pushConcurrency, (i) => pushMonolithic(clients[i % k], repo, blobs[i]));
    const used = process.cpuUsage(pushCpu0);
    const pushWall = push.wallMs / 1000;
    const nodeCpuPush = nodes.map((n, i) => (processCpuSeconds(n.pid) - nodeCpuPush0[i]) / pushWall);
    const azuriteCpu = (processCpuSeconds(azurite.pid) - azuriteCpu0) / pushWall;
    const sum = (xs) => xs.reduce((s, x) => s + x, 0);

    return [
      throughput('manifest GET', getRps, 'req/s'),
      latency('manifest GET p50 (worst node)', Math.max(...runs.map((r) => r.p50))),
      latency('manifest GET p99 (worst node)', Math.max(...runs.map((r) => r.p99))),
      info('GET: wrk CPU (all wrk processes)', 100 * wrkCpu, '%'),
      info('GET: nodes CPU (sum)', 100 * sum(nodeCpu), '%'),
      throughput('1 MiB push', shape.pushes / pushWall, 'op/s'),
      latency('1 MiB push p50', percentile(push.latencies, 0.5)),
      info('push: bench driver CPU', (100 * (used.user + used.system)) / 1e6 / pushWall, '%'),
      info('push: nodes CPU (sum)', 100 * sum(nodeCpuPush), '%'),
      info('push: Azurite CPU', 100 * azuriteCpu, '%'),
      info('idle RSS per node (max)', Math.max(...rss), 'MB'),
    ];
  } finally {
    for (const c of clients) c.close();
    for (const stop of stops.reverse()) {
      running.delete(stop);
      await stop().catch((e) => log(`   cleanup: ${e.message}`));
    }
  }
}

/** Rounds of 1 node and of n nodes, alternating; results under labels [n nodes, 1 node]. */
export async function scaleOut(n, rounds, shape, ctx, results, labels) {
  for (let round = 0; round < rounds; round++) {
    for (const [k, label] of [
      [1, labels[1]],
      [n, labels[0]],
    ]) {
      const metrics = await measureNodes(k, shape, ctx);
      results.add('scale-out', label, metrics);
      ctx.log(`   round ${round + 1} ${label}: ${metrics.map((m) => `${m.metric} ${ctx.fmt(m.value)} ${m.unit}`).join(', ')}`);
    }
  }
}
