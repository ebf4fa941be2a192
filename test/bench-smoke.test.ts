import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { azuriteMissing } from './helpers/azurite.js';
import { IN_CI, postgresUnavailable } from './helpers/backends.js';
import { BerthFixture, cleanEnv, ensureBuilt, ROOT } from './helpers/berth-process.js';
import { ADMIN_PASSWORD, ADMIN_USER } from './helpers/credentials.js';
import { DISTRIBUTION_SH, run } from './e2e/helpers.js';

// npm run bench's driver (bench/run.mjs), one --quick round: every scenario must report a number
// for every registry. The default run (Berth it starts itself, beside Distribution when Debian's
// docker-registry is installed), --against a running Berth (Bearer token flow) and --against a
// Distribution behind htpasswd (Basic). Real measurements stay in `npm run bench`. The opt-in modes,
// catalog-scale (PostgreSQL) and tail-noaudit (wrk) on Azurite storage in one run, and --nodes 2
// (PostgreSQL + Azurite + wrk), take most of a minute: they run with the bench's own checks
// (`npm run bench:check`, BERTH_TEST_BENCH_OPT_IN=1), not in `npm test`, where they are skipped.

const SCENARIOS = ['blobs-1M', 'blobs-64M', 'chunked', 'manifests', 'list'];

