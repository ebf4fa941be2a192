import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { sameRepository, signatureValid, sourceEvent } from './source-events.js';

const SHA = 'a'.repeat(40);
const sign = (body: string, secret: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

test('signatures: a GitHub HMAC of the exact body, a GitLab token; anything else is refused', () => {
  const body = '{"ref":"refs/heads/main"}';
  assert.ok(signatureValid({ 'x-hub-signature-256': sign(body, 's3cret') }, Buffer.from(body), 's3cret'));
  assert.ok(!signatureValid({ 'x-hub-signature-256': sign(body, 'other') }, Buffer.from(body), 's3cret'));
  assert.ok(!signatureValid({ 'x-hub-signature-256': sign(body + ' ', 's3cret') }, Buffer.from(body), 's3cret'));
  assert.ok(!signatureValid({ 'x-hub-signature-256': 'sha256=zz' }, Buffer.from(body), 's3cret'));
  assert.ok(!signatureValid({}, Buffer.from(body), 's3cret'));
  assert.ok(signatureValid({ 'x-gitlab-token': 's3cret' }, Buffer.from(body), 's3cret'));
  assert.ok(!signatureValid({ 'x-gitlab-token': 's3cre' }, Buffer.from(body), 's3cret'));
  assert.ok(!signatureValid({ 'x-gitlab-token': '' }, Buffer.from(body), ''), 'no secret, no trigger');
});

test('GitHub and GitLab pushes and pull requests name the exact commit; other events are ignored with a reason', () => {
  const gh = sourceEvent(
    { 'x-github-event': 'push', 'x-github-delivery': 'd1' },
    { ref: 'refs/heads/main', after: SHA, repository: { clone_url: 'https://github.com/o/r.git', html_url: 'https://github.com/o/r' } },
  );
  assert.deepEqual(gh, {
    kind: 'commit',
    provider: 'github',
    deliveryId: 'd1',
    repositoryUrls: ['https://github.com/o/r.git', 'https://github.com/o/r'],
    branch: 'main',
    commit: SHA,
  });
  const pr = sourceEvent(
    { 'x-github-event': 'pull_request' },
    { action: 'synchronize', pull_request: { head: { sha: SHA, ref: 'feature' } }, repository: { clone_url: 'u' } },
  );
  assert.equal('kind' in pr && pr.kind, 'pullrequest');
  const gl = sourceEvent(
    { 'x-gitlab-event': 'Push Hook', 'x-gitlab-event-uuid': 'u1' },
    { ref: 'refs/heads/dev', checkout_sha: SHA, project: { git_http_url: 'https://gitlab.example.com/g/p.git' } },
  );
  assert.equal('commit' in gl && gl.commit, SHA);
  for (const [h, b, why] of [
    [{ 'x-github-event': 'ping' }, {}, /ping/],
    [{ 'x-github-event': 'push' }, { ref: 'refs/tags/v1', after: SHA }, /not a branch/],
    [{ 'x-github-event': 'push' }, { ref: 'refs/heads/x', after: '0'.repeat(40), deleted: true }, /deletion/],
    [{ 'x-github-event': 'pull_request' }, { action: 'closed' }, /pull request closed/],
    [{ 'x-gitlab-event': 'Push Hook' }, { ref: 'refs/heads/x', checkout_sha: '0'.repeat(40) }, /deletion/],
    [{ 'x-github-event': 'issues' }, {}, /GitHub event "issues"/],
    [{}, { branch: 'main', commit: 'short' }, /full "commit"/],
  ] as const) {
    const r = sourceEvent(h, b);
    assert.ok('ignored' in r && why.test(r.ignored), JSON.stringify(r));
  }
  assert.deepEqual(sourceEvent({}, { branch: 'main', commit: SHA, repository: 'http://127.0.0.1/app.git' }), {
    kind: 'commit',
    provider: 'generic',
    deliveryId: undefined,
    repositoryUrls: ['http://127.0.0.1/app.git'],
    branch: 'main',
    commit: SHA,
  });
});

test('repository URLs match with or without .git, case and trailing slash', () => {
  assert.ok(sameRepository('https://github.com/O/R.git', 'https://github.com/o/r/'));
  assert.ok(!sameRepository('https://github.com/o/r', 'https://github.com/o/other'));
});
