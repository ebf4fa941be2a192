import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CronError, nextRun, parseCron } from './cron.js';

const at = (s: string) => new Date(s);
const next = (expr: string, after: string) => nextRun(expr, at(after)).toISOString();

describe('cron', () => {
  test('every minute and fixed times', () => {
    assert.equal(next('* * * * *', '2026-01-01T10:00:30Z'), '2026-01-01T10:01:00.000Z');
    assert.equal(next('0 0 * * *', '2026-01-01T10:00:00Z'), '2026-01-02T00:00:00.000Z');
    assert.equal(next('30 2 * * *', '2026-01-01T02:29:59Z'), '2026-01-01T02:30:00.000Z');
    // strictly after: the same minute is not returned again
    assert.equal(next('30 2 * * *', '2026-01-01T02:30:00Z'), '2026-01-02T02:30:00.000Z');
  });

  test('lists, ranges and steps', () => {
    assert.equal(next('*/15 * * * *', '2026-01-01T10:07:00Z'), '2026-01-01T10:15:00.000Z');
    assert.equal(next('10-50/20 * * * *', '2026-01-01T10:31:00Z'), '2026-01-01T10:50:00.000Z');
    assert.equal(next('0 8,17 * * *', '2026-01-01T09:00:00Z'), '2026-01-01T17:00:00.000Z');
    assert.equal(next('5/30 * * * *', '2026-01-01T10:06:00Z'), '2026-01-01T10:35:00.000Z');
    assert.deepEqual([...parseCron('1-3 * * * *').minutes], [1, 2, 3]);
  });

  test('names, Sunday as 0 or 7, and the month boundary', () => {
    // 2026-01-01 is a Thursday
    assert.equal(next('0 9 * * mon', '2026-01-01T00:00:00Z'), '2026-01-05T09:00:00.000Z');
    assert.equal(next('0 9 * * 7', '2026-01-01T00:00:00Z'), '2026-01-04T09:00:00.000Z');
    assert.equal(next('0 9 * * 0', '2026-01-01T00:00:00Z'), '2026-01-04T09:00:00.000Z');
    assert.equal(next('0 0 1 feb *', '2026-01-15T00:00:00Z'), '2026-02-01T00:00:00.000Z');
    assert.equal(next('0 0 31 * *', '2026-02-01T00:00:00Z'), '2026-03-31T00:00:00.000Z');
    assert.equal(next('0 0 29 2 *', '2026-01-01T00:00:00Z'), '2028-02-29T00:00:00.000Z');
    assert.equal(next('59 23 31 12 *', '2026-12-31T23:59:00Z'), '2027-12-31T23:59:00.000Z');
  });

  test('day-of-month and day-of-week both restricted: either matches (Vixie cron)', () => {
    // the 15th, or any Monday: after Thu 2026-01-01 the first is Mon 5th
    assert.equal(next('0 0 15 * mon', '2026-01-01T00:00:00Z'), '2026-01-05T00:00:00.000Z');
    assert.equal(next('0 0 15 * mon', '2026-01-13T00:00:00Z'), '2026-01-15T00:00:00.000Z');
  });

  test('bad expressions are refused with a reason', () => {
    for (const bad of [
      '',
      '* * * *',
      '* * * * * *',
      '60 * * * *',
      '* 24 * * *',
      '* * 0 * *',
      '* * * 13 *',
      '* * * * 8',
      '*/0 * * * *',
      '5-1 * * * *',
      'a * * * *',
      '1,,2 * * * *',
    ]) {
      assert.throws(() => parseCron(bad), CronError, bad);
    }
    assert.throws(() => nextRun('0 0 30 2 *', at('2026-01-01T00:00:00Z')), /never matches/);
  });
});
