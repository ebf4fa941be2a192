import { Unzip, UnzipInflate, type UnzipFile } from 'fflate';

// Splits an OSV data upload into records without holding more than one record (plus one input
// chunk) in memory: a JSON document (one record, or an array of them), NDJSON (one record a
// line), or a zip with one JSON record per entry (osv.dev's per-ecosystem all.zip), read as a
// stream with fflate's Unzip (local headers in order; the central directory is not needed).
//
// Two kinds of failure: a record that cannot be used (too large, not JSON) is yielded with its
// reason and the import goes on; a file whose structure is broken (truncated JSON, not a zip, a
// corrupt deflate stream) throws OsvDataError, since nothing after that point can be trusted.

export type OsvDataKind = 'json' | 'ndjson' | 'zip';

/** One record's bytes, or why that record cannot be read; `where` names it for a person ("record 3", "line 7", "entry DSA-1-1.json"). */
export type RawRecord = { where: string; bytes: Buffer; error?: undefined } | { where: string; error: string; bytes?: undefined };

/** The upload itself is unreadable (truncated, not JSON, not a zip). */
export class OsvDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OsvDataError';
  }
}

export interface SplitLimits {
  /** Largest record, in bytes; a larger one is rejected (and skipped), not loaded. */
  maxRecordBytes: number;
}

const tooLarge = (where: string, max: number) => ({ where, error: `${where} is larger than the ${max}-byte limit for one record` });

/** The records of an upload, in order. */
export function splitRecords(source: AsyncIterable<Uint8Array>, kind: OsvDataKind, limits: SplitLimits): AsyncGenerator<RawRecord> {
  if (kind === 'ndjson') return splitLines(source, limits);
  if (kind === 'zip') return splitZip(source, limits);
  return splitJson(source, limits);
}

// ---------------------------------------------------------------- NDJSON

async function* splitLines(source: AsyncIterable<Uint8Array>, { maxRecordBytes: max }: SplitLimits): AsyncGenerator<RawRecord> {
  let parts: Buffer[] = [];
  let size = 0;
  let over = false;
  let line = 1;
  const end = (): RawRecord | undefined => {
    const where = `line ${line++}`;
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
    const wasOver = over;
    parts = [];
    size = 0;
    over = false;
    if (wasOver) return tooLarge(where, max);
    const text = bytes.toString('utf8').trim();
    return text ? { where, bytes } : undefined;
  };
  for await (const chunk of source) {
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      const piece = buf.subarray(start, nl < 0 ? buf.length : nl);
      if (!over) {
        size += piece.length;
        if (size > max) {
          over = true;
          parts = [];
        } else if (piece.length) parts.push(Buffer.from(piece));
      }
      if (nl < 0) break;
      const r = end();
      if (r) yield r;
      start = nl + 1;
    }
  }
  const r = end();
  if (r) yield r;
}

// ---------------------------------------------------------------- JSON: one record or an array

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * The document is scanned for its top-level structure only (strings, nesting depth, commas); each
 * record's bytes go to JSON.parse later, so a bad token inside one record rejects that record.
 */
async function* splitJson(source: AsyncIterable<Uint8Array>, { maxRecordBytes: max }: SplitLimits): AsyncGenerator<RawRecord> {
  // start: before the document; array: in the top-level array, between records; record: inside
  // one; done: after the document (only white space may follow).
  let mode: 'start' | 'array' | 'record' | 'done' = 'start';
  let single = false; // the document is one record, not an array
  let afterComma = false;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let parts: Buffer[] = [];
  let size = 0;
  let over = false;
  let index = 0;
  let offset = 0; // bytes before the current chunk
  const take = (buf: Buffer, from: number, to: number) => {
    if (over || to <= from) return;
    size += to - from;
    if (size > max) {
      over = true;
      parts = [];
    } else parts.push(Buffer.from(buf.subarray(from, to)));
  };
  const record = (): RawRecord => {
    const where = single ? 'the record' : `record ${++index}`;
    const r = over ? tooLarge(where, max) : { where, bytes: Buffer.concat(parts, size) };
    parts = [];
    size = 0;
    over = false;
    return r;
  };
  const corrupt = (at: number, what: string) =>
    new OsvDataError(`the JSON is not valid at byte ${offset + at}: ${what} (an OSV record or an array of records was expected)`);
  const shown = (c: number) => JSON.stringify(String.fromCharCode(c));

  for await (const chunk of source) {
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const out: RawRecord[] = [];
    let from = 0; // where the current record's bytes start in this chunk
    for (let i = 0; i < buf.length; i++) {
      const c = buf[i]!;
      if (mode === 'record') {
        if (inString) {
          if (escaped) escaped = false;
          else if (c === BACKSLASH) escaped = true;
          else if (c === QUOTE) inString = false;
        } else if (c === QUOTE) inString = true;
        else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
        else if ((c === CLOSE_BRACE || c === CLOSE_BRACKET) && depth > 0) {
          if (--depth === 0 && single) {
            take(buf, from, i + 1);
            out.push(record());
            mode = 'done';
          }
        } else if (depth === 0 && (c === COMMA || c === CLOSE_BRACKET)) {
          take(buf, from, i);
          out.push(record());
          mode = c === COMMA ? 'array' : 'done';
          afterComma = c === COMMA;
        } else if (depth === 0 && c === CLOSE_BRACE) throw corrupt(i, `unexpected ${shown(c)}`);
        continue;
      }
      if (isSpace(c)) continue;
      if (mode === 'start') {
        if (offset + i < 3 && (c === 0xef || c === 0xbb || c === 0xbf)) continue; // UTF-8 byte order mark
        if (c === OPEN_BRACKET) mode = 'array';
        else if (c === OPEN_BRACE) {
          single = true;
          mode = 'record';
          depth = 1;
          from = i;
        } else throw corrupt(i, `it starts with ${shown(c)}`);
      } else if (mode === 'array') {
        if (c === CLOSE_BRACKET && !afterComma) mode = 'done';
        else if (c === COMMA || c === CLOSE_BRACKET) throw corrupt(i, `unexpected ${shown(c)} in the array`);
        else {
          mode = 'record';
          depth = c === OPEN_BRACE || c === OPEN_BRACKET ? 1 : 0;
          inString = c === QUOTE;
          from = i;
        }
      } else throw corrupt(i, 'more data after the end of the document');
    }
    if (mode === 'record') take(buf, from, buf.length);
    offset += buf.length;
    for (const r of out) yield r;
  }
  const ended = mode as string; // (assigned in the loop above)
  if (ended === 'start') throw new OsvDataError('the JSON document is empty');
  if (ended !== 'done')
    throw new OsvDataError(
      `the JSON ends in the middle of ${ended === 'record' ? (single ? 'the record' : `record ${index + 1}`) : 'the array'} after ${offset} bytes (truncated?)`,
    );
}

