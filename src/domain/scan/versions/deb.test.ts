import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { compareDeb, parseDeb } from './deb.js';
import { VersionError } from './version-error.js';

const dpkg = spawnSync('dpkg', ['--version']).status === 0;
const skip = !dpkg && process.env.CI !== 'true' ? 'dpkg is not installed (CI=true runs it)' : false;

/** A small seeded PRNG (mulberry32), so a failure can be replayed from the seed printed with it. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Pieces from the versions Debian really ships: epochs, ~ pre-releases, +bN binNMUs, ~bpo
// backports, +debNuM stable updates, dfsg repacks, letters glued to digits, leading zeros.
const PIECES = ['.', '.', '.', '~', '~rc', '~bpo11+', '+', '+b', '+deb12u', '+dfsg', 'a', 'b', 'z', 'A', 'Z', '.0', '0', '00', '01', '-'];

function randomPart(r: () => number, upstream: boolean): string {
  let s = upstream ? String(Math.floor(r() * 12)) : '';
  const n = Math.floor(r() * 5);
  for (let i = 0; i < n; i++) {
    const p = PIECES[Math.floor(r() * PIECES.length)]!;
    if (p === '-' && !upstream) continue;
    s += p;
    if (r() < 0.6) s += String(Math.floor(r() * (r() < 0.2 ? 1000 : 10)));
  }
  return s === '' || s.endsWith('-') ? `${s}0` : s;
}

function randomVersion(r: () => number): string {
  const epoch = r() < 0.15 ? `${Math.floor(r() * 3)}:` : '';
  const revision = r() < 0.7 ? `-${randomPart(r, false) || '1'}` : '';
  return `${epoch}${randomPart(r, true)}${revision}`;
}

/** Mutates a version a little, so pairs are close enough for the later parts to decide. */
function neighbour(r: () => number, v: string): string {
  const choice = Math.floor(r() * 5);
  if (choice === 0) return v;
  if (choice === 1) return `${v}${['~1', '+b1', 'a', '.0', '0'][Math.floor(r() * 5)]!}`;
  if (choice === 2) return v.replace(/\d+/, (d) => String(Number(d) + (r() < 0.5 ? 1 : 0)).padStart(d.length + (r() < 0.3 ? 1 : 0), '0'));
  if (choice === 3) return v.replace(/[~+.]/, () => ['~', '+', '.'][Math.floor(r() * 3)]!);
  return randomVersion(r);
}

/** dpkg's answer for many pairs in one shell, two dpkg calls per pair at most. */
function dpkgCompare(pairs: [string, string][]): number[] {
  const script =
    'while read a b; do if dpkg --compare-versions "$a" lt "$b"; then echo -1; ' +
    'elif dpkg --compare-versions "$a" eq "$b"; then echo 0; else echo 1; fi; done';
  const out = spawnSync('sh', ['-c', script], { input: pairs.map(([a, b]) => `${a} ${b}\n`).join(''), encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  return out.stdout.trim().split('\n').map(Number);
}

describe('compareDeb', () => {
  test('policy examples', () => {
    // Debian Policy 5.6.12's own ordering example, then epochs, revisions and backports.
    const ascending = ['1.0~~', '1.0~~a', '1.0~', '1.0', '1.0-1', '1.0a', '1.0+b1', '1.0.0', '1.1~rc1', '1.1', '1:0.1'];
    for (let i = 1; i < ascending.length; i++) {
      assert.equal(compareDeb(ascending[i - 1]!, ascending[i]!), -1, `${ascending[i - 1]} < ${ascending[i]}`);
      assert.equal(compareDeb(ascending[i]!, ascending[i - 1]!), 1, `${ascending[i]} > ${ascending[i - 1]}`);
    }
    assert.equal(compareDeb('1.0', '1.0-0'), 0);
    assert.equal(compareDeb('1:1.0', '2.0'), 1);
    assert.equal(compareDeb('0:1.0', '1.0'), 0);
    assert.equal(compareDeb('1.0~bpo11+1', '1.0'), -1);
    assert.equal(compareDeb('2.38.1-5+deb12u3', '2.38.1-5+deb12u10'), -1);
    assert.equal(compareDeb('1.47.0-2+b2', '1.47.0-2'), 1);
    assert.equal(compareDeb('1.001', '1.1'), 0);
    assert.equal(compareDeb('1.0-1', '1.0-1'), 0);
  });

  test('rejects what dpkg rejects', () => {
    for (const bad of ['', ' ', '1.0-', ':1.0', 'a:1.0', '1:', '1 0', '-1:1.0']) {
      assert.throws(() => parseDeb(bad), VersionError, JSON.stringify(bad));
    }
    // dpkg only warns about these and orders them anyway.
    assert.equal(compareDeb('abc', '1.0'), 1);
    assert.equal(compareDeb('1_0', '1'), 1);
  });

  test('agrees with dpkg --compare-versions on random versions', { skip }, () => {
    const seed = Number(process.env.BERTH_TEST_SEED ?? Date.now() % 100000);
    const r = rng(seed);
    const pairs: [string, string][] = [];
    for (let i = 0; i < 500; i++) {
      const a = randomVersion(r);
      pairs.push([a, neighbour(r, a)]);
    }
    const expected = dpkgCompare(pairs);
    const wrong = pairs.filter(([a, b], i) => compareDeb(a, b) !== expected[i]).map(([a, b]) => `${a} vs ${b}`);
    assert.deepEqual(wrong, [], `seed ${seed}`);
  });
});
