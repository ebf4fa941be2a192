// One comparator per version scheme, and which scheme an OSV ecosystem uses.
import type { VersionScheme } from '../types.js';
import { compareApk } from './apk.js';
import { compareDeb } from './deb.js';
import { compareMaven } from './maven.js';
import { comparePep440 } from './pep440.js';
import { compareRpm } from './rpm.js';
import { compareGo, compareSemver } from './semver.js';
import { VersionError } from './version-error.js';

export { VersionError } from './version-error.js';

const COMPARATORS: Record<VersionScheme, (a: string, b: string) => number> = {
  deb: compareDeb,
  apk: compareApk,
  rpm: compareRpm,
  semver: compareSemver,
  go: compareGo,
  pep440: comparePep440,
  maven: compareMaven,
};

export const MAX_VERSION_LENGTH = 512;

/**
 * -1, 0 or 1 as `a` sorts before, with or after `b` under the scheme. Throws VersionError when
 * either cannot be ordered by that scheme (an empty string, `abc` as a Debian epoch, a non-SemVer
 * npm version, an apk version outside apk's grammar, anything over MAX_VERSION_LENGTH); rpm and
 * Maven accept any other string.
 */
export function compareVersions(scheme: VersionScheme, a: string, b: string): number {
  for (const v of [a, b]) {
    if (v === '') throw new VersionError(scheme, v, 'version string is empty');
    // Real versions are short; a huge one is garbage from a package database, and would cost
    // time (and, for Maven's nested lists, stack) to order.
    if (v.length > MAX_VERSION_LENGTH) throw new VersionError(scheme, `${v.slice(0, 40)}…`, `longer than ${MAX_VERSION_LENGTH} characters`);
  }
  return COMPARATORS[scheme](a, b);
}

/** Like compareVersions, but undefined instead of an exception for an unorderable version. */
export function tryCompareVersions(scheme: VersionScheme, a: string, b: string): number | undefined {
  try {
    return compareVersions(scheme, a, b);
  } catch (e) {
    if (e instanceof VersionError) return undefined;
    throw e;
  }
}

// OSV ecosystem names (https://ossf.github.io/osv-schema/#affectedpackage-field) before any
// `:release` suffix. Ecosystems whose ordering we do not implement are absent on purpose: their
// packages are left unmatched rather than compared with the wrong rules.
const ECOSYSTEM_SCHEMES: Record<string, VersionScheme> = {
  Debian: 'deb',
  Ubuntu: 'deb',
  Alpine: 'apk',
  Alpaquita: 'apk',
  'BellSoft Hardened Containers': 'apk',
  Chainguard: 'apk',
  Wolfi: 'apk',
  'Red Hat': 'rpm',
  AlmaLinux: 'rpm',
  'Rocky Linux': 'rpm',
  SUSE: 'rpm',
  openSUSE: 'rpm',
  Mageia: 'rpm',
  'Photon OS': 'rpm',
  openEuler: 'rpm',
  'Azure Linux': 'rpm',
  npm: 'semver',
  'crates.io': 'semver',
  Hex: 'semver',
  Go: 'go',
  PyPI: 'pep440',
  Maven: 'maven',
};

/** The base name of an OSV ecosystem: `Debian:12` → `Debian`, `Ubuntu:Pro:18.04:LTS` → `Ubuntu`. */
export function ecosystemBase(osvEcosystem: string): string {
  const colon = osvEcosystem.indexOf(':');
  return colon < 0 ? osvEcosystem : osvEcosystem.slice(0, colon);
}

/** The version scheme of an OSV ecosystem name (with or without its release suffix), if we implement it. */
export function schemeOf(osvEcosystem: string): VersionScheme | undefined {
  return Object.hasOwn(ECOSYSTEM_SCHEMES, ecosystemBase(osvEcosystem)) ? ECOSYSTEM_SCHEMES[ecosystemBase(osvEcosystem)] : undefined;
}
