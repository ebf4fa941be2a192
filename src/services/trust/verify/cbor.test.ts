import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CborError, decodeCbor, encodeCbor, Tagged } from './cbor.js';

const hex = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex');

describe('decodeCbor (RFC 8949 appendix A vectors)', () => {
  test('integers', () => {
    assert.equal(decodeCbor(hex('00')), 0);
    assert.equal(decodeCbor(hex('17')), 23);
    assert.equal(decodeCbor(hex('1818')), 24);
    assert.equal(decodeCbor(hex('1903e8')), 1000);
    assert.equal(decodeCbor(hex('1a000f4240')), 1000000);
    assert.equal(decodeCbor(hex('1b000000e8d4a51000')), 1000000000000);
    assert.equal(decodeCbor(hex('1bffffffffffffffff')), 18446744073709551615n);
    assert.equal(decodeCbor(hex('20')), -1);
    assert.equal(decodeCbor(hex('3863')), -100);
    assert.equal(decodeCbor(hex('3bffffffffffffffff')), -18446744073709551616n);
  });

  test('floats and simple values', () => {
    assert.equal(decodeCbor(hex('f93c00')), 1);
    assert.equal(decodeCbor(hex('f93e00')), 1.5);
    assert.equal(decodeCbor(hex('fa47c35000')), 100000);
    assert.equal(decodeCbor(hex('fb3ff199999999999a')), 1.1);
    assert.equal(decodeCbor(hex('f4')), false);
    assert.equal(decodeCbor(hex('f5')), true);
    assert.equal(decodeCbor(hex('f6')), null);
    assert.equal(decodeCbor(hex('f7')), undefined);
  });

  test('strings, arrays, maps, tags', () => {
    assert.deepEqual(decodeCbor(hex('4401020304')), new Uint8Array([1, 2, 3, 4]));
    assert.equal(decodeCbor(hex('6449455446')), 'IETF');
    assert.equal(decodeCbor(hex('62c3bc')), 'ü');
    assert.deepEqual(decodeCbor(hex('8301820203820405')), [1, [2, 3], [4, 5]]);
    assert.deepEqual(
      decodeCbor(hex('a201020304')),
      new Map([
        [1, 2],
        [3, 4],
      ]),
    );
    assert.deepEqual(
      decodeCbor(hex('a26161016162820203')),
      new Map<string, unknown>([
        ['a', 1],
        ['b', [2, 3]],
      ]),
    );
    const t = decodeCbor(hex('c11a514b67b0'));
    assert.ok(t instanceof Tagged);
    assert.equal(t.tag, 1);
    assert.equal(t.value, 1363896240);
  });

  test('round trip through encodeCbor', () => {
    const v = new Tagged(18, [
      new Uint8Array([0xa0]),
      new Map<string | number, never>([
        [33, [new Uint8Array([1, 2])] as never],
        ['k', -37 as never],
      ]),
      new Uint8Array(300),
      'x'.repeat(70000),
    ]);
    assert.deepEqual(decodeCbor(encodeCbor(v)), v);
    assert.deepEqual(
      encodeCbor(['Signature1', new Uint8Array([0xa0]), new Uint8Array(0), new Uint8Array([1])]),
      hex('846a5369676e61747572653141a0404101'),
    );
  });
});

describe('decodeCbor refuses', () => {
  const refuses = (h: string | Buffer, message: RegExp): void =>
    assert.throws(
      () => decodeCbor(typeof h === 'string' ? hex(h) : h),
      (e: unknown) => e instanceof CborError && message.test(e.message),
    );

  test('truncation anywhere', () => {
    refuses('', /truncated/);
    refuses('19 03', /truncated/);
    refuses('44 0102', /truncated/);
    refuses('83 01 02', /truncated/);
    refuses('a2 01 02 03', /truncated/);
  });

  test('lengths beyond the input (no allocation first)', () => {
    refuses('9b ffffffffffffffff', /length/);
    refuses('9a 7fffffff 00', /length/);
    refuses('bb 7fffffffffffffff', /length/);
    refuses('7a 00100000 61', /truncated/);
  });

  test('nesting deeper than 16, also 10000 deep', () => {
    assert.deepEqual(decodeCbor(Buffer.concat([Buffer.alloc(16, 0x81), hex('00')])), [[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]);
    refuses(Buffer.concat([Buffer.alloc(17, 0x81), hex('00')]), /deeper than 16/);
    refuses(Buffer.concat([Buffer.alloc(10000, 0x81), hex('00')]), /deeper than 16/);
    refuses(Buffer.concat([Buffer.alloc(10000, 0xc1), hex('00')]), /deeper than 16/);
  });

  test('indefinite lengths, breaks, reserved values', () => {
    refuses('9f 01 ff', /indefinite/);
    refuses('5f 41 00 ff', /indefinite/);
    refuses('ff', /break/);
    refuses('1c', /reserved/);
    refuses('f8 20', /simple value/);
  });

  test('bad map keys, duplicates, bad UTF-8, trailing bytes', () => {
    refuses('a1 80 01', /key/);
    refuses('a2 01 02 01 03', /duplicate/);
    refuses('62 c3 28', /UTF-8/);
    refuses('01 02', /unexpected byte/);
  });
});
