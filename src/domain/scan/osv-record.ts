import { z } from 'zod';
import type { OsvAffected } from './types.js';

// OSV records (https://ossf.github.io/osv-schema/) as the vulnerability database keeps them:
// checked field by field, so one malformed record is rejected with a reason a person can act on
// and the rest of an import goes on. Only what matching and reporting need is kept; unknown
// fields are ignored, as the schema asks of consumers ("additional fields may be added").

/** One `severity[]` entry: a CVSS vector, or an ecosystem's own rating (type "Ubuntu"...). */
export interface OsvSeverity {
  type: string;
  score: string;
}

/** An `affected[]` entry with its package, as stored in the affected index. */
export interface OsvAffectedEntry extends OsvAffected {
  severity?: OsvSeverity[];
  ecosystem_specific?: Record<string, unknown>;
  database_specific?: Record<string, unknown>;
}

export interface OsvRecord {
  id: string;
  /** ISO-8601 UTC (normalized from the record's RFC 3339 time, millisecond precision). */
  modified: string;
  published?: string;
  withdrawn?: string;
  aliases: string[];
  summary?: string;
  severity: OsvSeverity[];
  /** Entries that name a package; entries with only GIT ranges and no package cannot be looked up and are dropped. */
  affected: OsvAffectedEntry[];
  database_specific?: Record<string, unknown>;
}

/** A record that cannot be used, with why (`id` when the record had a readable one). */
export class OsvRecordError extends Error {
  constructor(
    message: string,
    readonly id?: string,
  ) {
    super(message);
    this.name = 'OsvRecordError';
  }
}

const SHORT = 512; // ids, names, versions, ecosystems
const text = (max: number) => z.string().max(max);
const time = z
  .string()
  .max(64)
  .refine((s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(s) && !Number.isNaN(Date.parse(s)), {
    error: 'must be an RFC 3339 time such as 2024-05-01T12:00:00Z',
  });
const object = z.record(z.string(), z.unknown());
const severity = z.array(z.object({ type: text(64).min(1), score: text(1024).min(1) })).max(64);
const EVENT_KEYS = ['introduced', 'fixed', 'last_affected', 'limit'] as const;
const event = z.record(z.string(), z.unknown()).superRefine((e, ctx) => {
  const keys = EVENT_KEYS.filter((k) => e[k] !== undefined);
  if (keys.length !== 1) ctx.addIssue({ code: 'custom', message: `must have exactly one of ${EVENT_KEYS.join(', ')}` });
  else if (typeof e[keys[0]!] !== 'string' || (e[keys[0]!] as string).length === 0 || (e[keys[0]!] as string).length > SHORT)
    ctx.addIssue({ code: 'custom', message: `${keys[0]} must be a version string` });
});
const range = z.object({
  type: z.enum(['ECOSYSTEM', 'SEMVER', 'GIT']),
  repo: text(2048).optional(),
  events: z.array(event).min(1).max(10_000),
  database_specific: object.optional(),
});
const affected = z.object({
  package: z.object({ ecosystem: text(SHORT).min(1), name: text(SHORT).min(1), purl: text(2048).optional() }).optional(),
  severity: severity.optional(),
  ranges: z.array(range).max(1000).optional(),
  versions: z.array(text(SHORT)).max(100_000).optional(),
  ecosystem_specific: object.optional(),
  database_specific: object.optional(),
});
const record = z.object({
  id: text(SHORT)
    .min(1)
    .regex(/^[\x21-\x7e]+$/, { error: 'must be printable ASCII without spaces' }),
  modified: time,
  published: time.optional(),
  withdrawn: time.optional(),
  aliases: z.array(text(SHORT)).max(1000).nullish(),
  summary: z.string().nullish(),
  details: z.string().nullish(),
  severity: severity.nullish(),
  affected: z.array(affected).max(10_000).nullish(),
  database_specific: object.nullish(),
});

const ARTICLE: Record<string, string> = { string: 'a string', array: 'an array', object: 'an object', number: 'a number' };

const iso = (t: string) => new Date(t).toISOString();

/** Where an issue is, as a person reads it: `affected[0].ranges[1].events[2]`. */
function where(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('') || 'the record';
}

/** Whether the value has something at `path` (an issue's input is not kept, so "missing" is looked up). */
function present(value: unknown, path: readonly PropertyKey[]): boolean {
  let cur = value;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return false;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur !== undefined;
}

function issueMessage(iss: z.core.$ZodIssue, value: unknown): string {
  const at = where(iss.path);
  if (iss.code === 'invalid_type')
    return present(value, iss.path) ? `${at} must be ${ARTICLE[iss.expected] ?? iss.expected}` : `${at} is missing`;
  if (iss.code === 'invalid_value') return `${at} must be one of ${iss.values.map(String).join(', ')}`;
  if (iss.code === 'too_big') return `${at} is too long (at most ${String(iss.maximum)})`;
  if (iss.code === 'too_small') return `${at} is empty`;
  return `${at} ${iss.message}`;
}

/** Summary for reports: the record's own, else the first line of its details (bounded). */
function summaryOf(summary: string | null | undefined, details: string | null | undefined): string | undefined {
  const s = summary?.trim() || details?.trim().split('\n', 1)[0]?.trim();
  if (!s) return undefined;
  return s.length > 500 ? `${s.slice(0, 497)}...` : s;
}

/**
 * Checks one parsed JSON value as an OSV record and returns the parts the database keeps. A value
 * that is not a usable record throws OsvRecordError naming the record and the first bad field.
 */
export function parseOsvRecord(value: unknown): OsvRecord {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new OsvRecordError('not a JSON object');
  const rawId = (value as { id?: unknown }).id;
  const id = typeof rawId === 'string' && rawId.length > 0 && rawId.length <= SHORT ? rawId : undefined;
  const r = record.safeParse(value);
  if (!r.success) throw new OsvRecordError(`${id ?? 'record without a valid id'}: ${issueMessage(r.error.issues[0]!, value)}`, id);
  const v = r.data;
  const entries: OsvAffectedEntry[] = [];
  for (const a of v.affected ?? []) {
    if (!a.package) continue;
    const entry: OsvAffectedEntry = { package: a.package };
    if (a.ranges) entry.ranges = a.ranges as OsvAffectedEntry['ranges'];
    if (a.versions) entry.versions = a.versions;
    if (a.severity) entry.severity = a.severity;
    if (a.ecosystem_specific) entry.ecosystem_specific = a.ecosystem_specific;
    if (a.database_specific) entry.database_specific = a.database_specific;
    entries.push(entry);
  }
  const out: OsvRecord = {
    id: v.id,
    modified: iso(v.modified),
    aliases: v.aliases ?? [],
    severity: v.severity ?? [],
    affected: entries,
  };
  if (v.published) out.published = iso(v.published);
  if (v.withdrawn) out.withdrawn = iso(v.withdrawn);
  const summary = summaryOf(v.summary, v.details);
  if (summary) out.summary = summary;
  if (v.database_specific) out.database_specific = v.database_specific;
  return out;
}

/**
 * The name the affected index is searched by: PyPI names compare after PEP 503 normalization
 * (runs of "-", "_", "." become "-", lower case), every other ecosystem compares names exactly.
 */
export function lookupName(ecosystem: string, name: string): string {
  return ecosystem === 'PyPI' ? name.toLowerCase().replace(/[-_.]+/g, '-') : name;
}
