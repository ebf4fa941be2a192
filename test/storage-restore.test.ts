import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { BlobServiceClient } from '@azure/storage-blob';
import { startTestApp, type TestApp } from './helpers/app.js';
import { azuriteMissing, startAzurite, type Azurite } from './helpers/azurite.js';
import { IN_CI, PG_URL, postgresUnavailable } from './helpers/backends.js';
import { removeDir, ROOT, startBerth, tempDir, type BerthProcess } from './helpers/berth-process.js';
import { adminAuthHeader } from './helpers/credentials.js';
import { sha256, uniqueRepo, V2, type PushedImage } from './helpers/oci.js';
import { mustRun, requireTool } from './e2e/helpers.js';

// The backup and restore procedure of docs/storage.md ("Backup and restore"), step by step: push
// images, dump the metadata, keep pushing, copy the blobs, restore both into new places, start
// Berth on the restored pair and pull every image that the dump knew. Once on PostgreSQL + Azure
// Blob Storage (Azurite; the SDK's server-side copy stands in for azcopy), once on the embedded
// default (SQLite + fs, with the sqlite3 shell's online .backup).

const azuriteGate = IN_CI ? {} : azuriteMissing() ? { skip: azuriteMissing() } : {};
const pgReason = await postgresUnavailable();
if (pgReason && IN_CI) throw new Error(`CI=true requires PostgreSQL: ${pgReason}`);
const pgGate = pgReason ? { skip: pgReason } : {};

let azurite: Azurite | undefined;
after(async () => {
  await azurite?.stop();
});

interface Pushed {
  name: string;
  tag: string;
  img: PushedImage;
}

/** A few images in two repositories of one registry; returns what the restore must give back. */
async function pushImages(v2: V2, reg: string): Promise<Pushed[]> {
  const out: Pushed[] = [];
  const app = `${reg}/${uniqueRepo('app')}`;
  const db = `${reg}/${uniqueRepo('db')}`;
  for (const [name, tag, layers] of [
    [app, 'v1', 2],
    [app, 'v2', 3],
    [db, 'latest', 1],
  ] as const)
    out.push({ name, tag, img: await v2.pushImage(name, tag, { layers }) });
  return out;
}

/** Pulls each image by tag from a server: the manifest and every blob, byte for byte (following redirects to storage). */
async function assertPullsIntact(base: string, images: Pushed[]): Promise<void> {
  for (const { name, tag, img } of images) {
    const m = await fetch(`${base}/v2/${name}/manifests/${tag}`, { headers: { Authorization: adminAuthHeader(), Accept: img.mediaType } });
    assert.equal(m.status, 200, `${name}:${tag}`);
    assert.equal(sha256(Buffer.from(await m.arrayBuffer())), img.digest, `${name}:${tag} manifest`);
    for (const b of [img.config, ...img.layers]) {
      const r = await fetch(`${base}/v2/${name}/blobs/${b.digest}`, { headers: { Authorization: adminAuthHeader() } });
      assert.equal(r.status, 200, `${name} ${b.digest}`);
      assert.equal(sha256(Buffer.from(await r.arrayBuffer())), b.digest, `${name} ${b.digest} intact`);
    }
  }
}

/** What was pushed after the dump is not in the restore (the dump is the point in time). */
async function assertAbsent(base: string, late: Pushed): Promise<void> {
  const r = await fetch(`${base}/v2/${late.name}/manifests/${late.tag}`, {
    headers: { Authorization: adminAuthHeader(), Accept: late.img.mediaType },
  });
  assert.equal(r.status, 404);
  await r.arrayBuffer();
}

