// A record's severity, from the best evidence it carries: a CVSS v3 vector (scored here), then a
// severity word from the publisher (GHSA's database_specific.severity, Red Hat's and SUSE's
// ratings, Debian urgency, Ubuntu priority), then a CVSS v2 vector. CVSS v4 vectors are not scored
// (the v4 score needs FIRST's MacroVector table); a record with nothing usable stays 'unknown'.
import { cvss2BaseScore, cvss3BaseScore } from './cvss.js';
import type { Severity } from './findings.js';

export type { Severity };

export interface OsvSeverity {
  type: string;
  score: string;
}

/** The parts of an OSV record (and of one of its `affected[]` entries) that say how severe it is. */
export interface SeverityEvidence {
  severity?: OsvSeverity[];
  database_specific?: unknown;
  affected?: { severity?: OsvSeverity[]; ecosystem_specific?: unknown; database_specific?: unknown }[];
}

export interface SeverityResult {
  severity: Severity;
  /** The CVSS base score it came from, if it came from one. */
  score?: number;
  /** What decided it: `CVSS_V3`, `CVSS_V2`, or where a severity word was found. */
  from?: string;
}

/** CVSS v3 qualitative rating (specification table 14). */
export function severityOfScore(score: number): Severity {
  if (score === 0) return 'none';
  if (score < 4) return 'low';
  if (score < 7) return 'medium';
  if (score < 9) return 'high';
  return 'critical';
}

/** v2 has no critical: NVD rates 7.0–10.0 high. */
function severityOfV2Score(score: number): Severity {
  return score >= 7 ? 'high' : severityOfScore(score);
}

const WORDS: Record<string, Severity> = {
  critical: 'critical',
  high: 'high',
  important: 'high',
  moderate: 'medium',
  medium: 'medium',
  low: 'low',
  minor: 'low',
  // Ubuntu's "negligible" and Debian's "unimportant": real, but not worth an update.
  negligible: 'low',
  unimportant: 'low',
  none: 'none',
};

/** A publisher's severity word (case, and Debian's `*` uncertainty marks, ignored), or undefined. */
export function severityOfWord(word: string): Severity | undefined {
  return WORDS[word.trim().toLowerCase().replace(/\*+$/, '')];
}

function wordIn(obj: unknown): string | undefined {
  if (obj === null || typeof obj !== 'object') return undefined;
  const o = obj as Record<string, unknown>;
  for (const key of ['severity', 'urgency', 'priority']) {
    const v = o[key];
    if (typeof v === 'string' && severityOfWord(v) !== undefined) return v;
  }
  return undefined;
}

function bestScore(list: OsvSeverity[], type: string, score: (v: string) => number | undefined): number | undefined {
  const scores = list.filter((s) => s.type === type).map((s) => score(s.score));
  const valid = scores.filter((s) => s !== undefined);
  return valid.length ? Math.max(...valid) : undefined;
}

/**
 * The severity of a record. `affectedIndex` picks the `affected[]` entry that matched: its own
 * `severity` list replaces the record's (the schema allows one or the other), and its
 * ecosystem/database-specific severity words are consulted before the record's.
 */
export function severityOf(record: SeverityEvidence, affectedIndex?: number): SeverityResult {
  const entry = affectedIndex === undefined ? undefined : record.affected?.[affectedIndex];
  const entries = entry ? [entry] : (record.affected ?? []);
  const list = entry?.severity ?? record.severity ?? entries.flatMap((a) => a.severity ?? []);

  const v3 = bestScore(list, 'CVSS_V3', cvss3BaseScore);
  if (v3 !== undefined) return { severity: severityOfScore(v3), score: v3, from: 'CVSS_V3' };

  const places: [string, unknown][] = [
    ...entries.flatMap((a): [string, unknown][] => [
      ['affected.ecosystem_specific', a.ecosystem_specific],
      ['affected.database_specific', a.database_specific],
    ]),
    ['database_specific', record.database_specific],
  ];
  for (const [from, obj] of places) {
    const word = wordIn(obj);
    if (word !== undefined) return { severity: severityOfWord(word)!, from };
  }
  const ubuntu = list.find((s) => s.type === 'Ubuntu' && severityOfWord(s.score) !== undefined);
  if (ubuntu) return { severity: severityOfWord(ubuntu.score)!, from: 'Ubuntu' };

  const v2 = bestScore(list, 'CVSS_V2', cvss2BaseScore);
  if (v2 !== undefined) return { severity: severityOfV2Score(v2), score: v2, from: 'CVSS_V2' };
  return { severity: 'unknown' };
}
