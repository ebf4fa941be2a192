import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { compareRpm, parseRpm } from './rpm.js';
import { VersionError } from './version-error.js';

const rpm = spawnSync('rpm', ['--version']).status === 0;
const skip = !rpm && process.env.CI !== 'true' ? 'rpm is not installed (CI=true runs it)' : false;

/** A small seeded PRNG (mulberry32), so a failure can be replayed from the seed printed with it. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Pieces of real RPM versions: dist tags, module streams, ~ pre-releases, ^ snapshots, _ and +
// separators, letters glued to digits, leading zeros.
const PIECES = [
  '.',
  '.',
  '.',
  '~',
  '~rc',
  '^',
  '^git',
  '_',
  '+',
  '.el',
  '.el9_',
  '.fc',
  '.module+el8.',
  'a',
  'b',
  'Z',
  'p',
  '0',
  '00',
  '01',
];

function randomPart(r: () => number): string {
  let s = String(Math.floor(r() * 12));
  const n = Math.floor(r() * 5);
  for (let i = 0; i < n; i++) {
    s += PIECES[Math.floor(r() * PIECES.length)]!;
    if (r() < 0.6) s += String(Math.floor(r() * (r() < 0.2 ? 100000 : 10)));
  }
  return s;
}

function randomVersion(r: () => number): string {
  const epoch = r() < 0.15 ? `${Math.floor(r() * 3)}:` : '';
  const release = r() < 0.8 ? `-${randomPart(r)}` : '';
  return `${epoch}${randomPart(r)}${release}`;
}

function neighbour(r: () => number, v: string): string {
  const choice = Math.floor(r() * 5);
  if (choice === 0) return v;
  if (choice === 1) return `${v}${['~1', '^1', 'a', '.0', '_1'][Math.floor(r() * 5)]!}`;
  if (choice === 2) return v.replace(/\d+/, (d) => String(Number(d) + (r() < 0.5 ? 1 : 0)).padStart(d.length + (r() < 0.3 ? 1 : 0), '0'));
  if (choice === 3) return v.replace(/[~^.]/, () => ['~', '^', '.', '+'][Math.floor(r() * 4)]!);
  return randomVersion(r);
}

/** rpm's own vercmp for every pair, in one rpm process. */
function rpmCompare(pairs: [string, string][]): number[] {
  const list = pairs.map(([a, b]) => `{${JSON.stringify(a)},${JSON.stringify(b)}}`).join(',');
  // rpm's lua print() adds no newline between calls: collect and print once.
  const lua = `%{lua: local r = {} for _, p in ipairs({${list}}) do r[#r + 1] = rpm.vercmp(p[1], p[2]) end print(table.concat(r, ","))}`;
  const out = spawnSync('rpm', ['--eval', lua], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  return out.stdout.trim().split(',').map(Number);
}

describe('compareRpm', () => {
  test('rpm examples', () => {
    const ascending = ['1.0~rc1', '1.0', '1.0-1', '1.0-1.el9', '1.0-1.el9_2', '1.0-2', '1.0^20230101-1', '1.0a-1', '1.0.1-1', '1:0.9-1'];
    for (let i = 1; i < ascending.length; i++) {
      assert.equal(compareRpm(ascending[i - 1]!, ascending[i]!), -1, `${ascending[i - 1]} < ${ascending[i]}`);
      assert.equal(compareRpm(ascending[i]!, ascending[i - 1]!), 1, `${ascending[i]} > ${ascending[i - 1]}`);
    }
    assert.equal(compareRpm('0:1.0-1', '1.0-1'), 0);
    assert.equal(compareRpm('1.0_1', '1.0.1'), 0);
    assert.equal(compareRpm('1.010', '1.10'), 0);
    assert.equal(compareRpm('2.4.37-56.module+el8.8.0+1284+07ef499e', '2.4.37-56.module+el8.8.0+1284+07ef499e'), 0);
    assert.deepEqual(parseRpm('1:2.3-4.el9'), { epoch: '1', version: '2.3', release: '4.el9' });
    assert.throws(() => parseRpm(''), VersionError);
  });

  test('agrees with rpm.vercmp on random versions', { skip }, () => {
    const seed = Number(process.env.BERTH_TEST_SEED ?? Date.now() % 100000);
    const r = rng(seed);
    const pairs: [string, string][] = [];
    for (let i = 0; i < 2000; i++) {
      const a = randomVersion(r);
      pairs.push([a, neighbour(r, a)]);
    }
    const expected = rpmCompare(pairs);
    assert.equal(expected.length, pairs.length);
    const wrong = pairs.filter(([a, b], i) => compareRpm(a, b) !== expected[i]).map(([a, b], i) => `${a} vs ${b}: rpm ${expected[i]}`);
    assert.deepEqual(wrong, [], `seed ${seed}`);
  });
});
