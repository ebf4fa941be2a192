// What `npm run bench` measures. Each scenario runs once per round on each registry and returns
// metrics; the report takes the median over rounds. A metric's `better` says which way is good
// (throughput: higher, latency: lower), so a ratio can be read without knowing the unit.
import {
  CATALOG_SCOPE,
  MiB,
  getManifest,
  headManifest,
  imageManifest,
  pullBlob,
  pushChunked,
  pushImageBlobs,
  pushMonolithic,
  putManifest,
  repoScope,
  walkPages,
} from './registry-ops.mjs';
import { forDuration, inParallel, latency, mbPerSecond, percentile, throughput } from './measure.mjs';
import { catalogScale } from './catalog-scale.mjs';
import { tail, tailNoAudit } from './tail.mjs';

/**
 * The shape of each scenario: `full` for real measurements, `quick` for the smoke test (tiny
 * counts and durations: it proves every path works; its numbers mean little).
 */
export const SHAPES = {
  full: {
    'blobs-1M': { count: 100, size: 1 * MiB },
    'blobs-64M': { count: 8, size: 64 * MiB },
    chunked: { count: 16, size: 16 * MiB, chunk: 5 * MiB },
    manifests: { count: 200, seconds: 5 },
    list: { repos: 50, tags: 100, page: 50, seconds: 4 },
    'catalog-scale': {
      registries: 10_000,
      reposPerRegistry: 5,
      tags: 1_000_000,
      bigRepoTags: 100_000,
      userRegistries: 5,
      walkPages: 50,
      seconds: 3,
    },
    tail: { connections: [64, 512], seconds: 10 },
    'tail-noaudit': { connections: [64, 512], seconds: 10 },
  },
  quick: {
    'blobs-1M': { count: 8, size: 1 * MiB },
    'blobs-64M': { count: 1, size: 64 * MiB },
    chunked: { count: 2, size: 16 * MiB, chunk: 5 * MiB },
    manifests: { count: 20, seconds: 0.25 },
    list: { repos: 3, tags: 8, page: 3, seconds: 0.25 },
    'catalog-scale': { registries: 50, reposPerRegistry: 2, tags: 2000, bigRepoTags: 500, userRegistries: 5, walkPages: 2, seconds: 0.25 },
    tail: { connections: [4, 16], seconds: 1 },
    'tail-noaudit': { connections: [4], seconds: 1 },
  },
};

const blobCount = (n) => `${n} blob${n === 1 ? '' : 's'}`;
const pick = (list) => list[Math.floor(Math.random() * list.length)];

async function blobsPushPull(t, shape, round, concurrency) {
  const repo = t.repo(`blobs-${shape.size / MiB}m-${round}`);
  const blobs = Array.from({ length: shape.count }, () => t.blobs.make(shape.size));
  const bytes = shape.count * shape.size;
  await t.client.prepare(repoScope(repo));
  const push = await inParallel(shape.count, concurrency, (i) => pushMonolithic(t.client, repo, blobs[i]));
  const pull = await inParallel(shape.count, concurrency, (i) => pullBlob(t.client, repo, blobs[i]));
  return [
    throughput('push', mbPerSecond(bytes, push.wallMs), 'MB/s'),
    latency('push p50', percentile(push.latencies, 0.5)),
    throughput('pull', mbPerSecond(bytes, pull.wallMs), 'MB/s'),
    latency('pull p50', percentile(pull.latencies, 0.5)),
  ];
}

