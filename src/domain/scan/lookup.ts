// Which OSV (ecosystem, name, version) to look an installed package up by. Distro advisories are
// filed per release (`Debian:12`, `Ubuntu:22.04:LTS`, `Alpine:v3.18`) and by SOURCE package, so a
// binary package is looked up by its source name and compared by its source version, never its
// own version (a binary can carry a version of its own: grype#376 matched perl-Pod-Escapes 1.04 as
// perl 1.04). Language packages are looked up by name in their ecosystem, with no release.
import type { InstalledPackage, OsRelease, VersionScheme } from './types.js';
import { ecosystemBase, schemeOf } from './versions/index.js';

export interface LookupKey {
  /** An exact OSV ecosystem string, release included. */
  ecosystem: string;
  name: string;
  /** The version to compare with the advisory's ranges. */
  version: string;
  scheme: VersionScheme;
}

/** Names as OSV records spell them: PyPI names PEP 503-normalised, others unchanged. */
export function normalizePackageName(ecosystem: string, name: string): string {
  if (ecosystemBase(ecosystem) === 'PyPI') return name.toLowerCase().replace(/[-_.]+/g, '-');
  return name;
}

// Debian releases by codename, for images whose os-release has no VERSION_ID (testing, sid).
const DEBIAN_CODENAMES: Record<string, string> = { buster: '10', bullseye: '11', bookworm: '12', trixie: '13', forky: '14', duke: '15' };

const major = (v: string | undefined): string | undefined => /^(\d+)/.exec(v ?? '')?.[1];

/** The OSV ecosystems (with release) that hold advisories for this OS's own packages. */
export function osEcosystems(os: OsRelease | undefined): string[] {
  if (!os) return [];
  const id = os.id.toLowerCase();
  const v = os.versionId;
  switch (id) {
    case 'debian': {
      const release = major(v) ?? DEBIAN_CODENAMES[os.versionCodename ?? ''] ?? os.versionCodename;
      return release ? [`Debian:${release}`] : [];
    }
    case 'ubuntu': {
      const m = /^(\d+)\.(\d+)/.exec(v ?? '');
      if (!m) return [];
      // LTS releases are the April ones of even years.
      const lts = Number(m[1]) % 2 === 0 && m[2] === '04';
      return [`Ubuntu:${m[1]}.${m[2]}${lts ? ':LTS' : ''}`];
    }
    case 'alpine': {
      const m = /^(\d+)\.(\d+)/.exec(v ?? '');
      return m ? [`Alpine:v${m[1]}.${m[2]}`] : [];
    }
    case 'rhel': {
      // Red Hat files advisories per product stream (a CPE tail); a RHEL image installs from
      // BaseOS and AppStream (RHEL 7: the Server variant).
      const m = major(v);
      if (!m) return [];
      if (m === '7') return ['Red Hat:enterprise_linux:7::server'];
      return [`Red Hat:enterprise_linux:${m}::baseos`, `Red Hat:enterprise_linux:${m}::appstream`];
    }
    case 'almalinux':
      return major(v) ? [`AlmaLinux:${major(v)}`] : [];
    case 'rocky':
      return major(v) ? [`Rocky Linux:${major(v)}`] : [];
    case 'sles':
    case 'sles_sap':
    case 'sled': {
      // The release is the marketing name (PRETTY_NAME without "SUSE "); service packs out of
      // general support have their advisories under the "-LTSS" name.
      const product = os.prettyName?.replace(/^SUSE\s+/, '');
      return product ? [`SUSE:${product}`, `SUSE:${product}-LTSS`] : [];
    }
    case 'opensuse-leap':
      return v ? [`openSUSE:Leap ${v}`] : [];
    case 'opensuse-tumbleweed':
      return ['openSUSE:Tumbleweed'];
    case 'mageia':
      return v ? [`Mageia:${v}`] : [];
    case 'photon':
      return v ? [`Photon OS:${v}`] : [];
    case 'azurelinux':
      return v ? [`Azure Linux:${v}`] : [];
    case 'openeuler': {
      // PRETTY_NAME "openEuler 22.03 (LTS-SP1)" → openEuler:22.03-LTS-SP1
      const m = /(\d+\.\d+)\s*\(([^)]+)\)/.exec(os.prettyName ?? '');
      return m ? [`openEuler:${m[1]}-${m[2]!.replace(/\s+/g, '-')}`] : [];
    }
    case 'wolfi':
      return ['Wolfi'];
    case 'chainguard':
      return ['Chainguard'];
    default:
      return [];
  }
}

// Distro ecosystems whose records name a binary or a source RPM; the others name source packages.
const BINARY_OR_SOURCE = new Set(['Red Hat', 'Photon OS']);
// Distro ecosystems that carry no release, usable when os-release is missing.
const RELEASELESS = new Set(['Wolfi', 'Chainguard']);

/** An rpm source version read from a .src.rpm file name has no epoch; the spec's epoch is the binary's. */
function withEpoch(sourceVersion: string, binaryVersion: string): string {
  const epoch = /^(\d+):/.exec(binaryVersion)?.[1];
  return epoch && !/^\d+:/.test(sourceVersion) ? `${epoch}:${sourceVersion}` : sourceVersion;
}

/**
 * The OSV lookups for one installed package: each an exact ecosystem string, the name to find,
 * and the version to compare. Empty when Berth has no version comparator for the ecosystem or the
 * distro release is unknown (no key rather than a wrong one). Several keys can match the same
 * advisory (Red Hat's streams, SUSE's LTSS name): deduplicate findings by advisory id.
 */
export function lookupKeysFor(pkg: InstalledPackage, os?: OsRelease): LookupKey[] {
  const base = ecosystemBase(pkg.ecosystem);
  const scheme = schemeOf(base);
  if (!scheme) return [];
  if (scheme !== 'deb' && scheme !== 'apk' && scheme !== 'rpm') {
    return [{ ecosystem: base, name: normalizePackageName(base, pkg.name), version: pkg.version, scheme }];
  }
  // The image's OS decides the ecosystem (a dpkg database in an Ubuntu image is Ubuntu's), as long
  // as it orders versions the way the package's own database does.
  let ecosystems = osEcosystems(os).filter((e) => schemeOf(e) === scheme);
  if (ecosystems.length === 0 && RELEASELESS.has(base)) ecosystems = [base];
  const source = pkg.source ?? { name: pkg.name, version: pkg.version };
  const sourceVersion = scheme === 'rpm' ? withEpoch(source.version, pkg.version) : source.version;
  const keys: LookupKey[] = [];
  for (const ecosystem of ecosystems) {
    if (BINARY_OR_SOURCE.has(ecosystemBase(ecosystem)) && source.name !== pkg.name) {
      keys.push({ ecosystem, name: pkg.name, version: pkg.version, scheme });
    }
    keys.push({ ecosystem, name: source.name, version: sourceVersion, scheme });
  }
  return keys;
}
