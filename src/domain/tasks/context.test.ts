import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contextText, parseContext } from './context.js';

test('git, tarball, OCI and empty contexts, as az acr writes them', () => {
  assert.deepEqual(parseContext('https://git.example.com/org/app.git#main:src/web'), {
    kind: 'git',
    url: 'https://git.example.com/org/app.git',
    ref: 'main',
    subdir: 'src/web',
  });
  assert.deepEqual(parseContext('https://git.example.com/org/app.git'), { kind: 'git', url: 'https://git.example.com/org/app.git' });
  assert.deepEqual(parseContext('http://127.0.0.1:9418/app.git#:docker'), {
    kind: 'git',
    url: 'http://127.0.0.1:9418/app.git',
    subdir: 'docker',
  });
  assert.deepEqual(parseContext('https://files.example.com/ctx.tar.gz'), { kind: 'tarball', url: 'https://files.example.com/ctx.tar.gz' });
  assert.deepEqual(parseContext('oci://reg.example.com/contexts/app:1'), { kind: 'oci', reference: 'reg.example.com/contexts/app:1' });
  assert.deepEqual(parseContext('/dev/null'), { kind: 'none' });
  assert.equal(contextText(parseContext('https://git.example.com/org/app.git#v1.2:src')), 'https://git.example.com/org/app.git#v1.2:src');
});

test('contexts that would reach what they should not are refused with the reason', () => {
  for (const [spec, msg] of [
    ['file:///etc', /https or http, not file/],
    ['ssh://git@host/repo.git', /https or http, not ssh/],
    ['https://user:pw@host/repo.git', /--git-access-token/],
    ['https://host/repo.git#main:../../etc', /may not leave the repository/],
    ['https://host/repo.git#--upload-pack=x', /not a branch, tag or commit/],
    ['https://host/ctx.tar.gz#main', /takes no #ref/],
    ['oci://nothing', /oci:\/\/REGISTRY\/REPOSITORY:TAG/],
    ['./local', /local folder to the CLI/],
  ] as const)
    assert.throws(() => parseContext(spec), msg, spec);
});
