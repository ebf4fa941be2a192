import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { startApp } from '../src/app.js';
import { ConfigError, encryptionAtRest, loadConfig, storageReads } from '../src/config/config.js';
import type { App } from '../src/app.js';
import type { EncryptionStatus } from '../src/services/operations/encryption.js';
import { silentLogger } from '../src/observability/logger.js';
import { adminAuthHeader, startTestApp, type TestApp } from './helpers/app.js';
import { sha256, uniqueRepo, V2, withQuery, type PushedImage } from './helpers/oci.js';
import { removeDir, tempDir } from './helpers/berth-process.js';

// Encryption at rest through a real deployment: pushed bytes are never stored in the clear, pulls
// return them exactly, and the start refuses what it cannot serve safely.

const keys = tempDir('berth-enc-keys-');
const keyFile = (name: string, content = randomBytes(32).toString('base64')) => {
  const f = path.join(keys, name);
  writeFileSync(f, content, { mode: 0o600 });
  return f;
};

function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.join(d.parentPath, d.name));
}

/** The status once the migration job has recorded completion (it runs on the app's job worker). */
async function migrated(app: App): Promise<EncryptionStatus & { migration: NonNullable<EncryptionStatus['migration']> }> {
  for (let i = 0; i < 600; i++) {
    const s = await app.services.storageEncryption.status();
    if (s.migration?.state === 'done') return s as EncryptionStatus & { migration: NonNullable<EncryptionStatus['migration']> };
    if (s.migration?.state === 'failing') assert.fail(`the migration fails: ${s.migration.lastError}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`the migration did not finish: ${JSON.stringify(await app.services.storageEncryption.status())}`);
}

describe('encryption at rest through the registry', () => {
  const apps: TestApp[] = [];
  after(async () => {
    for (const a of apps) await a.close().catch(() => {});
    removeDir(keys);
  });

  test('a layer pushed in chunks is stored sealed; pulls (whole and ranged) return its exact bytes; a restart reads it', async () => {
    const kf = keyFile('k1');
    const t = await startTestApp('sqlite', { storage: { encryption: { keyFile: kf } } });
    apps.push(t);
    const reg = await t.createRegistry();
    const repo = `${reg}/${uniqueRepo('enc')}`;
    const v2 = t.v2();
    // recognisable text, so any clear copy on disk would be found
    const layer = Buffer.concat([Buffer.from('BERTH-PLAINTEXT-MARKER '.repeat(50_000)), randomBytes(3 * 1024 * 1024)]);
    const digest = sha256(layer);
    // a chunked upload: three PATCHes (each a commit), then PUT
    let loc = await v2.startUpload(repo);
    const cuts = [0, 700_000, 700_013, 2_500_000, layer.length];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const res = await v2.fetch(loc, {
        method: 'PATCH',
        body: layer.subarray(cuts[i], cuts[i + 1]),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${cuts[i]}-${cuts[i + 1]! - 1}` },
      });
      assert.equal(res.status, 202, await res.text());
      loc = res.headers.get('location')!;
    }
    const put = await v2.fetch(withQuery(loc, `digest=${digest}`), { method: 'PUT', headers: { 'Content-Length': '0' } });
    assert.equal(put.status, 201, await put.text());

    const pulled = Buffer.from(await (await v2.fetch(`${repo}/blobs/${digest}`)).arrayBuffer());
    assert.equal(pulled.length, layer.length);
    assert.equal(sha256(pulled), digest);
    const head = await v2.fetch(`${repo}/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.headers.get('content-length'), String(layer.length));
    const ranged = await v2.fetch(`${repo}/blobs/${digest}`, { headers: { Range: 'bytes=1048570-2097160' } });
    assert.equal(ranged.status, 206);
    assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), layer.subarray(1048570, 2097161));

    const root = t.app.config.storage.path;
    const marker = Buffer.from('BERTH-PLAINTEXT-MARKER BERTH');
    const probe = layer.subarray(3_000_000, 3_000_032); // from the random part
    const files = allFiles(root);
    const blobFile = files.find((f) => f.endsWith(digest.slice(7)));
    assert.ok(blobFile, 'the blob is in the store');
    const sealed = readFileSync(blobFile);
    assert.equal(sealed[0], 1, 'format version 1');
    // header, 4 records (one per chunk, each under a segment) + the rest, length and tag each, end record
    assert.ok(sealed.length > layer.length + 40 + 32, `${sealed.length} bytes stored for ${layer.length}`);
    for (const f of files) {
      const raw = readFileSync(f);
      assert.equal(raw.includes(marker), false, `${f} holds plaintext`);
      assert.equal(raw.includes(probe), false, `${f} holds plaintext`);
    }

    // the same deployment started again reads it with the stored (wrapped) data key
    const config = t.app.config;
    await t.app.close();
    const again = await startApp(config, silentLogger);
    try {
      const res = await fetch(`${again.url}/v2/${repo}/blobs/${digest}`, { headers: { Authorization: v2.authorization ?? '' } });
      assert.equal(res.status, 200);
      assert.equal(
        createHash('sha256')
          .update(Buffer.from(await res.arrayBuffer()))
          .digest('hex'),
        digest.slice(7),
      );
    } finally {
      await again.close();
    }

    // another key file cannot unwrap the data key: the start is refused naming that file
    const wrong = keyFile('k-wrong');
    await assert.rejects(
      () =>
        startApp({ ...config, storage: { ...config.storage, encryption: { ...config.storage.encryption, keyFile: wrong } } }, silentLogger),
      (e: unknown) => e instanceof ConfigError && e.message.includes(wrong),
    );
    // and turning encryption off on it is refused too (it would serve ciphertext), naming why
    await assert.rejects(
      () =>
        startApp(
          { ...config, storage: { ...config.storage, encryption: { ...config.storage.encryption, enabled: false, keyFile: '' } } },
          silentLogger,
        ),
      (e: unknown) => e instanceof ConfigError && /encrypted at rest, but storage\.encryption\.enabled is false/.test(e.message),
    );
    // as is leaving the key file out (the Berth-managed key did not wrap its data key)
    await assert.rejects(
      () =>
        startApp({ ...config, storage: { ...config.storage, encryption: { ...config.storage.encryption, keyFile: '' } } }, silentLogger),
      (e: unknown) => e instanceof ConfigError && e.message.includes(kf) && /keyFile is not set/.test(e.message),
    );
    // t.close() closes the app again: harmless
    t.app.close = () => Promise.resolve();
  });

  test('a malformed key file refuses the start, naming the file', async () => {
    const bad = keyFile('malformed', 'not-a-key');
    await assert.rejects(
      () => startTestApp('sqlite', { storage: { encryption: { keyFile: bad } } }),
      (e: unknown) => e instanceof ConfigError && e.message.includes(bad),
    );
    const missing = path.join(keys, 'missing');
    await assert.rejects(
      () => startTestApp('sqlite', { storage: { encryption: { keyFile: missing } } }),
      (e: unknown) => e instanceof ConfigError && e.message.includes(missing),
    );
  });

  test('a deployment made with encryption off is encrypted in place on the next start: everything is served meanwhile, no plaintext remains, and later starts use only the encrypted layout', async () => {
    const t = await startTestApp('sqlite', { storage: { encryption: { enabled: false } } });
    apps.push(t);
    const reg = await t.createRegistry();
    const repo = `${reg}/${uniqueRepo('mig')}`;
    const old = t.v2();
    const marker = Buffer.from('BERTH-CLEAR-MARKER BERTH');
    const layer = Buffer.concat([Buffer.from('BERTH-CLEAR-MARKER '.repeat(20_000)), randomBytes(300_000)]);
    const images: PushedImage[] = [];
    for (let i = 0; i < 3; i++) images.push(await old.pushImage(repo, `v${i}`, { layers: 3 }));
    const big = await old.pushBlob(repo, layer);
    // an upload session left half-way: its bytes are clear, and it resumes after the restart
    const pending = randomBytes(150_000);
    let loc = await old.startUpload(repo);
    let res = await old.fetch(loc, {
      method: 'PATCH',
      body: pending.subarray(0, 90_000),
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-89999' },
    });
    assert.equal(res.status, 202, await res.text());
    loc = res.headers.get('location')!;
    const root = t.app.config.storage.path;
    assert.ok(
      allFiles(root).some((f) => readFileSync(f).includes(marker)),
      'with encryption off the layer is stored in clear',
    );
    assert.deepEqual(await t.app.services.storageEncryption.status(), {
      atRest: 'off',
      reason: 'storage.encryption.enabled is false',
      migration: null,
    });
    const config = t.app.config;
    await t.app.close();
    t.app.close = () => Promise.resolve();

    // The default again (no storage.encryption settings): on, with the Berth-managed key.
    const on = { ...config, storage: { ...config.storage, encryption: { ...config.storage.encryption, enabled: undefined, keyFile: '' } } };
    const pullAll = async (v2: V2) => {
      for (const img of images) {
        const m = await v2.fetch(`${repo}/manifests/v${images.indexOf(img)}`, { headers: { Accept: img.mediaType } });
        assert.equal(m.status, 200);
        assert.equal(sha256(Buffer.from(await m.arrayBuffer())), img.digest);
        for (const b of [img.config, ...img.layers]) {
          const r = await v2.fetch(`${repo}/blobs/${b.digest}`);
          assert.equal(r.status, 200);
          assert.equal(sha256(Buffer.from(await r.arrayBuffer())), b.digest);
        }
      }
      const r = await v2.fetch(`${repo}/blobs/${big.digest}`, { headers: { Range: 'bytes=100-200099' } });
      assert.equal(r.status, 206);
      assert.deepEqual(Buffer.from(await r.arrayBuffer()), layer.subarray(100, 200_100));
    };
    let app = await startApp(on, silentLogger);
    try {
      const v2 = new V2(app.url);
      // at once, before or while the job runs: the clear objects are served
      await pullAll(v2);
      const pushed = await v2.pushImage(repo, 'during', { layers: 2 });
      res = await v2.fetch(loc, {
        method: 'PATCH',
        body: pending.subarray(90_000),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `90000-${pending.length - 1}` },
      });
      assert.equal(res.status, 202, await res.text());
      res = await v2.fetch(withQuery(res.headers.get('location')!, `digest=${sha256(pending)}`), {
        method: 'PUT',
        headers: { 'Content-Length': '0' },
      });
      assert.equal(res.status, 201, await res.text());
      const status = await migrated(app);
      assert.equal(status.atRest, 'berth-managed');
      assert.equal(status.migration?.state, 'done');
      // 3 images of a config and 3 layers, and the big layer (manifests live in the metadata); the
      // upload session was encrypted by its own PATCH unless the job got there first
      assert.ok(status.migration.objectsDone >= 3 * 4 + 1, `${status.migration.objectsDone} objects encrypted`);
      assert.ok(status.migration.objectsTotal !== undefined && status.migration.objectsTotal >= 3 * 4 + 1);
      assert.ok(status.migration.bytesDone >= layer.length);
      assert.ok(status.migration.finishedAt);
      await pullAll(v2);
      const again = await v2.fetch(`${repo}/blobs/${sha256(pending)}`);
      assert.equal(sha256(Buffer.from(await again.arrayBuffer())), sha256(pending));
      const during = await v2.fetch(`${repo}/manifests/during`, { headers: { Accept: pushed.mediaType } });
      assert.equal(during.status, 200);
      // the raw store: every object under encrypted/, none holding plaintext of the layer
      const probe = layer.subarray(layer.length - 64, layer.length - 32);
      for (const f of allFiles(root)) {
        assert.ok(path.relative(root, f).startsWith(`encrypted${path.sep}`), `${f} is outside encrypted/`);
        const raw = readFileSync(f);
        assert.equal(raw.includes(marker), false, `${f} holds plaintext`);
        assert.equal(raw.includes(probe), false, `${f} holds plaintext`);
      }
    } finally {
      await app.close();
    }
    // a later start: the encrypted layout only; turning encryption off is refused
    app = await startApp(on, silentLogger);
    try {
      await pullAll(new V2(app.url));
      assert.equal((await app.services.storageEncryption.status()).migration?.state, 'done');
    } finally {
      await app.close();
    }
    await assert.rejects(
      () =>
        startApp(
          { ...config, storage: { ...config.storage, encryption: { ...config.storage.encryption, enabled: false, keyFile: '' } } },
          silentLogger,
        ),
      (e: unknown) => e instanceof ConfigError && /encrypted at rest/.test(e.message),
    );
  });

  test('a new deployment encrypts by default with the Berth-managed key; a key file can replace that key later, and cannot be dropped again', async () => {
    const t = await startTestApp('sqlite');
    apps.push(t);
    const reg = await t.createRegistry();
    const repo = `${reg}/${uniqueRepo('default')}`;
    const v2 = t.v2();
    const marker = Buffer.from('BERTH-DEFAULT-MARKER BERTH');
    const layer = Buffer.concat([Buffer.from('BERTH-DEFAULT-MARKER '.repeat(20_000)), randomBytes(100_000)]);
    const blob = await v2.pushBlob(repo, layer);
    const root = t.app.config.storage.path;
    const files = allFiles(root);
    const blobFile = files.find((f) => f.endsWith(blob.digest.slice(7)));
    assert.ok(blobFile && path.relative(root, blobFile).startsWith(`blobs${path.sep}`), 'a new deployment keeps the usual layout');
    assert.equal(readFileSync(blobFile)[0], 1, 'sealed (format version 1)');
    for (const f of files) assert.equal(readFileSync(f).includes(marker), false, `${f} holds plaintext`);
    const status = await t.fetch(`${t.url}/api/encryption`, { headers: { Authorization: adminAuthHeader() } });
    assert.equal(status.status, 200);
    assert.deepEqual(await status.json(), { atRest: 'berth-managed', keyProvider: 'berth-managed', migration: null });

    const config = t.app.config;
    await t.app.close();
    t.app.close = () => Promise.resolve();
    // a key file takes over: the data key is wrapped anew, nothing is re-encrypted
    const kf = keyFile('k-later');
    const withFile = { ...config, storage: { ...config.storage, encryption: { ...config.storage.encryption, keyFile: kf } } };
    let app = await startApp(withFile, silentLogger);
    try {
      const res = await new V2(app.url).fetch(`${repo}/blobs/${blob.digest}`);
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), blob.digest);
      assert.equal((await app.services.storageEncryption.status()).atRest, 'key-file');
    } finally {
      await app.close();
    }
    await assert.rejects(
      () =>
        startApp({ ...config, storage: { ...config.storage, encryption: { ...config.storage.encryption, keyFile: '' } } }, silentLogger),
      (e: unknown) => e instanceof ConfigError && e.message.includes(kf),
    );
    app = await startApp(withFile, silentLogger);
    await app.close();
  });

  test('with regions: on by default in every region, a key file allowed; off with redirected reads; regions that disagree are refused', () => {
    const regions = (storage: (i: number) => Record<string, unknown>) =>
      loadConfig({
        env: {},
        overrides: {
          dataDir: '/tmp/berth-regions-config',
          regions: ['westeurope', 'eastus'].map((name, i) => ({
            name,
            url: `http://127.0.0.1:${i + 1}`,
            storage: { driver: 'fs', path: `/tmp/berth-regions-config/${name}`, ...storage(i) },
          })),
          region: 'eastus',
        },
      });
    assert.deepEqual(encryptionAtRest(regions(() => ({}))), { on: true, kek: 'berth-managed' });
    assert.deepEqual(encryptionAtRest(regions(() => ({ encryption: { keyFile: '/etc/berth/kek' } }))), { on: true, kek: 'key-file' });
    const azure = { driver: 'azure', reads: 'redirect', azure: { accountName: 'a', accountKey: 'a2V5' } };
    assert.equal(encryptionAtRest(regions((i) => ({ ...azure, azure: { ...azure.azure, container: `berth${i}` } }))).on, false);
    assert.throws(
      () => regions((i) => (i === 0 ? {} : { encryption: { enabled: false } })),
      (e: unknown) =>
        e instanceof ConfigError && /on with the Berth-managed key in region westeurope but off .* in region eastus/.test(e.message),
    );
    assert.throws(
      () => regions((i) => (i === 0 ? { encryption: { keyFile: '/k' } } : {})),
      (e: unknown) => e instanceof ConfigError && /every region's store is sealed with the deployment's one data key/.test(e.message),
    );
  });

  test('the default is off, with the reason, where encryption cannot work (redirected reads); contradictions are refused', () => {
    const redirect = loadConfig({
      env: {},
      overrides: { storage: { driver: 'azure', reads: 'redirect', azure: { accountName: 'a', accountKey: 'a2V5' } } },
    });
    assert.deepEqual(encryptionAtRest(redirect), {
      on: false,
      kek: 'off',
      reason: 'storage.reads is redirect, which hands clients the stored bytes (encrypted blobs must be decrypted by Berth)',
    });
    assert.equal(storageReads(redirect), 'redirect');
    const plain = loadConfig({ env: {} });
    assert.deepEqual(encryptionAtRest(plain), { on: true, kek: 'berth-managed' });
    assert.equal(storageReads(plain), 'proxy');
    assert.deepEqual(encryptionAtRest(loadConfig({ env: { BERTH_STORAGE_ENCRYPTION_ENABLED: 'false' } })).on, false);
    assert.throws(
      () => loadConfig({ env: {}, overrides: { storage: { encryption: { enabled: false, keyFile: '/k' } } } }),
      (e: unknown) => e instanceof ConfigError && /enabled is false, but storage\.encryption\.keyFile is set/.test(e.message),
    );
    assert.throws(
      () =>
        loadConfig({
          env: {},
          overrides: {
            storage: { driver: 'azure', reads: 'redirect', encryption: { enabled: true }, azure: { accountName: 'a', accountKey: 'a2V5' } },
          },
        }),
      (e: unknown) => e instanceof ConfigError && /storage\.reads is redirect, but storage\.encryption\.enabled is true/.test(e.message),
    );
  });

  test('redirected reads are refused with encryption; auto means proxy', () => {
    assert.throws(
      () => loadConfig({ env: {}, overrides: { storage: { reads: 'redirect', encryption: { keyFile: '/k' } } } }),
      (e: unknown) => e instanceof ConfigError && /storage\.reads is redirect.*encryption/.test(e.message),
    );
    const env = loadConfig({ env: { BERTH_STORAGE_ENCRYPTION_KEY_FILE: '/etc/berth/kek' } });
    assert.equal(env.storage.encryption.keyFile, '/etc/berth/kek');
  });
});