const has = (cmd: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
// .ci/run installs docker-registry and htpasswd: under CI the comparison must run, not skip.
const HAS_DISTRIBUTION = has('docker-registry');
if (IN_CI && !HAS_DISTRIBUTION) throw new Error('CI=true requires docker-registry');
const BASIC_GATE =
  HAS_DISTRIBUTION && has('htpasswd') && existsSync(DISTRIBUTION_SH)
    ? {}
    : IN_CI
      ? (() => {
          throw new Error(`CI=true requires docker-registry, htpasswd and ${DISTRIBUTION_SH}`);
        })()
      : { skip: `docker-registry, htpasswd or ${DISTRIBUTION_SH} missing` };

/** With BERTH_TEST_BENCH_OPT_IN=1 (npm run bench:check): skip (or, under CI, fail) unless PostgreSQL, Azurite and wrk are all here. */
const OPT_IN_GATE = await (async () => {
  if (process.env.BERTH_TEST_BENCH_OPT_IN !== '1') return {};
  const missing = [await postgresUnavailable(), azuriteMissing(), has('wrk') ? undefined : 'wrk is not installed'].filter(Boolean);
  if (missing.length === 0) return {};
  if (IN_CI) throw new Error(`CI=true requires ${missing.join('; ')}`);
  return { skip: missing.join('; ') };
})();

interface Row {
  scenario: string;
  metric: string;
  unit: string;
  better: string;
  byTarget: Record<string, { median: number; min: number; max: number; values: number[] }>;
  ratio?: number;
}
interface Report {
  tool: string;
  targets: string[];
  options: { rounds: number; quick: boolean; scenarios: string[] };
  notes: string[];
  rows: Row[];
}

/** Runs the driver to its end; its JSON report, or an assertion error holding what it printed. */
function bench(args: string[], env: Record<string, string | undefined> = {}): Promise<Report> {
  // The caller's BENCH_* credentials must not reach a run that is meant to go without them.
  const childEnv = Object.fromEntries(Object.entries(cleanEnv(env)).filter(([k]) => !k.startsWith('BENCH_') || k in env));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bench', 'run.mjs'), '--quick', '--rounds', '1', '--json', ...args], {
      cwd: ROOT,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      try {
        assert.equal(code, 0, `bench/run.mjs ${args.join(' ')} exited ${code}:\n${err}`);
        resolve(JSON.parse(out) as Report);
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

/**
 * Every scenario asked for has rows, and every row a finite median for every target it measures
 * (positive unless it is a count such as timeouts); berthOnly scenarios measure Berth alone.
 * Local runs also report each server's idle RSS.
 */
function assertComplete(report: Report, scenarios: string[], targets: string[], { local = false, berthOnly = [] as string[] } = {}): void {
  assert.equal(report.tool, 'berth-bench');
  assert.deepEqual(report.targets, targets);
  assert.deepEqual([...new Set(report.rows.map((r) => r.scenario).filter((s) => s !== 'idle'))], scenarios);
  if (local)
    assert.ok(
      report.rows.some((r) => r.scenario === 'idle' && r.metric === 'RSS after warm-up'),
      'idle RSS reported',
    );
  for (const row of report.rows) {
    const measured = berthOnly.includes(row.scenario) ? targets.slice(0, 1) : targets;
    for (const t of measured) {
      const m = row.byTarget[t];
      const ok = m && Number.isFinite(m.median) && (row.better === 'none' ? m.median >= 0 : m.median > 0);
      assert.ok(ok, `${row.scenario} ${row.metric} for ${t}: ${JSON.stringify(m)}`);
      // Idle RSS is read at each fresh start of the servers: once per scenario that starts its own.
      if (row.scenario !== 'idle') assert.equal(m.values.length, 1);
    }
    if (measured.length === 2 && row.better !== 'none')
      assert.ok(Number.isFinite(row.ratio), `${row.scenario} ${row.metric}: ratio ${row.ratio}`);
  }
  const metrics = (s: string) => report.rows.filter((r) => r.scenario === s).map((r) => r.metric);
  if (scenarios.includes('blobs-1M')) assert.deepEqual(metrics('blobs-1M'), ['push', 'push p50', 'pull', 'pull p50']);
  if (scenarios.includes('manifests')) {
    for (const m of ['put', 'get', 'get p99', 'head', 'head p99']) assert.ok(metrics('manifests').includes(m), m);
  }
  if (scenarios.includes('list')) {
    for (const m of ['catalog walk p50', 'tags/list']) assert.ok(metrics('list').includes(m), m);
  }
}

describe('npm run bench driver (--quick, one round)', () => {
  before(() => ensureBuilt());

  test('starts Berth (and Distribution when installed) itself and reports every scenario', async () => {
    const report = await bench([]);
    assertComplete(report, SCENARIOS, HAS_DISTRIBUTION ? ['Berth', 'Distribution'] : ['Berth'], { local: true });
    const size = report.rows.find((r) => r.metric === 'catalog size')!;
    if (HAS_DISTRIBUTION)
      assert.equal(size.byTarget.Berth!.median, size.byTarget.Distribution!.median, 'both catalogs hold the same repositories');
  });

  describe('--against a running Berth, signing in through its Bearer challenge', () => {
    let berth: BerthFixture;
    before(async () => {
      berth = await BerthFixture.start('sqlite');
      await berth.createRegistry('benchtarget');
    });
    after(() => berth?.cleanup());

    test('measures it with BENCH_USERNAME / BENCH_PASSWORD', async () => {
      // list: a token per repository scope and one for the catalog scope.
      const args = ['--against', berth.url, '--repo-prefix', 'benchtarget/bench', '--only', 'list'];
      const report = await bench(args, { BENCH_USERNAME: ADMIN_USER, BENCH_PASSWORD: ADMIN_PASSWORD });
      assertComplete(report, ['list'], [berth.host]);
    });

    test('without credentials it fails, saying which variables to set', async () => {
      const args = ['--against', berth.url, '--repo-prefix', 'benchtarget/bench', '--only', 'manifests'];
      await assert.rejects(bench(args), /BENCH_USERNAME and BENCH_PASSWORD/);
    });
  });

  test('--against a Distribution behind htpasswd, with Basic credentials', BASIC_GATE, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-basic-'));
    try {
      const htpasswd = path.join(dir, 'htpasswd');
      // The lowest bcrypt cost: Distribution checks the password on every request.
      writeFileSync(htpasswd, execFileSync('htpasswd', ['-nbB', '-C', '4', 'bencher', 'bench-Secret-1']));
      const extra = path.join(dir, 'extra.yml');
      writeFileSync(extra, `auth:\n  htpasswd:\n    realm: bench\n    path: ${htpasswd}\n`);
      const started = await run('bash', [DISTRIBUTION_SH], { timeoutMs: 60_000, env: { EXTRA_CONFIG: extra } });
      assert.equal(started.code, 0, `distribution.sh failed: ${started.stderr}`);
      const vars = Object.fromEntries([...started.stdout.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]])) as Record<string, string>;
      try {
        const report = await bench(['--against', vars.URL!, '--only', 'manifests'], {
          BENCH_USERNAME: 'bencher',
          BENCH_PASSWORD: 'bench-Secret-1',
        });
        assertComplete(report, ['manifests'], [new URL(vars.URL!).host]);
      } finally {
        await run('bash', [DISTRIBUTION_SH, 'stop', vars.PID!], { timeoutMs: 30_000 });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an unknown scenario is a usage error (exit 2) naming the known ones', async () => {
    const r = await run(process.execPath, [path.join(ROOT, 'bench', 'run.mjs'), '--only', 'nope'], { timeoutMs: 30_000 });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown scenario "nope".*blobs-1M, blobs-64M, chunked, manifests, list, catalog-scale, tail, tail-noaudit/);
    for (const [args, why] of [
      [['--nodes', '1'], /--nodes must be a whole number of at least 2/],
      [['--storage', 's3'], /--storage must be fs or azure/],
      [['--berth-env', 'NOPE'], /--berth-env wants BERTH_NAME=VALUE/],
    ] as const) {
      const bad = await run(process.execPath, [path.join(ROOT, 'bench', 'run.mjs'), ...args], { timeoutMs: 30_000 });
      assert.equal(bad.code, 2, args.join(' '));
      assert.match(bad.stderr, why);
    }
  });
});

// The opt-in modes are benchmarks' own checks (npm run bench:check), not part of npm test: they
// are registered only when asked for, so npm test neither runs nor skips them.
if (process.env.BERTH_TEST_BENCH_OPT_IN === '1') {
  describe('npm run bench driver, opt-in modes (--quick, one round)', OPT_IN_GATE, () => {
    before(() => ensureBuilt());

    test('opt-in: catalog-scale (PostgreSQL, seeded by SQL) and tail-noaudit (wrk), Berth on Azurite storage', async () => {
      const report = await bench(['--only', 'catalog-scale,tail-noaudit', '--storage', 'azure']);
      const targets = HAS_DISTRIBUTION ? ['Berth', 'Distribution'] : ['Berth'];
      assertComplete(report, ['catalog-scale', 'tail-noaudit'], targets, { local: true, berthOnly: ['catalog-scale'] });
      const metric = (name: string) => report.rows.find((r) => r.scenario === 'catalog-scale' && r.metric === name)?.byTarget.Berth?.median;
      assert.ok(metric('seeded tags')! >= 2000, 'the quick shape seeds its 2,000 tags');
      for (const m of ['owner: root catalog page 1 p99', 'user: root catalog page 1 p99', 'owner: big tags/list deep page p99'])
        assert.ok(metric(m)! > 0, m);
      assert.ok(report.rows.some((r) => r.scenario === 'tail-noaudit' && r.metric === 'c4 p99'));
      assert.ok(report.notes.some((n) => /Azurite/.test(n)));
    });

    test('--geo: replication between two regions, against the plain copies of the same bytes', async () => {
      const report = await bench(['--geo']);
      assert.ok(report.rows.length > 0, 'geo rows');
      for (const row of report.rows)
        for (const [t, m] of Object.entries(row.byTarget))
          assert.ok(m && Number.isFinite(m.median) && m.median >= 0, `${row.scenario} ${row.metric} for ${t}: ${JSON.stringify(m)}`);
    });

    test('--nodes 2: one node against two on PostgreSQL + Azurite, the ratio per metric', async () => {
      const report = await bench(['--nodes', '2']);
      assertComplete(report, ['scale-out'], ['2 nodes', '1 node']);
      for (const m of ['manifest GET', '1 MiB push', 'GET: wrk CPU (all wrk processes)', 'idle RSS per node (max)'])
        assert.ok(
          report.rows.some((r) => r.metric === m),
          m,
        );
      assert.ok(
        report.notes.some((n) => /CPU/.test(n)),
        'the output says what the machine can and cannot show',
      );
    });
  });
}
