import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { ROOT, cleanEnv, ensureBuilt, freePort, removeDir, tempDir } from './helpers/berth-process.js';
import { requireTool, run, waitFor, request } from './e2e/helpers.js';

// The README's five-minute walkthrough, run from the README's own text: the ```sh blocks between
// <!-- walkthrough:start --> and <!-- walkthrough:end -->. The first block holds the `berth serve`
// line (the first terminal); the rest is the second terminal. They run with bash exactly as
// written, with only these differences from a user's machine, none of them in the text:
//  - the install and build step is not run (the project is already built; `npm test` builds it),
//    and `berth` is this checkout's bin/berth, on PATH as the README's install step puts it;
//  - port 5000 becomes a free port: "127.0.0.1:5000" in the text, and BERTH_LISTEN / BERTH_SERVER
//    in the environment for the commands that use the default address;
//  - HOME is a temp dir (so ~/berth-demo is a fresh directory), and the container tools get their
//    own storage (vfs), auth file and temp dirs through CONTAINERS_STORAGE_CONF, CONTAINERS_CONF,
//    XDG_RUNTIME_DIR and TMPDIR, so the walkthrough never touches the machine's images or logins.

const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** The ```sh blocks between the walkthrough markers, in order. */
export function walkthroughBlocks(readme: string): string[] {
  const start = readme.indexOf('<!-- walkthrough:start -->');
  const end = readme.indexOf('<!-- walkthrough:end -->');
  if (start < 0 || end < start) throw new Error('README.md has no <!-- walkthrough:start --> … <!-- walkthrough:end --> section');
  return [...readme.slice(start, end).matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

const TOOLS = requireTool('bash', 'podman', 'buildah', 'skopeo');
const git = (args: string[]) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });

describe('README walkthrough', () => {
  const blocks = walkthroughBlocks(README);

  test('the walkthrough is two sh blocks: the server terminal (with berth serve) and the client terminal', () => {
    assert.equal(blocks.length, 2, 'two ```sh blocks between the markers');
    assert.match(
      blocks[0]!,
      /^BERTH_ADMIN_PASSWORD='[^']+' berth serve /m,
      'the server starts with the owner password the walkthrough uses',
    );
    const password = /^BERTH_ADMIN_PASSWORD='([^']+)'/m.exec(blocks[0]!)![1]!;
    assert.ok(blocks[1]!.includes(`BERTH_PASSWORD='${password}'`), 'the client terminal signs in with that password');
    assert.ok(!blocks.join('\n').includes('npx '), 'berth from PATH, not npx');
  });

  test('runs as written against a real berth serve, and writes nothing into the checkout', TOOLS, async () => {
    ensureBuilt();
    const statusBefore = git(['status', '--porcelain', '--untracked-files=all']).stdout;
    const dir = tempDir('walkthrough');
    after(() => removeDir(dir));
    const port = await freePort();
    const home = path.join(dir, 'home');
    const runtime = path.join(dir, 'run');
    const tmp = path.join(dir, 'tmp');
    for (const d of [home, runtime, tmp]) mkdirSync(d, { recursive: true, mode: 0o700 });
    const storageConf = path.join(dir, 'storage.conf');
    writeFileSync(storageConf, `[storage]\ndriver = "vfs"\ngraphroot = "${dir}/storage"\nrunroot = "${dir}/storage-run"\n`);
    const containersConf = path.join(dir, 'containers.conf');
    writeFileSync(containersConf, `[engine]\nevents_logger = "none"\ntmp_dir = "${dir}/podman-tmp"\n`);
    const env = cleanEnv({
      HOME: home,
      PATH: `${path.join(ROOT, 'bin')}${path.delimiter}${process.env.PATH ?? ''}`,
      XDG_RUNTIME_DIR: runtime,
      TMPDIR: tmp,
      CONTAINERS_STORAGE_CONF: storageConf,
      CONTAINERS_CONF: containersConf,
      BERTH_LISTEN: `127.0.0.1:${port}`,
      BERTH_SERVER: `http://127.0.0.1:${port}`,
      // Test deployments hash passwords at the lowest cost (README, "Run the tests").
      BERTH_AUTH_PASSWORD_HASH_COST: '10',
    });
    const withPort = (text: string) => text.replaceAll('127.0.0.1:5000', `127.0.0.1:${port}`);

    // Terminal 1, in the background (its own process group, so the server goes with it).
    const server = spawn('bash', ['-c', `set -e\n${withPort(blocks[0]!)}`], {
      cwd: home,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let serverOutput = '';
    server.stdout.on('data', (b: Buffer) => (serverOutput += b.toString()));
    server.stderr.on('data', (b: Buffer) => (serverOutput += b.toString()));
    const exited = new Promise<number | null>((resolve) => server.on('exit', (code) => resolve(code)));
    after(async () => {
      try {
        process.kill(-server.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
      await exited;
    });
    await waitFor(
      `berth serve on port ${port}`,
      async () => {
        if (server.exitCode !== null) throw new Error(`the server terminal exited (${server.exitCode}):\n${serverOutput}`);
        return (await request('GET', `http://127.0.0.1:${port}/readyz`, { auth: false }).catch(() => undefined))?.status === 200;
      },
      60_000,
      100,
    );

    // Terminal 2, every line as written (set -e: the first failing line fails the test; -x shows which).
    const client = await run('bash', ['-c', `set -e -o pipefail -x\n${withPort(blocks[1]!)}`], { cwd: home, env, timeoutMs: 300_000 });
    const transcript = `exit ${client.code}\nstdout:\n${client.stdout}\nstderr:\n${client.stderr}\nserver:\n${serverOutput}`;
    assert.equal(client.code, 0, transcript);
    assert.match(client.stdout, /"loginServer": "127\.0\.0\.1:\d+\/demoreg"/, `berth create printed the registry\n${transcript}`);
    assert.match(client.stdout, /Login Succeeded/, `podman login\n${transcript}`);
    assert.match(client.stderr, /Writing manifest to image destination/, `skopeo copy pushed the image\n${transcript}`);
    assert.match(client.stdout, /"Tags":\s*\[\s*"v1"\s*\]/, `skopeo list-tags lists v1\n${transcript}`);
    assert.match(client.stdout, /^\[\s*"v1"\s*\]/m, `berth repository show-tags prints ["v1"]\n${transcript}`);
    assert.match(client.stdout, /^[0-9a-f]{64}$/m, `podman pull printed the image id\n${transcript}`);

    // The push really landed: the manifest is there, as the owner the walkthrough created.
    const password = /^BERTH_ADMIN_PASSWORD='([^']+)'/m.exec(blocks[0]!)![1]!;
    const auth = `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`;
    const manifest = await request('HEAD', `http://127.0.0.1:${port}/v2/demoreg/hello/manifests/v1`, {
      auth,
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(manifest.status, 200);

    // Everything it made is in ~/berth-demo; the checkout is as it was.
    assert.ok(readFileSync(path.join(home, 'berth-demo', 'hello.txt'), 'utf8').includes('hello from berth'));
    assert.ok(readFileSync(path.join(home, 'berth-demo', 'data', 'berth.db')).length > 0);
    assert.equal(git(['status', '--porcelain', '--untracked-files=all']).stdout, statusBefore, 'the walkthrough wrote into the checkout');
  });
});
