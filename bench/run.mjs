#!/usr/bin/env node
// npm run bench: Berth (A) against CNCF Distribution (B, Debian's docker-registry) in one run,
// driven by the neutral yardstick ../shared/bench/regbench.mjs. Prints medians, min-max and A/B.
//
//   node bench/run.mjs [--rounds N] [--only NAME[,NAME]] [--metadata postgres://...] [--no-distribution]
//
// Passes: blobs-1M (push+pull, 100 x 1 MiB), blobs-64M (push+pull, 8 x 64 MiB), chunked (16 x 16 MiB
// in 5 MiB PATCHes), manifests (PUT, GET by tag, HEAD by digest under concurrency 4), list
// (catalog walk and tags/list paging). Both registries start empty; Berth runs with its access
// log off, as Distribution does in distribution.sh. Berth requires sign-in: it starts with the
// owner account admin / BERTH_BENCH_PASSWORD (BERTH_ADMIN_PASSWORD) and regbench signs in with
// --user/--password, taking Bearer tokens as Berth's challenge asks (Distribution, without
// auth, ignores the credentials).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.BERTH_SHARED_BENCH ?? path.resolve(root, '..', 'shared', 'bench');
const regbench = path.join(shared, 'regbench.mjs');
const distribution = path.join(shared, 'distribution.sh');
// A throwaway owner password for the bench deployments (127.0.0.1 only, deleted after each pass).
const ADMIN_USER = 'admin';
const ADMIN_PASSWORD = process.env.BERTH_BENCH_PASSWORD || 'berth-bench-owner-Secret-4e1d7b';
const BASIC = `Basic ${Buffer.from(`${ADMIN_USER}:${ADMIN_PASSWORD}`).toString('base64')}`;

const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    only: { type: 'string' },
    metadata: { type: 'string' },
    'no-distribution': { type: 'boolean', default: false },
  },
});

const PASSES = [
  { name: 'blobs-1M', args: ['--scenario', 'push-blobs,pull-blobs', '--size', '1M', '--count', '100'] },
  { name: 'blobs-64M', args: ['--scenario', 'push-blobs,pull-blobs', '--size', '64M', '--count', '8'] },
  { name: 'chunked', args: ['--scenario', 'push-chunked', '--size', '16M', '--count', '16', '--chunk', '5M'] },
  { name: 'manifests', args: ['--scenario', 'manifests', '--count', '200', '--duration', '5'] },
  { name: 'list', args: ['--scenario', 'list', '--repos', '50', '--tags', '100', '--page', '50', '--duration', '4'] },
].filter((p) => !opt.only || opt.only.split(',').includes(p.name));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function waitFor(url, child, ms = 20_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`berth exited with ${child.exitCode}`);
    try {
      if ((await fetch(url, { headers: { Authorization: BASIC } })).ok) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

async function startBerth() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-'));
  const port = await freePort();
  const args = [path.join(root, 'dist', 'main.js'), 'serve', '--listen', `127.0.0.1:${port}`, '--data', dir];
  if (opt.metadata) args.push('--metadata', opt.metadata);
  const child = spawn(process.execPath, args, {
    // BERTH_AUTH_ADMIN_PASSWORD would win over BERTH_ADMIN_PASSWORD: the bench's password is the one used.
    env: {
      ...process.env,
      BERTH_AUTH_ADMIN_PASSWORD: '',
      BERTH_LOG_LEVEL: 'warn',
      BERTH_LOG_ACCESS: 'false',
      BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/v2/`, child);
  const res = await fetch(`${url}/api/registries`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: BASIC },
    body: JSON.stringify({ name: 'benchreg', sku: 'Premium' }),
  });
  if (res.status !== 201) throw new Error(`creating the bench registry failed: HTTP ${res.status} ${await res.text()}`);
  return {
    url,
    stop: () => {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function startDistribution() {
  if (opt['no-distribution']) return null;
  const hasBinary = spawnSync('sh', ['-c', 'command -v docker-registry'], { encoding: 'utf8' }).status === 0;
  if (!hasBinary || !existsSync(distribution)) {
    console.error("note: Debian's docker-registry (or shared/bench/distribution.sh) is missing: measuring Berth alone");
    return null;
  }
  const out = spawnSync('bash', [distribution], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`distribution.sh failed: ${out.stderr}`);
  const vars = Object.fromEntries(
    out.stdout
      .trim()
      .split(/\s+/)
      .map((kv) => kv.split('=')),
  );
  return { url: vars.URL, stop: () => spawnSync('bash', [distribution, 'stop', vars.PID], { stdio: 'ignore' }) };
}

async function main() {
  if (!existsSync(regbench)) {
    console.error(`regbench not found at ${regbench}; set BERTH_SHARED_BENCH to the folder holding regbench.mjs`);
    process.exit(2);
  }
  const results = [];
  for (const pass of PASSES) {
    // Fresh registries per pass so catalogs and storage start equal.
    const berth = await startBerth();
    const dist = startDistribution();
    try {
      const json = path.join(os.tmpdir(), `berth-bench-${pass.name}-${process.pid}.json`);
      const urls = dist ? [berth.url, dist.url] : [berth.url];
      console.log(`\n##### ${pass.name}: A = Berth ${berth.url}${dist ? `, B = Distribution ${dist.url}` : ''}`);
      const r = spawnSync(
        process.execPath,
        [
          regbench,
          ...pass.args,
          '--rounds',
          opt.rounds,
          '--repo-prefix',
          'benchreg/regbench',
          '--user',
          ADMIN_USER,
          '--password',
          ADMIN_PASSWORD,
          '--json',
          json,
          ...urls,
        ],
        { stdio: 'inherit' },
      );
      if (r.status !== 0) throw new Error(`regbench failed on ${pass.name}`);
      results.push({ pass: pass.name, doc: JSON.parse(readFileSync(json, 'utf8')) });
      rmSync(json, { force: true });
    } finally {
      berth.stop();
      dist?.stop();
    }
  }
  console.log('\n##### summary (medians; A = Berth, B = Distribution; ratio > 1 = Berth faster for throughput, slower for latency)');
  for (const { pass, doc } of results) {
    for (const [scenario, metrics] of Object.entries(doc.results)) {
      for (const [name, row] of Object.entries(metrics)) {
        const a = row.A?.median;
        const b = row.B?.median;
        const f = (v) => (v === undefined ? '-' : v >= 100 ? v.toFixed(0) : v.toPrecision(3));
        console.log(
          `${pass.padEnd(10)} ${scenario.padEnd(13)} ${`${name} (${row.unit})`.padEnd(26)} A ${f(a).padStart(8)}   B ${f(b).padStart(8)}   A/B ${row.ratio === undefined ? '-' : row.ratio.toFixed(2)}`,
        );
      }
    }
  }
}

main().catch((e) => {
  console.error(`bench failed: ${e.message}`);
  process.exit(1);
});
