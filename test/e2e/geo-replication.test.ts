import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { parseDigest } from '../../src/domain/digest.js';
import { blobKey } from '../../src/storage/paths.js';
import { azuriteMissing, startAzurite, type RestartableAzurite } from '../helpers/azurite.js';
import { backendGate, freshMetadataUrl, IN_CI } from '../helpers/backends.js';
import { runCli } from '../helpers/cli.js';
import {
  ADMIN_PASSWORD,
  ADMIN_USER,
  MAIN,
  cliServer,
  freePort,
  mustRun,
  removeDir,
  request,
  requireTool,
  run,
  sha256,
  sleep,
  startBerth,
  tempDir,
  waitFor,
  type BerthProcess,
  type RunResult,
} from './helpers.js';
import { OciLayout, readLayoutBlob, readLayoutRefs, type Descriptor } from './oci-layout.js';

// Geo-replication as operators automate it, with real processes: two `berth serve` nodes sharing
// one PostgreSQL schema and one configuration file, each joining its region with --region:
// westeurope (blobs on an fs root) and eastus (blobs in an Azurite container). The berth CLI
// manages replicas and reads their lag; skopeo pushes to one region and pulls from the other.
// eastus copies at most THROTTLE bytes per second (replication.maxBytesPerSecond), so a layer of
// LAYER bytes takes seconds to arrive there: long enough to see the lag, kill the node mid-copy,
// and delete and collect an image while it is on its way.

const REG = 'geoe2e';
const THROTTLE = 200_000;
const LAYER = 640 * 1024;
/** The jobs' lease: a copy whose node was killed is taken up again this soon after a restart. */
const LEASE_SECONDS = 3;

interface Replica {
  location: string;
  status: { displayStatus: string; message: string };
  lagSeconds: number;
  pendingManifests: number;
  pendingBlobs: number;
  pendingBytes: number;
}

interface Job {
  id: number;
  kind: string;
  state: string;
  attempts: number;
  payload: { digest?: string };
}

async function gate(): Promise<{ skip?: string }> {
  const pg = await backendGate('postgres');
  if (pg.skip) return pg;
  const missing = azuriteMissing();
  if (missing) {
    if (IN_CI) throw new Error(`CI=true requires Azurite: ${missing}`);
    return { skip: missing };
  }
  return requireTool('skopeo');
}

