import { sql, type Selectable } from 'kysely';
import { lookupName, type OsvAffectedEntry, type OsvRecord, type OsvSeverity } from '../domain/scan/osv-record.js';
import { now, type Executor, type MetaContext } from './context.js';
import type { VulnImportsTable } from './schema.js';

// Vulnerability data (OSV records) for the built-in scanner: records, the affected index the
// matcher searches by (ecosystem, package name), and the import history. The parsing and the
// streaming of imports are services/scan/vulndb.ts's; matching is the scanner's.

/** A package to look up: OSV's ecosystem string as the data has it ("Debian:12", "PyPI") and the package name. */
export interface VulnKey {
  ecosystem: string;
  name: string;
}

/** One affected entry that names a looked-up package, with what reports show of its record. */
export interface VulnCandidate {
  /** The key that was asked for, as given. */
  key: VulnKey;
  affected: OsvAffectedEntry;
  record: {
    id: string;
    summary?: string;
    aliases: string[];
    severity: OsvSeverity[];
    modified: string;
    published?: string;
    database_specific?: Record<string, unknown>;
  };
}

/** What one batch of upserts did. */
export interface VulnUpsertCounts {
  /** Record ids not stored before. */
  added: number;
  /** Stored records replaced by a newer version (or withdrawn now). */
  updated: number;
  /** Already stored with the same or a newer `modified`: nothing changed. */
  unchanged: number;
}

export interface VulnImportView {
  id: number;
  source: string;
  kind: string;
  /** running | succeeded | failed */
  status: string;
  identity: string | null;
  startedAt: string;
  finishedAt: string | null;
  records: number;
  added: number;
  updated: number;
  unchanged: number;
  withdrawn: number;
  rejected: number;
  dataDate: string | null;
  errors: string[];
  error: string | null;
}

export interface VulnSourceStatus {
  source: string;
  /** Records stored from this source, withdrawn ones included. */
  records: number;
  withdrawn: number;
  /** The newest `modified` among them. */
  dataDate: string | null;
  lastImport: VulnImportView | null;
}

export interface VulnDbStatus {
  records: number;
  withdrawn: number;
  /** Rows of the affected index: (record, package) pairs that lookups can find. */
  affectedPackages: number;
  /** The newest `modified` of any stored record. */
  dataDate: string | null;
  sources: VulnSourceStatus[];
  lastImport: VulnImportView | null;
}

export interface VulnImportOutcome {
  status: 'succeeded' | 'failed';
  records?: number;
  added?: number;
  updated?: number;
  unchanged?: number;
  withdrawn?: number;
  rejected?: number;
  data_date?: string | null;
  errors?: string[];
  error?: string | null;
}

export interface VulnDbStore {
  /**
   * Stores a batch of records from `source`, in one transaction. Idempotent: a record already
   * stored with the same `modified` is left alone (unless it is withdrawn only now), a newer one
   * replaces it and its affected rows, an older one changes nothing. A withdrawn record keeps its
   * row (with `withdrawn` set) and loses its affected rows, so lookups no longer find it.
   */
  upsertVulnRecords(records: readonly OsvRecord[], source: string, importId: number | null): Promise<VulnUpsertCounts>;
  /**
   * The affected entries naming any of `keys` (exact ecosystem; exact name, PEP 503-normalized for
   * PyPI), with their records' summary, aliases and severity. Withdrawn records are never returned.
   */
  affectedFor(keys: readonly VulnKey[]): Promise<VulnCandidate[]>;
  /** Records, sources, data dates and the last imports. */
  vulnDbStatus(): Promise<VulnDbStatus>;
  /**
   * A cheap stamp that changes whenever an import starts or ends (on any node): what the matcher's
   * cache of looked-up advisories is keyed by.
   */
  vulnDataStamp(): Promise<string>;
  /** Records an import as running; returns its id. */
  beginVulnImport(row: { source: string; kind: string; identity: string | null }): Promise<number>;
  finishVulnImport(id: number, outcome: VulnImportOutcome): Promise<void>;
  vulnImport(id: number): Promise<VulnImportView | undefined>;
}

/** Rows per INSERT: below SQLite's and PostgreSQL's bound-parameter limits at 10 columns. */
const INSERT_ROWS = 1000;
/** The advisory lock key that serializes vulnerability data writes on PostgreSQL ("vulndb" in ASCII). */
const VULNDB_LOCK = 0x76756c6e6462;
/** Names per lookup query (one query per this many keys). */
const LOOKUP_NAMES = 2000;

const chunks = <T>(xs: readonly T[], n: number): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
};

const json = (s: string | null): unknown => (s === null ? undefined : JSON.parse(s));

/** Does `next` replace the stored version? Newer, or as new and withdrawn only now. */
function replaces(next: OsvRecord, stored: { modified: string; withdrawn?: string | null } | undefined): boolean {
  if (!stored) return true;
  if (next.modified > stored.modified) return true;
  return next.modified === stored.modified && !!next.withdrawn && !stored.withdrawn;
}

