import { compile, getRegisteredFunctions, TreeInterpreter, type JSONValue } from '@jmespath-community/jmespath';
import YAML from 'yaml';
import { CliError } from './errors.js';

// Output shaped like az (knack): --query (JMESPath) picks from the value first, then -o formats it:
// json, jsonc (colored on a terminal), yaml, yamlc, table, tsv or none. Tables and tsv never print
// JSON in a cell: nested objects are left out (as knack does) unless a per-command table
// transformer shapes them into columns first.

export const OUTPUT_FORMATS = ['json', 'jsonc', 'yaml', 'yamlc', 'table', 'tsv', 'none'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function parseOutput(raw: string | undefined): OutputFormat {
  const v = (raw ?? 'json').toLowerCase();
  if ((OUTPUT_FORMATS as readonly string[]).includes(v)) return v as OutputFormat;
  throw new CliError(`argument --output/-o: invalid choice "${raw}": use one of ${OUTPUT_FORMATS.join(', ')}`, 2);
}

// ---------------------------------------------------------------- --query

type Node = ReturnType<typeof compile>;

/** Function names in an expression: the library only finds an unknown one when it is evaluated. */
function functionNames(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) functionNames(n, out);
  else if (node !== null && typeof node === 'object') {
    const n = node as { type?: string; name?: unknown };
    if (n.type === 'Function' && typeof n.name === 'string') out.push(n.name);
    for (const v of Object.values(node)) if (v !== null && typeof v === 'object') functionNames(v, out);
  }
  return out;
}

/** Parses a JMESPath expression, or fails as bad usage (exit 2) before anything is sent. */
export function compileQuery(expression: string): Node {
  let ast: Node;
  try {
    ast = compile(expression);
  } catch (e) {
    throw new CliError(`argument --query: invalid JMESPath expression "${expression}": ${(e as Error).message}`, 2);
  }
  const known = new Set(getRegisteredFunctions());
  const unknown = functionNames(ast).find((f) => !known.has(f));
  if (unknown !== undefined)
    throw new CliError(`argument --query: invalid JMESPath expression "${expression}": unknown function ${unknown}()`, 2);
  return ast;
}

/** The value --query selects (JMESPath, as az applies it before formatting). */
export function applyQuery(value: unknown, expression: string): unknown {
  const ast = compileQuery(expression);
  try {
    return TreeInterpreter.search(ast, (value ?? null) as JSONValue);
  } catch (e) {
    throw new CliError(`argument --query: "${expression}" cannot be applied to this result: ${(e as Error).message}`, 2);
  }
}

// ---------------------------------------------------------------- rendering

export interface RenderOptions {
  /** Per-command table shape (az's table_transformer): turns the value into rows of scalar columns. */
  table?: (value: unknown) => unknown;
  /** Color for jsonc/yamlc (default: stdout is a terminal and NO_COLOR is unset). */
  color?: boolean;
}

