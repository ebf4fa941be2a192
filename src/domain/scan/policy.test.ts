import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Finding } from './findings.js';
import { decide, parseAllowList, type ScanPolicy } from './policy.js';

const f = (id: string, severity: Finding['severity'], fixedVersion?: string, aliases: string[] = []): Finding => ({
  id,
  aliases,
  package: 'p',
  ecosystem: 'Debian:12',
  installedVersion: '1',
  severity,
  purl: 'pkg:deb/debian/p@1',
  layer: 'sha256:00',
  path: 'var/lib/dpkg/status',
  ...(fixedVersion ? { fixedVersion } : {}),
});
const at = new Date('2026-12-06T00:00:00Z');
const policy = (p: Partial<ScanPolicy>): ScanPolicy => ({ failOn: 'high', ignoreUnfixed: false, allow: [], ...p });

test('a finding at or above the threshold fails; below it passes', () => {
  assert.equal(decide([f('A', 'medium')], policy({}), at).passed, true);
  assert.equal(decide([f('A', 'high')], policy({}), at).passed, false);
  assert.equal(decide([f('A', 'critical')], policy({}), at).passed, false);
  assert.equal(decide([f('A', 'unknown')], policy({ failOn: 'low' }), at).passed, true);
  assert.equal(decide([f('A', 'critical')], policy({ failOn: 'never' }), at).passed, true);
  assert.match(decide([f('DSA-1', 'high')], policy({}), at).details, /DSA-1/);
});

test('ignoreUnfixed skips findings without a fixed version', () => {
  assert.equal(decide([f('A', 'critical')], policy({ ignoreUnfixed: true }), at).passed, true);
  assert.equal(decide([f('A', 'critical', '2.0')], policy({ ignoreUnfixed: true }), at).passed, false);
});

test('the allow list matches ids and aliases until it expires', () => {
  const findings = [f('DSA-5555-1', 'critical', '2', ['CVE-2024-1'])];
  assert.equal(decide(findings, policy({ allow: [{ id: 'cve-2024-1' }] }), at).passed, true);
  assert.equal(decide(findings, policy({ allow: [{ id: 'DSA-5555-1', expires: '2027-01-01' }] }), at).passed, true);
  assert.equal(decide(findings, policy({ allow: [{ id: 'DSA-5555-1', expires: '2026-01-01' }] }), at).passed, false);
});

test('allow lists from requests are checked', () => {
  assert.deepEqual(parseAllowList(['CVE-2024-1', { id: 'GHSA-a', expires: '2027-01-01' }]), [
    { id: 'CVE-2024-1' },
    { id: 'GHSA-a', expires: '2027-01-01' },
  ]);
  assert.throws(() => parseAllowList('CVE'), /list/);
  assert.throws(() => parseAllowList([{ id: 'x y' }]), /advisory id/);
  assert.throws(() => parseAllowList([{ id: 'CVE-1', expires: 'soon' }]), /date/);
});