type ImportRow = Selectable<VulnImportsTable>;

function importView(r: ImportRow): VulnImportView {
  return {
    id: Number(r.id),
    source: r.source,
    kind: r.kind,
    status: r.status,
    identity: r.identity,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    records: Number(r.records),
    added: Number(r.added),
    updated: Number(r.updated),
    unchanged: Number(r.unchanged),
    withdrawn: Number(r.withdrawn),
    rejected: Number(r.rejected),
    dataDate: r.data_date,
    errors: (json(r.errors) as string[] | undefined) ?? [],
    error: r.error,
  };
}

export class KyselyVulnDbStore implements VulnDbStore {
  constructor(private readonly ctx: MetaContext) {}

  upsertVulnRecords(records: readonly OsvRecord[], source: string, importId: number | null): Promise<VulnUpsertCounts> {
    // The newest version of each id in the batch (an export may carry one twice).
    const batch = new Map<string, OsvRecord>();
    for (const r of records) {
      const seen = batch.get(r.id);
      if (!seen || replaces(r, seen)) batch.set(r.id, r);
    }
    const counts: VulnUpsertCounts = { added: 0, updated: 0, unchanged: records.length - batch.size };
    if (batch.size === 0) return Promise.resolve(counts);
    return this.ctx.transaction(async (trx) => {
      // Two imports carrying the same new id would both see it absent and both add its affected
      // rows; on PostgreSQL batches take turns (SQLite's one writer already makes them).
      if (this.ctx.dialect === 'postgres') await sql`select pg_advisory_xact_lock(${VULNDB_LOCK})`.execute(trx);
      const stored = new Map<string, { modified: string; withdrawn: string | null }>();
      for (const ids of chunks([...batch.keys()], INSERT_ROWS)) {
        const rows = await trx.selectFrom('vuln_records').select(['id', 'modified', 'withdrawn']).where('id', 'in', ids).execute();
        for (const r of rows) stored.set(r.id, r);
      }
      const changed: OsvRecord[] = [];
      for (const r of batch.values()) {
        const before = stored.get(r.id);
        if (!replaces(r, before)) counts.unchanged++;
        else {
          changed.push(r);
          if (before) counts.updated++;
          else counts.added++;
        }
      }
      if (changed.length === 0) return counts;
      const replaced = changed.filter((r) => stored.has(r.id)).map((r) => r.id);
      for (const ids of chunks(replaced, INSERT_ROWS)) await trx.deleteFrom('vuln_affected').where('record_id', 'in', ids).execute();
      for (const part of chunks(changed, INSERT_ROWS)) await this.writeRecords(trx, part, source, importId);
      const affected = changed
        .filter((r) => !r.withdrawn)
        .flatMap((r) =>
          r.affected.map((a) => ({
            record_id: r.id,
            ecosystem: a.package.ecosystem,
            name: a.package.name,
            lookup_name: lookupName(a.package.ecosystem, a.package.name),
            entry: JSON.stringify(a),
          })),
        );
      for (const part of chunks(affected, INSERT_ROWS)) await trx.insertInto('vuln_affected').values(part).execute();
      return counts;
    });
  }

  private async writeRecords(ex: Executor, records: OsvRecord[], source: string, importId: number | null): Promise<void> {
    await ex
      .insertInto('vuln_records')
      .values(
        records.map((r) => ({
          id: r.id,
          source,
          import_id: importId,
          modified: r.modified,
          published: r.published ?? null,
          withdrawn: r.withdrawn ?? null,
          aliases: JSON.stringify(r.aliases),
          summary: r.summary ?? null,
          severity: JSON.stringify(r.severity),
          database_specific: r.database_specific ? JSON.stringify(r.database_specific) : null,
        })),
      )
      .onConflict((oc) =>
        oc.column('id').doUpdateSet((eb) => ({
          source: eb.ref('excluded.source'),
          import_id: eb.ref('excluded.import_id'),
          modified: eb.ref('excluded.modified'),
          published: eb.ref('excluded.published'),
          withdrawn: eb.ref('excluded.withdrawn'),
          aliases: eb.ref('excluded.aliases'),
          summary: eb.ref('excluded.summary'),
          severity: eb.ref('excluded.severity'),
          database_specific: eb.ref('excluded.database_specific'),
        })),
      )
      .execute();
  }

