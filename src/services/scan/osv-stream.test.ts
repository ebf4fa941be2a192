import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { strToU8, zipSync } from 'fflate';
import { OsvDataError, splitRecords, type OsvDataKind } from './osv-stream.js';

// The splitter must give the same records whatever the chunk boundaries: every case is also fed
// one byte at a time and in 7-byte chunks.

function chunked(data: Buffer, size: number): AsyncIterable<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts, { objectMode: true });
}

async function split(data: string | Buffer, kind: OsvDataKind, size = 1 << 20, max = 1 << 20): Promise<string[]> {
  const out: string[] = [];
  for await (const r of splitRecords(chunked(Buffer.from(data), size), kind, { maxRecordBytes: max }))
    out.push(r.error !== undefined ? `! ${r.error}` : r.bytes.toString('utf8').trim());
  return out;
}

async function everyWay(data: string | Buffer, kind: OsvDataKind, max?: number): Promise<string[]> {
  const whole = await split(data, kind, 1 << 20, max);
  for (const size of [1, 7]) assert.deepEqual(await split(data, kind, size, max), whole, `in ${size}-byte chunks`);
  return whole;
}

describe('JSON', () => {
  test('an array: records with brackets, commas and escaped quotes inside strings; scalars as records', async () => {
    const a = '{"id":"A","s":"x],{\\"y\\\\"}';
    const b = '{"id":"B","n":[1,[2,{"z":"}"}]]}';
    assert.deepEqual(await everyWay(`\ufeff [ ${a} ,\n${b},3 ,"s"]  \n`, 'json'), [a, b, '3', '"s"']);
    assert.deepEqual(await everyWay('[]', 'json'), []);
  });

  test('one record as the whole document', async () => {
    assert.deepEqual(await everyWay('\n{"id":"A","v":["]"]}\n', 'json'), ['{"id":"A","v":["]"]}']);
  });

  test('a record over the limit is reported and skipped', async () => {
    const big = `{"id":"B","x":"${'x'.repeat(100)}"}`;
    assert.deepEqual(await everyWay(`[${big},{"id":"C"}]`, 'json', 50), [
      '! record 1 is larger than the 50-byte limit for one record',
      '{"id":"C"}',
    ]);
  });

  test('broken structure throws OsvDataError', async () => {
    for (const [doc, message] of [
      ['[{"id":"A"},', /ends in the middle of the array/],
      ['[{"id":"A"', /ends in the middle of record 1/],
      ['{"id":"A"', /ends in the middle of the record/],
      ['[{"a":1},,{}]', /unexpected "," in the array/],
      ['[{"a":1},]', /unexpected "]" in the array/],
      ['{"a":1} x', /more data after the end/],
      ['  ', /empty/],
      ['nope', /it starts with "n"/],
    ] as const) {
      await assert.rejects(split(doc, 'json'), (e: unknown) => e instanceof OsvDataError && message.test(e.message), doc);
      await assert.rejects(split(doc, 'json', 1), OsvDataError, `${doc} byte by byte`);
    }
  });
});

test('NDJSON: one record a line, CRLF and blank lines allowed, long lines rejected', async () => {
  const long = `{"x":"${'y'.repeat(80)}"}`;
  assert.deepEqual(await everyWay(`{"id":"A"}\r\n\n  \n${long}\n{"id":"B"}`, 'ndjson', 40), [
    '{"id":"A"}',
    '! line 4 is larger than the 40-byte limit for one record',
    '{"id":"B"}',
  ]);
});

describe('zip', () => {
  test('one record per .json entry, in order; folders and other files skipped; large entries rejected', async () => {
    const zip = zipSync({
      'osv/': new Uint8Array(0),
      'osv/A.json': strToU8('{"id":"A"}'),
      'osv/README.txt': strToU8('hello'),
      'osv/B.json': strToU8(`{"id":"B","pad":"${'p'.repeat(500)}"}`),
      'osv/C.JSON': strToU8('{"id":"C"}'),
    });
    assert.deepEqual(await everyWay(Buffer.from(zip), 'zip', 100), [
      '{"id":"A"}',
      '! entry osv/B.json is larger than the 100-byte limit for one record',
      '{"id":"C"}',
    ]);
  });

  test('not a zip, truncated, or empty: OsvDataError', async () => {
    const zip = Buffer.from(zipSync({ 'A.json': strToU8(JSON.stringify({ id: 'A', pad: 'q'.repeat(300) })) }, { level: 0 }));
    for (const [data, message] of [
      [Buffer.from('{"id":"A"}'), /not a zip file/],
      [zip.subarray(0, 120), /corrupt or truncated/],
      [Buffer.alloc(0), /empty/],
    ] as const)
      await assert.rejects(split(data, 'zip', 7), (e: unknown) => e instanceof OsvDataError && message.test(e.message));
    // An empty archive (only the end-of-directory record) holds no records, and that is fine.
    assert.deepEqual(await split(Buffer.from(zipSync({})), 'zip'), []);
  });
});
