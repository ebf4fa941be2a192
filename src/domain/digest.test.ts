import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { digestOf, isDigest, isSupportedAlgorithm, newHasher, parseDigest } from './digest.js';
import { RegistryError } from './errors.js';

const HEX64 = 'a'.repeat(64);
const HEX128 = 'b'.repeat(128);

function rejects(input: string, messagePart?: RegExp): void {
  assert.throws(
    () => parseDigest(input),
    (e: unknown) => {
      assert.ok(e instanceof RegistryError, 'a RegistryError');
      assert.equal(e.code, 'DIGEST_INVALID');
      assert.equal(e.status, 400);
      if (messagePart) assert.match(e.message, messagePart);
      return true;
    },
  );
}

describe('parseDigest', () => {
  test('accepts sha256 and sha512 in canonical form', () => {
    assert.deepEqual(parseDigest(`sha256:${HEX64}`), { algorithm: 'sha256', hex: HEX64, value: `sha256:${HEX64}` });
    assert.deepEqual(parseDigest(`sha512:${HEX128}`), { algorithm: 'sha512', hex: HEX128, value: `sha512:${HEX128}` });
  });

  test('requires a digest', () => {
    rejects('', /required/);
    rejects(undefined as unknown as string, /required/);
  });

  test('rejects text that is not algorithm:encoded', () => {
    rejects(HEX64, /not a digest/);
    rejects(`sha256${HEX64}`, /not a digest/);
    rejects(`:${HEX64}`, /not a digest/);
    rejects('sha256:', /not a digest/);
    rejects(`SHA256:${HEX64}`, /not a digest/);
    rejects(`sha256:${HEX64} `, /not a digest/);
    rejects(`sha256:${'a'.repeat(300)}`, /not a digest/);
  });

  test('rejects unregistered algorithms', () => {
    rejects(`md5:${'a'.repeat(32)}`, /algorithm "md5" is not supported/);
    rejects(`sha384:${'a'.repeat(96)}`, /not supported/);
    // grammar allows separators in the algorithm; still unsupported
    rejects(`sha256+b64u:${HEX64}`, /not supported/);
  });

  test('insists on lowercase hex of the exact length', () => {
    rejects(`sha256:${'a'.repeat(63)}`, /64 lowercase hex/);
    rejects(`sha256:${'a'.repeat(65)}`, /64 lowercase hex/);
    rejects(`sha256:${'A'.repeat(64)}`, /64 lowercase hex/);
    rejects(`sha256:${'g'.repeat(64)}`, /64 lowercase hex/);
    rejects(`sha512:${HEX64}`, /128 lowercase hex/);
  });

  test('clips very long input in the message', () => {
    try {
      parseDigest(`sha256:${'z'.repeat(150)}`);
      assert.fail('should throw');
    } catch (e) {
      assert.ok((e as Error).message.includes('...'));
      assert.ok((e as Error).message.length < 200);
    }
  });
});

describe('digest helpers', () => {
  test('isSupportedAlgorithm', () => {
    assert.equal(isSupportedAlgorithm('sha256'), true);
    assert.equal(isSupportedAlgorithm('sha512'), true);
    assert.equal(isSupportedAlgorithm('sha1'), false);
    assert.equal(isSupportedAlgorithm('SHA256'), false);
  });

  test('isDigest tells a digest reference from a tag', () => {
    assert.equal(isDigest(`sha256:${HEX64}`), true);
    assert.equal(isDigest('latest'), false);
    assert.equal(isDigest('v1.2.3'), false);
  });

  test('digestOf hashes bytes and strings alike', () => {
    const want = `sha256:${createHash('sha256').update('hello').digest('hex')}`;
    assert.equal(digestOf('hello'), want);
    assert.equal(digestOf(Buffer.from('hello')), want);
    assert.equal(digestOf(new Uint8Array(Buffer.from('hello'))), want);
    assert.equal(digestOf(''), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const d512 = digestOf('hello', 'sha512');
    assert.match(d512, /^sha512:[0-9a-f]{128}$/);
    assert.equal(parseDigest(d512).algorithm, 'sha512');
  });

  test('newHasher streams to the same result as digestOf', () => {
    const h = newHasher('sha256');
    h.update('hel');
    h.update('lo');
    assert.equal(`sha256:${h.digest('hex')}`, digestOf('hello'));
  });
});
