import { RegistryError } from '../../domain/errors.js';
import { OsvRecordError, parseOsvRecord, type OsvRecord } from '../../domain/scan/osv-record.js';
import type { VulnDbStatus, VulnDbStore, VulnImportView } from '../../meta/vulndb.js';
import type { Logger } from '../../observability/logger.js';
import { OsvDataError, splitRecords, type OsvDataKind, type RawRecord } from './osv-stream.js';

// Vulnerability data, offline: an operator carries OSV data in (a JSON file, a directory sent as
// NDJSON, or osv.dev's per-ecosystem all.zip) and imports it. The upload is streamed: records are
// split off as they arrive (osv-stream.ts), checked one by one (a bad record is counted and named,
// never fatal), and written in batches of one transaction each, so memory stays at one batch
// whatever the upload's size. A broken file (truncated JSON, a corrupt zip) stops the import: the
// valid records before the damage are loaded (each is whole, and loading is idempotent), and the
// import is recorded as failed with the reason.

export type { OsvDataKind } from './osv-stream.js';

export interface VulnDbLimits {
  /** Largest record (default 1 MiB); a larger one is rejected, the import goes on. */
  maxRecordBytes: number;
  /** Largest upload (default 4 GiB; an uncompressed osv.dev export of every ecosystem is a few GB); beyond it: 413. */
  maxUploadBytes: number;
  /** Records per write transaction. */
  batchSize: number;
  /** Rejection reasons kept and reported. */
  maxErrors: number;
}

export const DEFAULT_VULNDB_LIMITS: VulnDbLimits = {
  maxRecordBytes: 1024 * 1024,
  maxUploadBytes: 4 * 1024 * 1024 * 1024,
  batchSize: 500,
  maxErrors: 10,
};

export interface VulnImportResult {
  importId: number;
  source: string;
  kind: OsvDataKind;
  /** Valid records in the upload, stored now or already current. */
  records: number;
  /** Of those: new ids, replaced by a newer version, already stored as is. */
  added: number;
  updated: number;
  unchanged: number;
  /** Valid records marked withdrawn (kept, but never matched). */
  withdrawn: number;
  /** Records that could not be used, with the first few reasons in `errors`. */
  rejected: number;
  errors: string[];
  /** The newest `modified` among the upload's records (ISO-8601), null when it had none. */
  dataDate: string | null;
}

export interface VulnImportProgress {
  records: number;
  rejected: number;
  bytes: number;
}

/** What names a source: "debian", "osv-PyPI", "ghsa:2026-11"... */
const SOURCE_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

export class VulnDbService {
  readonly limits: VulnDbLimits;
  /** Told after an import stored records (the scanner queues a match of the stored inventories). */
  afterImport?: (result: VulnImportResult) => Promise<void>;

  constructor(
    private readonly store: VulnDbStore,
    private readonly log: Logger,
    limits: Partial<VulnDbLimits> = {},
  ) {
    this.limits = { ...DEFAULT_VULNDB_LIMITS, ...limits };
  }

  /** Checks a source name; REQUEST_INVALID says what a name may be. */
  checkSource(source: unknown): string {
    if (typeof source !== 'string' || !SOURCE_NAME.test(source))
      throw new RegistryError(
        'REQUEST_INVALID',
        `give the data's source name (?source=NAME): 1 to 64 letters, digits, ".", "_", ":" or "-", starting with a letter or digit${typeof source === 'string' && source ? `, got "${source.slice(0, 70)}"` : ''}`,
      );
    return source;
  }

