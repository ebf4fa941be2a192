// Whether an installed version falls in an OSV `affected[]` entry, per the schema's evaluation
// pseudocode (https://ossf.github.io/osv-schema/#evaluation): affected when listed in `versions`
// or inside any range; a range's events are sorted by version and walked, `introduced` ("0" is
// before everything) switching on, `fixed` (v >= fixed) and `last_affected` (v > last) switching
// off; `limit` events ("*" is infinity) bound the range from above. SEMVER ranges use SemVer
// order, ECOSYSTEM ranges the ecosystem's; GIT ranges need the repository and are ignored.
import type { OsvAffected, OsvEvent, OsvRange, VersionScheme } from './types.js';
import { compareVersions, tryCompareVersions, VersionError } from './versions/index.js';

export interface AffectedResult {
  affected: boolean;
  /** The `fixed` event that ends the range the version is in (the version to upgrade to), if any. */
  fixed?: string;
  /** Ranges skipped because one of their event versions could not be ordered by the scheme. */
  unorderableRanges: number;
}

type Kind = 'introduced' | 'fixed' | 'last_affected' | 'limit';

function eventOf(e: OsvEvent): { kind: Kind; version: string } | undefined {
  for (const kind of ['introduced', 'fixed', 'last_affected', 'limit'] as const) {
    const v = (e as Partial<Record<Kind, unknown>>)[kind];
    if (typeof v === 'string') return { kind, version: v };
  }
  return undefined;
}

/** The scheme a range's versions are ordered by. */
function rangeScheme(range: OsvRange, scheme: VersionScheme): VersionScheme | undefined {
  if (range.type === 'ECOSYSTEM') return scheme;
  // SEMVER ranges carry no `v`; the go comparator accepts both spellings.
  if (range.type === 'SEMVER') return scheme === 'go' ? 'go' : 'semver';
  return undefined;
}

/** The range's verdict, or the fix that ends the interval holding `v`. Throws VersionError. */
function inRange(scheme: VersionScheme, v: string, range: OsvRange): { affected: boolean; fixed?: string } {
  const cmp = (a: string, b: string): number => compareVersions(scheme, a, b);
  const events = range.events.map(eventOf).filter((e) => e !== undefined);
  const limits = events.filter((e) => e.kind === 'limit');
  if (limits.length > 0 && !limits.some((l) => l.version.includes('*') || cmp(v, l.version) < 0)) return { affected: false };
  const isZero = (e: { kind: Kind; version: string }): boolean => e.kind === 'introduced' && e.version === '0';
  const timeline = events
    .filter((e) => e.kind !== 'limit')
    // At equal versions an `introduced` goes last, so a range that re-opens where another closed
    // ([1.0, 1.2) then [1.2, 1.5)) holds 1.2 and above.
    .sort((a, b) => {
      if (isZero(a) || isZero(b)) return Number(isZero(b)) - Number(isZero(a));
      return cmp(a.version, b.version) || Number(a.kind === 'introduced') - Number(b.kind === 'introduced');
    });
  let affected = false;
  let fixed: string | undefined;
  for (const e of timeline) {
    if (e.kind === 'introduced') {
      if (isZero(e) || cmp(v, e.version) >= 0) {
        affected = true;
        fixed = undefined;
      }
    } else if (e.kind === 'fixed') {
      if (cmp(v, e.version) >= 0) affected = false;
      else if (affected && fixed === undefined) fixed = e.version;
    } else if (cmp(v, e.version) > 0) {
      affected = false;
    }
  }
  return affected ? { affected, fixed } : { affected };
}

/**
 * Evaluates one `affected[]` entry for an installed version. Throws VersionError when the
 * installed version itself is not valid in `scheme` (the caller cannot decide, and should say so);
 * a range whose own versions cannot be ordered is skipped and counted in `unorderableRanges`.
 */
export function evaluateAffected(scheme: VersionScheme, installed: string, affected: OsvAffected): AffectedResult {
  compareVersions(scheme, installed, installed);
  let unorderableRanges = 0;
  let found: { affected: boolean; fixed?: string } | undefined;
  for (const range of affected.ranges ?? []) {
    const rs = rangeScheme(range, scheme);
    if (rs === undefined) continue;
    try {
      const r = inRange(rs, installed, range);
      if (r.affected && (found === undefined || (found.fixed === undefined && r.fixed !== undefined))) found = r;
    } catch (e) {
      if (!(e instanceof VersionError)) throw e;
      unorderableRanges++;
    }
  }
  if (found) return { ...found, unorderableRanges };
  const listed = (affected.versions ?? []).some((v) => v === installed || tryCompareVersions(scheme, installed, v) === 0);
  return { affected: listed, unorderableRanges };
}

/** Whether the installed version is affected by this entry (see evaluateAffected). */
export function isAffected(scheme: VersionScheme, installed: string, affected: OsvAffected): boolean {
  return evaluateAffected(scheme, installed, affected).affected;
}

/** Every `fixed` version of the entry's SEMVER and ECOSYSTEM ranges, once each, in record order. */
export function fixedVersions(affected: OsvAffected): string[] {
  const out = new Set<string>();
  for (const range of affected.ranges ?? []) {
    if (range.type === 'GIT') continue;
    for (const e of range.events) {
      const ev = eventOf(e);
      if (ev?.kind === 'fixed') out.add(ev.version);
    }
  }
  return [...out];
}