/** name -> { what(shape), setup?(target, shape, concurrency), run(target, shape, round, concurrency) } */
export const SCENARIOS = {
  'blobs-1M': {
    what: (s) => `monolithic push (POST + one PUT), then pull, of ${blobCount(s.count)} of 1 MiB`,
    run: blobsPushPull,
  },
  'blobs-64M': {
    what: (s) => `monolithic push, then pull, of ${blobCount(s.count)} of 64 MiB`,
    run: blobsPushPull,
  },
  chunked: {
    what: (s) => `chunked push of ${blobCount(s.count)} of ${s.size / MiB} MiB in ${s.chunk / MiB} MiB PATCHes`,
    async run(t, shape, round, concurrency) {
      const repo = t.repo(`chunked-${round}`);
      const blobs = Array.from({ length: shape.count }, () => t.blobs.make(shape.size));
      await t.client.prepare(repoScope(repo));
      const push = await inParallel(shape.count, concurrency, (i) => pushChunked(t.client, repo, blobs[i], shape.chunk));
      return [
        throughput('push', mbPerSecond(shape.count * shape.size, push.wallMs), 'MB/s'),
        latency('push p50', percentile(push.latencies, 0.5)),
      ];
    },
  },
  manifests: {
    what: (s) => `PUT ${s.count} manifests, then GET by tag and HEAD by digest, ${s.seconds} s each`,
    async run(t, shape, round, concurrency) {
      const repo = t.repo(`manifests-${round}`);
      const { config, layer } = await pushImageBlobs(t.client, repo, t.blobs, 2048, `${t.runId}-${round}`);
      const manifests = Array.from({ length: shape.count }, (_, i) => imageManifest(config, [layer], `${t.runId}-${round}-${i}`));
      const put = await inParallel(shape.count, concurrency, (i) => putManifest(t.client, repo, `v${i}`, manifests[i]));
      const get = await forDuration(shape.seconds, concurrency, () => {
        const i = Math.floor(Math.random() * shape.count);
        return getManifest(t.client, repo, `v${i}`, manifests[i]);
      });
      const head = await forDuration(shape.seconds, concurrency, () => headManifest(t.client, repo, pick(manifests)));
      return [
        throughput('put', shape.count / (put.wallMs / 1000), 'op/s'),
        latency('put p50', percentile(put.latencies, 0.5)),
        throughput('get', get.perSecond, 'op/s'),
        latency('get p50', percentile(get.latencies, 0.5)),
        latency('get p99', percentile(get.latencies, 0.99)),
        throughput('head', head.perSecond, 'op/s'),
        latency('head p50', percentile(head.latencies, 0.5)),
        latency('head p99', percentile(head.latencies, 0.99)),
      ];
    },
  },
  list: {
    what: (s) =>
      `${s.repos} repositories x ${s.tags} tags; _catalog?n=100 walks for ${s.seconds / 2} s, tags/list?n=${s.page} pages for ${s.seconds} s`,
    // Untimed, once per registry: the repositories and tags the listings page through.
    async setup(t, shape, concurrency) {
      const repos = Array.from({ length: shape.repos }, (_, i) => t.repo(`list/r${String(i).padStart(3, '0')}`));
      await inParallel(repos.length, concurrency, async (i) => {
        const { config, layer } = await pushImageBlobs(t.client, repos[i], t.blobs, 512, `${t.runId}-list-${i}`);
        const manifest = imageManifest(config, [layer], `${t.runId}-list-${i}`);
        for (let k = 0; k < shape.tags; k++) await putManifest(t.client, repos[i], `t${k}`, manifest);
      });
      await t.client.prepare(CATALOG_SCOPE, ...repos.map(repoScope));
      return { repos };
    },
    async run(t, shape, _round, concurrency, { repos }) {
      let seen = { items: [], pages: 0 };
      // One client walking the whole catalog again and again, as a mirror or a scanner does.
      const walk = await forDuration(shape.seconds / 2, 1, async () => {
        seen = await walkPages(t.client, '/v2/_catalog?n=100', CATALOG_SCOPE, 'repositories');
      });
      const names = new Set(seen.items);
      const missing = repos.filter((r) => !names.has(r));
      if (missing.length)
        throw new Error(`_catalog (${seen.pages} pages, ${names.size} names) lacks ${missing.length} repositories, e.g. ${missing[0]}`);
      const tags = await forDuration(shape.seconds, concurrency, async () => {
        const repo = pick(repos);
        const { items } = await walkPages(t.client, `/v2/${repo}/tags/list?n=${shape.page}`, repoScope(repo), 'tags');
        if (new Set(items).size !== shape.tags) throw new Error(`tags/list of ${repo} gave ${items.length} tags, expected ${shape.tags}`);
      });
      return [
        { metric: 'catalog size', unit: 'repos', value: seen.items.length, better: 'none' },
        latency('catalog walk p50', percentile(walk.latencies, 0.5)),
        throughput('tags/list', tags.perSecond, 'op/s'),
        latency('tags/list p50', percentile(tags.latencies, 0.5)),
        latency('tags/list p99', percentile(tags.latencies, 0.99)),
      ];
    },
  },
  // Opt-in (run only when --only names them): long, or needing PostgreSQL or wrk.
  'catalog-scale': catalogScale,
  tail,
  'tail-noaudit': tailNoAudit,
};

/** The default set, and every scenario --only accepts. */
export const SCENARIO_NAMES = Object.keys(SCENARIOS).filter((n) => !SCENARIOS[n].optIn);
export const ALL_SCENARIO_NAMES = Object.keys(SCENARIOS);

/** Untimed: opens connections, takes tokens and warms both ends' JIT before the first round. */
export async function warmUp(t, concurrency, light = false) {
  const repo = t.repo('warmup');
  const blobs = Array.from({ length: 8 }, () => t.blobs.make(64 * 1024));
  await inParallel(blobs.length, concurrency, (i) => pushMonolithic(t.client, repo, blobs[i]));
  await inParallel(blobs.length, concurrency, (i) => pullBlob(t.client, repo, blobs[i]));
  const { config, layer } = await pushImageBlobs(t.client, repo, t.blobs, 1024, `${t.runId}-warmup`);
  const manifest = imageManifest(config, [layer], `${t.runId}-warmup`);
  await putManifest(t.client, repo, 'warmup', manifest);
  await inParallel(light ? 10 : 100, concurrency, () => getManifest(t.client, repo, 'warmup', manifest));
}
