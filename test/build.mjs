// The test build test/run.mjs makes before every run: src/**/*.ts and test/**/*.ts transpiled one
// file at a time (TypeScript's transpileModule, the same per-file semantics as tsx, no type check:
// `npm run lint` type-checks the tests) into dist-test/, beside the other files of those trees
// (fixtures, testdata) copied as they are. Tests then run on plain node: loading every test file
// through tsx's module hooks cost about a second of CPU per file. Only files changed since the
// last build are redone, and outputs whose source is gone are removed, so a run of one file after
// an edit builds in a moment.
//
// dist-test/ mirrors the checkout (dist-test/test/x.test.js is test/x.test.ts), so imports between
// tests, helpers and src keep working, as does a fixture beside its test (new URL('./testdata/x',
// import.meta.url)). A path leaving those trees (docs/, README.md, dist/main.js, bench/) must start
// from test/helpers/root.ts's ROOT, the checkout itself. dist-test/package.json is package.json, so
// the version src/cli/version.ts reads (two levels up) is the real one.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { isMainThread, Worker, workerData } from 'node:worker_threads';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const OUT = path.join(ROOT, 'dist-test');
const TREES = ['src', 'test'];
const STAMP = path.join(OUT, '.build-stamp.json');

/** Every file of the trees, as paths relative to ROOT. */
function sources() {
  const out = [];
  const walk = (rel) => {
    for (const entry of readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
      const r = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(r);
      else if (entry.isFile()) out.push(r);
    }
  };
  for (const t of TREES) walk(t);
  return out;
}

/** Where a source lands: .ts as .js (declaration files are types only: none), anything else as is. */
function target(rel) {
  if (rel.endsWith('.d.ts')) return undefined;
  return path.join(OUT, rel.endsWith('.ts') ? rel.slice(0, -3) + '.js' : rel);
}

/** The compiler options of tsconfig.json, for emitting ES modules with source maps. */
function compilerOptions(ts) {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    path.join(ROOT, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  const { outDir: _o, rootDir: _r, declaration: _d, noEmit: _n, inlineSourceMap: _i, ...options } = parsed.options;
  // Every file here is an ES module (package.json's "type"), which NodeNext would find out from
  // package.json: one file alone must be told.
  return { ...options, module: ts.ModuleKind.ES2022, moduleResolution: ts.ModuleResolutionKind.Bundler, sourceMap: true };
}

/** Transpiles each [source, output] pair (both absolute paths), writing the output and its map. */
async function transpile(jobs) {
  // TypeScript loads (most of a second) only when something is to be transpiled.
  const ts = (await import('typescript')).default;
  const options = compilerOptions(ts);
  for (const [src, out] of jobs) {
    const r = ts.transpileModule(readFileSync(src, 'utf8'), { compilerOptions: options, fileName: src, reportDiagnostics: true });
    const errors = (r.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
    if (errors.length)
      throw new Error(`${path.relative(ROOT, src)}: ${errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('\n')}`);
    // The map names the .ts source relative to itself, so stack traces point at the source.
    const map = JSON.parse(r.sourceMapText);
    map.sources = [path.relative(path.dirname(out), src)];
    map.sourceRoot = '';
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(`${out}.map`, JSON.stringify(map));
    writeFileSync(out, r.outputText);
  }
}

/** transpile() in a worker thread. */
function transpileInWorker(jobs) {
  return new Promise((resolve, reject) => {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: { jobs } });
    w.on('error', reject);
    w.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`test build worker exited ${code}`))));
  });
}

/** Builds what changed; returns how many files it wrote. */
export async function buildTests() {
  // Another compiler, tsconfig.json or builder (this file) invalidate every output.
  const stamp = JSON.stringify({
    ts: JSON.parse(readFileSync(createRequire(import.meta.url).resolve('typescript/package.json'), 'utf8')).version,
    tsconfig: readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8'),
    builder: readFileSync(fileURLToPath(import.meta.url), 'utf8'),
  });
  if (!existsSync(STAMP) || readFileSync(STAMP, 'utf8') !== stamp) rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });

  const wanted = new Set([STAMP, path.join(OUT, 'package.json')]);
  const jobs = [];
  let copied = 0;
  for (const rel of sources()) {
    const out = target(rel);
    if (!out) continue;
    const src = path.join(ROOT, rel);
    wanted.add(out);
    if (rel.endsWith('.ts')) wanted.add(`${out}.map`);
    if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) continue;
    if (rel.endsWith('.ts')) jobs.push([src, out]);
    else {
      mkdirSync(path.dirname(out), { recursive: true });
      copyFileSync(src, out);
      copied++;
    }
  }
  // A whole build (a fresh checkout, as in CI) takes seconds: half of it in a second thread.
  if (jobs.length >= 100 && availableParallelism() >= 2) {
    const half = Math.ceil(jobs.length / 2);
    await Promise.all([transpileInWorker(jobs.slice(half)), transpile(jobs.slice(0, half))]);
  } else if (jobs.length) await transpile(jobs);
  writeFileSync(path.join(OUT, 'package.json'), readFileSync(path.join(ROOT, 'package.json')));
  writeFileSync(STAMP, stamp);

  // Outputs whose source was removed or renamed: gone too, so nothing imports a stale copy.
  const prune = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        prune(p);
        if (readdirSync(p).length === 0) rmSync(p, { recursive: true });
      } else if (!wanted.has(p)) rmSync(p);
    }
  };
  prune(OUT);
  return jobs.length + copied;
}

/** The compiled file a test source runs as (relative paths stay relative to ROOT). */
export const compiled = (rel) => path.join(path.relative(process.cwd(), OUT), rel.replace(/\.ts$/, '.js'));

if (!isMainThread && workerData?.jobs) {
  await transpile(workerData.jobs);
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const t = Date.now();
  const n = await buildTests();
  console.log(`dist-test: ${n} file(s) built in ${Date.now() - t} ms`);
}
