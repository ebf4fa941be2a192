import { RegistryError } from '../../domain/errors.js';

// The purge request (acr-cli's `acr purge` flags, FEATURES.md §7.3): filters of the form
// "<repository regex>:<tag regex>", each regex matched against the whole name, and an age.
// Parsed and checked here, before anything is queued or run.

export interface PurgeSpec {
  /** "repository-regex:tag-regex", each regex matched against the whole name. */
  filters: string[];
  /** Age: "<N>d" and/or Go-style durations ("2d3h6m", "1h15m", "30m", "0d" = everything). */
  ago: string;
  untagged?: boolean;
  /** Only delete untagged manifests (the tag part of the filters is ignored). */
  untaggedOnly?: boolean;
  keep?: number;
  concurrency?: number;
}

export interface Filter {
  source: string;
  repo: RegExp;
  tag: RegExp;
}

const DURATION = /(\d+(?:\.\d+)?)(d|h|ms|m|s)/gy;
const UNIT_MS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** "2d3h6m" -> milliseconds (acr-cli's --ago: days, then a Go duration). */
export function parseAgo(text: string): number {
  const s = text.trim();
  if (!s) throw new RegistryError('REQUEST_INVALID', '"ago" is required: a duration such as 1d, 2d3h6m or 0d (everything)');
  let total = 0;
  DURATION.lastIndex = 0;
  let pos = 0;
  for (let m = DURATION.exec(s); m; m = DURATION.exec(s)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = DURATION.lastIndex;
  }
  if (pos !== s.length)
    throw new RegistryError(
      'REQUEST_INVALID',
      `"ago" ${JSON.stringify(s.slice(0, 40))} is not a duration: use days and Go units, e.g. 1d, 2d3h6m, 90m, 0d`,
    );
  if (total > 150 * 365 * 86_400_000) throw new RegistryError('REQUEST_INVALID', '"ago" may be at most 150 years');
  return total;
}

function regex(source: string, what: string, filter: string): RegExp {
  try {
    return new RegExp(`^(?:${source})$`);
  } catch (e) {
    throw new RegistryError(
      'REQUEST_INVALID',
      `filter ${JSON.stringify(filter.slice(0, 80))}: the ${what} regex is invalid: ${(e as Error).message}`,
    );
  }
}

/** "repo-regex:tag-regex"; the separator is the first ":" that is not part of "(?:". */
export function parseFilter(text: string): Filter {
  if (typeof text !== 'string' || text.length === 0 || text.length > 512)
    throw new RegistryError('REQUEST_INVALID', 'a filter is "<repository regex>:<tag regex>", at most 512 characters');
  let i = -1;
  for (let k = 0; k < text.length; k++)
    if (text[k] === ':' && !(k >= 2 && text[k - 1] === '?' && text[k - 2] === '(')) {
      i = k;
      break;
    }
  if (i <= 0)
    throw new RegistryError(
      'REQUEST_INVALID',
      `filter ${JSON.stringify(text.slice(0, 80))} needs the form "<repository regex>:<tag regex>", e.g. "hello-world:.*"`,
    );
  return { source: text, repo: regex(text.slice(0, i), 'repository', text), tag: regex(text.slice(i + 1) || '.*', 'tag', text) };
}

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((f) => typeof f === 'string');

export function validateSpec(raw: unknown): PurgeSpec {
  const b = (raw ?? {}) as Record<string, unknown>;
  const known = ['filters', 'ago', 'untagged', 'untaggedOnly', 'keep', 'concurrency', 'dryRun'];
  const extra = Object.keys(b).filter((k) => !known.includes(k));
  if (extra.length)
    throw new RegistryError('REQUEST_INVALID', `unknown field ${JSON.stringify(extra[0]!.slice(0, 40))}; allowed: ${known.join(', ')}`);
  const untaggedOnly = b.untaggedOnly === true;
  const filters: unknown = b.filters ?? (untaggedOnly ? ['.*:.*'] : undefined);
  if (!isStringArray(filters) || filters.length === 0) {
    throw new RegistryError('REQUEST_INVALID', '"filters" must be a non-empty array of "<repository regex>:<tag regex>" strings');
  }
  for (const f of filters) parseFilter(f);
  if (typeof b.ago !== 'string') throw new RegistryError('REQUEST_INVALID', '"ago" is required: a duration such as 1d, 2d3h6m or 0d');
  parseAgo(b.ago);
  for (const k of ['untagged', 'untaggedOnly', 'dryRun'])
    if (b[k] !== undefined && typeof b[k] !== 'boolean') throw new RegistryError('REQUEST_INVALID', `"${k}" must be true or false`);
  const int = (k: string, min: number, max: number) => {
    const v = b[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      throw new RegistryError('REQUEST_INVALID', `"${k}" must be a whole number from ${min} to ${max}`);
    return v;
  };
  return {
    filters: filters,
    ago: b.ago,
    untagged: b.untagged === true || untaggedOnly,
    untaggedOnly,
    keep: int('keep', 0, 1_000_000),
    concurrency: int('concurrency', 1, 32),
  };
}
