import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compareApk, isValidApk } from './apk.js';
import { VersionError } from './version-error.js';

// Written from apk-tools' version grammar (digit{.digit}...{letter}{_suffix{#}}...{~hash}{-r#})
// and versions Alpine really ships.
const ORDERED: [string, '<' | '=' | '>', string][] = [
  ['1.0', '<', '1.1'],
  ['1.9', '<', '1.10'],
  ['1.2', '<', '1.2.1'],
  ['1.2.1', '<', '1.3'],
  ['1.0', '<', '1.0a'],
  ['1.0a', '<', '1.0b'],
  ['1.0z', '<', '1.0.1'],
  ['1.0', '=', '1.0'],
  ['1.0-r0', '>', '1.0'],
  ['1.0-r1', '<', '1.0-r2'],
  ['1.0-r9', '<', '1.0-r10'],
  ['1.0-r10', '<', '1.0.1-r0'],
  // pre-release suffixes sort before the bare version, in alpha < beta < pre < rc order
  ['1.0_alpha', '<', '1.0_beta'],
  ['1.0_beta', '<', '1.0_pre'],
  ['1.0_pre', '<', '1.0_rc'],
  ['1.0_rc', '<', '1.0'],
  ['1.0_rc1', '<', '1.0_rc2'],
  ['1.0_rc', '<', '1.0_rc1'],
  ['1.6_rc1-r0', '<', '1.6-r0'],
  ['1.6_rc1-r0', '<', '1.6_rc1-r1'],
  ['1.6_rc1-r0', '>', '1.6_beta3-r5'],
  ['1.6_rc1-r0', '>', '1.5.9-r9'],
  // post-release suffixes sort after it, in cvs < svn < git < hg < p order
  ['1.0', '<', '1.0_cvs'],
  ['1.0_cvs', '<', '1.0_svn'],
  ['1.0_svn', '<', '1.0_git'],
  ['1.0_git', '<', '1.0_hg'],
  ['1.0_hg', '<', '1.0_p'],
  ['1.0_p1', '<', '1.0_p2'],
  ['1.0_p1', '<', '1.0.1'],
  ['2.4.7_git20230101-r0', '>', '2.4.7-r5'],
  ['2.4.7_git20230101-r0', '<', '2.4.8_rc1-r0'],
  ['1.0_alpha1_p2', '>', '1.0_alpha1'],
  ['1.0_alpha1_p2', '<', '1.0_alpha2'],
  // a component with a leading zero compares as a string
  ['1.01', '<', '1.1'],
  ['1.001', '<', '1.01'],
  ['1.010', '>', '1.01'],
  ['1.0.0', '>', '1.0'],
  // commit hashes come after suffixes and before the revision
  ['1.0~abc123-r0', '>', '1.0-r0'],
  ['1.0~abc-r0', '<', '1.0~abd-r0'],
  ['1.0_rc1~beef-r0', '<', '1.0-r0'],
  ['3.1.4-r5', '=', '3.1.4-r5'],
  ['3.1.4-r05', '=', '3.1.4-r5'],
];

describe('compareApk', () => {
  for (const [a, op, b] of ORDERED) {
    test(`${a} ${op} ${b}`, () => {
      const want = op === '<' ? -1 : op === '=' ? 0 : 1;
      assert.equal(compareApk(a, b), want);
      assert.equal(compareApk(b, a), -want || 0);
    });
  }

  test('validates the grammar', () => {
    for (const ok of ['1', '1.0', '1.0a', '1.0_rc1', '1.0_rc1_p2', '1.0~0abc', '1.0-r0', '20230101', '1.0_alpha_beta']) {
      assert.ok(isValidApk(ok), ok);
    }
    for (const bad of ['', 'a1', '1.', '1..2', '1.0bc', '1.0_foo', '1.0-r', '1.0-1', '1.0-r1a', '1.0_rc1.2', '1.0~', '1.0~xyz', '1.0 ']) {
      assert.ok(!isValidApk(bad), bad);
      assert.throws(() => compareApk(bad, '1.0'), VersionError, bad);
    }
  });
});
