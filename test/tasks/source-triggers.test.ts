import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { branchHead } from '../../src/services/tasks/git-remote.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { adminAuthHeader } from '../helpers/credentials.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { requireTool } from '../e2e/helpers.js';

// Source triggers against a real git server (smart HTTP): a GitHub-, GitLab- or generic-shaped
// delivery to a task's webhook queues a run at the exact commit it names, once per delivery; a
// wrong signature, an unknown task, another branch or repository starts nothing; a task that
// polls its remote runs when the branch moves. (This server runs no tasks: runs stay Queued, and
// the builds themselves are test/tasks/tasks-e2e.test.ts's.)

interface Run {
  runId: string;
  status: string;
  trigger: string;
  sourceTrigger: { commitId: string; branchName: string; eventType: string; providerType: string } | null;
}

describe('task source triggers', requireTool('git'), () => {
  let t: TestApp;
  let git: GitServer;
  let reg = '';
  let secret = '';
  let hook = '';

  const api = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> => {
    const res = await t.fetch(path, {
      method,
      headers: { authorization: adminAuthHeader(), ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : undefined) as T };
  };
  const runs = async (task: string) => (await api<{ value: Run[] }>('GET', `/api/registries/${reg}/runs?task=${task}`)).json.value;
  const deliver = (body: object, headers: Record<string, string>, key = secret) => {
    const text = JSON.stringify(body);
    const sig = `sha256=${createHmac('sha256', key).update(text).digest('hex')}`;
    return t.fetch(hook, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': sig, ...headers },
      body: text,
    });
  };

  before(async () => {
    // The git server is on loopback, which contexts reach only with egress.allowPrivate.
    t = await startTestApp('sqlite', { egress: { allowPrivate: true } });
    reg = await t.createRegistry();
    git = await startGitServer();
    await git.createRepo('svc', { Dockerfile: 'FROM scratch\n' });
    const created = await api<{ sourceTriggerWebhook: { url: string } }>('POST', `/api/registries/${reg}/tasks`, {
      name: 'svc-build',
      contextPath: `${git.url('svc')}#main`,
      file: 'Dockerfile',
      imageNames: ['svc:{{.Run.ID}}'],
      commitTriggerEnabled: true,
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const shown = await api<{ sourceTriggerWebhook: { url: string; secret: string } }>(
      'GET',
      `/api/registries/${reg}/tasks/svc-build?withSecureProperties=true`,
    );
    secret = shown.json.sourceTriggerWebhook.secret;
    hook = new URL(shown.json.sourceTriggerWebhook.url).pathname;
    assert.equal(hook, `/hooks/tasks/${reg}/svc-build`);
    assert.ok(secret.length >= 24);
    const plain = await api<{ sourceTriggerWebhook: { secret: string | null } }>('GET', `/api/registries/${reg}/tasks/svc-build`);
    assert.equal(plain.json.sourceTriggerWebhook.secret, null, 'the secret is shown only with secure properties');
  });
  after(async () => {
    await git?.close();
    await t?.close();
  });

  test('a signed GitHub push queues one run at its commit; the same delivery again queues nothing', async () => {
    const { commit } = await git.push('svc', { 'app.txt': 'v2\n' }, 'second');
    const push = { ref: 'refs/heads/main', after: commit, repository: { clone_url: git.url('svc') } };
    const res = await deliver(push, { 'x-github-event': 'push', 'x-github-delivery': 'delivery-1' });
    assert.equal(res.status, 202, await res.clone().text());
    const { runId } = (await res.json()) as { runId: string };
    const run = (await runs('svc-build')).find((r) => r.runId === runId)!;
    assert.equal(run.trigger, 'SourceTrigger');
    assert.deepEqual(
      { commit: run.sourceTrigger?.commitId, branch: run.sourceTrigger?.branchName, provider: run.sourceTrigger?.providerType },
      { commit, branch: 'main', provider: 'github' },
    );
    const again = await deliver(push, { 'x-github-event': 'push', 'x-github-delivery': 'delivery-1' });
    assert.equal(again.status, 200);
    assert.match(await again.text(), /already received/);
    assert.equal((await runs('svc-build')).length, 1);
  });

  test('a wrong signature and an unknown task get the same 401; other branches, repositories and pings start nothing', async () => {
    const { commit } = await git.push('svc', { 'app.txt': 'v3\n' }, 'third');
    const push = { ref: 'refs/heads/main', after: commit, repository: { clone_url: git.url('svc') } };
    const bad = await deliver(push, { 'x-github-event': 'push', 'x-github-delivery': 'd-bad' }, 'not-the-secret');
    const unknown = await t.fetch(`/hooks/tasks/${reg}/no-such-task`, {
      method: 'POST',
      headers: { 'x-hub-signature-256': 'sha256=00' },
      body: '{}',
    });
    assert.equal(bad.status, 401);
    assert.equal(unknown.status, 401);
    assert.equal(await bad.text(), await unknown.text(), 'nothing tells a task that exists from one that does not');
    for (const [body, headers, why] of [
      [{ ...push, ref: 'refs/heads/dev' }, { 'x-github-event': 'push', 'x-github-delivery': 'd-dev' }, /not main/],
      [
        { ...push, repository: { clone_url: 'http://elsewhere.example/other.git' } },
        { 'x-github-event': 'push', 'x-github-delivery': 'd-other' },
        /another repository/,
      ],
      [{ zen: 'hi' }, { 'x-github-event': 'ping', 'x-github-delivery': 'd-ping' }, /a ping/],
      [
        { action: 'opened', pull_request: { head: { sha: commit, ref: 'feature' } }, repository: { clone_url: git.url('svc') } },
        { 'x-github-event': 'pull_request', 'x-github-delivery': 'd-pr' },
        /pull-request triggers are off/,
      ],
    ] as const) {
      const res = await deliver(body, headers);
      assert.equal(res.status, 202);
      assert.match(await res.text(), why);
    }
    assert.equal((await runs('svc-build')).length, 1, 'no run was queued');
    const wrongMethod = await t.fetch(hook);
    assert.equal(wrongMethod.status, 405);
  });

  test('GitLab sends the token itself; a generic delivery is signed like GitHub', async () => {
    const { commit } = await git.push('svc', { 'app.txt': 'v4\n' }, 'fourth');
    const gl = await t.fetch(hook, {
      method: 'POST',
      headers: {
        'x-gitlab-event': 'Push Hook',
        'x-gitlab-token': secret,
        'x-gitlab-event-uuid': 'gl-1',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ ref: 'refs/heads/main', checkout_sha: commit, project: { git_http_url: git.url('svc') } }),
    });
    assert.equal(gl.status, 202, await gl.clone().text());
    const generic = await deliver({ branch: 'main', commit, repository: git.url('svc') }, { 'x-berth-delivery': 'gen-1' });
    assert.equal(generic.status, 202);
    const mine = (await runs('svc-build')).filter((r) => r.sourceTrigger?.commitId === commit);
    assert.deepEqual(mine.map((r) => r.sourceTrigger?.providerType).sort(), ['generic', 'gitlab']);
  });

  test('a task that polls: the first look records the head, a new commit runs the task at it', async () => {
    await git.createRepo('polled', { Dockerfile: 'FROM scratch\n' });
    const created = await api('POST', `/api/registries/${reg}/tasks`, {
      name: 'polled-build',
      contextPath: `${git.url('polled')}#main`,
      imageNames: ['polled:{{.Run.ID}}'],
      commitTriggerEnabled: true,
      sourceTriggerPoll: true,
    });
    assert.equal(created.status, 201);
    const lsRemote = (url: string, branch: string, token?: string) => branchHead(url, branch, { token, allowPrivate: true });
    assert.equal(await t.app.services.tasks.pollSources(lsRemote), 0, 'the first look only records the head');
    assert.equal(await t.app.services.tasks.pollSources(lsRemote), 0, 'an unchanged head runs nothing');
    const { commit } = await git.push('polled', { 'x.txt': 'new\n' }, 'moved');
    assert.equal(await t.app.services.tasks.pollSources(lsRemote), 1);
    const polled = await runs('polled-build');
    assert.equal(polled.length, 1);
    assert.equal(polled[0]!.sourceTrigger?.commitId, commit);
    assert.equal(polled[0]!.sourceTrigger?.providerType, 'poll');
  });
});
