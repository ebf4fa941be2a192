import assert from 'node:assert/strict';
import { test } from 'node:test';
import { purlOf } from '../purl.js';
import { parseApkInstalled } from './apk.js';
import { parseDpkgStatus } from './dpkg.js';
import { NPM_MANIFEST, parsePackageJson } from './npm.js';
import { parseOsRelease } from './os-release.js';
import { normalizePypiName, parsePythonMetadata, PYTHON_METADATA } from './python.js';

const STATUS = `Package: bsdutils
Status: install ok installed
Priority: required
Architecture: amd64
Source: util-linux (2.38.1-5+deb12u3)
Version: 1:2.38.1-5+deb12u3
Description: basic utilities from 4.4BSD-Lite
 This package contains the bare minimum.

Package: libcom-err2
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Source: e2fsprogs
Version: 1.47.0-2+b2

Package: e2fsprogs
Status: deinstall ok config-files
Architecture: amd64
Version: 1.47.0-2

Package: held
Status: hold ok installed
Architecture: all
Version: 3.0

Package: half
Status: install reinstreq half-installed
Version: 1.0

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1
`;

test('dpkg: only installed packages, with source name and source version', () => {
  const found = parseDpkgStatus(STATUS);
  assert.deepEqual(
    found.map((f) => [f.name, f.version, f.source?.name, f.source?.version]),
    [
      ['bsdutils', '1:2.38.1-5+deb12u3', 'util-linux', '2.38.1-5+deb12u3'],
      // binNMU: the source is the same version without +b2.
      ['libcom-err2', '1.47.0-2+b2', 'e2fsprogs', '1.47.0-2'],
      ['held', '3.0', 'held', '3.0'],
      ['zlib1g', '1:1.2.13.dfsg-1', 'zlib', '1:1.2.13.dfsg-1'],
    ],
  );
  assert.equal(found[0]!.arch, 'amd64');
  assert.deepEqual(parseDpkgStatus('Package: x\nVersion: 1\n'), [], 'the main status file needs a Status');
  assert.equal(parseDpkgStatus('Package: x\nVersion: 1\n', true).length, 1, 'distroless status.d files may omit it');
  assert.deepEqual(parseDpkgStatus('garbage\n\n\0\0\nPackage:\nVersion: 1 2\n'), []);
});

test('apk: P/V/A/o/L', () => {
  const found = parseApkInstalled(
    'C:Q1abc=\nP:libcrypto3\nV:3.1.4-r5\nA:x86_64\nL:Apache-2.0\no:openssl\nm:Maintainer\n\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\n\nP:broken\n',
  );
  assert.deepEqual(found, [
    {
      kind: 'apk',
      name: 'libcrypto3',
      version: '3.1.4-r5',
      source: { name: 'openssl', version: '3.1.4-r5' },
      arch: 'x86_64',
      licenses: ['Apache-2.0'],
    },
    { kind: 'apk', name: 'musl', version: '1.2.4-r2', source: { name: 'musl', version: '1.2.4-r2' }, arch: 'x86_64', licenses: ['MIT'] },
  ]);
  assert.equal(
    purlOf(found[0]!, { id: 'alpine', versionId: '3.19.1' }),
    'pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1',
  );
});

test('os-release: quoting and fields', () => {
  assert.deepEqual(
    parseOsRelease(
      'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n',
    ),
    {
      id: 'debian',
      versionId: '12',
      versionCodename: 'bookworm',
      prettyName: 'Debian GNU/Linux 12 (bookworm)',
    },
  );
  assert.equal(parseOsRelease('NAME=x\n'), undefined);
});

test('npm: installed package.json files only, never lockfiles or nested manifests', () => {
  for (const p of [
    'app/node_modules/lodash/package.json',
    'node_modules/@babel/core/package.json',
    'a/node_modules/x/node_modules/y/package.json',
  ]) {
    assert.ok(NPM_MANIFEST.test(p), p);
  }
  for (const p of [
    'app/node_modules/.package-lock.json',
    'app/node_modules/x/package-lock.json',
    'app/package.json',
    'app/node_modules/x/test/fixtures/package.json',
    'app/node_modules/@scope/package.json',
    'app/node_modules/.bin/package.json',
  ]) {
    assert.ok(!NPM_MANIFEST.test(p), p);
  }
  assert.deepEqual(parsePackageJson('{"name":"@babel/core","version":"7.23.0","license":"MIT"}'), [
    { kind: 'npm', name: '@babel/core', version: '7.23.0', licenses: ['MIT'] },
  ]);
  assert.deepEqual(parsePackageJson('{"name":"x"}'), []);
  assert.deepEqual(parsePackageJson('{"version":"1.0.0"}'), []);
  assert.deepEqual(parsePackageJson('not json'), []);
  assert.deepEqual(parsePackageJson('[1,2]'), []);
  assert.equal(purlOf({ kind: 'npm', name: '@babel/core', version: '7.23.0' }, undefined), 'pkg:npm/%40babel/core@7.23.0');
});

test('python: METADATA / PKG-INFO with PEP 503 names', () => {
  assert.ok(PYTHON_METADATA.test('usr/lib/python3/dist-packages/urllib3-1.26.4.dist-info/METADATA'));
  assert.ok(PYTHON_METADATA.test('usr/lib/python3/site-packages/Foo.egg-info/PKG-INFO'));
  assert.ok(PYTHON_METADATA.test('usr/lib/python3/site-packages/Foo-1.0.egg-info'));
  assert.ok(!PYTHON_METADATA.test('usr/lib/python3/site-packages/foo.dist-info/RECORD'));
  assert.equal(normalizePypiName('Zope.Interface__x'), 'zope-interface-x');
  assert.deepEqual(
    parsePythonMetadata('Metadata-Version: 2.1\nName: Typing_Extensions\nVersion: 4.8.0\nLicense: PSF\n\nLong description\nName: other\n'),
    [{ kind: 'pypi', name: 'typing-extensions', version: '4.8.0', licenses: ['PSF'] }],
  );
  assert.deepEqual(parsePythonMetadata('Name: x\n'), []);
});

test('purls for distro packages', () => {
  const [bsd] = parseDpkgStatus(STATUS);
  assert.equal(purlOf(bsd!, { id: 'debian', versionId: '12' }), 'pkg:deb/debian/bsdutils@1:2.38.1-5+deb12u3?arch=amd64&distro=debian-12');
  assert.equal(
    purlOf(
      { kind: 'rpm', name: 'openssl', version: '1:3.0.7-24.el9', arch: 'x86_64', rpm: { epoch: 1, version: '3.0.7', release: '24.el9' } },
      { id: 'rhel', versionId: '9.3' },
    ),
    'pkg:rpm/rhel/openssl@3.0.7-24.el9?arch=x86_64&distro=rhel-9.3&epoch=1',
  );
  assert.equal(
    purlOf({ kind: 'golang', name: 'github.com/Azure/go-autorest', version: 'v1.0.0' }, undefined),
    'pkg:golang/github.com/Azure/go-autorest@v1.0.0',
  );
  assert.equal(
    purlOf({ kind: 'maven', name: 'org.apache.logging.log4j:log4j-core', version: '2.14.1' }, undefined),
    'pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1',
  );
});
