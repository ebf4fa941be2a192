import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLIENT_DEPLOYMENTS, deploymentGate, deploymentName } from '../helpers/storages.js';
import {
  BerthFixture,
  Containers,
  DISTRIBUTION_SH,
  MAIN,
  ROOT,
  berthJson,
  cliServer,
  getBlob,
  getManifest,
  mustFail,
  mustRun,
  removeDir,
  requireTool,
  run,
  sha256,
  tempDir,
} from './helpers.js';
import { OCI_INDEX, OciLayout, pushImage, readLayoutBlob, readLayoutRefs, type Descriptor } from './oci-layout.js';

// Real clients (skopeo, buildah, podman, Debian's docker-registry as a peer, and the berth CLI)
// against a real `berth serve` child process, on SQLite on fs and on PostgreSQL + Azure Blob
// Storage (Azurite) (CLIENT_DEPLOYMENTS says why not every pair). Nothing here needs the network:
// images are written by hand into OCI layouts or built from scratch with buildah.

const SKOPEO = requireTool('skopeo');
const BUILDAH = requireTool('buildah');
const PODMAN = requireTool('podman');
const PEER = requireTool('skopeo', 'docker-registry', 'bash');

/** skopeo <command> --authfile <file> ...: the file holds the owner's credentials for berth only (none for the peer). */
const withAuthfile = (authFile: string, args: string[]) => [args[0]!, '--authfile', authFile, ...args.slice(1)];
const digestFile = (file: string) => readFileSync(file, 'utf8').trim();

interface Inspect {
  Name: string;
  Digest: string;
  RepoTags: string[];
  Architecture: string;
  Os: string;
  Layers: string[];
  Labels: Record<string, string> | null;
}

