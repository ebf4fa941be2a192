import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { lookupName, OsvRecordError, parseOsvRecord } from './osv-record.js';

describe('parseOsvRecord', () => {
  test('keeps what matching and reports need, times normalized to ISO-8601 UTC', () => {
    const r = parseOsvRecord({
      id: 'PYSEC-2021-108',
      modified: '2021-06-15T12:30:00.123456+02:00',
      published: '2021-06-01T00:00:00Z',
      details: 'The first line.\nThe rest.',
      aliases: ['CVE-2021-33503'],
      affected: [
        {
          package: { ecosystem: 'PyPI', name: 'urllib3', purl: 'pkg:pypi/urllib3' },
          ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '1.25.4' }, { fixed: '1.26.5' }] }],
          versions: ['1.25.4', '1.26.4'],
        },
        { ranges: [{ type: 'GIT', repo: 'https://github.com/urllib3/urllib3', events: [{ introduced: '0' }] }] },
      ],
      unknown_field: 'ignored',
    });
    assert.equal(r.modified, '2021-06-15T10:30:00.123Z');
    assert.equal(r.published, '2021-06-01T00:00:00.000Z');
    assert.equal(r.summary, 'The first line.');
    assert.deepEqual(r.severity, []);
    assert.equal(r.affected.length, 1, 'the package-less GIT entry cannot be looked up');
    assert.deepEqual(r.affected[0]!.versions, ['1.25.4', '1.26.4']);
  });

  test('a bad record names itself and the field at fault', () => {
    const bad = (v: unknown, message: string) =>
      assert.throws(
        () => parseOsvRecord(v),
        (e: unknown) => e instanceof OsvRecordError && e.message === message,
      );
    bad([], 'not a JSON object');
    bad({ id: 'X-1' }, 'X-1: modified is missing');
    bad({ id: 'X-1', modified: '2024-01-01' }, 'X-1: modified must be an RFC 3339 time such as 2024-05-01T12:00:00Z');
    bad({ id: 'X 1', modified: '2024-01-01T00:00:00Z' }, 'X 1: id must be printable ASCII without spaces');
    bad({ id: 'X-1', modified: '2024-01-01T00:00:00Z', aliases: 'CVE-1' }, 'X-1: aliases must be an array');
    bad(
      {
        id: 'X-1',
        modified: '2024-01-01T00:00:00Z',
        affected: [{ package: { ecosystem: 'npm', name: 'a' }, ranges: [{ type: 'SVN', events: [{ introduced: '0' }] }] }],
      },
      'X-1: affected[0].ranges[0].type must be one of ECOSYSTEM, SEMVER, GIT',
    );
    bad(
      {
        id: 'X-1',
        modified: '2024-01-01T00:00:00Z',
        affected: [{ package: { ecosystem: 'npm', name: 'a' }, ranges: [{ type: 'SEMVER', events: [{ fixed: 1 }] }] }],
      },
      'X-1: affected[0].ranges[0].events[0] fixed must be a version string',
    );
  });
});

test('lookupName: PEP 503 for PyPI, exact elsewhere', () => {
  assert.equal(lookupName('PyPI', 'Django_REST..framework'), 'django-rest-framework');
  assert.equal(lookupName('npm', 'Lodash_x'), 'Lodash_x');
  assert.equal(lookupName('Debian:12', 'libc6'), 'libc6');
});
