#!/usr/bin/env node
// The test command (npm test): unit tests beside the code (src/**/*.test.ts), integration and
// end-to-end tests (test/**/*.test.ts), all on node's test runner. The TypeScript is transpiled
// first into dist-test/ (test/build.mjs: only what changed since the last run) and the tests run
// from there on plain node, which spares each file tsx's start-up; BERTH_TEST_TSX=1 runs the .ts
// files through tsx instead, as before. `node test/run.mjs FILTER...` runs the files whose path
// (test/x.test.ts, as listed) contains one of the FILTERs.
// Files run two at a time by default (BERTH_TEST_CONCURRENCY=N to change): most of a file's time
// is waiting on PostgreSQL, child processes and real clients, so two lanes keep both cores busy.
// Every file uses its own temp dirs, free ports and PostgreSQL schemas, so files never collide.
// After node's own output, a table of each file's duration (slowest first) and the total, then one
// closing line with node's counts: "N passed, N failed, N skipped".
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildTests, compiled, OUT } from './build.mjs';

function find(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
let files = [...find('src'), ...find('test')].sort();
if (filter.length) files = files.filter((f) => filter.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

const concurrency = Number(process.env.BERTH_TEST_CONCURRENCY ?? 2);
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error(`BERTH_TEST_CONCURRENCY must be a positive whole number, got "${process.env.BERTH_TEST_CONCURRENCY}"`);
  process.exit(2);
}
const useTsx = process.env.BERTH_TEST_TSX === '1';
if (!useTsx) {
  try {
    const t = Date.now();
    const n = await buildTests();
    if (n) console.log(`dist-test: ${n} file(s) built in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  } catch (e) {
    console.error(`test build (dist-test/) failed: ${e instanceof Error ? e.message : e}`);
    process.exit(1);
  }
}
/** A file as the table names it: its source, also when it ran from dist-test/. */
const sourceOf = (f) => {
  const rel = path.relative(OUT, f);
  return rel.startsWith('..') || path.isAbsolute(rel) ? path.relative(process.cwd(), f) : rel.replace(/\.js$/, '.ts');
};
const reporter = path.join(path.dirname(fileURLToPath(import.meta.url)), 'timing-reporter.mjs');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-test-run-'));
const timings = path.join(tmp, 'timings.jsonl');
const started = Date.now();
const r = spawnSync(
  process.execPath,
  [
    ...(useTsx ? ['--import', 'tsx'] : ['--enable-source-maps']),
    '--test',
    `--test-concurrency=${concurrency}`,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${reporter}`,
    `--test-reporter-destination=${timings}`,
    ...(useTsx ? files : files.map(compiled)),
  ],
  { stdio: 'inherit' },
);
const wallMs = Date.now() - started;

let lines = [];
try {
  lines = readFileSync(timings, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
} catch {
  // no timings (the runner did not start): node's own output says why
}
rmSync(tmp, { recursive: true, force: true });

const perFile = lines.filter((l) => l.file).sort((a, b) => b.ms - a.ms);
const counts = Object.fromEntries(lines.filter((l) => l.count).map((l) => [l.count, l.value]));
const secs = (ms) => (ms / 1000).toFixed(1).padStart(8);
if (perFile.length) {
  console.log('\nduration per file (slowest first)');
  for (const f of perFile) console.log(`${secs(f.ms)} s  ${sourceOf(f.file)}${f.passed ? '' : '  (failed)'}`);
  console.log(
    `${secs(perFile.reduce((s, f) => s + f.ms, 0))} s  total of ${perFile.length} files (wall clock ${(wallMs / 1000).toFixed(1)} s)`,
  );
}
if ('pass' in counts) console.log(`${counts.pass} passed, ${counts.fail ?? 0} failed, ${counts.skipped ?? 0} skipped`);
process.exit(r.status ?? 1);