const isScalar = (v: unknown): v is string | number | boolean | bigint =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint';
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** "currentValue" -> "Current Value", "loginServer" -> "Login Server", "HTTPStatus" -> "HTTP Status", "Name" stays. */
export function columnTitle(key: string): string {
  return key
    .replace(/([a-z\d])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .trim()
    .replace(/(^|\s)([a-z])/g, (_m, s: string, c: string) => s + c.toUpperCase());
}

/** A listing answer ({value: [...], nextLink?}) is shown as its items, as az's ACR table formats do. */
function items(value: unknown): unknown[] {
  if (isObject(value) && Array.isArray(value.value) && Object.keys(value).every((k) => k === 'value' || k === 'nextLink'))
    return value.value;
  return Array.isArray(value) ? value : [value];
}

/** A table cell: scalars as they are, a list of scalars joined; nested objects have no cell (null). */
function tableCell(v: unknown): string | null {
  if (v === null || v === undefined) return '';
  if (isScalar(v)) return String(v);
  if (Array.isArray(v) && v.every((x) => isScalar(x) || x === null)) return v.map((x) => (x === null ? '' : String(x))).join(', ');
  return null;
}

function tableRow(item: unknown): Map<string, string | null> {
  const row = new Map<string, string | null>();
  if (isObject(item)) for (const [k, v] of Object.entries(item)) row.set(k, tableCell(v));
  else if (Array.isArray(item)) item.forEach((v, i) => row.set(`Column${i + 1}`, tableCell(v)));
  else row.set('Result', tableCell(item));
  return row;
}

function renderTable(value: unknown): string {
  const rows = items(value).map(tableRow);
  if (rows.length === 0) return '';
  // Columns: every key that holds a cell in some row, in the order first seen (stable, as the server sends them).
  const keys = [...new Set(rows.flatMap((r) => [...r].filter(([, v]) => v !== null).map(([k]) => k)))];
  if (keys.length === 0) {
    if (rows.every((r) => r.size === 0)) return '';
    throw new CliError('table output is unavailable for this result (its fields are nested): pick fields with --query, or use -o json');
  }
  const text = (r: Map<string, string | null>, k: string) => (r.get(k) ?? '').replace(/[\r\n\t]+/g, ' ');
  const titles = keys.map(columnTitle);
  const widths = keys.map((k, i) => Math.max(titles[i]!.length, ...rows.map((r) => text(r, k).length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(titles), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(keys.map((k) => text(r, k))))].join('\n');
}

/**
 * az's tsv: no header; a scalar as it is; an object's scalar values in key order, tab-separated
 * (nested objects and lists left out, so a cell is never JSON); a list one line per item.
 * Columns are the union over the rows, so a field missing in one row leaves an empty cell. A
 * listing answer ({value: [...]}) is its items, as in tables.
 */
function renderTsv(value: unknown): string {
  const list = items(value);
  const clean = (v: unknown) => (isScalar(v) ? String(v).replace(/[\t\r\n]/g, ' ') : '');
  const keys = [...new Set(list.filter(isObject).flatMap((o) => Object.keys(o).filter((k) => o[k] === null || isScalar(o[k]))))];
  return list
    .map((item) => {
      if (isObject(item)) return keys.map((k) => (isScalar(item[k]) ? clean(item[k]) : '')).join('\t');
      if (Array.isArray(item))
        return item
          .filter((v) => v === null || isScalar(v))
          .map(clean)
          .join('\t');
      return clean(item);
    })
    .join('\n');
}

const ANSI = { key: '\x1b[94m', string: '\x1b[32m', literal: '\x1b[33m', reset: '\x1b[0m' };

function colorJson(text: string): string {
  return text.replace(
    /("(?:[^"\\]|\\.)*")(\s*:)?|\b(true|false|null)\b|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g,
    (m, str: string | undefined, colon: string | undefined) => {
      if (str !== undefined) return colon ? `${ANSI.key}${str}${ANSI.reset}${colon}` : `${ANSI.string}${str}${ANSI.reset}`;
      return `${ANSI.literal}${m}${ANSI.reset}`;
    },
  );
}

function colorYaml(text: string): string {
  return text
    .split('\n')
    .map((l) => l.replace(/^(\s*(?:- )*)([^\s:"'#-][^:]*|"[^"]*"|'[^']*')(:(?:\s|$))/, `$1${ANSI.key}$2${ANSI.reset}$3`))
    .join('\n');
}

const wantsColor = () => !!process.stdout.isTTY && process.env.NO_COLOR === undefined;

export function render(value: unknown, format: OutputFormat, opts: RenderOptions = {}): string {
  if (format === 'none' || value === undefined) return '';
  const color = (format === 'jsonc' || format === 'yamlc') && (opts.color ?? wantsColor());
  if (format === 'json' || format === 'jsonc') {
    const text = JSON.stringify(value, null, 2);
    return color ? colorJson(text) : text;
  }
  if (format === 'yaml' || format === 'yamlc') {
    const text = YAML.stringify(value).replace(/\n$/, '');
    return color ? colorYaml(text) : text;
  }
  if (format === 'tsv') return renderTsv(value);
  return renderTable(opts.table ? opts.table(value) : value);
}

/**
 * What a command prints: --query applied, then the format. As in az, a per-command table shape is
 * not used when --query chose the fields, and a query that selects nothing (null) prints nothing.
 */
export function format(value: unknown, o: { output?: string; query?: string }, opts: RenderOptions = {}): string {
  const fmt = parseOutput(o.output);
  if (o.query === undefined) return render(value, fmt, opts);
  const picked = applyQuery(value, o.query);
  if (picked === null) return '';
  return render(picked, fmt, { ...opts, table: undefined });
}
