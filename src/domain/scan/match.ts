// One OSV record against one lookup key: which of its `affected[]` entries names the package, and
// whether the installed version is in it. Exact (ecosystem, name) only: no CPEs, no fuzzy names.
import { normalizePackageName, type LookupKey } from './lookup.js';
import { evaluateAffected, fixedVersions } from './osv-range.js';
import { severityOf, type SeverityEvidence, type SeverityResult } from './severity.js';
import type { OsvAffected } from './types.js';

/** The fields of an OSV record the matcher reads. */
export interface OsvRecordForMatch extends SeverityEvidence {
  id: string;
  aliases?: string[];
  withdrawn?: string;
  affected?: (OsvAffected & NonNullable<SeverityEvidence['affected']>[number])[];
}

export interface RecordMatch {
  id: string;
  aliases: string[];
  /** The version that ends the affected range the installed version is in; absent when unfixed. */
  fixed?: string;
  /** Every fixed version the matching entry lists. */
  fixedVersions: string[];
  severity: SeverityResult;
}

/**
 * The record's verdict for the key, or undefined when it does not affect that installed version
 * (including withdrawn records). Throws VersionError when the installed version cannot be ordered
 * in the key's scheme.
 */
export function matchRecord(key: LookupKey, record: OsvRecordForMatch): RecordMatch | undefined {
  if (record.withdrawn) return undefined;
  const entries = record.affected ?? [];
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (entry.package.ecosystem !== key.ecosystem) continue;
    if (normalizePackageName(key.ecosystem, entry.package.name) !== key.name) continue;
    const r = evaluateAffected(key.scheme, key.version, entry);
    if (!r.affected) continue;
    return {
      id: record.id,
      aliases: record.aliases ?? [],
      ...(r.fixed !== undefined ? { fixed: r.fixed } : {}),
      fixedVersions: fixedVersions(entry),
      severity: severityOf(record, i),
    };
  }
  return undefined;
}
