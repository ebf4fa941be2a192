// The shapes the scanner's parts agree on: what an image's inventory holds, and the part of an
// OSV record that decides whether an installed version is affected (https://ossf.github.io/osv-schema/).

/**
 * How an ecosystem orders versions. One comparator each (domain/scan/versions); OSV ecosystem
 * names map onto these with schemeOf().
 */
export type VersionScheme = 'deb' | 'apk' | 'rpm' | 'semver' | 'go' | 'pep440' | 'maven';

/** One package found installed in an image. */
export interface InstalledPackage {
  /** OSV ecosystem base name, without a release: Debian, Ubuntu, Alpine, Red Hat, npm, PyPI, Go, Maven. */
  ecosystem: string;
  /** The name as installed (a Debian binary package, an npm name, Maven `group:artifact`, a Go module path). */
  name: string;
  version: string;
  /**
   * The distro source package it was built from (Debian/Ubuntu `Source:`, apk origin, rpm source
   * RPM name). Distro advisories are keyed by source name and source version.
   */
  source?: { name: string; version: string };
  /** Package URL (https://github.com/package-url/purl-spec). */
  purl: string;
  /** Digest of the layer that installed this version. */
  layer: string;
  /** Path inside the image of the file it was read from (for a nested jar, `outer.jar!/inner.jar`). */
  path: string;
  licenses?: string[];
}

/** What /etc/os-release (or /usr/lib/os-release) says. */
export interface OsRelease {
  id: string;
  versionId?: string;
  versionCodename?: string;
  prettyName?: string;
}

export interface ImageInventory {
  os?: OsRelease;
  packages: InstalledPackage[];
}

/** An OSV range event: exactly one key is set. */
export type OsvEvent = { introduced: string } | { fixed: string } | { last_affected: string } | { limit: string };

export interface OsvRange {
  type: 'ECOSYSTEM' | 'SEMVER' | 'GIT';
  events: OsvEvent[];
}

/** One `affected[]` entry of an OSV record. */
export interface OsvAffected {
  package: { ecosystem: string; name: string; purl?: string };
  ranges?: OsvRange[];
  versions?: string[];
}