async function createRegistry(base: string, name: string): Promise<void> {
  const r = await fetch(`${base}/api/registries`, {
    method: 'POST',
    headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  assert.equal(r.status, 201, await r.text());
}

/** PG_URL naming another database (and no Berth-only ?schema= parameter, which libpq refuses). */
function databaseUrl(database: string): string {
  const u = new URL(PG_URL);
  u.pathname = `/${database}`;
  u.search = '';
  return u.toString();
}

test('docs/storage.md gives the commands these tests run', () => {
  const doc = readFileSync(path.join(ROOT, 'docs', 'storage.md'), 'utf8');
  for (const step of [
    'gc.enabled: false',
    'pg_dump --schema berth --no-owner --no-privileges --file berth.sql',
    `-c 'CREATE DATABASE berth_restored'`,
    'psql --quiet -v ON_ERROR_STOP=1 --file berth.sql',
    `sqlite3 /var/lib/berth/berth.db ".backup '/backup/berth/berth.db'"`,
    'mkdir -p /backup/berth/storage && cp -a /var/lib/berth/storage/blobs /backup/berth/storage/',
    'berth serve --data /backup/berth',
  ])
    assert.ok(doc.includes(step), `docs/storage.md: ${step}`);
});

describe('backup and restore: PostgreSQL + Azure Blob Storage', { ...azuriteGate, ...pgGate, ...requireTool('pg_dump', 'psql') }, () => {
  let source: TestApp | undefined;
  let restored: BerthProcess | undefined;
  const work = tempDir('restore-pg');
  const database = `berth_restored_${randomBytes(4).toString('hex')}`;
  after(async () => {
    await restored?.stop();
    await source?.close();
    await mustRun('psql', [databaseUrl(new URL(PG_URL).pathname.slice(1)), '-c', `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`]).catch(
      () => {},
    );
    removeDir(work);
  });

  test('pg_dump of the schema, then a copy of the container: Berth on the restored pair serves every image', async () => {
    azurite = await startAzurite();
    const sourceContainer = `src${randomBytes(5).toString('hex')}`;
    const backupContainer = `bak${randomBytes(5).toString('hex')}`;
    // Step 0: no garbage collection while the backup runs (gc.enabled: false on every node).
    source = await startTestApp('postgres', {
      storage: { driver: 'azure', azure: { connectionString: azurite.connectionString, container: sourceContainer } },
      gc: { enabled: false },
    });
    const v2 = new V2(source.url);
    const reg = await source.createRegistry();
    const images = await pushImages(v2, reg);
    const schema = new URL(source.app.config.metadata.url).searchParams.get('schema')!;
    const dbName = new URL(PG_URL).pathname.slice(1);

    // Step 1: the metadata, first (one consistent snapshot; pushes go on meanwhile).
    const dump = path.join(work, 'berth.sql');
    await mustRun('pg_dump', ['--schema', schema, '--no-owner', '--no-privileges', '--file', dump, databaseUrl(dbName)]);
    const lateName = `${reg}/${uniqueRepo('late')}`;
    const late: Pushed = { name: lateName, tag: 'v1', img: await v2.pushImage(lateName, 'v1') };

    // Step 2: the blobs, after (server-side copy of blobs/, as `azcopy copy --recursive` does).
    const account = BlobServiceClient.fromConnectionString(azurite.connectionString);
    const from = account.getContainerClient(sourceContainer);
    const to = account.getContainerClient(backupContainer);
    await to.create();
    let copied = 0;
    for await (const item of from.listBlobsFlat({ prefix: 'blobs/' })) {
      const poller = await to.getBlockBlobClient(item.name).beginCopyFromURL(from.getBlockBlobClient(item.name).url);
      await poller.pollUntilDone();
      copied++;
    }
    assert.ok(copied >= images.reduce((n, i) => n + 1 + i.img.layers.length, 0), `${copied} blobs copied`);

    // Restore: the dump into an empty database, Berth on it and on the copied container.
    await mustRun('psql', [databaseUrl(dbName), '-c', `CREATE DATABASE ${database}`]);
    await mustRun('psql', ['--quiet', '-v', 'ON_ERROR_STOP=1', '--file', dump, databaseUrl(database)]);
    restored = await startBerth({
      dataDir: path.join(work, 'node'),
      metadataUrl: `${databaseUrl(database)}?schema=${schema}`,
      args: ['--storage', 'azure'],
      env: {
        BERTH_STORAGE_AZURE_CONNECTION_STRING: azurite.connectionString,
        BERTH_STORAGE_AZURE_CONTAINER: backupContainer,
        BERTH_STORAGE_AZURE_CREATE_CONTAINER: 'false',
      },
    });
    await assertPullsIntact(restored.url, images);
    await assertAbsent(restored.url, late);
    // tags as they were at the dump
    const tags = await fetch(`${restored.url}/v2/${images[0]!.name}/tags/list`, { headers: { Authorization: adminAuthHeader() } });
    assert.deepEqual(((await tags.json()) as { tags: string[] }).tags.sort(), ['v1', 'v2']);
    // and the restored deployment takes new pushes
    const more = await new V2(restored.url).pushImage(`${reg}/${uniqueRepo('after')}`, 'v1');
    assert.equal(more.response.status, 201);
  });
});

describe('backup and restore: SQLite + fs (the embedded default)', requireTool('sqlite3', 'cp'), () => {
  let source: TestApp | undefined;
  let restored: BerthProcess | undefined;
  const backup = tempDir('restore-sqlite');
  after(async () => {
    await restored?.stop();
    await source?.close();
    removeDir(backup);
  });

  test('sqlite3 .backup while serving, then cp of the blobs: berth serve on the copy serves every image', async () => {
    source = await startTestApp('sqlite', { gc: { enabled: false } });
    const v2 = new V2(source.url);
    const reg = await source.createRegistry();
    const images = await pushImages(v2, reg);
    const data = source.dataDir;

    // Step 1: the metadata, online (the shell's .backup takes a consistent copy while Berth writes).
    await mustRun('sqlite3', [path.join(data, 'berth.db'), `.backup '${path.join(backup, 'berth.db')}'`]);
    const lateName = `${reg}/${uniqueRepo('late')}`;
    const late: Pushed = { name: lateName, tag: 'v1', img: await v2.pushImage(lateName, 'v1') };

    // Step 2: the blobs (content-addressed and immutable: copying them after the dump is safe).
    mkdirSync(path.join(backup, 'storage'), { recursive: true });
    await mustRun('cp', ['-a', path.join(data, 'storage', 'blobs'), `${path.join(backup, 'storage')}/`]);

    // Restore: the backup directory is a data directory.
    restored = await startBerth({ dataDir: backup });
    await assertPullsIntact(restored.url, images);
    await assertAbsent(restored.url, late);
    await createRegistry(restored.url, `r${randomBytes(3).toString('hex')}`);
  });
});
