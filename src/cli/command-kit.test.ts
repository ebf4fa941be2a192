import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseImage } from './command-kit.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('parseImage', () => {
  test('repo:tag', () => {
    assert.deepEqual(parseImage('hello:v1'), { repository: 'hello', reference: 'v1' });
    assert.deepEqual(parseImage('team/app:1.2.3'), { repository: 'team/app', reference: '1.2.3' });
  });

  test('repo alone means :latest', () => {
    assert.deepEqual(parseImage('hello'), { repository: 'hello', reference: 'latest' });
    assert.deepEqual(parseImage('a/b/c'), { repository: 'a/b/c', reference: 'latest' });
  });

  test('repo@digest', () => {
    assert.deepEqual(parseImage(`hello@${DIGEST}`), { repository: 'hello', reference: DIGEST });
    assert.deepEqual(parseImage(`team/app@${DIGEST}`), { repository: 'team/app', reference: DIGEST });
  });

  test('a colon before the last slash is part of the repository, not a tag', () => {
    assert.deepEqual(parseImage('a:b/c'), { repository: 'a:b/c', reference: 'latest' });
  });

  test('repo:tag@digest takes the digest and drops the tag, as docker does', () => {
    assert.deepEqual(parseImage(`hello:v1@${DIGEST}`), { repository: 'hello', reference: DIGEST });
  });

  test('an empty tag ("repo:") is not a reference', () => {
    assert.throws(() => parseImage('hello:'));
  });
});
