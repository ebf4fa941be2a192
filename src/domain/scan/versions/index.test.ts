import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { VersionScheme } from '../types.js';
import { compareVersions, ecosystemBase, schemeOf, tryCompareVersions, VersionError } from './index.js';

function ascending(scheme: VersionScheme, list: string[]): void {
  for (let i = 0; i < list.length; i++) {
    for (let j = 0; j < list.length; j++) {
      assert.equal(compareVersions(scheme, list[i]!, list[j]!), Math.sign(i - j) || 0, `${scheme}: ${list[i]} vs ${list[j]}`);
    }
  }
}

describe('compareVersions', () => {
  test('semver (npm): SemVer 2.0 precedence, build metadata ignored', () => {
    ascending('semver', [
      '0.0.1',
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
      '1.0.1',
      '1.10.0',
      '4.17.15',
      '4.17.21',
    ]);
    assert.equal(compareVersions('semver', '1.0.0+build.1', '1.0.0+build.2'), 0);
    assert.equal(compareVersions('semver', 'v1.2.3', '1.2.3'), 0);
    for (const bad of ['1.2', '1.2.3.4', '01.2.3', 'latest', '1.2.3-'])
      assert.throws(() => compareVersions('semver', bad, '1.0.0'), VersionError, bad);
  });

  test('go: v prefix, pseudo-versions, +incompatible, toolchain versions', () => {
    ascending('go', [
      'v0.0.0-20190101000000-abcdefabcdef',
      'v0.0.0-20210101120000-abcdefabcdef',
      'v0.1.0',
      'v1.2.3',
      'v1.2.4-0.20191109021931-daa7c04131f5',
      'v1.2.4',
      'v2.0.0-rc.1',
      'v2.0.0+incompatible',
    ]);
    assert.equal(compareVersions('go', 'v1.2.3', '1.2.3'), 0);
    ascending('go', ['go1.19', 'go1.19.8', 'go1.20rc1', 'go1.20rc2', '1.20.0', 'go1.20.1', 'go1.21.0']);
    assert.throws(() => compareVersions('go', '(devel)', 'v1.0.0'), VersionError);
  });

  test('pep440: epochs, pre, post, dev and local releases, normalisation', () => {
    ascending('pep440', [
      '1.0.dev0',
      '1.0a1',
      '1.0a2.dev1',
      '1.0a2',
      '1.0b1',
      '1.0rc1',
      '1.0',
      '1.0+local.1',
      '1.0.post1',
      '1.1',
      '1.26.4',
      '1.26.18',
      '2.0',
      '1!0.1',
    ]);
    assert.equal(compareVersions('pep440', '1.0RC1', '1.0rc1'), 0);
    assert.equal(compareVersions('pep440', '1.0', '1.0.0'), 0);
    assert.equal(compareVersions('pep440', 'v1.0', '1.0'), 0);
    assert.throws(() => compareVersions('pep440', '1.0-foo-bar', '1.0'), VersionError);
  });

  test('dispatches to each distro comparator', () => {
    assert.equal(compareVersions('deb', '1:1.0-1', '2.0-1'), 1);
    assert.equal(compareVersions('rpm', '1.0-1.el9', '1.0-1.el9_2'), -1);
    assert.equal(compareVersions('apk', '1.6_rc1-r0', '1.6-r0'), -1);
    assert.equal(compareVersions('maven', '2.14.1', '2.15.0'), -1);
  });

  test('an empty version is an error in every scheme; tryCompareVersions returns undefined instead', () => {
    for (const s of ['deb', 'apk', 'rpm', 'semver', 'go', 'pep440', 'maven'] as const) {
      assert.throws(
        () => compareVersions(s, '', '1'),
        (e: unknown) => e instanceof VersionError && e.scheme === s && e.version === '',
      );
      assert.equal(tryCompareVersions(s, '', '1'), undefined);
    }
    assert.equal(tryCompareVersions('deb', '1.0', '1.1'), -1);
  });

  test('a version too long to be real is an error, not a deep recursion', () => {
    const huge = Array.from({ length: 20000 }, () => '1').join('-');
    for (const s of ['deb', 'apk', 'rpm', 'semver', 'go', 'pep440', 'maven'] as const) {
      assert.throws(
        () => compareVersions(s, huge, '1'),
        (e: unknown) => e instanceof VersionError && /longer than 512/.test(e.message),
      );
    }
    const long = Array.from({ length: 256 }, () => '1').join('-');
    assert.equal(compareVersions('maven', long, long), 0);
  });
});

describe('schemeOf', () => {
  test('maps OSV ecosystems, with or without a release suffix', () => {
    const cases: [string, VersionScheme | undefined][] = [
      ['Debian', 'deb'],
      ['Debian:12', 'deb'],
      ['Ubuntu:22.04:LTS', 'deb'],
      ['Ubuntu:Pro:18.04:LTS', 'deb'],
      ['Alpine:v3.18', 'apk'],
      ['Wolfi', 'apk'],
      ['Chainguard', 'apk'],
      ['Red Hat:enterprise_linux:9::appstream', 'rpm'],
      ['AlmaLinux:9', 'rpm'],
      ['Rocky Linux:8', 'rpm'],
      ['SUSE:Linux Enterprise Server 15 SP5', 'rpm'],
      ['openSUSE:Leap 15.5', 'rpm'],
      ['Mageia:9', 'rpm'],
      ['Photon OS:5.0', 'rpm'],
      ['npm', 'semver'],
      ['crates.io', 'semver'],
      ['PyPI', 'pep440'],
      ['Go', 'go'],
      ['Maven', 'maven'],
      ['Maven:https://maven.google.com', 'maven'],
      ['RubyGems', undefined],
      ['NuGet', undefined],
      ['GIT', undefined],
      ['debian:12', undefined],
      ['constructor', undefined],
      ['', undefined],
    ];
    for (const [eco, want] of cases) assert.equal(schemeOf(eco), want, eco);
  });

  test('ecosystemBase strips the release', () => {
    assert.equal(ecosystemBase('Ubuntu:Pro:18.04:LTS'), 'Ubuntu');
    assert.equal(ecosystemBase('npm'), 'npm');
  });
});
