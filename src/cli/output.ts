// Output formats shaped like az: json (default), table, tsv, none.

export type OutputFormat = 'json' | 'jsonc' | 'table' | 'tsv' | 'none';

export function parseOutput(raw: string | undefined): OutputFormat {
  const v = (raw ?? 'json').toLowerCase();
  if (v === 'json' || v === 'jsonc' || v === 'table' || v === 'tsv' || v === 'none') return v;
  throw new Error(`--output must be json, table, tsv or none, got "${raw}"`);
}

function rows(value: unknown): Record<string, unknown>[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map((v) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : { Result: v }));
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map(cell).join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return '';
}

const title = (k: string) => k.charAt(0).toUpperCase() + k.slice(1);

export function render(value: unknown, format: OutputFormat): string {
  if (format === 'none' || value === undefined) return '';
  if (format === 'json' || format === 'jsonc') return JSON.stringify(value, null, 2);
  const list = rows(value);
  const keys = [
    ...new Set(list.flatMap((r) => Object.keys(r).filter((k) => typeof r[k] !== 'object' || r[k] === null || Array.isArray(r[k])))),
  ];
  if (format === 'tsv') return list.map((r) => keys.map((k) => cell(r[k]).replace(/[\t\n]/g, ' ')).join('\t')).join('\n');
  if (list.length === 0 || keys.length === 0) return '';
  const widths = keys.map((k) => Math.max(title(k).length, ...list.map((r) => cell(r[k]).length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(keys.map(title)), line(widths.map((w) => '-'.repeat(w))), ...list.map((r) => line(keys.map((k) => cell(r[k]))))].join('\n');
}
