import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { lookupKeysFor } from './lookup.js';
import { matchRecord, type OsvRecordForMatch } from './match.js';
import type { InstalledPackage } from './types.js';

// Shaped like GHSA-jfh8-c2jp-5v3q (Log4Shell) as osv.dev serves it.
const log4shell: OsvRecordForMatch = {
  id: 'GHSA-jfh8-c2jp-5v3q',
  aliases: ['CVE-2021-44228'],
  severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H' }],
  database_specific: { severity: 'CRITICAL' },
  affected: [
    {
      package: { ecosystem: 'Maven', name: 'org.apache.logging.log4j:log4j-core' },
      ranges: [
        { type: 'ECOSYSTEM', events: [{ introduced: '2.13.0' }, { fixed: '2.15.0' }] },
        { type: 'ECOSYSTEM', events: [{ introduced: '2.4' }, { fixed: '2.12.2' }] },
        { type: 'ECOSYSTEM', events: [{ introduced: '2.0-beta9' }, { fixed: '2.3.1' }] },
      ],
    },
  ],
};

const pkg = (p: Partial<InstalledPackage> & Pick<InstalledPackage, 'ecosystem' | 'name' | 'version'>): InstalledPackage => ({
  purl: 'pkg:generic/x',
  layer: 'sha256:' + '0'.repeat(64),
  path: 'x',
  ...p,
});

describe('matchRecord', () => {
  test('an affected Maven jar: the fix of its own range, every fix, the CVSS severity', () => {
    const [key] = lookupKeysFor(pkg({ ecosystem: 'Maven', name: 'org.apache.logging.log4j:log4j-core', version: '2.14.1' }));
    assert.deepEqual(matchRecord(key!, log4shell), {
      id: 'GHSA-jfh8-c2jp-5v3q',
      aliases: ['CVE-2021-44228'],
      fixed: '2.15.0',
      fixedVersions: ['2.15.0', '2.12.2', '2.3.1'],
      severity: { severity: 'critical', score: 10, from: 'CVSS_V3' },
    });
  });

  test('fixed, other package, other ecosystem, withdrawn: no match', () => {
    const key = { ecosystem: 'Maven', name: 'org.apache.logging.log4j:log4j-core', version: '2.17.1', scheme: 'maven' as const };
    assert.equal(matchRecord(key, log4shell), undefined);
    assert.equal(matchRecord({ ...key, version: '2.14.1', name: 'org.apache.logging.log4j:log4j-api' }, log4shell), undefined);
    assert.equal(matchRecord({ ...key, version: '2.14.1', ecosystem: 'npm', scheme: 'semver' }, log4shell), undefined);
    assert.equal(matchRecord({ ...key, version: '2.14.1' }, { ...log4shell, withdrawn: '2022-01-01T00:00:00Z' }), undefined);
  });

  test('Debian: the release must match, and the source version decides (grype#376)', () => {
    const perl: OsvRecordForMatch = {
      id: 'DEBIAN-CVE-2023-31484',
      affected: [
        {
          package: { ecosystem: 'Debian:12', name: 'perl' },
          ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '5.36.0-7+deb12u1' }] }],
        },
      ],
    };
    const binary = (source: string) =>
      pkg({ ecosystem: 'Debian', name: 'libpod-escapes-perl', version: '1.04-1', source: { name: 'perl', version: source } });
    const [patched] = lookupKeysFor(binary('5.36.0-7+deb12u1'), { id: 'debian', versionId: '12' });
    assert.equal(matchRecord(patched!, perl), undefined);
    const [old] = lookupKeysFor(binary('5.36.0-7'), { id: 'debian', versionId: '12' });
    assert.equal(matchRecord(old!, perl)?.fixed, '5.36.0-7+deb12u1');
    assert.equal(matchRecord(old!, perl)?.severity.severity, 'unknown');
    const [bullseye] = lookupKeysFor(binary('5.36.0-7'), { id: 'debian', versionId: '11' });
    assert.equal(matchRecord(bullseye!, perl), undefined);
  });

  test('PyPI names match whatever the record’s spelling', () => {
    const record: OsvRecordForMatch = {
      id: 'PYSEC-2021-108',
      affected: [
        {
          package: { ecosystem: 'PyPI', name: 'urllib3' },
          ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.26.5' }] }],
        },
      ],
    };
    const [key] = lookupKeysFor(pkg({ ecosystem: 'PyPI', name: 'URLLib3', version: '1.26.4' }));
    assert.equal(matchRecord(key!, record)?.fixed, '1.26.5');
    const spelled: OsvRecordForMatch = {
      ...record,
      id: 'TEST-SPELLING',
      affected: [{ ...record.affected![0]!, package: { ecosystem: 'PyPI', name: 'Zope.Interface' } }],
    };
    const [zope] = lookupKeysFor(pkg({ ecosystem: 'PyPI', name: 'zope_interface', version: '1.0' }));
    assert.equal(matchRecord(zope!, spelled)?.id, 'TEST-SPELLING');
  });

  test('an unfixed advisory matches with no fixed version', () => {
    const record: OsvRecordForMatch = {
      id: 'TEST-UNFIXED',
      affected: [
        { package: { ecosystem: 'Alpine:v3.18', name: 'openssl' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }] }] },
      ],
    };
    const [key] = lookupKeysFor(
      pkg({ ecosystem: 'Alpine', name: 'libcrypto3', version: '3.1.4-r0', source: { name: 'openssl', version: '3.1.4-r0' } }),
      {
        id: 'alpine',
        versionId: '3.18.4',
      },
    );
    const m = matchRecord(key!, record);
    assert.ok(m);
    assert.equal(m.fixed, undefined);
    assert.deepEqual(m.fixedVersions, []);
  });
});
