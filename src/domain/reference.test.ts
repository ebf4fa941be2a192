import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RegistryError } from './errors.js';
import {
  assertRegistryName,
  assertRepositoryName,
  assertTag,
  isValidRegistryName,
  isValidRepositoryName,
  isValidTag,
  MAX_REPOSITORY_NAME,
} from './reference.js';

function throwsCode(fn: () => unknown, code: string, status = 400): void {
  assert.throws(fn, (e: unknown) => e instanceof RegistryError && e.code === code && e.status === status);
}

describe('repository names', () => {
  test('accepts distribution-spec names', () => {
    for (const n of [
      'a',
      'hello',
      'team/app',
      'a/b/c/d',
      'my-app',
      'my--app',
      'my_app',
      'my__app',
      'my.app',
      'a0/b1',
      '0',
      'x'.repeat(MAX_REPOSITORY_NAME),
    ]) {
      assert.equal(isValidRepositoryName(n), true, n);
      assert.equal(assertRepositoryName(n), n);
    }
  });

  test('rejects everything else', () => {
    const bad = [
      '',
      'Hello',
      'UPPER/case',
      '/lead',
      'trail/',
      'a//b',
      '-a',
      'a-',
      '.a',
      'a.',
      '_a',
      'a_',
      'a___b',
      'a..b',
      'a._b',
      'a b',
      'a:b',
      'a@b',
      '..',
      'a/../b',
      'a\\b',
      'é',
      'x'.repeat(MAX_REPOSITORY_NAME + 1),
    ];
    for (const n of bad) {
      assert.equal(isValidRepositoryName(n), false, JSON.stringify(n));
      throwsCode(() => assertRepositoryName(n), 'NAME_INVALID');
    }
  });

  test('the error names the repository (clipped)', () => {
    try {
      assertRepositoryName('Bad/Name');
      assert.fail('should throw');
    } catch (e) {
      assert.match((e as Error).message, /"Bad\/Name"/);
      assert.deepEqual((e as RegistryError).detail, { name: 'Bad/Name' });
    }
    try {
      assertRepositoryName('A'.repeat(300));
    } catch (e) {
      assert.ok(((e as RegistryError).detail as { name: string }).name.endsWith('...'));
    }
  });
});

describe('tags', () => {
  test('accepts 1-128 characters of [A-Za-z0-9_.-] not starting with . or -', () => {
    for (const t of ['latest', 'v1', 'V1.2.3', '_x', '1.10', 'a-b_c.d', 'A', 'x'.repeat(128)]) {
      assert.equal(isValidTag(t), true, t);
      assert.equal(assertTag(t), t);
    }
  });

  test('rejects empty, too long, leading . or -, and other characters', () => {
    for (const t of ['', '.x', '-x', 'x'.repeat(129), 'a:b', 'a/b', 'a b', 'a@b', 'ä', 'sha256:abc']) {
      assert.equal(isValidTag(t), false, JSON.stringify(t));
      throwsCode(() => assertTag(t), 'TAG_INVALID');
    }
  });
});

describe('registry names', () => {
  test('accepts 5-50 letters and digits, any case', () => {
    for (const n of ['demoreg', 'ABCDE', 'MyReg1', '12345', 'a'.repeat(50)]) {
      assert.equal(isValidRegistryName(n), true, n);
      assert.equal(assertRegistryName(n), n);
    }
  });

  test('rejects short, long, and non-alphanumeric names', () => {
    for (const n of ['', 'abcd', 'a'.repeat(51), 'my-reg', 'my_reg', 'my.reg', 'my reg', 'regé1']) {
      assert.equal(isValidRegistryName(n), false, JSON.stringify(n));
      throwsCode(() => assertRegistryName(n), 'REGISTRY_NAME_INVALID');
    }
  });

  test('a non-string is refused, not crashed on', () => {
    throwsCode(() => assertRegistryName(undefined as unknown as string), 'REGISTRY_NAME_INVALID');
    throwsCode(() => assertRegistryName(12345 as unknown as string), 'REGISTRY_NAME_INVALID');
  });
});