describe('geo-replication across real processes (westeurope on fs, eastus on Azurite)', await gate(), () => {
  const dirs: string[] = [];
  let azurite: RestartableAzurite | undefined;
  let dropMetadata: () => Promise<void> = async () => {};
  let metadataUrl = '';
  let configFile = '';
  let westRoot = '';
  const container = `geo${randomBytes(5).toString('hex')}`;
  let west: BerthProcess | undefined;
  let east: BerthProcess | undefined;
  let eastPort = 0;
  let eastData = '';
  let layout: OciLayout;
  let small: Descriptor;
  let lagImage: Descriptor;
  let crashImage: Descriptor;
  let gcImage: Descriptor;

  /** eastus's node: throttled copies, so lag is visible. */
  const startEast = async () =>
    (east = await startBerth({
      dataDir: eastData,
      metadataUrl,
      port: eastPort,
      args: ['--config', configFile, '--region', 'eastus'],
      env: { BERTH_REPLICATION_MAX_BYTES_PER_SECOND: String(THROTTLE) },
    }));

  before(async () => {
    azurite = await startAzurite();
    const meta = await freshMetadataUrl('postgres');
    metadataUrl = meta.url;
    dropMetadata = meta.drop;
    const work = tempDir('geo');
    dirs.push(work);
    westRoot = path.join(work, 'westeurope-blobs');
    const westPort = await freePort();
    eastPort = await freePort();
    // One file for the whole deployment: every node reaches every region's store.
    configFile = path.join(work, 'berth.yaml');
    writeFileSync(
      configFile,
      YAML.stringify({
        regions: [
          // Clear stores: the test reads each region's stored bytes (encrypted regions: test/replication/encrypted.test.ts).
          {
            name: 'westeurope',
            url: `http://127.0.0.1:${westPort}`,
            storage: { driver: 'fs', path: westRoot, encryption: { enabled: false } },
          },
          {
            name: 'eastus',
            url: `http://127.0.0.1:${eastPort}`,
            storage: { driver: 'azure', azure: { connectionString: azurite.connectionString, container }, encryption: { enabled: false } },
          },
        ],
        jobs: { pollIntervalMs: 100, leaseSeconds: LEASE_SECONDS, backoffBaseMs: 100, backoffMaxMs: 1000 },
        // Collections only when the test asks (POST /api/gc/runs, as berth gc run does), with no grace period.
        gc: { enabled: false, gracePeriodSeconds: 0 },
        scan: { mode: 'off' },
      }),
    );
    // Both regions boot together, as a deployment does: one of them migrates the new schema (an
    // advisory lock serialises them) and creates the owner account.
    eastData = path.join(work, 'east-data');
    [west] = await Promise.all([
      startBerth({
        dataDir: path.join(work, 'west-data'),
        metadataUrl,
        port: westPort,
        args: ['--config', configFile, '--region', 'westeurope'],
      }),
      startEast(),
    ]);

    layout = new OciLayout(path.join(work, 'src'));
    small = layout.addImage({ files: { 'hello.txt': 'hello from westeurope\n' } });
    // Random bytes do not compress: each layer is about LAYER bytes, seconds of copying at THROTTLE.
    lagImage = layout.addImage({ files: { 'payload.bin': randomBytes(LAYER) } });
    crashImage = layout.addImage({ files: { 'payload.bin': randomBytes(LAYER) } });
    // Larger: it must still be on its way after the delete and the collections.
    gcImage = layout.addImage({ files: { 'payload.bin': randomBytes(2 * LAYER) } });
    layout.tag('small', small);
    layout.tag('lag', lagImage);
    layout.tag('crash', crashImage);
    layout.tag('gc', gcImage);
    layout.write();
  });

  after(async () => {
    await Promise.all([west?.stop('SIGTERM', 10_000), east?.stop('SIGTERM', 10_000)]);
    await azurite?.stop().catch(() => undefined);
    await dropMetadata().catch(() => undefined);
    for (const d of dirs) removeDir(d);
  });

  const w = () => west!;
  const e = () => east!;

  // ---------------------------------------------------------------- clients

  /** `berth ARGS --server URL -u admin -p …` (the real binary); never throws for a failing exit. */
  const berth = (server: BerthProcess, args: string[]): Promise<RunResult> =>
    run(process.execPath, [MAIN, ...args, ...cliServer(server.url)], { timeoutMs: 30_000 });

  async function berthOk<T>(server: BerthProcess, args: string[]): Promise<T> {
    const r = await berth(server, [...args, '-o', 'json']);
    assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /** A refused command: exit 1 and the server's 4xx error on stderr. */
  async function berthRefused(server: BerthProcess, args: string[], message: RegExp, status: number): Promise<void> {
    const r = await berth(server, args);
    assert.equal(r.code, 1, `berth ${args.join(' ')} exits 1 (stdout ${r.stdout}, stderr ${r.stderr})`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, new RegExp(`HTTP ${status}\\b`));
  }

  /** `berth replication show -r REG -l eastus -o json`, asked of a node. */
  const show = (server: BerthProcess = w()) => berthOk<Replica>(server, ['replication', 'show', '-r', REG, '-l', 'eastus']);

  /** The same command run in this process (runCli: main.ts's commands and exit codes), cheap enough to poll with. */
  async function showPolled(server: BerthProcess = w()): Promise<Replica> {
    const r = await runCli(['replication', 'show', '-r', REG, '-l', 'eastus', '-o', 'json', ...cliServer(server.url)]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Replica;
  }

  /** The same resource through the API, for tight polling. */
  async function showApi(server: BerthProcess = w()): Promise<Replica> {
    const r = await request('GET', `${server.url}/api/registries/${REG}/replications/eastus`);
    assert.equal(r.status, 200, r.body.toString());
    return JSON.parse(r.body.toString()) as Replica;
  }

  /** The replication jobs of eastus for one manifest. */
  async function eastJobs(digest: string): Promise<Job[]> {
    const r = await request('GET', `${w().url}/api/jobs?kind=${encodeURIComponent('replicate@eastus')}&n=1000`);
    assert.equal(r.status, 200, r.body.toString());
    return (JSON.parse(r.body.toString()) as { value: Job[] }).value.filter((j) => j.payload.digest === digest);
  }

  const creds = `${ADMIN_USER}:${ADMIN_PASSWORD}`;
  const ref = (server: BerthProcess, repo: string, tag: string) => `docker://${server.host}/${REG}/${repo}:${tag}`;
  const skopeo = (args: string[]) => mustRun('skopeo', args, { timeoutMs: 60_000 });

  /** skopeo copy OCI layout -> westeurope, checking the digest skopeo pushed. */
  async function pushWest(name: string, desc: Descriptor, repo: string): Promise<void> {
    const df = path.join(path.dirname(layout.dir), `digest-${randomBytes(4).toString('hex')}`);
    await skopeo([
      'copy',
      '--preserve-digests',
      '--dest-tls-verify=false',
      '--dest-creds',
      creds,
      '--digestfile',
      df,
      `oci:${layout.dir}:${name}`,
      ref(w(), repo, 'v1'),
    ]);
    assert.equal(readFileSync(df, 'utf8').trim(), desc.digest, 'skopeo pushed the manifest as it is in the layout');
  }

  /** skopeo copy from a node into a new OCI layout: skopeo checks every blob against its digest. */
  async function pullInto(server: BerthProcess, repo: string, desc: Descriptor): Promise<void> {
    const out = path.join(path.dirname(layout.dir), `out-${randomBytes(4).toString('hex')}`);
    await skopeo(['copy', '--preserve-digests', '--src-tls-verify=false', '--src-creds', creds, ref(server, repo, 'v1'), `oci:${out}:v1`]);
    assert.equal(readLayoutRefs(out).get('v1')?.digest, desc.digest, `the manifest pulled from ${server.host} is the one pushed`);
    for (const d of layout.closure(desc)) assert.ok(readLayoutBlob(out, d).equals(layout.bytes(d)), `${d} pulled unchanged`);
  }

  /** One garbage collection run (POST /api/gc/runs, what `berth gc run` does), to its end. */
  async function collect(): Promise<void> {
    const started = await request('POST', `${w().url}/api/gc/runs`, { body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(started.status, 202, started.body.toString());
    const { id } = JSON.parse(started.body.toString()) as { id: number };
    await waitFor(
      `gc run ${id}`,
      async () => {
        const r = JSON.parse((await request('GET', `${w().url}/api/gc/runs/${id}`)).body.toString()) as { status: string; error?: string };
        assert.notEqual(r.status, 'failed', r.error);
        return r.status !== 'running';
      },
      10_000,
      50,
    );
  }

  /** The layer of a one-layer image of the layout. */
  const layerOf = (desc: Descriptor) => (JSON.parse(layout.bytes(desc).toString()) as { layers: Descriptor[] }).layers[0]!;

  /** The bytes eastus's own store (the Azurite container) holds for a blob; undefined when none. */
  async function inEastStore(digest: string): Promise<Buffer | undefined> {
    const { BlobServiceClient } = await import('@azure/storage-blob');
    const blob = BlobServiceClient.fromConnectionString(azurite!.connectionString)
      .getContainerClient(container)
      .getBlobClient(blobKey(parseDigest(digest)));
    return (await blob.exists()) ? blob.downloadToBuffer() : undefined;
  }
  const inWestStore = (digest: string) => existsSync(path.join(westRoot, blobKey(parseDigest(digest))));

  /** Polls `replication show` until Ready, keeping every answer. */
  async function untilReady(samples: Replica[], timeoutMs: number, via: (s: BerthProcess) => Promise<Replica> = showApi): Promise<Replica> {
    try {
      return await waitFor(
        'eastus to be Ready',
        async () => {
          const r = await via(w());
          samples.push(r);
          return r.status.displayStatus === 'Ready' ? r : undefined;
        },
        timeoutMs,
        100,
      );
    } catch (err) {
      const tail = (p: BerthProcess | undefined) => p?.output().slice(-3000) ?? '(not running)';
      throw new Error(
        `${(err as Error).message}; last answer ${JSON.stringify(samples.at(-1)?.status)}\nwesteurope: ${tail(west)}\neastus: ${tail(east)}`,
        { cause: err },
      );
    }
  }

  // ---------------------------------------------------------------- scenarios

  /** A refused command: exit 1 and the server's 4xx error on stderr (runCli: in this process, one at a time). */
  async function refusedInProcess(server: BerthProcess, args: string[], message: RegExp, status: number): Promise<void> {
    const r = await runCli([...args, ...cliServer(server.url)]);
    assert.equal(r.code, 1, `berth ${args.join(' ')} exits 1 (stdout ${r.stdout}, stderr ${r.stderr})`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, new RegExp(`HTTP ${status}\\b`));
  }

  test('the CLI creates a replica and refuses what cannot be, with a 4xx and a non-zero exit', async () => {
    // The real binary (a process each, as scripts run it) side by side with more of the same
    // commands run in this process (runCli: the same code and exit codes, cheaper than a process).
    const basic = await runCli(['create', '-n', 'geobasic', '--sku', 'Basic', '-l', 'westeurope', ...cliServer(w().url)]);
    assert.equal(basic.code, 0, basic.stderr);
    const premium = await berthOk<{ location: string; sku: { name: string } }>(w(), [
      'create',
      '-n',
      REG,
      '--sku',
      'Premium',
      '-l',
      'westeurope',
    ]);
    assert.equal(premium.location, 'westeurope');
    const [created] = await Promise.all([
      berthOk<Replica>(e(), ['replication', 'create', '-r', REG, '-l', 'eastus']),
      berthRefused(w(), ['replication', 'create', '-r', 'geobasic', '-l', 'eastus'], /Premium/, 400),
      (async () => {
        await refusedInProcess(
          w(),
          ['replication', 'create', '-r', REG, '-l', 'mars'],
          /region "mars" is not declared.*westeurope, eastus/,
          400,
        );
        await refusedInProcess(w(), ['replication', 'delete', '-r', REG, '-l', 'westeurope', '--yes'], /home region/, 400);
        await refusedInProcess(w(), ['replication', 'create', '-r', REG, '-l', 'westeurope'], /home region/, 409);
        await refusedInProcess(
          e(),
          ['create', '-n', 'geoatlantis', '--sku', 'Premium', '-l', 'atlantis'],
          /"atlantis" is not declared/,
          400,
        );
      })(),
    ]);
    assert.equal(created.location, 'eastus');
    // A new replica is Syncing until what the registry holds has been queued for it (here: nothing).
    assert.equal(created.status.displayStatus, 'Syncing');
    await untilReady([], 10_000);
    const [shown] = await Promise.all([
      show(e()),
      (async () => {
        await refusedInProcess(w(), ['replication', 'create', '-r', REG, '-l', 'eastus'], /already has a replica/, 409);
        const regions = await runCli(['region', 'list', '-o', 'json', ...cliServer(e().url)]);
        assert.equal(regions.code, 0, regions.stderr);
        assert.deepEqual(
          (JSON.parse(regions.stdout) as { name: string; serving: boolean }[]).map((r) => [r.name, r.serving]),
          [
            ['westeurope', false],
            ['eastus', true],
          ],
          'each node serves the region it was started with (--region)',
        );
      })(),
    ]);
    assert.equal(shown.status.displayStatus, 'Ready');
    assert.equal(shown.lagSeconds, 0);
    assert.equal(shown.pendingBlobs, 0);
  });

  test('a push to westeurope is at once inspectable and pullable from eastus, digests intact', async () => {
    await pushWest('small', small, 'app');
    // Right after the push, before eastus can have copied anything: metadata is global.
    const info = JSON.parse((await skopeo(['inspect', '--tls-verify=false', '--creds', creds, ref(e(), 'app', 'v1')])).stdout) as {
      Digest: string;
      Layers: string[];
    };
    assert.equal(info.Digest, small.digest);
    assert.deepEqual(info.Layers, [layerOf(small).digest]);
    await pullInto(e(), 'app', small);
    await untilReady([], 15_000);
    const layer = layerOf(small);
    assert.ok((await inEastStore(layer.digest))?.equals(layout.bytes(layer)), 'eastus holds its own copy of the layer');
    assert.ok(inWestStore(layer.digest));
  });

  test('lag is visible while eastus copies (Syncing, lagSeconds, pendingBlobs), then Ready with lagSeconds 0', async () => {
    await pushWest('lag', lagImage, 'lag');
    const layer = layerOf(lagImage);
    assert.equal(await inEastStore(layer.digest), undefined, 'the layer is still on its way to eastus');
    const samples: Replica[] = [];
    const [ready] = await Promise.all([
      // Through the CLI, as a script would poll it...
      untilReady(samples, 20_000, showPolled),
      // ...while a client of eastus pulls the image, whose layer eastus reads through from westeurope.
      pullInto(e(), 'lag', lagImage),
    ]);
    const syncing = samples.filter((s) => s.status.displayStatus === 'Syncing');
    assert.ok(
      syncing.some((s) => s.pendingBlobs > 0 && s.pendingBytes >= layerOf(lagImage).size && s.pendingManifests === 1),
      `Syncing with the layer pending was shown: ${JSON.stringify(samples)}`,
    );
    assert.ok(
      syncing.some((s) => s.lagSeconds > 0),
      `a lag was shown: ${JSON.stringify(samples)}`,
    );
    assert.deepEqual([ready.lagSeconds, ready.pendingManifests, ready.pendingBlobs, ready.pendingBytes], [0, 0, 0, 0]);
    // One copy, by one claim of the job: its lease was kept while the throttled copy ran.
    const jobs = await eastJobs(lagImage.digest);
    assert.deepEqual(
      jobs.map((j) => [j.state, j.attempts]),
      [['succeeded', 1]],
    );
    assert.ok((await inEastStore(layer.digest))?.equals(layout.bytes(layer)), 'eastus holds its own copy of the layer');
  });

  test('eastus killed mid-copy: the backlog waits, and after a restart the job is leased again and completes', async () => {
    await pushWest('crash', crashImage, 'crash');
    const layer = layerOf(crashImage);
    // The copy is under way on eastus's node...
    await waitFor('the eastus job to run', async () => (await eastJobs(crashImage.digest)).some((j) => j.state === 'running'), 10_000, 50);
    await sleep(1000);
    const before = await showApi();
    assert.equal(before.status.displayStatus, 'Syncing');
    assert.ok(before.pendingBlobs > 0);
    // ...when the node dies.
    const exit = await e().stop('SIGKILL');
    assert.equal(exit.signal, 'SIGKILL');
    assert.equal(await inEastStore(layer.digest), undefined, 'the copy had not finished');
    const down = await showPolled();
    assert.equal(down.status.displayStatus, 'Syncing', 'the backlog is kept while no eastus node runs');
    assert.ok(down.pendingBlobs > 0 && down.pendingManifests === 1);
    // Until it is back, eastus's clients are served from westeurope.
    await startEast();
    await untilReady([], 25_000);
    const jobs = await eastJobs(crashImage.digest);
    assert.equal(jobs.length, 1);
    assert.equal(jobs[0]!.state, 'succeeded');
    assert.ok(jobs[0]!.attempts >= 2, `the job was claimed again after the crash (attempts ${jobs[0]!.attempts})`);
    const stored = await inEastStore(layer.digest);
    assert.ok(stored && sha256(stored) === layer.digest, 'eastus stores the layer whole and right');
    await pullInto(e(), 'crash', crashImage);
  });

  test('a manifest deleted (and its blobs collected) while it replicates leaves nothing Syncing', async () => {
    await pushWest('gc', gcImage, 'gc');
    const layer = layerOf(gcImage);
    await waitFor('the eastus job to run', async () => (await eastJobs(gcImage.digest)).some((j) => j.state === 'running'), 10_000, 50);
    await skopeo(['delete', '--tls-verify=false', '--creds', creds, ref(w(), 'gc', 'v1')]);
    // Garbage collection removes the layer in every region while eastus is still copying it.
    for (let i = 0; i < 6 && inWestStore(layer.digest); i++) await collect();
    assert.equal(inWestStore(layer.digest), false, 'the layer was collected');
    // A deleted image is nothing to wait for, even while its copy job is still on its way.
    const shown = await showApi();
    assert.equal(shown.status.displayStatus, 'Ready', 'a deleted image does not hold the replica in Syncing');
    assert.deepEqual([shown.pendingManifests, shown.pendingBlobs, shown.lagSeconds], [0, 0, 0]);
    await waitFor('the copy job to end', async () => (await eastJobs(gcImage.digest)).every((j) => j.state === 'succeeded'), 20_000, 100);
    // What the copy left in eastus's store after the collection is swept by the next one.
    await collect();
    assert.equal(await inEastStore(layer.digest), undefined, 'no orphaned copy is left in eastus');
    const jobs = await eastJobs(gcImage.digest);
    assert.ok(
      jobs.every((j) => j.state === 'succeeded'),
      `no job is left failing or dead: ${JSON.stringify(jobs)}`,
    );
    const gone = await run('skopeo', ['inspect', '--tls-verify=false', '--creds', creds, ref(e(), 'gc', 'v1')], { timeoutMs: 60_000 });
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /manifest unknown|not found/i);
    // What else the registry holds is untouched in both regions.
    await pullInto(e(), 'lag', lagImage);
    await pullInto(w(), 'crash', crashImage);
  });
});