for (const target of CLIENT_DEPLOYMENTS) {
  const { backend, storage } = target;
  describe(`real clients against berth serve (${deploymentName(target)})`, await deploymentGate(target), () => {
    const REG = `e2eclients${backend}${storage}`;
    let f: BerthFixture;
    let work: string;
    let layout: OciLayout;
    let single: Descriptor;
    let amd: Descriptor;
    let arm: Descriptor;
    let multi: Descriptor;

    before(async () => {
      f = await BerthFixture.start(target);
      await f.createRegistry(REG);
      work = tempDir('clients');
      layout = new OciLayout(path.join(work, 'src'));
      single = layout.addImage({ files: { 'hello.txt': `hello from ${deploymentName(target)}\n` } });
      amd = layout.addImage({ architecture: 'amd64', files: { 'arch.txt': 'amd64\n' } });
      arm = layout.addImage({ architecture: 'arm64', variant: 'v8', files: { 'arch.txt': 'arm64\n' } });
      multi = layout.addIndex([amd, arm]);
      layout.tag('single', single);
      layout.tag('multi', multi);
      layout.write();
    });

    after(async () => {
      await f?.cleanup();
      removeDir(work);
    });

    const skopeo = (args: string[]) => mustRun('skopeo', withAuthfile(f.authFile, args), { timeoutMs: 120_000 });
    const docker = (repo: string, tag: string) => `docker://${f.host}/${REG}/${repo}:${tag}`;
    const name = (repo: string) => `${REG}/${repo}`;
    const src = (ref: string) => `oci:${layout.dir}:${ref}`;

    /** skopeo copy into berth; returns the digest skopeo reports for what it pushed. */
    async function copyIn(from: string, repo: string, tag: string, extra: string[] = []): Promise<string> {
      const df = path.join(work, `digest-${Math.random().toString(36).slice(2)}`);
      await skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', '--digestfile', df, ...extra, from, docker(repo, tag)]);
      return digestFile(df);
    }

    /** Everything an image or index consists of is served by berth byte for byte. */
    async function assertServed(repo: string, desc: Descriptor): Promise<void> {
      for (const digest of layout.closure(desc)) {
        const r = layout.isManifest(digest) ? await getManifest(f.url, name(repo), digest) : await getBlob(f.url, name(repo), digest);
        assert.equal(r.status, 200, `GET ${digest} in ${repo}`);
        assert.equal(sha256(r.body), digest, `${digest} in ${repo} is served byte for byte`);
      }
    }

    test('skopeo copy: OCI layout -> berth -> OCI layout keeps the manifest digest and every blob', SKOPEO, async () => {
      assert.equal(await copyIn(src('single'), 'skopeo/app', 'v1'), single.digest);
      const byTag = await getManifest(f.url, name('skopeo/app'), 'v1');
      assert.equal(byTag.status, 200);
      assert.equal(byTag.headers['docker-content-digest'], single.digest);
      assert.ok(byTag.body.equals(layout.bytes(single)), 'the manifest is stored exactly as pushed');
      await assertServed('skopeo/app', single);

      const out = path.join(work, 'out-single');
      await skopeo(['copy', '--preserve-digests', '--src-tls-verify=false', docker('skopeo/app', 'v1'), `oci:${out}:v1`]);
      const ref = readLayoutRefs(out).get('v1');
      assert.equal(ref?.digest, single.digest);
      for (const d of layout.closure(single)) assert.ok(readLayoutBlob(out, d).equals(layout.bytes(d)), `${d} copied out unchanged`);
    });

    test('skopeo inspect and list-tags report digest, tags, platform and layers', SKOPEO, async () => {
      await copyIn(src('single'), 'skopeo/tags', 'v1');
      await copyIn(src('single'), 'skopeo/tags', 'v2');
      const info = JSON.parse((await skopeo(['inspect', '--tls-verify=false', docker('skopeo/tags', 'v1')])).stdout) as Inspect;
      assert.equal(info.Digest, single.digest);
      assert.deepEqual([...info.RepoTags].sort(), ['v1', 'v2']);
      assert.equal(info.Architecture, 'amd64');
      assert.equal(info.Os, 'linux');
      assert.equal(info.Labels?.['berth.e2e'], 'yes');
      const manifest = JSON.parse(layout.bytes(single).toString()) as { config: Descriptor; layers: Descriptor[] };
      assert.deepEqual(
        info.Layers,
        manifest.layers.map((l) => l.digest),
      );

      const raw = (await skopeo(['inspect', '--raw', '--tls-verify=false', docker('skopeo/tags', 'v2')])).stdout;
      assert.equal(sha256(raw), single.digest, 'inspect --raw returns the exact manifest bytes');
      const config = (await skopeo(['inspect', '--config', '--raw', '--tls-verify=false', docker('skopeo/tags', 'v1')])).stdout;
      assert.equal(sha256(config), manifest.config.digest);

      const tags = JSON.parse((await skopeo(['list-tags', '--tls-verify=false', `docker://${f.host}/${REG}/skopeo/tags`])).stdout) as {
        Tags: string[];
      };
      assert.deepEqual([...tags.Tags].sort(), ['v1', 'v2']);
    });

    test('skopeo delete removes the manifest; inspect then fails', SKOPEO, async () => {
      await copyIn(src('single'), 'skopeo/del', 'v1');
      await skopeo(['inspect', '--tls-verify=false', docker('skopeo/del', 'v1')]);
      await skopeo(['delete', '--tls-verify=false', docker('skopeo/del', 'v1')]);
      const failed = await mustFail('skopeo', withAuthfile(f.authFile, ['inspect', '--tls-verify=false', docker('skopeo/del', 'v1')]), {
        timeoutMs: 60_000,
      });
      assert.match(failed.stderr, /manifest unknown|not found/i);
      assert.equal((await getManifest(f.url, name('skopeo/del'), single.digest)).status, 404, 'deleted by digest, not just untagged');
      const tags = await run(
        'skopeo',
        withAuthfile(f.authFile, ['list-tags', '--tls-verify=false', `docker://${f.host}/${REG}/skopeo/del`]),
      );
      if (tags.code === 0) assert.ok(!(JSON.parse(tags.stdout) as { Tags: string[] }).Tags.includes('v1'));
    });

    test('multi-arch: skopeo copy --all moves an OCI index with amd64 and arm64 in and out, every digest intact', SKOPEO, async () => {
      assert.equal(await copyIn(src('multi'), 'skopeo/multi', 'v1', ['--all']), multi.digest);
      const idx = await getManifest(f.url, name('skopeo/multi'), 'v1');
      assert.equal(idx.status, 200);
      assert.equal(idx.headers['content-type'], OCI_INDEX);
      assert.ok(idx.body.equals(layout.bytes(multi)), 'the index is stored exactly as pushed');
      await assertServed('skopeo/multi', multi);

      const armInfo = JSON.parse(
        (
          await skopeo([
            'inspect',
            '--tls-verify=false',
            '--override-arch',
            'arm64',
            '--override-variant',
            'v8',
            docker('skopeo/multi', 'v1'),
          ])
        ).stdout,
      ) as Inspect;
      assert.equal(armInfo.Architecture, 'arm64');

      const out = path.join(work, 'out-multi');
      await skopeo(['copy', '--all', '--preserve-digests', '--src-tls-verify=false', docker('skopeo/multi', 'v1'), `oci:${out}:multi`]);
      assert.equal(readLayoutRefs(out).get('multi')?.digest, multi.digest);
      for (const d of layout.closure(multi)) assert.ok(readLayoutBlob(out, d).equals(layout.bytes(d)), `${d} copied out unchanged`);

      // Without --all, the platform the client asks for is the one it gets.
      const outArm = path.join(work, 'out-arm');
      await skopeo([
        'copy',
        '--override-arch',
        'arm64',
        '--override-variant',
        'v8',
        '--src-tls-verify=false',
        docker('skopeo/multi', 'v1'),
        `oci:${outArm}:arm`,
      ]);
      assert.equal(readLayoutRefs(outArm).get('arm')?.digest, arm.digest);
    });

    describe('buildah and podman', () => {
      let c: Containers;
      before(() => {
        c = new Containers();
      });
      after(() => c?.cleanup());

      test('buildah push, then buildah pull brings back the same image and file content', BUILDAH, async () => {
        const content = `built by buildah on ${deploymentName(target)} ${Date.now()}\n`;
        await c.login('buildah', f.host);
        const id = await c.buildImage('localhost/e2e/app:v1', { files: { '/hello.txt': content } });
        const df = path.join(c.dir, 'push.digest');
        await c.buildah(['push', '--tls-verify=false', '--digestfile', df, 'localhost/e2e/app:v1', docker('buildah/app', 'v1')]);
        const pushed = await getManifest(f.url, name('buildah/app'), 'v1');
        assert.equal(pushed.status, 200);
        assert.equal(pushed.headers['docker-content-digest'], digestFile(df));
        assert.equal(sha256(pushed.body), digestFile(df));

        await c.buildah(['rmi', '-f', id]);
        const pulledId = (await c.buildah(['pull', '-q', '--tls-verify=false', docker('buildah/app', 'v1')])).stdout
          .trim()
          .split('\n')
          .pop();
        assert.equal(pulledId, id, 'same image id (config digest) after the round trip');
        const ctr = (await c.buildah(['from', '--pull-never', `${f.host}/${REG}/buildah/app:v1`])).stdout.trim().split('\n').pop()!;
        try {
          const mnt = (await c.buildah(['mount', ctr])).stdout.trim();
          assert.equal(readFileSync(path.join(mnt, 'hello.txt'), 'utf8'), content);
        } finally {
          await c.buildah(['rm', ctr]);
        }
      });

      test('buildah manifest create/add/push --all publishes a two-platform list', BUILDAH, async () => {
        await c.login('buildah', f.host);
        const amdId = await c.buildImage('localhost/e2e/multi-amd64:v1', { files: { '/arch.txt': 'amd64\n' }, arch: 'amd64' });
        const armId = await c.buildImage('localhost/e2e/multi-arm64:v1', { files: { '/arch.txt': 'arm64\n' }, arch: 'arm64' });
        await c.buildah(['manifest', 'create', 'localhost/e2e/list:v1']);
        await c.buildah(['manifest', 'add', 'localhost/e2e/list:v1', 'containers-storage:localhost/e2e/multi-amd64:v1']);
        await c.buildah(['manifest', 'add', 'localhost/e2e/list:v1', 'containers-storage:localhost/e2e/multi-arm64:v1']);
        const df = path.join(c.dir, 'list.digest');
        await c.buildah([
          'manifest',
          'push',
          '--all',
          '--tls-verify=false',
          '--digestfile',
          df,
          'localhost/e2e/list:v1',
          docker('buildah/list', 'v1'),
        ]);

        const list = await getManifest(f.url, name('buildah/list'), 'v1');
        assert.equal(list.status, 200);
        assert.equal(list.headers['docker-content-digest'], digestFile(df));
        assert.equal(sha256(list.body), digestFile(df));
        const doc = JSON.parse(list.body.toString()) as { manifests: Descriptor[] };
        assert.deepEqual(doc.manifests.map((m) => m.platform?.architecture).sort(), ['amd64', 'arm64']);
        for (const m of doc.manifests) {
          const child = await getManifest(f.url, name('buildah/list'), m.digest);
          assert.equal(child.status, 200, `platform manifest ${m.digest}`);
          assert.equal(sha256(child.body), m.digest);
          const img = JSON.parse(child.body.toString()) as { config: Descriptor; layers: Descriptor[] };
          assert.equal(img.config.digest, `sha256:${m.platform?.architecture === 'arm64' ? armId : amdId}`);
          for (const b of [img.config, ...img.layers]) {
            const blob = await getBlob(f.url, name('buildah/list'), b.digest);
            assert.equal(blob.status, 200);
            assert.equal(sha256(blob.body), b.digest);
          }
        }
        // A client asking for arm64 resolves the list to the arm64 image.
        const pulled = (await c.buildah(['pull', '-q', '--arch', 'arm64', '--tls-verify=false', docker('buildah/list', 'v1')])).stdout
          .trim()
          .split('\n')
          .pop();
        assert.equal(pulled, armId);
      });

      test('podman pulls an image and pushes it under a new name', PODMAN, async () => {
        await c.login('podman', f.host);
        await pushImage(f.url, name('podman/src'), layout, single, 'v1');
        const configDigest = (JSON.parse(layout.bytes(single).toString()) as { config: Descriptor }).config.digest;
        const image = `${f.host}/${REG}/podman/src:v1`;
        await c.podman(['pull', '-q', '--tls-verify=false', image]);
        const inspected = JSON.parse((await c.podman(['image', 'inspect', image])).stdout) as { Id: string; Digest: string }[];
        assert.equal(`sha256:${inspected[0]!.Id}`, configDigest);
        assert.equal(inspected[0]!.Digest, single.digest);

        const df = path.join(c.dir, 'podman.digest');
        const copy = `${f.host}/${REG}/podman/copy:v1`;
        await c.podman(['push', '--tls-verify=false', '--digestfile', df, image, copy]);
        const pushed = await getManifest(f.url, name('podman/copy'), 'v1');
        assert.equal(pushed.status, 200);
        assert.equal(sha256(pushed.body), digestFile(df));
        const doc = JSON.parse(pushed.body.toString()) as { config: Descriptor; layers: Descriptor[] };
        assert.equal(doc.config.digest, configDigest, 'same image config after podman push');
        for (const b of [doc.config, ...doc.layers]) {
          const blob = await getBlob(f.url, name('podman/copy'), b.digest);
          assert.equal(blob.status, 200);
          assert.equal(sha256(blob.body), b.digest);
        }
        await c.podman(['rmi', '-f', image, copy]);
        await c.podman(['pull', '-q', '--tls-verify=false', copy]);
        const again = JSON.parse((await c.podman(['image', 'inspect', copy])).stdout) as { Id: string }[];
        assert.equal(`sha256:${again[0]!.Id}`, configDigest);
      });
    });

    // The CLI on the first deployment only: it is a pure HTTP client of /api and /acr/v1, whose
    // answers on each backend acr-v1.test.ts checks; a second server would test the same commands.
    if (target === CLIENT_DEPLOYMENTS[0]) {
      test('berth CLI: repository list, show-tags, show-manifests, manifest show, untag, delete (-o json)', async () => {
        const other = layout.addImage({ files: { 'other.txt': 'v3\n' } });
        await pushImage(f.url, name('cli/app'), layout, single, 'v1');
        await pushImage(f.url, name('cli/app'), layout, single, 'v2');
        await pushImage(f.url, name('cli/app'), layout, other, 'v3');

        const regs = await berthJson<{ name: string; loginServer: string }[]>(f.url, ['list']);
        assert.equal(regs.find((r) => r.name === REG)?.loginServer, `${f.host}/${REG}`);
        assert.equal((await berthJson<{ name: string }>(f.url, ['show', '-n', REG])).name, REG);

        assert.ok((await berthJson<string[]>(f.url, ['repository', 'list', '-n', REG])).includes('cli/app'));
        const tags = await berthJson<string[]>(f.url, ['repository', 'show-tags', '-n', REG, '--repository', 'cli/app']);
        assert.deepEqual([...tags].sort(), ['v1', 'v2', 'v3']);
        const manifests = await berthJson<{ digest: string; tags: string[] }[]>(f.url, [
          'repository',
          'show-manifests',
          '-n',
          REG,
          '--repository',
          'cli/app',
        ]);
        assert.deepEqual(manifests.map((m) => m.digest).sort(), [single.digest, other.digest].sort());
        assert.deepEqual([...manifests.find((m) => m.digest === single.digest)!.tags].sort(), ['v1', 'v2']);

        assert.deepEqual(
          await berthJson(f.url, ['manifest', 'show', '-r', REG, '-n', 'cli/app:v1']),
          JSON.parse(layout.bytes(single).toString()),
        );
        const raw = await mustRun(
          process.execPath,
          [MAIN, 'manifest', 'show', '--raw', '-r', REG, '-n', `cli/app@${single.digest}`, ...cliServer(f.url)],
          { cwd: ROOT },
        );
        assert.equal(sha256(raw.stdout), single.digest, 'manifest show --raw prints the stored bytes');

        const tsv = await mustRun(process.execPath, [
          MAIN,
          'repository',
          'show-tags',
          '-n',
          REG,
          '--repository',
          'cli/app',
          '-o',
          'tsv',
          ...cliServer(f.url),
        ]);
        assert.deepEqual(tsv.stdout.trim().split('\n').sort(), ['v1', 'v2', 'v3']);

        await berthJson(f.url, ['repository', 'untag', '-n', REG, '--image', 'cli/app:v2']);
        assert.deepEqual(
          [...(await berthJson<string[]>(f.url, ['repository', 'show-tags', '-n', REG, '--repository', 'cli/app']))].sort(),
          ['v1', 'v3'],
        );
        assert.equal((await getManifest(f.url, name('cli/app'), single.digest)).status, 200, 'untag keeps the manifest');

        const deleted = await berthJson<{ deleted: string }>(f.url, ['repository', 'delete', '-n', REG, '--image', 'cli/app:v1', '--yes']);
        assert.equal(deleted.deleted, single.digest);
        assert.equal((await getManifest(f.url, name('cli/app'), single.digest)).status, 404);
        assert.equal((await getManifest(f.url, name('cli/app'), 'v1')).status, 404);
        assert.deepEqual(await berthJson<string[]>(f.url, ['repository', 'show-tags', '-n', REG, '--repository', 'cli/app']), ['v3']);

        // Without --yes and without a terminal, delete refuses rather than guessing.
        const refused = await run(process.execPath, [
          MAIN,
          'repository',
          'delete',
          '-n',
          REG,
          '--image',
          'cli/app:v3',
          ...cliServer(f.url),
        ]);
        assert.notEqual(refused.code, 0);
        assert.equal((await getManifest(f.url, name('cli/app'), 'v3')).status, 200);
      });
    }

    test('peer interop: Distribution (docker-registry) -> berth -> OCI layout, and back', PEER, async () => {
      // distribution.sh picks a random free port; another process can take it before the registry
      // binds it ("address already in use"), so try a few ports.
      let started = await run('bash', [DISTRIBUTION_SH], { timeoutMs: 60_000 });
      for (let i = 0; i < 3 && started.code !== 0; i++) started = await run('bash', [DISTRIBUTION_SH], { timeoutMs: 60_000 });
      assert.equal(started.code, 0, `distribution.sh failed: ${started.stderr}`);
      const vars = Object.fromEntries([...started.stdout.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]])) as Record<string, string>;
      assert.ok(vars.URL && vars.PID, `distribution.sh printed ${started.stdout}`);
      const peer = new URL(vars.URL).host;
      try {
        const copy = (args: string[]) =>
          skopeo(['copy', '--all', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false', ...args]);
        await copy([src('multi'), `docker://${peer}/e2e/multi:v1`]);
        await copy([src('single'), `docker://${peer}/e2e/single:v1`]);

        await copy([`docker://${peer}/e2e/multi:v1`, docker('peer/multi', 'v1')]);
        await copy([`docker://${peer}/e2e/single:v1`, docker('peer/single', 'v1')]);
        assert.equal((await getManifest(f.url, name('peer/multi'), 'v1')).headers['docker-content-digest'], multi.digest);
        await assertServed('peer/multi', multi);
        await assertServed('peer/single', single);

        const out = path.join(work, 'out-peer');
        await copy([docker('peer/multi', 'v1'), `oci:${out}:multi`]);
        await copy([docker('peer/single', 'v1'), `oci:${out}:single`]);
        const refs = readLayoutRefs(out);
        assert.equal(refs.get('multi')?.digest, multi.digest);
        assert.equal(refs.get('single')?.digest, single.digest);
        for (const d of [...layout.closure(multi), ...layout.closure(single)]) assert.ok(readLayoutBlob(out, d).equals(layout.bytes(d)));

        // And back: what berth serves, Distribution accepts unchanged.
        await copy([docker('peer/multi', 'v1'), `docker://${peer}/e2e/back:v1`]);
        const raw = (await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${peer}/e2e/back:v1`])).stdout;
        assert.equal(sha256(raw), multi.digest);
      } finally {
        await run('bash', [DISTRIBUTION_SH, 'stop', vars.PID], { timeoutMs: 30_000 });
      }
    });
  });
}
