// npm run soak: the scale-out topology under a long mixed load. Two real `berth serve` nodes (the
// compiled dist/) on one PostgreSQL schema and one Azurite container; concurrent workers push
// images (monolithic and chunked layers, a layer shared by every image), pull them back, untag,
// delete manifests and re-push deleted images, each request to either node, while garbage
// collection runs both on schedule (every node) and on demand (the API). Every acknowledged
// artifact is tracked. At the end: zero unexpected errors, every artifact not deleted pulls back
// intact (sha256 of every blob), every deleted manifest is gone, and the storage usage counters
// equal a recomputation from the data. Prints a summary and exits 1 on any failure.
//
//   npm run soak -- [--minutes N | --seconds N] [--workers N] [--nodes N] [--gc-grace SECONDS] [--json]
//
// Not part of npm test (test/soak-smoke.test.ts runs it for a few seconds so it keeps working).
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { AzureCluster } from '../test/helpers/cluster.js';
import { MANIFEST_ACCEPT, request } from '../test/e2e/helpers.js';
import { planImage, pullAndVerify, pushPlannedImage, type ImagePlan } from '../test/helpers/image-push.js';
import { postgresUnavailable } from '../test/helpers/backends.js';
import { azuriteMissing } from '../test/helpers/azurite.js';
import { adminAuthHeader } from '../test/helpers/credentials.js';
import { openDb } from '../src/meta/db.js';
import { computedUsage, storedUsage } from '../src/meta/usage.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string' },
    seconds: { type: 'string' },
    workers: { type: 'string', default: '8' },
    nodes: { type: 'string', default: '2' },
    'gc-grace': { type: 'string', default: '120' },
    json: { type: 'boolean', default: false },
  },
});
const durationMs = args.seconds !== undefined ? Number(args.seconds) * 1000 : Number(args.minutes ?? 10) * 60_000;
const WORKERS = Number(args.workers);
const NODES = Number(args.nodes);
const GC_GRACE = Number(args['gc-grace']);
for (const [k, v] of Object.entries({ duration: durationMs, workers: WORKERS, nodes: NODES, 'gc-grace': GC_GRACE }))
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${k} must be a non-negative number`);

const say = (line: string) => {
  if (!args.json) process.stdout.write(`${line}\n`);
};

/** One tracked artifact: an image pushed and acknowledged, with its tag (undefined once untagged). */
interface Artifact {
  plan: ImagePlan;
  tag?: string;
}

const counts = { push: 0, repush: 0, pull: 0, untag: 0, deleteManifest: 0, gcRuns: 0, gcConflicts: 0, requestsFailed: 0 };
const unexpected: string[] = [];
const live: Artifact[] = [];
const deleted: ImagePlan[] = [];

const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

async function main(): Promise<number> {
  const why = (await postgresUnavailable()) ?? azuriteMissing();
  if (why) throw new Error(`the soak needs PostgreSQL and Azurite: ${why}`);
  const started = Date.now();
  say(`soak: ${NODES} nodes, ${WORKERS} workers, ${Math.round(durationMs / 1000)} s, GC grace ${GC_GRACE} s`);
  const cluster = await AzureCluster.start({
    nodes: NODES,
    // The shipped retry budget: under load a slow storage is waited for, not reported as an outage.
    storageRetry: 'default',
    env: {
      BERTH_GC_INTERVAL_SECONDS: '10',
      BERTH_GC_GRACE_PERIOD_SECONDS: String(GC_GRACE),
      BERTH_LOG_LEVEL: 'error',
    },
  });
  try {
    const bases = cluster.nodes.map((n) => n!.url);
    const reg = await cluster.createRegistry(`soak${randomBytes(3).toString('hex')}`);
    const agent = new http.Agent({ keepAlive: true, maxSockets: WORKERS * 2 });
    const shared = randomBytes(64 * 1024);
    const deadline = Date.now() + durationMs;

    const failed = (what: string, e: unknown) => {
      counts.requestsFailed++;
      unexpected.push(`${what}: ${(e as Error).message}`);
    };

    const worker = async (w: number) => {
      // Each worker owns its repositories, so its bookkeeping never races another worker's deletes;
      // the layer every image shares makes blobs, links and GC meet across repositories.
      const mine: Artifact[] = [];
      let n = 0;
      while (Date.now() < deadline) {
        const r = Math.random();
        if (r < 0.4 || mine.length < 2) {
          const plan = planImage(`${reg}/w${w}/r${n % 3}`, `t${n}`, { layers: [1, 3], maxLayerBytes: 160 * 1024, shared: [shared] });
          n++;
          try {
            await pushPlannedImage(plan, { bases, agent });
            counts.push++;
            const a = { plan, tag: plan.tag };
            mine.push(a);
            live.push(a);
          } catch (e) {
            failed(`push ${plan.name}:${plan.tag}`, e);
          }
        } else if (r < 0.7) {
          const a = pick(mine);
          try {
            await pullAndVerify(pick(bases), a.plan, agent, a.tag ?? a.plan.manifestDigest);
            counts.pull++;
          } catch (e) {
            failed(`pull ${a.plan.name}@${a.tag ?? a.plan.manifestDigest}`, e);
          }
        } else if (r < 0.8) {
          const tagged = mine.filter((x) => x.tag !== undefined);
          if (!tagged.length) continue;
          const a = pick(tagged);
          const res = await request('DELETE', `${pick(bases)}/v2/${a.plan.name}/manifests/${a.tag}`, { agent }).catch((e: Error) => e);
          if (res instanceof Error || res.status !== 202)
            failed(`untag ${a.plan.name}:${a.tag}`, res instanceof Error ? res : new Error(`HTTP ${res.status} ${res.body.toString()}`));
          else {
            a.tag = undefined;
            counts.untag++;
          }
        } else if (r < 0.9) {
          const i = Math.floor(Math.random() * mine.length);
          const a = mine[i]!;
          const res = await request('DELETE', `${pick(bases)}/v2/${a.plan.name}/manifests/${a.plan.manifestDigest}`, { agent }).catch(
            (e: Error) => e,
          );
          if (res instanceof Error || res.status !== 202)
            failed(
              `delete ${a.plan.name}@${a.plan.manifestDigest}`,
              res instanceof Error ? res : new Error(`HTTP ${res.status} ${res.body.toString()}`),
            );
          else {
            mine.splice(i, 1);
            live.splice(live.indexOf(a), 1);
            deleted.push(a.plan);
            counts.deleteManifest++;
          }
        } else {
          // Re-push an image deleted earlier (same digests): races GC's removal of its links and blobs.
          const gone = deleted.filter((p) => p.name.startsWith(`${reg}/w${w}/`));
          if (!gone.length) continue;
          const plan = gone[Math.floor(Math.random() * gone.length)]!;
          try {
            await pushPlannedImage(plan, { bases, agent });
            counts.repush++;
            deleted.splice(deleted.indexOf(plan), 1);
            const a = { plan, tag: plan.tag };
            mine.push(a);
            live.push(a);
          } catch (e) {
            failed(`re-push ${plan.name}:${plan.tag}`, e);
          }
        }
      }
    };

    const gcLoop = async () => {
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 3000 + Math.random() * 4000));
        const res = await request('POST', `${pick(bases)}/api/gc/runs`, {
          agent,
          body: '{}',
          headers: { 'content-type': 'application/json', authorization: adminAuthHeader() },
        }).catch((e: Error) => e);
        if (res instanceof Error) failed('POST /api/gc/runs', res);
        else if (res.status === 202) counts.gcRuns++;
        else if (res.status === 409)
          counts.gcConflicts++; // a scheduled run is going on
        else failed('POST /api/gc/runs', new Error(`HTTP ${res.status} ${res.body.toString()}`));
      }
    };

    const progress = setInterval(() => say(`  ${Math.round((Date.now() - started) / 1000)} s: ${JSON.stringify(counts)}`), 30_000);
    await Promise.all([...Array.from({ length: WORKERS }, (_, w) => worker(w)), gcLoop()]);
    clearInterval(progress);
    say('load done; verifying');

    // Let a GC that is still running finish, so the counters are checked at rest.
    await waitGcIdle(bases[0]!);

    const lost: string[] = [];
    for (const a of live) {
      try {
        await pullAndVerify(pick(bases), a.plan, agent, a.tag ?? a.plan.manifestDigest);
        if (a.tag === undefined) await pullAndVerify(pick(bases), a.plan, agent, a.plan.manifestDigest);
      } catch (e) {
        lost.push(`${a.plan.name}@${a.tag ?? a.plan.manifestDigest}: ${(e as Error).message}`);
      }
    }
    const resurrected: string[] = [];
    for (const p of deleted) {
      const r = await request('GET', `${pick(bases)}/v2/${p.name}/manifests/${p.manifestDigest}`, {
        agent,
        headers: { accept: MANIFEST_ACCEPT },
      });
      if (r.status !== 404) resurrected.push(`${p.name}@${p.manifestDigest}: HTTP ${r.status}`);
    }
    agent.destroy();

    const db = await openDb({ url: cluster.metadataUrl, dataDir: '' });
    let usage: { registryBytes: number; repositories: number; matches: boolean; diff?: string };
    try {
      const row = await db.kysely.selectFrom('registries').select('id').where('name', '=', reg).executeTakeFirstOrThrow();
      const stored = await storedUsage(db.kysely, Number(row.id));
      const computed = await computedUsage(db.kysely, Number(row.id));
      const matches = JSON.stringify(sorted(stored)) === JSON.stringify(sorted(computed));
      usage = {
        registryBytes: stored.registry,
        repositories: Object.keys(stored.repositories).length,
        matches,
        ...(matches ? {} : { diff: `stored ${JSON.stringify(sorted(stored))}\ncomputed ${JSON.stringify(sorted(computed))}` }),
      };
    } finally {
      await db.close();
    }

    const summary = {
      seconds: Math.round((Date.now() - started) / 1000),
      nodes: NODES,
      workers: WORKERS,
      operations: counts,
      artifacts: { live: live.length, untagged: live.filter((a) => a.tag === undefined).length, deleted: deleted.length },
      unexpectedErrors: unexpected.length,
      lostArtifacts: lost.length,
      deletedStillServed: resurrected.length,
      usage,
      ok: unexpected.length === 0 && lost.length === 0 && resurrected.length === 0 && usage.matches && counts.push > 0,
    };
    if (args.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else {
      say(`summary: ${JSON.stringify(summary, null, 2)}`);
      for (const l of [...unexpected.slice(0, 20), ...lost.slice(0, 20), ...resurrected.slice(0, 20)]) say(`  failure: ${l}`);
      if (usage.diff) say(usage.diff);
      say(summary.ok ? 'soak: OK' : 'soak: FAILED');
    }
    if (!summary.ok && args.json)
      for (const l of [...unexpected, ...lost, ...resurrected].slice(0, 20)) process.stderr.write(`failure: ${l}\n`);
    return summary.ok ? 0 : 1;
  } finally {
    await cluster.stop();
  }
}

/** Waits until no GC run is in progress (GET /api/gc), at most a minute. */
async function waitGcIdle(base: string): Promise<void> {
  const end = Date.now() + 60_000;
  while (Date.now() < end) {
    const r = await request('GET', `${base}/api/gc`);
    const running = r.status === 200 ? (JSON.parse(r.body.toString()) as { running?: unknown }).running : undefined;
    if (!running) return;
    await new Promise((res) => setTimeout(res, 500));
  }
}

/** Usage numbers with sorted keys, for comparing. */
function sorted(u: { registry: number; repositories: Record<string, number>; content: Record<string, number> }) {
  const sortObj = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { registry: u.registry, repositories: sortObj(u.repositories), content: sortObj(u.content) };
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`soak: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(2);
  },
);