  /**
   * Imports OSV records from `source` (the upload's bytes), streaming. Throws REQUEST_INVALID (400)
   * when the file is broken and (413) when it is larger than maxUploadBytes; per-record problems
   * are counted in the result instead.
   */
  async importOsv(
    source: AsyncIterable<Uint8Array>,
    kind: OsvDataKind,
    sourceName: string,
    opts: { identity?: string | null; onProgress?: (p: VulnImportProgress) => void } = {},
  ): Promise<VulnImportResult> {
    this.checkSource(sourceName);
    const importId = await this.store.beginVulnImport({ source: sourceName, kind, identity: opts.identity ?? null });
    const result: VulnImportResult = {
      importId,
      source: sourceName,
      kind,
      records: 0,
      added: 0,
      updated: 0,
      unchanged: 0,
      withdrawn: 0,
      rejected: 0,
      errors: [],
      dataDate: null,
    };
    const progress = { bytes: 0 };
    const started = Date.now();
    let batch: OsvRecord[] = [];
    let logged = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      const counts = await this.store.upsertVulnRecords(batch, sourceName, importId);
      result.added += counts.added;
      result.updated += counts.updated;
      result.unchanged += counts.unchanged;
      batch = [];
      opts.onProgress?.({ records: result.records, rejected: result.rejected, bytes: progress.bytes });
      // A large import says how far it is, every 10,000 records, for whoever follows the log.
      if (Math.floor(result.records / 10_000) > logged) {
        logged = Math.floor(result.records / 10_000);
        this.log.info(
          { importId, source: sourceName, records: result.records, rejected: result.rejected, bytes: progress.bytes },
          'importing vulnerability data',
        );
      }
    };
    try {
      for await (const raw of splitRecords(this.counted(source, progress), kind, this.limits)) {
        const rec = this.check(raw, result);
        if (!rec) continue;
        result.records++;
        if (rec.withdrawn) result.withdrawn++;
        if (result.dataDate === null || rec.modified > result.dataDate) result.dataDate = rec.modified;
        batch.push(rec);
        if (batch.length >= this.limits.batchSize) await flush();
      }
      await flush();
    } catch (e) {
      let err = e;
      if (e instanceof OsvDataError) {
        // The records before the damage are whole and valid: they are kept, as a re-import would.
        err = await flush().then(
          () =>
            new RegistryError(
              'REQUEST_INVALID',
              `${e.message}; ${result.records ? `the ${result.records} valid records before it were loaded` : 'nothing was loaded'}`,
            ),
          (f: unknown) => f,
        );
      }
      await this.store
        .finishVulnImport(importId, { ...outcome(result), status: 'failed', error: (err as Error).message })
        .catch((f: unknown) => this.log.warn({ err: f, importId }, 'could not record the failed vulnerability data import'));
      throw err;
    }
    await this.store.finishVulnImport(importId, { ...outcome(result), status: 'succeeded' });
    if (result.added + result.updated > 0) await this.afterImport?.(result);
    this.log.info(
      { importId, source: sourceName, kind, ms: Date.now() - started, ...outcome(result), errors: undefined },
      'imported vulnerability data',
    );
    return result;
  }

  status(): Promise<VulnDbStatus> {
    return this.store.vulnDbStatus();
  }

  import(id: number): Promise<VulnImportView | undefined> {
    return this.store.vulnImport(id);
  }

  /** The record of a raw one, or undefined after counting why it was rejected. */
  private check(raw: RawRecord, result: VulnImportResult): OsvRecord | undefined {
    let reason: string;
    if (raw.error !== undefined) reason = raw.error;
    else {
      try {
        return parseOsvRecord(JSON.parse(raw.bytes.toString('utf8')));
      } catch (e) {
        reason =
          e instanceof OsvRecordError
            ? `${raw.where}: ${e.message}`
            : `${raw.where} is not valid JSON: ${(e as Error).message.slice(0, 200)}`;
      }
    }
    result.rejected++;
    if (result.errors.length < this.limits.maxErrors) result.errors.push(reason);
    return undefined;
  }

  /** The upload's bytes, counted; beyond maxUploadBytes it stops with 413. */
  private async *counted(source: AsyncIterable<Uint8Array>, progress: { bytes: number }): AsyncGenerator<Uint8Array> {
    const max = this.limits.maxUploadBytes;
    for await (const chunk of source) {
      progress.bytes += chunk.byteLength;
      if (progress.bytes > max)
        throw new RegistryError('REQUEST_INVALID', `the upload is larger than the ${max}-byte limit for vulnerability data`, {
          status: 413,
        });
      yield chunk;
    }
  }
}

function outcome(r: VulnImportResult) {
  return {
    records: r.records,
    added: r.added,
    updated: r.updated,
    unchanged: r.unchanged,
    withdrawn: r.withdrawn,
    rejected: r.rejected,
    data_date: r.dataDate,
    errors: r.errors,
  };
}
