#!/usr/bin/env node
// The portal's pages on a big repository (issue 16: "10,000+ tags stay fast"), measured against
// dist/ (run `npm run build` first):
//
//   node bench/portal.mjs [--tags 10000] [--digests 200] [--rounds 30] [--metadata postgres://...]
//
// Starts `berth serve` (SQLite unless --metadata), pushes --digests distinct images and tags them
// until the repository holds --tags tags, signs in to the portal as a browser does (form, CSRF
// token, session cookie) and times each page --rounds times, one request at a time: the first page
// of tags by name, a page deep in the list (?last=), newest first, a prefix filter, the
// repositories tab and a manifest page. Beside each, the /api request the page is built on, so the
// portal's own share (rendering, the in-process call) shows. Prints medians and p95 in ms.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, URLSearchParams } from 'node:url';
import { parseArgs } from 'node:util';
import { RegistryClient } from './lib/client.mjs';
import { BlobMaker, imageManifest, pushImageBlobs, putManifest } from './lib/registry-ops.mjs';
import { median } from './lib/report.mjs';
import { dropSchema } from './lib/seed-catalog.mjs';
import { startBerth } from './lib/servers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REGISTRY = 'portalbench';
const REPO = `${REGISTRY}/big/app`;

const { values: args } = parseArgs({
  options: {
    tags: { type: 'string', default: '10000' },
    digests: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '30' },
    metadata: { type: 'string', default: '' },
  },
});
const TAGS = Number(args.tags);
const DIGESTS = Math.min(Number(args.digests), TAGS);
const ROUNDS = Number(args.rounds);

const log = (s) => process.stderr.write(`${s}\n`);
const p95 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.95))];

/** Runs fn over items with `width` in flight. */
async function pool(items, width, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

/** A portal visitor: signs in through the form and keeps the session cookie. */
async function signIn(url, username, password) {
  const cookies = new Map();
  const keep = (res) => {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
  };
  const cookie = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  const form = await fetch(`${url}/portal`);
  keep(form);
  const csrf = /name="_csrf"\s+value="([^"]+)"/.exec(await form.text())[1];
  const res = await fetch(`${url}/portal/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { Cookie: cookie(), 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: csrf, username, password }).toString(),
  });
  if (res.status !== 303) throw new Error(`portal sign-in: HTTP ${res.status}`);
  keep(res);
  return cookie();
}

async function timed(url, headers) {
  const t0 = performance.now();
  const res = await fetch(url, { headers, redirect: 'manual' });
  const body = await res.arrayBuffer();
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}`);
  return { ms, bytes: body.byteLength };
}

async function main() {
  // PostgreSQL: a fresh schema of the given database, dropped afterwards.
  const metadata = args.metadata
    ? `${args.metadata}${args.metadata.includes('?') ? '&' : '?'}schema=berth_bench_portal_${randomBytes(4).toString('hex')}`
    : '';
  const server = await startBerth({ root: ROOT, registry: REGISTRY, metadata });
  try {
    const client = new RegistryClient({ url: server.url, username: server.username, password: server.password });
    const blobs = new BlobMaker();
    const { config, layer } = await pushImageBlobs(client, REPO, blobs, 4096, 'portal-bench');
    const manifests = Array.from({ length: DIGESTS }, (_, i) => imageManifest(config, [layer], `m${i}`));
    const started = performance.now();
    const width = String(TAGS - 1).length;
    await pool(
      Array.from({ length: TAGS }, (_, i) => i),
      16,
      (i) => putManifest(client, REPO, `v${String(i).padStart(width, '0')}`, manifests[i % DIGESTS]),
    );
    log(`seeded ${TAGS} tags over ${DIGESTS} digests in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    client.close();

    const cookie = await signIn(server.url, server.username, server.password);
    const basic = `Basic ${Buffer.from(`${server.username}:${server.password}`).toString('base64')}`;
    const base = `${server.url}/portal/registries/${REGISTRY}`;
    const api = `${server.url}/api/registries/${REGISTRY}/repositories/big/app`;
    const mid = `v${String(Math.floor(TAGS / 2)).padStart(width, '0')}`;
    const prefix = `v${String(Math.floor(TAGS / 2))
      .padStart(width, '0')
      .slice(0, -2)}`;
    const pages = [
      ['tags, first page', `${base}/repositories/big/app`, `${api}/_tags?n=50`],
      ['tags, deep page (?last=)', `${base}/repositories/big/app?last=${mid}`, `${api}/_tags?n=50&last=${mid}`],
      ['tags, newest first', `${base}/repositories/big/app?order=newest`, `${api}/_tags?n=50&orderby=timedesc`],
      [`tags, prefix ${prefix}`, `${base}/repositories/big/app?prefix=${prefix}`, null],
      ['repositories tab', `${base}/repositories`, `${server.url}/api/registries/${REGISTRY}/repositories`],
      ['manifest page', `${base}/repositories/big/app/_manifests/${manifests[0].digest}`, null],
    ];
    const rows = [];
    for (const [name, page, apiUrl] of pages) {
      await timed(page, { Cookie: cookie }); // warm-up
      const portal = [];
      const direct = [];
      let bytes = 0;
      for (let r = 0; r < ROUNDS; r++) {
        const p = await timed(page, { Cookie: cookie });
        portal.push(p.ms);
        bytes = p.bytes;
        if (apiUrl) direct.push((await timed(apiUrl, { Authorization: basic })).ms);
      }
      rows.push({
        page: name,
        'portal p50 ms': median(portal).toFixed(1),
        'portal p95 ms': p95(portal).toFixed(1),
        'its /api p50 ms': direct.length ? median(direct).toFixed(1) : '–',
        'page KiB': (bytes / 1024).toFixed(0),
      });
    }
    log(`\n${TAGS} tags, ${DIGESTS} digests, ${ROUNDS} rounds, ${args.metadata ? 'PostgreSQL' : 'SQLite'}`);
    console.table(rows);
  } finally {
    await server.stop();
    if (metadata) await dropSchema(metadata).catch((e) => log(`dropping the schema failed: ${e.message}`));
  }
}

await main();
