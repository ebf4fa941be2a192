import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { KyselyTasks } from '../../src/meta/tasks.js';
import { externalDigest, splitReference } from '../../src/services/tasks/external-base.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { adminAuthHeader } from '../helpers/credentials.js';
import { PEER_GATE, seed, startDistribution, type Distribution } from '../helpers/distribution.js';
import { makeImage } from '../helpers/fake-upstream.js';
import { V2 } from '../helpers/oci.js';

// Base images outside this deployment (here a real CNCF Distribution): a task whose last build
// used one runs again when the tag there moves, found by the periodic check; an unchanged tag, a
// disabled trigger or an unreachable registry runs nothing.

describe('base images outside this deployment', PEER_GATE, () => {
  let t: TestApp;
  let dist: Distribution;
  let reg = '';
  let store: KyselyTasks;
  const opts = {
    allowPrivate: true,
    insecureRegistries: [],
    connectTimeoutMs: 5000,
    idleTimeoutMs: 10_000,
    maxRedirects: 3,
    manifestMaxBytes: 4 << 20,
  };

  before(async () => {
    t = await startTestApp('sqlite', { egress: { allowPrivate: true } });
    reg = await t.createRegistry();
    dist = await startDistribution();
    store = new KyselyTasks(t.app.meta.db);
  });
  after(async () => {
    await dist?.stop();
    await t?.close();
  });

  test('references read as docker reads them', () => {
    assert.deepEqual(splitReference('alpine'), { host: 'registry-1.docker.io', repository: 'library/alpine', tag: 'latest' });
    assert.deepEqual(splitReference('docker.io/org/app:1.2'), { host: 'registry-1.docker.io', repository: 'org/app', tag: '1.2' });
    assert.deepEqual(splitReference('localhost:5000/a/b:c@sha256:00'), { host: 'localhost:5000', repository: 'a/b', tag: 'c' });
  });

  test('a moved tag at another registry runs the task once, with the new digest', async () => {
    const v2 = new V2(dist.url, { authorization: null });
    await seed(v2, 'base/os', '1', makeImage([64], 'one'));
    const image = `${dist.host}/base/os:1`;
    const first = await externalDigest(image, undefined, opts);
    const res = await t.fetch(`/api/registries/${reg}/tasks`, {
      method: 'POST',
      headers: { authorization: adminAuthHeader(), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'on-external', contextPath: 'https://git.example.com/app.git', imageNames: ['app:{{.Run.ID}}'] }),
    });
    assert.equal(res.status, 201);
    const task = (await store.getTask((await t.app.meta.getRegistry(reg))!.id, 'on-external'))!;
    // What a successful build records (the builds themselves are tasks-e2e.test.ts's).
    await store.setBaseImages(task.id, [
      { image, registry_id: null, repository: 'base/os', tag: '1', digest: first, runtime: 1, checked_at: '2000-01-01T00:00:00.000Z' },
    ]);
    const check = () => t.app.services.tasks.pollExternalBases((img, creds) => externalDigest(img, creds, opts), 0);

    assert.equal(await check(), 0, 'an unchanged tag runs nothing');
    await seed(v2, 'base/os', '1', makeImage([64], 'two'));
    const second = await externalDigest(image, undefined, opts);
    assert.notEqual(second, first);
    assert.equal(await check(), 1);
    assert.equal(await check(), 0, 'the new digest is recorded: the next check runs nothing');
    const runs = (await (
      await t.fetch(`/api/registries/${reg}/runs?task=on-external`, { headers: { authorization: adminAuthHeader() } })
    ).json()) as {
      value: { trigger: string; imageUpdateTrigger: { images: { digest: string }[] } }[];
    };
    assert.equal(runs.value.length, 1);
    assert.equal(runs.value[0]!.trigger, 'BaseImageUpdate');
    assert.equal(runs.value[0]!.imageUpdateTrigger.images[0]!.digest, second);
  });
});
