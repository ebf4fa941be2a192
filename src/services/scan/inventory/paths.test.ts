import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PathTrie } from './merged-view.js';
import { normalizePath, whiteoutOf } from './paths.js';

test('paths are relative to the root and .. never climbs above it', () => {
  assert.equal(normalizePath('./etc/os-release'), 'etc/os-release');
  assert.equal(normalizePath('/etc//apk/./db/'), 'etc/apk/db');
  assert.equal(normalizePath('../../../etc/passwd'), 'etc/passwd');
  assert.equal(normalizePath('a/b/../../../c'), 'c');
  assert.equal(normalizePath('./'), '');
  assert.equal(normalizePath('..'), '');
});

test('whiteouts: .wh.<name> deletes, .wh..wh..opq is opaque, a bare .wh. is an ordinary file', () => {
  assert.deepEqual(whiteoutOf('etc/.wh.passwd'), { kind: 'delete', target: 'etc/passwd' });
  assert.deepEqual(whiteoutOf('.wh.app'), { kind: 'delete', target: 'app' });
  assert.deepEqual(whiteoutOf('usr/lib/.wh..wh..opq'), { kind: 'opaque', dir: 'usr/lib' });
  assert.equal(whiteoutOf('etc/.wh.'), undefined, 'anchore/stereoscope#647');
  assert.equal(whiteoutOf('etc/.wh..wh.plnk'), 'ignore');
  assert.equal(whiteoutOf('etc/.wh..'), 'ignore');
  assert.equal(whiteoutOf('etc/passwd'), undefined);
});

test('the trie removes subtrees and counts what it holds', () => {
  const t = new PathTrie<number>();
  t.set('a/b/c', 1);
  t.set('a/b/d', 2);
  t.set('a/e', 3);
  t.set('ab', 4);
  const removed: number[] = [];
  t.removeSubtree('a/b', true, (v) => removed.push(v));
  assert.deepEqual(removed.sort(), [1, 2]);
  assert.equal(t.size, 2);
  t.set('a/e/f', 5);
  t.removeSubtree('a', false, (v) => removed.push(v));
  assert.deepEqual(
    [...t.entries()].map(([p]) => p),
    ['ab'],
  );
  t.set('x', 6);
  t.removeValue('x', () => {});
  assert.equal(t.get('x'), undefined);
  assert.equal(t.size, 1);
});
