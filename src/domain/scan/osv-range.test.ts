import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { evaluateAffected, fixedVersions, isAffected } from './osv-range.js';
import type { OsvAffected, OsvEvent, OsvRange, VersionScheme } from './types.js';
import { VersionError } from './versions/index.js';

const pkg = { ecosystem: 'npm', name: 'x' };
const entry = (ranges: OsvRange[], versions?: string[]): OsvAffected => ({ package: pkg, ranges, ...(versions ? { versions } : {}) });
const semverRange = (...events: OsvEvent[]): OsvRange => ({ type: 'SEMVER', events });
const ecoRange = (...events: OsvEvent[]): OsvRange => ({ type: 'ECOSYSTEM', events });

function expect(scheme: VersionScheme, a: OsvAffected, table: Record<string, string | boolean>): void {
  for (const [v, want] of Object.entries(table)) {
    const r = evaluateAffected(scheme, v, a);
    assert.equal(r.affected, want !== false, `${v} affected`);
    if (typeof want === 'string') assert.equal(r.fixed, want, `${v} fixed by`);
    if (want === true) assert.equal(r.fixed, undefined, `${v} has no fix`);
  }
}

describe('evaluateAffected (OSV range semantics)', () => {
  test('introduced "0" then fixed: everything below the fix', () => {
    expect('semver', entry([semverRange({ introduced: '0' }, { fixed: '1.0.2' })]), {
      '0.0.0': '1.0.2',
      '1.0.1': '1.0.2',
      '1.0.2-rc.1': '1.0.2',
      '1.0.2': false,
      '2.0.0': false,
    });
  });

  test('introduced "0" alone: every version, even ones that sort below "0" in the scheme', () => {
    expect('deb', entry([ecoRange({ introduced: '0' })]), { '0~1': true, '1:2.0-1': true });
  });

  test('two intervals in one range, in order and shuffled', () => {
    const events: OsvEvent[] = [{ introduced: '1.0.0' }, { fixed: '1.0.2' }, { introduced: '3.0.0' }, { fixed: '3.2.5' }];
    const table = {
      '0.9.0': false,
      '1.0.0': '1.0.2',
      '1.0.1': '1.0.2',
      '1.0.2': false,
      '2.5.0': false,
      '3.0.0': '3.2.5',
      '3.2.4': '3.2.5',
      '3.2.5': false,
      '4.0.0': false,
    };
    expect('semver', entry([semverRange(...events)]), table);
    expect('semver', entry([semverRange(events[3]!, events[0]!, events[2]!, events[1]!)]), table);
  });

  test('last_affected includes that version and nothing above it', () => {
    expect('semver', entry([ecoRange({ introduced: '0' }, { last_affected: '2.1.214' })]), {
      '2.1.213': true,
      '2.1.214': true,
      '2.1.215': false,
    });
  });

  test('limit bounds a range from above; "*" is infinity; several limits widen it', () => {
    expect('semver', entry([ecoRange({ introduced: '1.0.0' }, { limit: '2.0.0' })]), {
      '0.5.0': false,
      '1.5.0': true,
      '2.0.0': false,
      '2.5.0': false,
    });
    expect('semver', entry([ecoRange({ introduced: '1.0.0' }, { limit: '*' })]), { '9.0.0': true });
    expect('semver', entry([ecoRange({ introduced: '1.0.0' }, { limit: '1.5.0' }, { limit: '3.0.0' })]), { '2.5.0': true, '3.0.0': false });
  });

  test('a range re-opening where the previous one closed holds the shared version', () => {
    const a = entry([ecoRange({ introduced: '1.0.0' }, { fixed: '1.2.0' }, { introduced: '1.2.0' }, { fixed: '1.5.0' })]);
    expect('semver', a, { '1.1.0': '1.2.0', '1.2.0': '1.5.0', '1.5.0': false });
  });

  test('several ranges: any one is enough; GIT ranges are ignored', () => {
    const a = entry([
      { type: 'GIT', events: [{ introduced: '0' }, { fixed: 'a'.repeat(40) }] },
      semverRange({ introduced: '2.0.0' }, { fixed: '2.0.5' }),
      semverRange({ introduced: '3.0.0' }, { fixed: '3.0.1' }),
    ]);
    expect('semver', a, { '1.0.0': false, '2.0.1': '2.0.5', '3.0.0': '3.0.1', '3.0.1': false });
  });

  test('the versions list: exact, or equal in the scheme', () => {
    const a: OsvAffected = {
      package: pkg,
      ranges: [{ type: 'GIT', events: [{ introduced: 'b'.repeat(40) }] }],
      versions: ['1.0', '2.0-1'],
    };
    expect('deb', a, { '1.0': true, '1.0-0': true, '2.0-1': true, '2.0-2': false, '1.1': false });
    expect('semver', { package: pkg, versions: ['v1.2.3', 'not a version'] }, { 'v1.2.3': true, '1.2.3': true, '1.2.4': false });
  });

  test('Log4Shell (GHSA-jfh8-c2jp-5v3q) in Maven order', () => {
    const a = entry([
      ecoRange({ introduced: '2.0-beta9' }, { fixed: '2.3.1' }),
      ecoRange({ introduced: '2.4' }, { fixed: '2.12.2' }),
      ecoRange({ introduced: '2.13.0' }, { fixed: '2.15.0' }),
    ]);
    expect('maven', a, {
      '2.0-beta8': false,
      '2.0-rc1': '2.3.1',
      '2.0': '2.3.1',
      '2.3.1': false,
      '2.12.1': '2.12.2',
      '2.12.2': false,
      '2.14.1': '2.15.0',
      '2.15.0': false,
      '2.17.1': false,
    });
  });

  test('Debian: stable security updates and epochs', () => {
    const a = entry([ecoRange({ introduced: '0' }, { fixed: '2.36.1-8+deb11u2' })]);
    expect('deb', a, {
      '2.36.1-8': '2.36.1-8+deb11u2',
      '2.36.1-8+deb11u1': '2.36.1-8+deb11u2',
      '2.36.1-8+deb11u2': false,
      '1:2.0-1': false,
    });
  });

  test('Go: installed v-prefixed versions against SEMVER ranges without the v', () => {
    const a = entry([semverRange({ introduced: '0' }, { fixed: '0.17.0' })]);
    expect('go', a, { 'v0.16.0': '0.17.0', 'v0.0.0-20220101000000-abcdefabcdef': '0.17.0', 'v0.17.0': false });
  });

  test('an unorderable installed version throws; an unorderable range is skipped and counted', () => {
    assert.throws(() => evaluateAffected('semver', 'latest', entry([semverRange({ introduced: '0' })])), VersionError);
    const a = entry([semverRange({ introduced: '0' }, { fixed: 'garbage' }), semverRange({ introduced: '1.0.0' }, { fixed: '1.1.0' })]);
    assert.deepEqual(evaluateAffected('semver', '1.0.5', a), { affected: true, fixed: '1.1.0', unorderableRanges: 1 });
    assert.deepEqual(evaluateAffected('semver', '2.0.0', a), { affected: false, unorderableRanges: 1 });
  });

  test('no ranges and no versions: not affected', () => {
    assert.equal(isAffected('semver', '1.0.0', { package: pkg }), false);
  });
});

describe('fixedVersions', () => {
  test('every fixed event of SEMVER and ECOSYSTEM ranges, once, in record order', () => {
    const a = entry([
      ecoRange({ introduced: '0' }, { fixed: '2.3.1' }, { introduced: '2.4' }, { fixed: '2.12.2' }),
      { type: 'GIT', events: [{ introduced: '0' }, { fixed: 'c'.repeat(40) }] },
      semverRange({ introduced: '2.13.0' }, { fixed: '2.15.0' }, { last_affected: '9' }),
      ecoRange({ introduced: '0' }, { fixed: '2.3.1' }),
    ]);
    assert.deepEqual(fixedVersions(a), ['2.3.1', '2.12.2', '2.15.0']);
    assert.deepEqual(fixedVersions({ package: pkg }), []);
  });
});
