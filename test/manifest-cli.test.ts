import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli, type CliRun } from './helpers/cli.js';
import { ADMIN_PASSWORD, startTestApp, type TestApp } from './helpers/app.js';
import { ensureBuilt, MAIN, ROOT } from './helpers/berth-process.js';
import { MT, type PushedImage, type V2 } from './helpers/oci.js';

// The az-shaped commands of part 4 through the berth CLI against a real server: manifest
// list|list-metadata|show-metadata|update-metadata|delete, list-referrers --recursive, a fully
// qualified manifest name, repository list --orderby, show-endpoints and create --admin-enabled.
// Commands run in this process (test/helpers/cli.ts, as main.ts runs them); one runs as the real
// `node dist/main.js`, to show main.ts registers the new commands.

const SBOM = 'application/spdx+json';
const SIGNATURE = 'application/vnd.cncf.notary.signature';

interface ManifestMeta {
  digest: string;
  tags: string[];
  createdTime: string;
  imageSize: number;
  mediaType: string;
  changeableAttributes: { deleteEnabled: boolean; writeEnabled: boolean; listEnabled: boolean; readEnabled: boolean };
}
interface TagMeta {
  name: string;
  digest: string;
  changeableAttributes: ManifestMeta['changeableAttributes'];
}
interface Referrers {
  subject: string;
  manifests: { digest: string; artifactType?: string; subject?: string }[];
}

