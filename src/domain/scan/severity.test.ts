import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { severityOf, severityOfScore, severityOfWord } from './severity.js';

describe('severityOf', () => {
  test('a CVSS v3 vector decides, by its computed base score (the highest when several)', () => {
    assert.deepEqual(severityOf({ severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H' }] }), {
      severity: 'critical',
      score: 10,
      from: 'CVSS_V3',
    });
    const both = severityOf({
      severity: [
        { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N' },
        { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N' },
      ],
      database_specific: { severity: 'LOW' },
    });
    assert.deepEqual(both, { severity: 'high', score: 7.5, from: 'CVSS_V3' });
  });

  test('a CVSS v4 vector alone is not scored: the publisher word decides, else unknown', () => {
    const v4 = { type: 'CVSS_V4', score: 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N' };
    assert.deepEqual(severityOf({ severity: [v4], database_specific: { severity: 'MODERATE' } }), {
      severity: 'medium',
      from: 'database_specific',
    });
    assert.deepEqual(severityOf({ severity: [v4] }), { severity: 'unknown' });
  });

  test('GHSA, Red Hat, Debian and Ubuntu words', () => {
    assert.equal(severityOf({ database_specific: { severity: 'CRITICAL', cwe_ids: [] } }).severity, 'critical');
    assert.equal(severityOf({ affected: [{ ecosystem_specific: { severity: 'Important' } }] }).severity, 'high');
    assert.equal(severityOf({ affected: [{ database_specific: { urgency: 'low**' } }] }).severity, 'low');
    assert.equal(severityOf({ affected: [{ database_specific: { urgency: 'not yet assigned' } }] }).severity, 'unknown');
    assert.equal(severityOf({ severity: [{ type: 'Ubuntu', score: 'medium' }] }).severity, 'medium');
    assert.equal(severityOf({ severity: [{ type: 'Ubuntu', score: 'negligible' }] }).severity, 'low');
  });

  test('the matched affected entry: its own severity list, then its words before the record’s', () => {
    const record = {
      affected: [
        { severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N' }] },
        { severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }] },
        { ecosystem_specific: { severity: 'LOW' } },
      ],
      database_specific: { severity: 'HIGH' },
    };
    assert.equal(severityOf(record, 0).severity, 'medium');
    assert.equal(severityOf(record, 1).severity, 'critical');
    assert.equal(severityOf(record, 2).severity, 'low');
    // Without an index, every entry's vectors count and the highest wins.
    assert.equal(severityOf(record).severity, 'critical');
  });

  test('CVSS v2 is the last resort, with no critical', () => {
    assert.deepEqual(severityOf({ severity: [{ type: 'CVSS_V2', score: 'AV:N/AC:L/Au:N/C:C/I:C/A:C' }] }), {
      severity: 'high',
      score: 10,
      from: 'CVSS_V2',
    });
    assert.equal(severityOf({ severity: [{ type: 'CVSS_V2', score: 'AV:N/AC:M/Au:N/C:N/I:P/A:N' }] }).severity, 'medium');
  });

  test('nothing usable: unknown', () => {
    assert.deepEqual(severityOf({}), { severity: 'unknown' });
    assert.deepEqual(severityOf({ severity: [{ type: 'CVSS_V3', score: 'garbage' }], database_specific: { severity: 'whatever' } }), {
      severity: 'unknown',
    });
    assert.deepEqual(severityOf({ affected: [{ ecosystem_specific: { severity: 42 } }] }), { severity: 'unknown' });
  });
});

describe('severityOfScore / severityOfWord', () => {
  test('CVSS v3 rating bands', () => {
    assert.deepEqual([0, 0.1, 3.9, 4, 6.9, 7, 8.9, 9, 10].map(severityOfScore), [
      'none',
      'low',
      'low',
      'medium',
      'medium',
      'high',
      'high',
      'critical',
      'critical',
    ]);
  });
  test('words', () => {
    assert.equal(severityOfWord(' HIGH '), 'high');
    assert.equal(severityOfWord('unimportant'), 'low');
    assert.equal(severityOfWord('untriaged'), undefined);
  });
});
