import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { lookupKeysFor, normalizePackageName, osEcosystems } from './lookup.js';
import type { InstalledPackage } from './types.js';

const pkg = (p: Partial<InstalledPackage> & Pick<InstalledPackage, 'ecosystem' | 'name' | 'version'>): InstalledPackage => ({
  purl: 'pkg:generic/x',
  layer: 'sha256:' + '0'.repeat(64),
  path: 'var/lib/dpkg/status',
  ...p,
});

describe('lookupKeysFor', () => {
  test('Debian: by source name and source version, in the release of the image', () => {
    const bsdutils = pkg({
      ecosystem: 'Debian',
      name: 'bsdutils',
      version: '1:2.38.1-5+b1',
      source: { name: 'util-linux', version: '2.38.1-5' },
    });
    assert.deepEqual(lookupKeysFor(bsdutils, { id: 'debian', versionId: '12', versionCodename: 'bookworm' }), [
      { ecosystem: 'Debian:12', name: 'util-linux', version: '2.38.1-5', scheme: 'deb' },
    ]);
  });

  test('Debian: a package without Source: is its own source', () => {
    const bash = pkg({ ecosystem: 'Debian', name: 'bash', version: '5.2.15-2+b7' });
    assert.deepEqual(lookupKeysFor(bash, { id: 'debian', versionId: '12' }), [
      { ecosystem: 'Debian:12', name: 'bash', version: '5.2.15-2+b7', scheme: 'deb' },
    ]);
  });

  test('Debian testing/sid without VERSION_ID: by codename', () => {
    assert.deepEqual(osEcosystems({ id: 'debian', versionCodename: 'trixie' }), ['Debian:13']);
    assert.deepEqual(osEcosystems({ id: 'debian', versionCodename: 'sid' }), ['Debian:sid']);
    assert.deepEqual(osEcosystems({ id: 'debian' }), []);
  });

  test('a binary whose version differs from its source never lends its version to the source (grype#376)', () => {
    const p = pkg({
      ecosystem: 'Debian',
      name: 'libpod-escapes-perl',
      version: '1.04-1',
      source: { name: 'perl', version: '5.36.0-7+deb12u1' },
    });
    const keys = lookupKeysFor(p, { id: 'debian', versionId: '12' });
    assert.deepEqual(
      keys.map((k) => [k.name, k.version]),
      [['perl', '5.36.0-7+deb12u1']],
    );
  });

  test('Ubuntu: LTS suffix only on LTS releases; the OS decides even if the analyzer said Debian', () => {
    const openssl = pkg({
      ecosystem: 'Debian',
      name: 'libssl3',
      version: '3.0.2-0ubuntu1.10',
      source: { name: 'openssl', version: '3.0.2-0ubuntu1.10' },
    });
    assert.deepEqual(lookupKeysFor(openssl, { id: 'ubuntu', versionId: '22.04' })[0]?.ecosystem, 'Ubuntu:22.04:LTS');
    assert.deepEqual(osEcosystems({ id: 'ubuntu', versionId: '23.10' }), ['Ubuntu:23.10']);
    assert.deepEqual(osEcosystems({ id: 'ubuntu', versionId: '24.04' }), ['Ubuntu:24.04:LTS']);
  });

  test('Alpine: release branch from VERSION_ID, by origin', () => {
    const p = pkg({ ecosystem: 'Alpine', name: 'libcrypto3', version: '3.1.4-r0', source: { name: 'openssl', version: '3.1.4-r0' } });
    assert.deepEqual(lookupKeysFor(p, { id: 'alpine', versionId: '3.18.4' }), [
      { ecosystem: 'Alpine:v3.18', name: 'openssl', version: '3.1.4-r0', scheme: 'apk' },
    ]);
  });

  test('rpm distros: source name, source version with the binary epoch', () => {
    const httpd = pkg({
      ecosystem: 'AlmaLinux',
      name: 'mod_ssl',
      version: '1:2.4.57-5.el9',
      source: { name: 'httpd', version: '2.4.57-5.el9' },
    });
    assert.deepEqual(lookupKeysFor(httpd, { id: 'almalinux', versionId: '9.3' }), [
      { ecosystem: 'AlmaLinux:9', name: 'httpd', version: '1:2.4.57-5.el9', scheme: 'rpm' },
    ]);
    assert.deepEqual(osEcosystems({ id: 'rocky', versionId: '8.9' }), ['Rocky Linux:8']);
    assert.deepEqual(osEcosystems({ id: 'mageia', versionId: '9' }), ['Mageia:9']);
    assert.deepEqual(osEcosystems({ id: 'opensuse-leap', versionId: '15.5' }), ['openSUSE:Leap 15.5']);
    assert.deepEqual(osEcosystems({ id: 'sles', versionId: '15.5', prettyName: 'SUSE Linux Enterprise Server 15 SP5' }), [
      'SUSE:Linux Enterprise Server 15 SP5',
      'SUSE:Linux Enterprise Server 15 SP5-LTSS',
    ]);
  });

  test('Red Hat: binary and source names, in the BaseOS and AppStream streams', () => {
    const p = pkg({
      ecosystem: 'Red Hat',
      name: 'openssl-libs',
      version: '1:3.0.7-24.el9',
      source: { name: 'openssl', version: '3.0.7-24.el9' },
    });
    assert.deepEqual(lookupKeysFor(p, { id: 'rhel', versionId: '9.3' }), [
      { ecosystem: 'Red Hat:enterprise_linux:9::baseos', name: 'openssl-libs', version: '1:3.0.7-24.el9', scheme: 'rpm' },
      { ecosystem: 'Red Hat:enterprise_linux:9::baseos', name: 'openssl', version: '1:3.0.7-24.el9', scheme: 'rpm' },
      { ecosystem: 'Red Hat:enterprise_linux:9::appstream', name: 'openssl-libs', version: '1:3.0.7-24.el9', scheme: 'rpm' },
      { ecosystem: 'Red Hat:enterprise_linux:9::appstream', name: 'openssl', version: '1:3.0.7-24.el9', scheme: 'rpm' },
    ]);
  });

  test('distro packages with no known release get no key; a package database of another family neither', () => {
    const p = pkg({ ecosystem: 'Debian', name: 'bash', version: '5.2-1' });
    assert.deepEqual(lookupKeysFor(p), []);
    assert.deepEqual(lookupKeysFor(p, { id: 'centos', versionId: '7' }), []);
    assert.deepEqual(lookupKeysFor(p, { id: 'alpine', versionId: '3.18.4' }), []);
    const wolfi = pkg({ ecosystem: 'Wolfi', name: 'glibc', version: '2.38-r5' });
    assert.deepEqual(lookupKeysFor(wolfi), [{ ecosystem: 'Wolfi', name: 'glibc', version: '2.38-r5', scheme: 'apk' }]);
  });

  test('language packages: by name in their ecosystem, whatever the OS', () => {
    const os = { id: 'debian', versionId: '12' };
    assert.deepEqual(lookupKeysFor(pkg({ ecosystem: 'npm', name: 'lodash', version: '4.17.15' }), os), [
      { ecosystem: 'npm', name: 'lodash', version: '4.17.15', scheme: 'semver' },
    ]);
    assert.deepEqual(lookupKeysFor(pkg({ ecosystem: 'PyPI', name: 'Zope.Interface', version: '5.4.0' }), os), [
      { ecosystem: 'PyPI', name: 'zope-interface', version: '5.4.0', scheme: 'pep440' },
    ]);
    assert.deepEqual(lookupKeysFor(pkg({ ecosystem: 'Go', name: 'golang.org/x/net', version: 'v0.7.0' }), os), [
      { ecosystem: 'Go', name: 'golang.org/x/net', version: 'v0.7.0', scheme: 'go' },
    ]);
    assert.deepEqual(lookupKeysFor(pkg({ ecosystem: 'Maven', name: 'org.apache.logging.log4j:log4j-core', version: '2.14.1' })), [
      { ecosystem: 'Maven', name: 'org.apache.logging.log4j:log4j-core', version: '2.14.1', scheme: 'maven' },
    ]);
    assert.deepEqual(lookupKeysFor(pkg({ ecosystem: 'RubyGems', name: 'rails', version: '7.0.0' })), []);
  });

  test('normalizePackageName', () => {
    assert.equal(normalizePackageName('PyPI', 'Foo__Bar...baz-Qux'), 'foo-bar-baz-qux');
    assert.equal(normalizePackageName('npm', '@Scope/Name'), '@Scope/Name');
  });
});