// ---------------------------------------------------------------- zip

/** Bytes pushed into the unzipper at once: bounds what one push can inflate before records are taken out. */
const ZIP_SLICE = 16 * 1024;
const LOCAL_HEADER = 0x04034b50;
const END_OF_DIRECTORY = 0x06054b50;

async function* splitZip(source: AsyncIterable<Uint8Array>, { maxRecordBytes: max }: SplitLimits): AsyncGenerator<RawRecord> {
  const queue: RawRecord[] = [];
  let failure: OsvDataError | undefined;
  let entries = 0;
  let head: Buffer | undefined = Buffer.alloc(0);
  const unzip = new Unzip((f: UnzipFile) => {
    entries++;
    const isJson = f.name.toLowerCase().endsWith('.json');
    if (f.name.endsWith('/') || !isJson) {
      // Started and drained all the same: fflate keeps an unstarted entry's bytes.
      f.ondata = (err) => {
        if (err) failure ??= new OsvDataError(`the zip is corrupt: entry ${f.name}: ${err.message}`);
      };
      f.start();
      return;
    }
    const where = `entry ${f.name}`;
    if (f.originalSize !== undefined && f.originalSize > max) {
      queue.push(tooLarge(where, max));
      f.ondata = () => {};
      f.start();
      return;
    }
    let parts: Uint8Array[] = [];
    let size = 0;
    let over = false;
    f.ondata = (err, data, final) => {
      if (err) {
        failure ??= new OsvDataError(`the zip is corrupt: entry ${f.name}: ${err.message}`);
        return;
      }
      if (!over) {
        size += data.length;
        if (size > max) {
          over = true;
          parts = [];
        } else if (data.length) parts.push(data);
      }
      if (final) queue.push(over ? tooLarge(where, max) : { where, bytes: Buffer.concat(parts, size) });
    };
    f.start();
  });
  unzip.register(UnzipInflate);
  let total = 0;
  // fflate's Unzip keeps one chunk list per entry seen (`k`, newest first) and only ever reads the
  // first two; with hundreds of thousands of entries the list (and the unshift onto it) makes the
  // import quadratic (200,000 entries: 20 s instead of 6). Older lists are dropped after each push.
  const seen = unzip as unknown as { k?: unknown };
  const push = (data: Uint8Array, final: boolean) => {
    try {
      unzip.push(data, final);
    } catch (e) {
      throw new OsvDataError(`the zip is corrupt or truncated after ${total} bytes: ${(e as Error).message}`);
    }
    if (Array.isArray(seen.k) && seen.k.length > 2) seen.k.length = 2;
  };
  for await (const chunk of source) {
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (head) {
      // The first four bytes say whether this is a zip at all (fflate skips what is not).
      head = Buffer.concat([head, buf]);
      if (head.length < 4) continue;
      const sig = head.readUInt32LE(0);
      if (sig !== LOCAL_HEADER && sig !== END_OF_DIRECTORY)
        throw new OsvDataError('the upload is not a zip file (it does not start with a zip header)');
      buf = head;
      head = undefined;
    }
    for (let i = 0; i < buf.length; i += ZIP_SLICE) {
      push(buf.subarray(i, i + ZIP_SLICE), false);
      total += Math.min(ZIP_SLICE, buf.length - i);
      if (failure) throw failure;
      while (queue.length) yield queue.shift()!;
    }
  }
  if (head) throw new OsvDataError(head.length ? 'the upload is not a zip file (too short)' : 'the zip is empty (no bytes)');
  push(new Uint8Array(0), true);
  if (failure) throw failure;
  while (queue.length) yield queue.shift()!;
  if (entries === 0 && total > 22) throw new OsvDataError('the zip holds no entries that could be read (corrupt?)');
}
