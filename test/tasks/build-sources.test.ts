import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { adminAuthHeader } from '../helpers/credentials.js';

// Uploaded build contexts (berth build DIR) and run requests that cannot run: each is a 4xx with a
// message that says what to change, and nothing is queued or kept.

describe('build sources and run requests', () => {
  let t: TestApp;
  let reg = '';
  const call = (method: string, path: string, body?: string) =>
    t.fetch(path, { method, headers: { authorization: adminAuthHeader(), 'content-type': 'application/json' }, body });

  /** A PUT over a real socket that takes the answer as soon as it comes (the server answers 413 before reading the rest). */
  const put = (path: string, parts: Buffer[], length?: number) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      let answered = false;
      const req = http.request(`${t.url}${path}`, {
        method: 'PUT',
        agent: false,
        headers: {
          authorization: adminAuthHeader(),
          'content-type': 'application/gzip',
          ...(length !== undefined ? { 'content-length': length } : {}),
        },
      });
      req.on('response', (res) => {
        answered = true;
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      // The server may close while the body is still going out: that is fine once the answer came.
      req.on('error', (e) => setTimeout(() => (answered ? undefined : reject(e)), 200));
      void (async () => {
        for (const p of parts) if (!req.write(p)) await new Promise((r) => req.once('drain', r));
        req.end();
      })().catch(() => undefined);
    });

  before(async () => {
    t = await startTestApp('sqlite', { tasks: { maxContextBytes: 1024 * 1024 } });
    reg = await t.createRegistry();
  });
  after(async () => t?.close());

  test('a context over tasks.maxContextBytes is refused with 413, declared or not, and nothing is kept', async () => {
    const slot = (await (await call('POST', `/api/registries/${reg}/listBuildSourceUploadUrl`)).json()) as {
      uploadUrl: string;
      relativePath: string;
    };
    assert.match(slot.relativePath, /^source\/[0-9a-f-]{36}\.tar\.gz$/);
    const big = Buffer.alloc(1024 * 1024 + 1);
    const declared = await put(slot.uploadUrl, [big], big.length);
    assert.equal(declared.status, 413);
    assert.match(declared.text, /limit is 1048576 bytes \(tasks.maxContextBytes\)/);
    // Streamed without a length (chunked): cut off once it passes the limit.
    const streamed = await put(
      slot.uploadUrl,
      Array.from({ length: 20 }, () => Buffer.alloc(64 * 1024)),
    );
    assert.equal(streamed.status, 413);
    assert.match(streamed.text, /over the 1048576 byte limit/);
    const run = await call(
      'POST',
      `/api/registries/${reg}/scheduleRun`,
      JSON.stringify({ type: 'DockerBuildRequest', sourceLocation: slot.relativePath, imageNames: ['a:1'] }),
    );
    assert.equal(run.status, 400);
    assert.match(await run.text(), /uploaded context is gone/);
  });

  test('run requests that cannot run: each a 400 naming the fix, nothing queued', async () => {
    for (const [body, why] of [
      [{ type: 'DockerBuildRequest', sourceLocation: '/dev/null' }, /needs at least one image name/],
      [{ type: 'DockerBuildRequest', sourceLocation: 'file:///etc', imageNames: ['a:1'] }, /fetched over https or http/],
      [{ type: 'DockerBuildRequest', sourceLocation: 'https://user:pw@git.example.com/r.git', imageNames: ['a:1'] }, /--git-access-token/],
      [{ type: 'FileTaskRunRequest', sourceLocation: '/dev/null' }, /needs a task file/],
      [{ type: 'DockerBuildRequest', imageNames: ['a:1'], platform: 'windows/amd64' }, /--platform is linux/],
      [{ type: 'DockerBuildRequest', imageNames: ['a:1'], timeout: 5 }, /--timeout is a whole number of seconds from 300/],
      [{ type: 'TaskRunRequest', taskName: 'nope1' }, /task nope1 does not exist/],
      [{ type: 'Nope' }, /type.{0,4} is DockerBuildRequest/],
    ] as const) {
      const res = await call('POST', `/api/registries/${reg}/scheduleRun`, JSON.stringify(body));
      assert.ok(res.status === 400 || res.status === 404, `${JSON.stringify(body)}: ${res.status}`);
      assert.match(await res.text(), why);
    }
    const runs = (await (await call('GET', `/api/registries/${reg}/runs`)).json()) as { value: unknown[] };
    assert.equal(runs.value.length, 0);
  });

  test('a task lists its secret arguments by name; their values only with secure properties', async () => {
    const created = await call(
      'POST',
      `/api/registries/${reg}/tasks`,
      JSON.stringify({
        name: 'with-secrets',
        contextPath: 'https://git.example.com/app.git#main',
        imageNames: ['app:1'],
        arguments: [
          { name: 'PLAIN', value: 'visible' },
          { name: 'TOKEN', value: 'sealed-value-123', isSecret: true },
        ],
      }),
    );
    assert.equal(created.status, 201);
    assert.ok(!(await created.text()).includes('sealed-value-123'), 'the create answer holds no secret value');
    type Task = { step: { arguments: { name: string; value: string | null; isSecret: boolean }[] } };
    const shown = (await (await call('GET', `/api/registries/${reg}/tasks/with-secrets`)).json()) as Task;
    assert.deepEqual(shown.step.arguments, [
      { name: 'PLAIN', value: 'visible', isSecret: false },
      { name: 'TOKEN', value: null, isSecret: true },
    ]);
    const secure = (await (await call('GET', `/api/registries/${reg}/tasks/with-secrets?withSecureProperties=true`)).json()) as Task;
    assert.equal(secure.step.arguments.find((a) => a.name === 'TOKEN')?.value, 'sealed-value-123');
  });
});
