// catalog-scale (opt-in, Berth on PostgreSQL only): listings over a large deployment. Its setup
// seeds thousands of registries and a million tags by bulk SQL (seed-catalog.mjs), adds a user with
// Reader on a handful of registries, then each round times, as the deployment owner (catalog reach
// "all") and as that user (reach: a few registry ids):
//   root /v2/_catalog?n=100: the first page, a page from the middle (keyset `last`), a walk of N
//   pages, and (owner, once per round) a walk of the whole catalog;
//   one registry's /v2/<registry>/_catalog; tags/list of an ordinary repository and of one holding
//   a large share of the tags (first page and a deep page).
import { performance } from 'node:perf_hooks';
import { RegistryClient, json } from './client.mjs';
import { forDuration, info, latency, percentile, throughput } from './measure.mjs';
import { CATALOG_SCOPE, walkPages } from './registry-ops.mjs';
import { seedCatalog, seedRegistry } from './seed-catalog.mjs';

const PULL = (repo) => `repository:${repo}:pull`;
const USER = 'bench.few';
const USER_PASSWORD = 'bench-Few-registries-1';

async function api(t, method, path, body) {
  const res = await fetch(`${t.url}${path}`, {
    method,
    headers: {
      Authorization: `Basic ${Buffer.from(`${t.berth.username}:${t.berth.password}`).toString('base64')}`,
      'Content-Type': 'application/json',
    },
    body: JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
}

/** GET of one page; checks it lists something and returns the parsed body. */
async function page(client, path, scope, field) {
  const res = await client.request('GET', path, { scope, keep: true });
  const list = json(res)[field];
  if (!Array.isArray(list) || list.length === 0) throw new Error(`GET ${path}: no ${field}`);
  return list;
}

export const catalogScale = {
  optIn: true,
  berthOnly: true,
  postgres: true,
  what: (s) =>
    `${s.registries} registries x ${s.reposPerRegistry} repositories, ${s.tags} tags (${s.bigRepoTags} in one) seeded by SQL; ` +
    `root _catalog?n=100 (first page, middle page, walk of ${s.walkPages} pages), a registry's _catalog, tags/list; ` +
    `as the owner and as a user with Reader on ${s.userRegistries} registries; ${s.seconds} s per measurement`,

  async setup(t, shape, _concurrency, log) {
    if (!t.berth?.metadata) throw new Error('catalog-scale needs Berth on PostgreSQL (--metadata postgres://...)');
    const seeded = await seedCatalog(t.berth.metadata, shape, log);
    // A handful of registries spread over the name space, and the big repository's registry.
    const step = Math.floor(shape.registries / shape.userRegistries);
    const mine = Array.from({ length: shape.userRegistries }, (_, i) => seedRegistry(i * step));
    await api(t, 'POST', '/api/users', { name: USER, password: USER_PASSWORD });
    for (const r of mine) await api(t, 'POST', '/api/role-assignments', { assignee: USER, role: 'Reader', scope: `/registries/${r}` });
    const user = new RegistryClient({ url: t.url, username: USER, password: USER_PASSWORD });
    const mid = seedRegistry(Math.floor(shape.registries / 2));
    const reg = mine[Math.floor(mine.length / 2)];
    const plain = `${reg}/app001`;
    const big = `${seedRegistry(0)}/big`;
    const scopes = [CATALOG_SCOPE, PULL(plain), PULL(big)];
    // Sign-in (slow on purpose: bcrypt) happens here, untimed. A new client learns the token flow
    // from its first 401, so the user's first requests go here too, one per scope.
    await t.client.prepare(...scopes);
    await page(user, '/v2/_catalog?n=1', CATALOG_SCOPE, 'repositories');
    await page(user, `/v2/${plain}/tags/list?n=1`, PULL(plain), 'tags');
    await page(user, `/v2/${big}/tags/list?n=1`, PULL(big), 'tags');
    await user.prepare(...scopes);
    return { seeded, user, mid, reg, plain, big };
  },

  async run(t, shape, _round, concurrency, s) {
    const out = [info('seeded tags', s.seeded.tags, 'tags'), info('seeded registries', s.seeded.registries, 'registries')];
    const time = async (label, client, fn) => {
      const r = await forDuration(shape.seconds, concurrency, fn.bind(null, client));
      out.push(
        throughput(`${label}`, r.perSecond, 'op/s'),
        latency(`${label} p50`, percentile(r.latencies, 0.5)),
        latency(`${label} p99`, percentile(r.latencies, 0.99)),
      );
    };
    const deepTag = `v${String(Math.floor(shape.bigRepoTags / 2)).padStart(6, '0')}`;
    for (const [who, client] of [
      ['owner', t.client],
      ['user', s.user],
    ]) {
      await time(`${who}: root catalog page 1`, client, (c) => page(c, '/v2/_catalog?n=100', CATALOG_SCOPE, 'repositories'));
      if (who === 'owner') {
        await time(`${who}: root catalog middle page`, client, (c) =>
          page(c, `/v2/_catalog?n=100&last=${s.mid}/app000`, CATALOG_SCOPE, 'repositories'),
        );
      }
      // A walk of N pages by Link, as a mirror or scanner does: one client, one page after another.
      const walk = await forDuration(shape.seconds, 1, async () => {
        let url = '/v2/_catalog?n=100';
        for (let i = 0; i < shape.walkPages && url; i++) {
          const res = await client.request('GET', url, { scope: CATALOG_SCOPE, keep: true });
          const next = res.headers.link ? /<([^>]*)>/.exec(String(res.headers.link))?.[1] : undefined;
          url = next ? new URL(next, res.url).pathname + new URL(next, res.url).search : '';
        }
      });
      out.push(
        latency(`${who}: root catalog walk of ${shape.walkPages} pages p50`, percentile(walk.latencies, 0.5)),
        latency(`${who}: root catalog walk of ${shape.walkPages} pages p99`, percentile(walk.latencies, 0.99)),
      );
      await time(`${who}: ${s.reg}/_catalog`, client, (c) => page(c, `/v2/${s.reg}/_catalog?n=100`, CATALOG_SCOPE, 'repositories'));
      await time(`${who}: tags/list (${s.seeded.tagsPerRepository} tags)`, client, (c) =>
        page(c, `/v2/${s.plain}/tags/list?n=100`, PULL(s.plain), 'tags'),
      );
      await time(`${who}: big tags/list page 1`, client, (c) => page(c, `/v2/${s.big}/tags/list?n=100`, PULL(s.big), 'tags'));
      await time(`${who}: big tags/list deep page`, client, (c) =>
        page(c, `/v2/${s.big}/tags/list?n=100&last=${deepTag}`, PULL(s.big), 'tags'),
      );
    }
    // Once per round: the owner's walk over the whole catalog, every page by Link.
    const t0 = performance.now();
    const whole = await walkPages(t.client, '/v2/_catalog?n=100', CATALOG_SCOPE, 'repositories');
    const wholeMs = performance.now() - t0;
    out.push(
      info('owner: whole root catalog walk, pages', whole.pages, 'pages'),
      latency('owner: whole root catalog walk', wholeMs),
      latency('owner: whole root catalog walk, per page', wholeMs / whole.pages),
    );
    // The user sees exactly its registries' repositories, nothing else.
    const mine = await walkPages(s.user, '/v2/_catalog?n=100', CATALOG_SCOPE, 'repositories');
    const expected = shape.userRegistries * shape.reposPerRegistry + 1; // + seed00000/big
    if (mine.items.length !== expected) throw new Error(`the user's root catalog lists ${mine.items.length} names, expected ${expected}`);
    return out;
  },

  cleanup(_t, s) {
    s?.user?.close();
  },
};
