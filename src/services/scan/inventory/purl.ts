import type { OsRelease } from '../../../domain/scan/types.js';
import type { Found } from './analyzers/found.js';

// Package URLs (https://github.com/package-url/purl-spec), built here rather than with
// packageurl-js, whose 2.0.1 golang validator throws a ReferenceError on capitalised module paths
// (github.com/Azure/...), which are common.

function enc(s: string): string {
  return encodeURIComponent(s).replace(/%3A/gi, ':').replace(/%2B/gi, '+');
}

export function purl(
  type: string,
  namespace: string | undefined,
  name: string,
  version: string,
  qualifiers: Record<string, string | undefined> = {},
): string {
  const ns = namespace ? `${namespace.split('/').map(enc).join('/')}/` : '';
  const q = Object.entries(qualifiers)
    .filter((e): e is [string, string] => !!e[1])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${enc(v)}`)
    .join('&');
  return `pkg:${type}/${ns}${enc(name)}@${enc(version)}${q ? `?${q}` : ''}`;
}

/** `debian-12`, `alpine-3.19.1`, or the codename when there is no version (Debian testing). */
export function distroQualifier(os: OsRelease | undefined): string | undefined {
  if (!os) return undefined;
  const v = os.versionId ?? os.versionCodename;
  return v ? `${os.id}-${v}` : undefined;
}

const RPM_ECOSYSTEMS: Record<string, string> = {
  rhel: 'Red Hat',
  centos: 'Red Hat',
  rocky: 'Rocky Linux',
  almalinux: 'AlmaLinux',
  opensuse: 'openSUSE',
  'opensuse-leap': 'openSUSE',
  'opensuse-tumbleweed': 'openSUSE',
  sles: 'SUSE',
  mariner: 'Mariner',
  azurelinux: 'Azure Linux',
};

/** The OSV ecosystem base name of a package, given the image's OS for distro packages. */
export function ecosystemOf(f: Found, os: OsRelease | undefined): string {
  switch (f.kind) {
    case 'deb':
      return os?.id === 'ubuntu' ? 'Ubuntu' : 'Debian';
    case 'apk':
      return os?.id === 'wolfi' ? 'Wolfi' : os?.id === 'chainguard' ? 'Chainguard' : 'Alpine';
    case 'rpm':
      return (os && RPM_ECOSYSTEMS[os.id]) ?? 'Red Hat';
    case 'npm':
      return 'npm';
    case 'pypi':
      return 'PyPI';
    case 'golang':
      return 'Go';
    case 'maven':
      return 'Maven';
  }
}

export function purlOf(f: Found, os: OsRelease | undefined): string {
  const distro = distroQualifier(os);
  switch (f.kind) {
    case 'deb':
      return purl('deb', os?.id === 'ubuntu' ? 'ubuntu' : (os?.id ?? 'debian'), f.name, f.version, { arch: f.arch, distro });
    case 'apk':
      return purl('apk', os?.id ?? 'alpine', f.name, f.version, { arch: f.arch, distro });
    case 'rpm':
      return purl('rpm', os?.id ?? 'redhat', f.name, f.rpm ? `${f.rpm.version}-${f.rpm.release}` : f.version, {
        arch: f.arch,
        distro,
        epoch: f.rpm?.epoch ? String(f.rpm.epoch) : undefined,
      });
    case 'npm': {
      const slash = f.name.startsWith('@') ? f.name.indexOf('/') : -1;
      return slash > 0
        ? purl('npm', f.name.slice(0, slash), f.name.slice(slash + 1), f.version)
        : purl('npm', undefined, f.name, f.version);
    }
    case 'pypi':
      return purl('pypi', undefined, f.name, f.version);
    case 'golang': {
      const slash = f.name.lastIndexOf('/');
      return slash > 0
        ? purl('golang', f.name.slice(0, slash), f.name.slice(slash + 1), f.version)
        : purl('golang', undefined, f.name, f.version);
    }
    case 'maven': {
      const [group, artifact] = f.name.split(':') as [string, string];
      return purl('maven', group, artifact, f.version);
    }
  }
}
