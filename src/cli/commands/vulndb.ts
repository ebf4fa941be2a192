import { createReadStream, type Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { CliError, type RawBody } from '../client.js';
import { client, common, print, textOutput, warn } from '../command-kit.js';

// `berth vulndb`: the vulnerability data the built-in scanner matches against (OSV records the
// operator carries in; Berth never downloads it). `import PATH` sends a file as it is (a JSON
// record or array, NDJSON, or osv.dev's per-ecosystem all.zip) or a directory of JSON files as
// NDJSON, streamed; `show` prints what is loaded.

interface ImportAnswer {
  importId: number;
  source: string;
  records: number;
  added: number;
  updated: number;
  unchanged: number;
  withdrawn: number;
  rejected: number;
  errors: string[];
  dataDate: string | null;
}

const SOURCE_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/** The source a path names when --source is not given: the file's name without its extension, or for all.zip its folder's name. */
export function sourceFromPath(file: string): string {
  const abs = path.resolve(file);
  let base = path.basename(abs).replace(/\.(zip|json|ndjson|jsonl)$/i, '');
  if (base.toLowerCase() === 'all') base = path.basename(path.dirname(abs));
  const name = base.replace(/[^A-Za-z0-9._:-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return name.slice(0, 64) || 'osv';
}

/** The JSON files below a directory, in name order (sub-directories too, as osv.dev's extracted exports have them). */
async function jsonFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    const entries: Dirent[] = await readdir(d, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && e.name.toLowerCase().endsWith('.json')) out.push(p);
    }
  };
  await walk(dir);
  return out;
}

/**
 * A directory's JSON files as NDJSON, one record a line, read one file at a time. A file holding
 * an array gives a line per element; a file that is not JSON is left out with a warning (and
 * counted in `skipped`), since it could not be made one line.
 */
async function* directoryAsNdjson(files: string[], skipped: { count: number }): AsyncGenerator<Uint8Array> {
  for (const f of files) {
    let doc: unknown;
    try {
      doc = JSON.parse(await readFile(f, 'utf8'));
    } catch (e) {
      skipped.count++;
      if (skipped.count <= 5) warn(`skipped ${f}: not valid JSON (${(e as Error).message.slice(0, 120)})`);
      continue;
    }
    const records = Array.isArray(doc) ? doc : [doc];
    yield Buffer.from(records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  }
}

const KIND_BY_EXTENSION: Record<string, string> = {
  '.zip': 'application/zip',
  '.ndjson': 'application/x-ndjson',
  '.jsonl': 'application/x-ndjson',
  '.json': 'application/json',
};

async function uploadBody(file: string, skipped: { count: number }): Promise<RawBody> {
  let st;
  try {
    st = await stat(file);
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 2);
  }
  if (st.isDirectory()) {
    const files = await jsonFiles(file);
    if (files.length === 0) throw new CliError(`${file} holds no .json files`, 2);
    return { body: directoryAsNdjson(files, skipped), contentType: 'application/x-ndjson' };
  }
  const contentType = KIND_BY_EXTENSION[path.extname(file).toLowerCase()];
  if (!contentType) throw new CliError(`${file}: give a .json, .ndjson/.jsonl or .zip file, or a directory of .json files`, 2);
  return { body: createReadStream(file), contentType };
}

/** The one-line summary: Loaded 123 records (2 withdrawn, 0 rejected) from debian, data date 2026-11-30. */
export function importSummary(a: ImportAnswer): string {
  const date = a.dataDate ? a.dataDate.slice(0, 10) : 'none';
  const detail = `${a.added} new, ${a.updated} updated, ${a.unchanged} already current`;
  return `Loaded ${a.records} records (${a.withdrawn} withdrawn, ${a.rejected} rejected) from ${a.source}, data date ${date}; ${detail}`;
}

type Obj = Record<string, unknown>;

/** vulndb show -o table: one row; the sources and the last import in words. */
function statusTable(value: unknown): unknown {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
  const v = value as Obj;
  const sources = Array.isArray(v.sources) ? (v.sources as Obj[]) : [];
  const last = v.lastImport as Obj | null | undefined;
  return {
    records: v.records,
    withdrawn: v.withdrawn,
    affectedPackages: v.affectedPackages,
    dataDate: v.dataDate ?? '',
    sources: sources
      .map((s) => `${String(s.source)} (${String(s.records)}, ${(typeof s.dataDate === 'string' ? s.dataDate : 'no data').slice(0, 10)})`)
      .join(', '),
    lastImport: last
      ? `import ${String(last.id)} of ${String(last.source)}: ${String(last.status)} ${String(last.finishedAt ?? last.startedAt)}`
      : '',
  };
}

export function registerVulndbCommands(program: Command): void {
  const vulndb = program
    .command('vulndb')
    .description("vulnerability data (OSV records) the scanner matches against: import the operator's copy, show what is loaded");

  common(
    vulndb
      .command('import')
      .description(
        "load OSV records: a .json file (a record or an array), a directory of .json files, an .ndjson file or osv.dev's per-ecosystem all.zip",
      )
      .argument('<path>', 'file or directory to load'),
  )
    .option(
      '--source <name>',
      'name of the data source, e.g. debian (default: the file name without extension; for all.zip the folder name)',
    )
    .action(async (file: string, o) => {
      const source = (o.source as string | undefined) ?? sourceFromPath(file);
      if (!SOURCE_NAME.test(source))
        throw new CliError(`--source "${source}": 1 to 64 letters, digits, ".", "_", ":" or "-", starting with a letter or digit`, 2);
      const skipped = { count: 0 };
      const body = await uploadBody(file, skipped);
      const answer = await client(o).upload<ImportAnswer>('POST', `/api/vulndb/imports?source=${encodeURIComponent(source)}`, body);
      if (!textOutput(o)) return print(answer, o);
      process.stdout.write(`${importSummary(answer)}\n`);
      if (skipped.count) warn(`${skipped.count} file(s) of ${file} were not valid JSON and were not sent`);
      for (const e of answer.errors) warn(`rejected: ${e}`);
      if (answer.rejected > answer.errors.length) warn(`... and ${answer.rejected - answer.errors.length} more rejected`);
    });

  common(vulndb.command('show').description('what is loaded: records, sources, data dates and the last imports')).action(async (o) =>
    print(await client(o).json('GET', '/api/vulndb'), o, { table: statusTable }),
  );
}