  async affectedFor(keys: readonly VulnKey[]): Promise<VulnCandidate[]> {
    // Asked keys by (ecosystem, lookup name); several keys may meet there (PyPI "Foo_Bar", "foo-bar").
    const wanted = new Map<string, Map<string, VulnKey[]>>();
    for (const k of keys) {
      const names = wanted.get(k.ecosystem) ?? new Map<string, VulnKey[]>();
      wanted.set(k.ecosystem, names);
      const ln = lookupName(k.ecosystem, k.name);
      const list = names.get(ln) ?? [];
      if (!list.some((x) => x.name === k.name)) list.push(k);
      names.set(ln, list);
    }
    const pairs = [...wanted].flatMap(([eco, names]) => [...names.keys()].map((n) => [eco, n] as const));
    const out: VulnCandidate[] = [];
    for (const part of chunks(pairs, LOOKUP_NAMES)) {
      const rows = await this.ctx.db
        .selectFrom('vuln_affected as a')
        .innerJoin('vuln_records as r', 'r.id', 'a.record_id')
        .select([
          'a.ecosystem',
          'a.lookup_name',
          'a.entry',
          'r.id',
          'r.summary',
          'r.aliases',
          'r.severity',
          'r.modified',
          'r.published',
          'r.database_specific',
        ])
        // Row values against the (ecosystem, lookup_name) index: both engines probe it once per pair.
        .where(sql<boolean>`(a.ecosystem, a.lookup_name) in (values ${sql.join(part.map(([eco, n]) => sql`(${eco}, ${n})`))})`)
        .where('r.withdrawn', 'is', null)
        .orderBy('r.id')
        .orderBy('a.id')
        .execute();
      for (const row of rows) {
        const record: VulnCandidate['record'] = {
          id: row.id,
          aliases: json(row.aliases) as string[],
          severity: json(row.severity) as OsvSeverity[],
          modified: row.modified,
        };
        if (row.summary !== null) record.summary = row.summary;
        if (row.published !== null) record.published = row.published;
        if (row.database_specific !== null) record.database_specific = json(row.database_specific) as Record<string, unknown>;
        const affected = JSON.parse(row.entry) as OsvAffectedEntry;
        for (const key of wanted.get(row.ecosystem)?.get(row.lookup_name) ?? []) out.push({ key, affected, record });
      }
    }
    return out;
  }

  async vulnDbStatus(): Promise<VulnDbStatus> {
    const db = this.ctx.db;
    const perSource = await db
      .selectFrom('vuln_records')
      .select((eb) => [
        'source',
        eb.fn.countAll().as('records'),
        eb.fn.count('withdrawn').as('withdrawn'),
        eb.fn.max('modified').as('data_date'),
      ])
      .groupBy('source')
      .orderBy('source')
      .execute();
    const affected = await db
      .selectFrom('vuln_affected')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    const lastIds = db
      .selectFrom('vuln_imports')
      .select((eb) => eb.fn.max('id').as('id'))
      .groupBy('source');
    const lastImports = (await db.selectFrom('vuln_imports').selectAll().where('id', 'in', lastIds).execute()).map(importView);
    const bySource = new Map(lastImports.map((i) => [i.source, i]));
    const sources: VulnSourceStatus[] = perSource.map((s) => ({
      source: s.source,
      records: Number(s.records),
      withdrawn: Number(s.withdrawn),
      dataDate: s.data_date ?? null,
      lastImport: bySource.get(s.source) ?? null,
    }));
    // Sources whose imports stored nothing (every record rejected) still show their last import.
    for (const i of lastImports)
      if (!sources.some((s) => s.source === i.source))
        sources.push({ source: i.source, records: 0, withdrawn: 0, dataDate: null, lastImport: i });
    sources.sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
    const dates = sources.map((s) => s.dataDate).filter((d): d is string => d !== null);
    return {
      records: sources.reduce((n, s) => n + s.records, 0),
      withdrawn: sources.reduce((n, s) => n + s.withdrawn, 0),
      affectedPackages: Number(affected.n),
      dataDate: dates.length ? dates.reduce((a, b) => (a > b ? a : b)) : null,
      sources,
      lastImport: lastImports.reduce<VulnImportView | null>((a, b) => (!a || b.id > a.id ? b : a), null),
    };
  }

  async vulnDataStamp(): Promise<string> {
    const r = await this.ctx.db
      .selectFrom('vuln_imports')
      .select((eb) => [eb.fn.max('id').as('last'), eb.fn.count('finished_at').as('finished')])
      .executeTakeFirst();
    return `${r?.last ?? 0}:${r?.finished ?? 0}`;
  }

  async beginVulnImport(row: { source: string; kind: string; identity: string | null }): Promise<number> {
    const r = await this.ctx.db
      .insertInto('vuln_imports')
      .values({ ...row, status: 'running', started_at: now() })
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(r.id);
  }

  async finishVulnImport(id: number, outcome: VulnImportOutcome): Promise<void> {
    const { errors, ...rest } = outcome;
    await this.ctx.db
      .updateTable('vuln_imports')
      .set({ ...rest, errors: errors ? JSON.stringify(errors) : null, finished_at: now() })
      .where('id', '=', id)
      .execute();
  }

  async vulnImport(id: number): Promise<VulnImportView | undefined> {
    const r = await this.ctx.db.selectFrom('vuln_imports').selectAll().where('id', '=', id).executeTakeFirst();
    return r && importView(r);
  }
}
