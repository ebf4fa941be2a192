import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseBuildArgs } from '../../src/domain/tasks/argv.js';
import { BuildStepError, buildImage, pushImage, type BuildahEnv } from '../../src/services/tasks/buildah.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { removeDir, tempDir, writeAuthFile } from '../helpers/berth-process.js';
import { requireTool } from '../e2e/helpers.js';

// The build engine of task runs against a real Berth: buildah builds a Dockerfile with a RUN step
// (FROM scratch with busybox-static, nothing downloaded) in a storage of the run's own, and pushes
// it; a failing RUN, a timeout and secret masking in the build log.

const tools = requireTool('buildah', 'busybox');
const BUSYBOX = '/bin/busybox';

describe('task builds with buildah', tools, () => {
  let t: TestApp;
  let reg = '';
  const work = tempDir('task-build');

  before(async () => {
    t = await startTestApp('sqlite');
    reg = await t.createRegistry(`taskbuild${process.pid}`);
  });
  after(async () => {
    await t?.close();
    removeDir(work);
  });

  function workspace(name: string, dockerfile: string, onLine: (l: string) => void, extra: Partial<BuildahEnv> = {}) {
    const ws = path.join(work, name);
    const ctx = path.join(ws, 'context');
    mkdirSync(path.join(ws, 'tmp'), { recursive: true });
    mkdirSync(ctx, { recursive: true });
    copyFileSync(BUSYBOX, path.join(ctx, 'busybox'));
    writeFileSync(path.join(ctx, 'Dockerfile'), dockerfile);
    const authFile = path.join(ws, 'auth.json');
    writeAuthFile(authFile, t.host);
    const env: BuildahEnv = { workspace: ws, authFile, insecureRegistries: [t.host], timeoutMs: 120_000, secrets: [], onLine, ...extra };
    return { env, ctx };
  }

  test('a Dockerfile with a RUN step builds and pushes; the pushed digest is what the registry serves', async () => {
    const lines: string[] = [];
    const { env, ctx } = workspace(
      'ok',
      'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "echo built-by-task > /hello.txt"]\nCMD ["/bin/busybox", "cat", "/hello.txt"]\n',
      (l) => lines.push(l),
    );
    const dest = `${t.host}/${reg}/tasks/app:1`;
    const id = await buildImage(env, ctx, parseBuildArgs(`-t ${dest} .`));
    assert.match(id, /^sha256:[a-f0-9]{64}$/);
    const digest = await pushImage(env, dest, dest);
    assert.match(digest, /^sha256:[a-f0-9]{64}$/);
    const res = await t.v2().fetch(`${reg}/tasks/app/manifests/1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.ok(
      lines.some((l) => /STEP 3\/4: RUN/.test(l)),
      lines.join('\n'),
    );
  });

  test('a failing RUN is a clear build failure; a build arg marked secret never shows in the log', async () => {
    const lines: string[] = [];
    const { env, ctx } = workspace(
      'fail',
      'FROM scratch\nCOPY busybox /bin/busybox\nARG TOKEN\nRUN ["/bin/busybox", "sh", "-c", "echo using $TOKEN; exit 7"]\n',
      (l) => lines.push(l),
      { secrets: ['hunter2-build-secret'] },
    );
    await assert.rejects(
      buildImage(env, ctx, parseBuildArgs('--secret-build-arg TOKEN=hunter2-build-secret -t x/y:z .')),
      (e: unknown) => e instanceof BuildStepError && /the build failed \(exit code \d+\)/.test(e.message),
    );
    assert.ok(!lines.join('\n').includes('hunter2-build-secret'), 'masked');
    assert.ok(
      lines.some((l) => l.includes('using ***')),
      lines.join('\n'),
    );
  });

  test('a build that runs too long is stopped at its timeout', async () => {
    const { env, ctx } = workspace('slow', 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sleep", "300"]\n', () => {}, {
      timeoutMs: 4_000,
    });
    const started = Date.now();
    await assert.rejects(buildImage(env, ctx, parseBuildArgs('-t x/slow:1 .')), /timed out after 4 s/);
    assert.ok(Date.now() - started < 20_000);
  });
});
