import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { BerthFixture, berthJson, cliServer, MAIN, mustFail, mustRun, removeDir, requireTool, run, sleep, tempDir } from './helpers.js';
import { OciLayout } from './oci-layout.js';

// Customer-managed keys through the automation contract (README item 16): `berth create --sku
// Premium --key-encryption-key file:///…` and `berth encryption show -o json`, with skopeo pushing
// and pulling a real image through `berth serve` on PostgreSQL; the raw store holds no plaintext of
// it; the key's revocation refuses skopeo and its restoration serves it again; a SIGKILL in the
// middle of key rotations loses nothing.

const SKOPEO = requireTool('skopeo');

interface Shown {
  status: string;
  keyState?: string;
  keyStateReason?: string | null;
  keyVaultProperties?: { keyIdentifier: string; lastKeyRotationTimestamp: string | null };
}

function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.join(d.parentPath, d.name));
}

describe('customer-managed keys with skopeo against berth serve (postgres)', SKOPEO, () => {
  let f: BerthFixture;
  let work: string;
  let layout: OciLayout;
  const secret = `BERTH-CMK-E2E-${randomBytes(8).toString('hex')}`;
  before(async () => {
    work = tempDir('cmk-e2e');
    f = await BerthFixture.start('postgres', { BERTH_STORAGE_ENCRYPTION_KEY_CACHE_SECONDS: '1' });
    layout = new OciLayout(path.join(work, 'src'));
    layout.tag('app', layout.addImage({ files: { 'secret.txt': `${secret}\n`.repeat(200) } }));
    layout.write();
  });
  after(async () => {
    await f?.cleanup();
    removeDir(work);
  });

  const key = (name: string, content = randomBytes(32).toString('base64')) => {
    const file = path.join(work, name);
    writeFileSync(file, content + '\n', { mode: 0o600 });
    return { file, content, uri: pathToFileURL(file).href };
  };
  const show = () => berthJson<Shown>(f.url, ['encryption', 'show', '-n', 'cmkreg']);
  const skopeo = (args: string[]) => ['--tls-verify=false', '--authfile', f.authFile, ...args];

  test('create with --key-encryption-key, show, push and pull with skopeo; no plaintext in the store', async () => {
    const k = key('k1');
    await mustRun(process.execPath, [
      MAIN,
      'create',
      '-n',
      'cmkreg',
      '--sku',
      'Premium',
      '--key-encryption-key',
      k.uri,
      ...cliServer(f.url),
    ]);
    const shown = await show();
    assert.equal(shown.status, 'enabled');
    assert.equal(shown.keyState, 'Accessible');
    assert.equal(shown.keyVaultProperties?.keyIdentifier, k.uri);

    await mustRun(
      'skopeo',
      ['copy', '--dest-tls-verify=false', '--authfile', f.authFile, `oci:${layout.dir}:app`, `docker://${f.host}/cmkreg/app:v1`],
      {
        timeoutMs: 120_000,
      },
    );
    const back = path.join(work, 'back');
    await mustRun(
      'skopeo',
      ['copy', '--src-tls-verify=false', '--authfile', f.authFile, `docker://${f.host}/cmkreg/app:v1`, `oci:${back}:app`],
      {
        timeoutMs: 120_000,
      },
    );
    const stored = allFiles(f.dataDir);
    assert.ok(
      stored.some((p) => /\/domains\/\d+\/blobs\/sha256\//.test(p)),
      'the registry has its own encryption domain in the store',
    );
    for (const p of stored) assert.ok(!readFileSync(p).includes(Buffer.from(secret)), `${p} holds no plaintext of the layer`);
    // the copy skopeo pulled back has every blob skopeo verified by digest: the file is there again
    assert.ok(allFiles(back).length > 2);

    // Bad input through the CLI: a missing key file is named, exit 1, and no registry is made.
    const bad = await mustFail(process.execPath, [
      MAIN,
      'create',
      '-n',
      'cmkbad',
      '--sku',
      'Premium',
      '--key-encryption-key',
      pathToFileURL(path.join(work, 'nope')).href,
      ...cliServer(f.url),
    ]);
    assert.match(bad.stderr, /cannot read it \(ENOENT\)/);
  });

  test('revoking the key refuses skopeo; restoring it serves the image again', async () => {
    const shown = await show();
    const file = new URL(shown.keyVaultProperties!.keyIdentifier).pathname;
    const original = readFileSync(file, 'utf8');
    writeFileSync(file, randomBytes(32).toString('base64') + '\n');
    await sleep(1500);
    const refused = await run('skopeo', ['inspect', ...skopeo([`docker://${f.host}/cmkreg/app:v1`])], { timeoutMs: 60_000 });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /customer-managed key that is inaccessible/);
    assert.equal((await show()).keyState, 'Inaccessible');
    writeFileSync(file, original);
    await sleep(1500);
    await mustRun('skopeo', ['inspect', ...skopeo([`docker://${f.host}/cmkreg/app:v1`])], { timeoutMs: 60_000 });
    assert.equal((await show()).keyState, 'Accessible');
  });

  test('SIGKILL during key rotations: after a restart one of the keys holds, and the image pulls', async () => {
    const k2 = key('k2');
    const k1uri = (await show()).keyVaultProperties!.keyIdentifier;
    // Rotations back and forth, with the server killed at an arbitrary moment among them.
    const rotations = (async () => {
      for (let i = 0; i < 200; i++) {
        const r = await run(process.execPath, [
          MAIN,
          'encryption',
          'rotate-key',
          '-n',
          'cmkreg',
          '--key-encryption-key',
          i % 2 ? k1uri : k2.uri,
          ...cliServer(f.url),
        ]);
        if (r.code !== 0) return i;
      }
      return 200;
    })();
    await sleep(1500);
    await f.server.stop('SIGKILL');
    const done = await rotations;
    assert.ok(done > 0 && done < 200, `rotations before the kill: ${done}`);
    await f.restart();
    const after = await show();
    assert.ok([k1uri, k2.uri].includes(after.keyVaultProperties!.keyIdentifier));
    assert.equal(after.keyState, 'Accessible');
    const again = path.join(work, 'again');
    await mustRun(
      'skopeo',
      ['copy', '--src-tls-verify=false', '--authfile', f.authFile, `docker://${f.host}/cmkreg/app:v1`, `oci:${again}:app`],
      {
        timeoutMs: 120_000,
      },
    );
  });
});