describe('manifest, repository list --orderby, show-endpoints and create --admin-enabled (CLI)', () => {
  let t: TestApp;
  let v2: V2;
  const reg = 'mancli1';
  let v1: PushedImage;
  let v2img: PushedImage;

  function berth(args: string[], auth: [string, string] | null = ['admin', ADMIN_PASSWORD]): Promise<CliRun> {
    return runCli([...args, '--server', t.url, ...(auth ? ['-u', auth[0], '-p', auth[1]] : [])]);
  }
  async function ok<T = unknown>(args: string[], auth?: [string, string] | null): Promise<T> {
    const r = await berth(args, auth);
    assert.equal(r.code, 0, `berth ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    return (r.stdout.trim() ? JSON.parse(r.stdout) : undefined) as T;
  }
  async function fails(args: string[], code: number, pattern?: RegExp): Promise<CliRun> {
    const r = await berth(args);
    assert.equal(r.code, code, `berth ${args.join(' ')}: expected exit ${code}, got ${r.code}\n${r.stdout}${r.stderr}`);
    if (pattern) assert.match(r.stderr, pattern);
    return r;
  }

  before(async () => {
    t = await startTestApp('sqlite');
    await t.createRegistry(reg, 'Standard');
    v2 = t.v2();
    // Distinct creation times (the listing's time order breaks ties by digest).
    v1 = await v2.pushImage(`${reg}/hello`, 'v1');
    await sleep(5);
    v2img = await v2.pushImage(`${reg}/hello`, 'v2');
  });
  after(async () => {
    await t?.close();
  });

  test('list-metadata shows each pushed digest with its tags, size and locks; --orderby orders by time; --top cuts', async () => {
    const all = await ok<ManifestMeta[]>(['manifest', 'list-metadata', '-r', reg, '-n', 'hello']);
    const m1 = all.find((m) => m.digest === v1.digest);
    assert.ok(m1, 'the pushed v1 digest is listed');
    assert.deepEqual(m1.tags, ['v1']);
    assert.equal(typeof m1.imageSize, 'number');
    assert.equal(m1.mediaType, MT.ociManifest);
    assert.deepEqual(m1.changeableAttributes, { deleteEnabled: true, writeEnabled: true, listEnabled: true, readEnabled: true });
    assert.deepEqual(
      (await ok<ManifestMeta[]>(['manifest', 'list-metadata', '-r', reg, '-n', 'hello', '--orderby', 'time_asc'])).map((m) => m.digest),
      [v1.digest, v2img.digest],
    );
    assert.deepEqual(
      (await ok<ManifestMeta[]>(['manifest', 'list-metadata', '-r', reg, '-n', 'hello', '--orderby', 'time_desc'])).map((m) => m.digest),
      [v2img.digest, v1.digest],
    );
    const top = await ok<ManifestMeta[]>(['manifest', 'list-metadata', '-r', reg, '-n', 'hello', '--orderby', 'time_desc', '--top', '1']);
    assert.deepEqual(
      top.map((m) => m.digest),
      [v2img.digest],
    );
    await fails(['manifest', 'list-metadata', '-r', reg, '-n', 'hello:v1'], 2, /without a tag or digest/);
    await fails(['manifest', 'list-metadata', '-r', reg, '-n', 'hello', '--orderby', 'newest'], 2);
    await fails(['manifest', 'list-metadata', '-r', reg, '-n', 'nosuchrepo'], 1, /NAME_UNKNOWN/);
  });

  test('list prints the manifests themselves, as pushed', async () => {
    const list = await ok<unknown[]>(['manifest', 'list', '-r', reg, '-n', 'hello', '--orderby', 'time_asc']);
    assert.deepEqual(list, [v1.manifest, v2img.manifest]);
  });

  test('a fully qualified name (LOGIN-SERVER/REPO:TAG) works in place of -r/-n', async () => {
    const fq = `${t.host}/${reg}/hello`;
    assert.deepEqual(await ok(['manifest', 'list', fq, '--orderby', 'time_asc']), [v1.manifest, v2img.manifest]);
    assert.equal((await ok<TagMeta>(['manifest', 'show-metadata', `http://${fq}:v1`])).digest, v1.digest);
    assert.deepEqual(await ok(['manifest', 'show', `${fq}@${v1.digest}`]), v1.manifest);
    await fails(['manifest', 'show-metadata', `${fq}:v1`, '-r', reg], 2, /not both/);
    await fails(['manifest', 'show-metadata', `elsewhere.example:5000/${reg}/hello:v1`], 2, /no login server/);
    await fails(['manifest', 'show-metadata', '-r', reg], 2, /-r REG -n/);
  });

  test('show-metadata: a tag by repo:tag, a manifest by repo@digest', async () => {
    const tag = await ok<TagMeta>(['manifest', 'show-metadata', '-r', reg, '-n', 'hello:v1']);
    assert.equal(tag.name, 'v1');
    assert.equal(tag.digest, v1.digest);
    const man = await ok<ManifestMeta>(['manifest', 'show-metadata', '-r', reg, '-n', `hello@${v1.digest}`]);
    assert.equal(man.digest, v1.digest);
    assert.deepEqual(man.tags, ['v1']);
    // az's documented use: the digest alone, for a script.
    const r = await berth(['manifest', 'show-metadata', '-r', reg, '-n', 'hello:v1', '-o', 'tsv']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(v1.digest));
    await fails(['manifest', 'show-metadata', '-r', reg, '-n', 'hello:nosuchtag'], 1, /MANIFEST_UNKNOWN/);
  });

  test('update-metadata really locks: a write-locked tag cannot be overwritten, a delete-locked manifest cannot be deleted', async () => {
    const locked = await ok<TagMeta>(['manifest', 'update-metadata', '-r', reg, '-n', 'hello:v1', '--write-enabled', 'false']);
    assert.equal(locked.changeableAttributes.writeEnabled, false);
    const other = await v2.pushBlob(`${reg}/hello`, 'another config');
    const overwrite = await v2.putManifest(`${reg}/hello`, 'v1', {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: other.digest, size: other.size },
      layers: [],
    });
    assert.equal(overwrite.status, 403, await overwrite.text());
    assert.equal((await ok<TagMeta>(['manifest', 'show-metadata', '-r', reg, '-n', 'hello:v1'])).digest, v1.digest);
    // Without a flag it shows, as az does.
    assert.equal(
      (await ok<TagMeta>(['manifest', 'update-metadata', '-r', reg, '-n', 'hello:v1'])).changeableAttributes.writeEnabled,
      false,
    );
    await ok(['manifest', 'update-metadata', '-r', reg, '-n', 'hello:v1', '--write-enabled', 'true']);

    const man = await ok<ManifestMeta>(['manifest', 'update-metadata', '-r', reg, '-n', `hello@${v1.digest}`, '--delete-enabled', 'false']);
    assert.equal(man.changeableAttributes.deleteEnabled, false);
    await fails(['manifest', 'delete', '-r', reg, '-n', `hello@${v1.digest}`, '--yes'], 1, /locked/);
    assert.equal((await ok<ManifestMeta>(['manifest', 'show-metadata', '-r', reg, '-n', `hello@${v1.digest}`])).digest, v1.digest);
    await ok(['manifest', 'update-metadata', '-r', reg, '-n', `hello@${v1.digest}`, '--delete-enabled', 'true']);
    await fails(['manifest', 'update-metadata', '-r', reg, '-n', 'hello:v1', '--read-enabled', 'maybe'], 2);
  });

  test('delete removes the manifest and its tags; it asks first (--yes)', async () => {
    const img = await v2.pushImage(`${reg}/gone`, 'v1');
    await fails(['manifest', 'delete', '-r', reg, '-n', 'gone:v1'], 2, /--yes/);
    assert.equal((await ok<TagMeta>(['manifest', 'show-metadata', '-r', reg, '-n', 'gone:v1'])).digest, img.digest, 'nothing deleted');
    assert.deepEqual(await ok(['manifest', 'delete', '-r', reg, '-n', 'gone:v1', '--yes']), { deleted: img.digest });
    await fails(['manifest', 'show-metadata', '-r', reg, '-n', `gone@${img.digest}`], 1, /MANIFEST_UNKNOWN/);
    await fails(['manifest', 'show-metadata', '-r', reg, '-n', 'gone:v1'], 1, /MANIFEST_UNKNOWN/);
    assert.equal((await v2.fetch(`${reg}/gone/manifests/${img.digest}`)).status, 404);
  });

  test('list-referrers --recursive shows the signature of an SBOM under the SBOM', async () => {
    const image = await v2.pushImage(`${reg}/signed`, 'v1');
    const subjectOf = (p: PushedImage) => ({ mediaType: p.mediaType, digest: p.digest, size: p.size });
    const sbom = await v2.pushImage(`${reg}/signed`, 'sbom', { artifactType: SBOM, subject: subjectOf(image) });
    const imageSig = await v2.pushImage(`${reg}/signed`, 'sig1', { artifactType: SIGNATURE, subject: subjectOf(image) });
    const sbomSig = await v2.pushImage(`${reg}/signed`, 'sig2', { artifactType: SIGNATURE, subject: subjectOf(sbom) });

    const direct = await ok<Referrers>(['manifest', 'list-referrers', '-r', reg, '-n', 'signed:v1']);
    assert.equal(direct.subject, image.digest);
    assert.deepEqual(direct.manifests.map((m) => m.digest).sort(), [sbom.digest, imageSig.digest].sort());

    const deep = await ok<Referrers>(['manifest', 'list-referrers', '-r', reg, '-n', 'signed:v1', '--recursive']);
    assert.deepEqual(
      deep.manifests.map((m) => [m.digest, m.subject]).sort(),
      [
        [sbom.digest, image.digest],
        [imageSig.digest, image.digest],
        [sbomSig.digest, sbom.digest],
      ].sort(),
    );
    // Breadth first: the SBOM's signature comes after every direct referrer.
    assert.equal(deep.manifests[2]!.digest, sbomSig.digest);
    const sigs = await ok<Referrers>([
      'manifest',
      'list-referrers',
      '-r',
      reg,
      '-n',
      `signed@${image.digest}`,
      '--artifact-type',
      SIGNATURE,
    ]);
    assert.deepEqual(
      sigs.manifests.map((m) => m.digest),
      [imageSig.digest],
    );
  });

  test('repository list --orderby orders by last update; the default stays by name; --top cuts', async () => {
    const r2 = 'orderreg1';
    await t.createRegistry(r2);
    for (const name of ['bravo', 'alpha', 'charlie']) {
      await v2.pushImage(`${r2}/${name}`, 'v1');
      await sleep(5);
    }
    await v2.pushImage(`${r2}/bravo`, 'v2'); // bravo is now the most recently updated
    assert.deepEqual(await ok(['repository', 'list', '-n', r2]), ['alpha', 'bravo', 'charlie']);
    assert.deepEqual(await ok(['repository', 'list', '-n', r2, '--orderby', 'time_asc']), ['alpha', 'charlie', 'bravo']);
    assert.deepEqual(await ok(['repository', 'list', '-n', r2, '--orderby', 'time_desc']), ['bravo', 'charlie', 'alpha']);
    assert.deepEqual(await ok(['repository', 'list', '-n', r2, '--orderby', 'time_desc', '--top', '2']), ['bravo', 'charlie']);
    await fails(['repository', 'list', '-n', r2, '--orderby', 'name'], 2);
    // Pages keep the order (keyset on time and name).
    const p1 = await t.fetch(`/api/registries/${r2}/repositories?n=2&orderby=timedesc`, {
      headers: { Authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}` },
    });
    const page = (await p1.json()) as { value: string[]; nextLink: string };
    assert.deepEqual(page.value, ['bravo', 'charlie']);
    assert.match(page.nextLink, /orderby=timedesc/);
  });

  test('show-endpoints: the login server, and the same server as the data endpoint', async () => {
    const e = await ok<{ loginServer: string; dataEndpoints: { region: string; endpoint: string }[] }>(['show-endpoints', '-n', reg]);
    assert.equal(e.loginServer, `${t.host}/${reg}`);
    assert.deepEqual(e.dataEndpoints, [{ region: 'default', endpoint: t.host }]);
    await fails(['show-endpoints', '-n', 'nosuchreg9'], 1, /REGISTRY_UNKNOWN|RESOURCE_UNKNOWN|404/);
  });

  test('create --admin-enabled: the admin user works at once; without it, or false, it is off', async () => {
    const created = await ok<{ adminUserEnabled: boolean }>(['create', '-n', 'adminreg1', '--admin-enabled']);
    assert.equal(created.adminUserEnabled, true);
    const creds = await ok<{ username: string; passwords: { name: string; value: string }[] }>(['credential', 'show', '-n', 'adminreg1']);
    assert.equal(creds.username, 'adminreg1');
    assert.equal(creds.passwords.length, 2);
    // The admin user (user name = registry name) pushes and lists.
    const asAdmin = t.v2({ authorization: `Basic ${Buffer.from(`adminreg1:${creds.passwords[0]!.value}`).toString('base64')}` });
    await asAdmin.pushImage('adminreg1/app', 'v1');
    assert.deepEqual(await ok(['repository', 'list', '-n', 'adminreg1'], ['adminreg1', creds.passwords[1]!.value]), ['app']);

    assert.equal(
      (await ok<{ adminUserEnabled: boolean }>(['create', '-n', 'adminreg2', '--admin-enabled', 'false'])).adminUserEnabled,
      false,
    );
    assert.equal((await ok<{ adminUserEnabled: boolean }>(['create', '-n', 'adminreg3'])).adminUserEnabled, false);
    await fails(['create', '-n', 'adminreg4', '--admin-enabled', 'maybe'], 2);
    assert.equal((await ok<{ nameAvailable: boolean }>(['check-name', '-n', 'adminreg4'])).nameAvailable, true, 'nothing created');
  });

  test('node dist/main.js registers the new commands', async () => {
    ensureBuilt();
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [MAIN, 'manifest', 'list-metadata', '-r', reg, '-n', 'hello', '-o', 'tsv', '--server', t.url, '-u', 'admin', '-p', ADMIN_PASSWORD],
        {
          cwd: ROOT,
          env: { PATH: process.env.PATH, HOME: ROOT, BERTH_CONFIG_DIR: '/nonexistent-berth-config' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(v1.digest), r.stdout);
  });
});
