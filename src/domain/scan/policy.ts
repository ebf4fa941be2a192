import { severityRank, type Finding } from './findings.js';

// A registry's scan policy: which findings fail an image held in quarantine. The scanner marks
// the image Passed or Failed by it; images outside quarantine are only reported on.

export const FAIL_ON = ['critical', 'high', 'medium', 'low', 'never'] as const;
export type FailOn = (typeof FAIL_ON)[number];

export interface AllowEntry {
  /** An advisory id or one of its aliases (e.g. CVE-2023-1234). */
  id: string;
  /** ISO date or time after which the entry no longer applies. */
  expires?: string;
}

export interface ScanPolicy {
  failOn: FailOn;
  ignoreUnfixed: boolean;
  allow: AllowEntry[];
}

export const DEFAULT_SCAN_POLICY: ScanPolicy = { failOn: 'high', ignoreUnfixed: false, allow: [] };

/** Checks an allow list from a request; a message a person understands when it is wrong. */
export function parseAllowList(raw: unknown): AllowEntry[] {
  if (!Array.isArray(raw)) throw new Error('allow must be a list of { "id": "CVE-…", "expires": "2027-01-31" }');
  if (raw.length > 1000) throw new Error('allow holds at most 1000 entries');
  return raw.map((e, i) => {
    const entry = typeof e === 'string' ? { id: e } : (e as Partial<AllowEntry>);
    if (!entry || typeof entry.id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(entry.id))
      throw new Error(`allow[${i}]: "id" must be an advisory id such as CVE-2024-1234 or GHSA-xxxx-xxxx-xxxx`);
    if (entry.expires !== undefined && (typeof entry.expires !== 'string' || Number.isNaN(Date.parse(entry.expires))))
      throw new Error(`allow[${i}]: "expires" must be a date such as 2027-01-31`);
    return entry.expires === undefined ? { id: entry.id } : { id: entry.id, expires: entry.expires };
  });
}

/** Whether the findings fail the image under the policy at `at`, and why, in words. */
export function decide(findings: readonly Finding[], policy: ScanPolicy, at: Date): { passed: boolean; details: string } {
  if (policy.failOn === 'never') return { passed: true, details: `scan policy never fails an image (${findings.length} findings)` };
  const threshold = severityRank(policy.failOn);
  const allowed = new Set(
    policy.allow.filter((a) => a.expires === undefined || Date.parse(a.expires) > at.getTime()).map((a) => a.id.toUpperCase()),
  );
  const failing = findings.filter(
    (f) =>
      severityRank(f.severity) >= threshold &&
      !(policy.ignoreUnfixed && !f.fixedVersion) &&
      !allowed.has(f.id.toUpperCase()) &&
      !f.aliases.some((a) => allowed.has(a.toUpperCase())),
  );
  if (failing.length === 0) return { passed: true, details: `no finding of severity ${policy.failOn} or higher` };
  const ids = [...new Set(failing.map((f) => f.id))];
  return {
    passed: false,
    details: `${failing.length} finding(s) of severity ${policy.failOn} or higher: ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''}`,
  };
}
