// npm and Go versions: SemVer 2.0 precedence (build metadata ignored) via the semver package.
// Go spells versions `v1.2.3`, pseudo-versions `v0.0.0-20210101120000-abcdef123456` (ordinary
// pre-releases, so they order as Go orders them) and its own toolchain `go1.21rc2`.
import semver from 'semver';
import { VersionError } from './version-error.js';

function parse(scheme: 'semver' | 'go', version: string, text: string): semver.SemVer {
  const v = semver.parse(text);
  if (v === null) throw new VersionError(scheme, version, 'not a SemVer 2.0 version');
  return v;
}

export function compareSemver(a: string, b: string): number {
  return parse('semver', a, a.trim()).compare(parse('semver', b, b.trim()));
}

/** `v1.2.3` and `1.2.3` alike; Go toolchain spellings (`go1.21`, `go1.21.3`, `go1.22rc1`) too. */
export function goToSemver(version: string): string {
  const toolchain = /^(?:go)?(\d+)\.(\d+)(?:\.(\d+))?(?:(alpha|beta|rc)(\d+))?$/.exec(version.trim());
  if (version.trim().startsWith('go') && toolchain) {
    const [, major, minor, patch, pre, n] = toolchain;
    return `${major}.${minor}.${patch ?? '0'}${pre ? `-${pre}.${n}` : ''}`;
  }
  return version.trim().replace(/^v/, '');
}

export function compareGo(a: string, b: string): number {
  return parse('go', a, goToSemver(a)).compare(parse('go', b, goToSemver(b)));
}
