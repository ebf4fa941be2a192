import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compareMaven } from './maven.js';

// From the version order rules in Maven's POM reference and ComparableVersion's documentation,
// plus versions seen on Maven Central. Where the two disagree we follow the Maven 3 code that
// resolves dependencies (see the last tests), as Trivy's and Grype's Maven comparators do.
const ASCENDING = [
  [
    '1-alpha',
    '1-alpha-1',
    '1-a2',
    '1-beta',
    '1-b2',
    '1-milestone',
    '1-m2',
    '1-rc',
    '1-cr2',
    '1-rc3',
    '1-snapshot',
    '1',
    '1-sp',
    '1-abc',
    '1-xyz',
    '1-1',
    '1.1',
  ],
  ['2.14.0-rc1', '2.14.0', '2.14.1', '2.15.0', '2.16.0', '2.17.0', '2.17.1'],
  ['1.0.0.beta1', '1.0.0.beta2', '1.0.0.rc1', '1.0.0'],
  ['5.3.9', '5.3.10', '5.3.18', '6.0.0-M1', '6.0.0-RC1', '6.0.0'],
  ['1', '1.0.1', '1.1', '1.1.1', '1.2', '2'],
  ['1-foo2', '1-foo10'],
  ['9.4.43.v20210629', '9.4.44.v20210927', '9.4.51.v20230217'],
  ['31.1-android', '31.1-jre', '32.0.0-android', '32.0.0-jre'],
];

const EQUAL = [
  ['1', '1.0', '1.0.0', '1-0', '1.ga', '1-ga', '1.final', '1-final', '1.release', '1-RELEASE', '1.'],
  ['1-a1', '1-alpha-1', '1-ALPHA1', '1alpha1'],
  ['1-cr1', '1-rc-1', '1-RC1'],
  ['1.0.0-foo.0.0', '1-foo'],
  ['1.0.0-0.0.0', '1'],
  ['2.0.01', '2.0.1'],
  ['1x', '1-x'],
];

describe('compareMaven', () => {
  for (const list of ASCENDING) {
    test(`ascending: ${list.join(' < ')}`, () => {
      for (let i = 0; i < list.length; i++) {
        for (let j = 0; j < list.length; j++) {
          assert.equal(compareMaven(list[i]!, list[j]!), Math.sign(i - j) || 0, `${list[i]} vs ${list[j]}`);
        }
      }
    });
  }

  for (const list of EQUAL) {
    test(`equal: ${list.join(' = ')}`, () => {
      for (const a of list) for (const b of list) assert.equal(compareMaven(a, b), 0, `${a} vs ${b}`);
    });
  }

  test('separators rank ".qualifier" < "-number" < ".number", and sub-lists trim at each hyphen', () => {
    assert.equal(compareMaven('1.foo', '1-1'), -1);
    assert.equal(compareMaven('1-1', '1.1'), -1);
    assert.equal(compareMaven('1-sp', '1-ga'), 1);
    assert.equal(compareMaven('1-sp.1', '1-ga.1'), 1);
    assert.equal(compareMaven('1-sp-1', '1-ga-1'), -1);
  });

  test('where the POM reference and Maven 3 differ, Maven 3 wins', () => {
    // The reference says 1-ga-1 = 1-1 and 1.foo = 1-foo; Maven 3's ComparableVersion trims `ga`
    // but keeps the nesting, and ranks a qualifier after a dot below a hyphen sub-list.
    assert.equal(compareMaven('1-ga-1', '1-1'), -1);
    assert.equal(compareMaven('1.foo', '1-foo'), -1);
    // Maven 3 trims the zeros before a hyphen's sub-list but not before a dotted qualifier (MNG-7644).
    assert.equal(compareMaven('1.0.0.RC1', '1.0.0-RC1'), 1);
  });

  test('numbers beyond 64 bits compare as numbers', () => {
    assert.equal(compareMaven('1.99999999999999999999', '1.100000000000000000000'), -1);
    assert.equal(compareMaven('1.0000000000000000000001', '1.1'), 0);
  });
});
