import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { startApp } from '../src/app.js';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { silentLogger } from '../src/observability/logger.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { sha256, uniqueRepo, withQuery } from './helpers/oci.js';
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
    // and turning encryption off on it is refused too (it would serve ciphertext)
    await assert.rejects(
      () =>
        startApp({ ...config, storage: { ...config.storage, encryption: { ...config.storage.encryption, keyFile: '' } } }, silentLogger),
      (e: unknown) => e instanceof ConfigError && /encrypted at rest/.test(e.message),
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

  test('a store that already holds clear-text blobs is refused', async () => {
    const t = await startTestApp('sqlite');
    apps.push(t);
    const reg = await t.createRegistry();
    await t.v2().pushBlob(`${reg}/plain`, randomBytes(100));
    const config = t.app.config;
    await t.app.close();
    t.app.close = () => Promise.resolve();
    await assert.rejects(
      () =>
        startApp(
          { ...config, storage: { ...config.storage, encryption: { ...config.storage.encryption, keyFile: keyFile('k3') } } },
          silentLogger,
        ),
      (e: unknown) => e instanceof ConfigError && /clear-text blobs/.test(e.message),
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
