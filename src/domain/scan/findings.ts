// What a scan reports: findings (one per vulnerability and installed package) and their summary.

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'none', 'unknown'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Rank for comparisons: critical highest; unknown ranks below low (it is not known to be high). */
export function severityRank(s: Severity): number {
  return { critical: 5, high: 4, medium: 3, low: 2, unknown: 1, none: 0 }[s];
}

export function isSeverity(s: string): s is Severity {
  return (SEVERITIES as readonly string[]).includes(s);
}

export interface Finding {
  /** The advisory's id (OSV id, e.g. DSA-5555-1, GHSA-…, CVE-…). */
  id: string;
  aliases: string[];
  summary?: string;
  /** The installed package's name (for distro packages the binary package). */
  package: string;
  /** The OSV ecosystem the advisory was matched in, e.g. Debian:12, npm. */
  ecosystem: string;
  installedVersion: string;
  /** For distro packages: the source package and version the advisory was matched by. */
  source?: { name: string; version: string };
  /** The lowest fixed version above the installed one, when the advisory names one. */
  fixedVersion?: string;
  severity: Severity;
  purl: string;
  layer: string;
  path: string;
}

export interface ScanSummary {
  critical: number;
  high: number;
  medium: number;
  low: number;
  none: number;
  unknown: number;
  total: number;
  /** Findings with a fixed version. */
  fixable: number;
}

export function summarize(findings: readonly Finding[]): ScanSummary {
  const s: ScanSummary = { critical: 0, high: 0, medium: 0, low: 0, none: 0, unknown: 0, total: findings.length, fixable: 0 };
  for (const f of findings) {
    s[f.severity]++;
    if (f.fixedVersion) s.fixable++;
  }
  return s;
}

/** Berth's `scan` field on ACR's manifest and tag attributes (an extension: ACR has none). */
export interface ScanAttribute {
  status: string;
  scannedAt?: string;
  dataDate?: string;
  summary?: ScanSummary;
}

export function scanAttribute(row: {
  status: string;
  scanned_at: string | null;
  data_date: string | null;
  summary: string | null;
}): ScanAttribute {
  return {
    status: row.status,
    ...(row.scanned_at ? { scannedAt: row.scanned_at } : {}),
    ...(row.data_date ? { dataDate: row.data_date } : {}),
    ...(row.summary ? { summary: JSON.parse(row.summary) as ScanSummary } : {}),
  };
}
