import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseLicense, spdxExpression, spdxLicenseId } from './licenses.js';

describe('SPDX license expressions', () => {
  test('identifiers match case-insensitively and come out in the list case', () => {
    assert.equal(spdxLicenseId('mit'), 'MIT');
    assert.equal(spdxLicenseId('APACHE-2.0'), 'Apache-2.0');
    assert.equal(spdxLicenseId('bsd-3-clause'), 'BSD-3-Clause');
    assert.equal(spdxLicenseId('GPL-2+'), undefined);
    assert.equal(spdxLicenseId('Artistic'), undefined);
  });

  test('simple identifiers and compound expressions', () => {
    assert.deepEqual(parseLicense(' MIT '), { expression: 'MIT', simpleId: true });
    assert.deepEqual(parseLicense('mit OR apache-2.0'), { expression: 'MIT OR Apache-2.0', simpleId: false });
    assert.deepEqual(parseLicense('GPL-2.0+'), { expression: 'GPL-2.0+', simpleId: false });
    assert.deepEqual(parseLicense('GPL-2.0-or-later WITH classpath-exception-2.0'), {
      expression: 'GPL-2.0-or-later WITH Classpath-exception-2.0',
      simpleId: false,
    });
    assert.deepEqual(parseLicense('(MIT OR Apache-2.0) AND BSD-3-Clause'), {
      expression: '(MIT OR Apache-2.0) AND BSD-3-Clause',
      simpleId: false,
    });
    // Redundant parentheses go; needed ones stay.
    assert.deepEqual(parseLicense('((MIT))'), { expression: 'MIT', simpleId: true });
    assert.equal(parseLicense('MIT AND (Apache-2.0 AND ISC)')?.expression, 'MIT AND Apache-2.0 AND ISC');
    assert.equal(parseLicense('MIT OR Apache-2.0 AND ISC')?.expression, 'MIT OR Apache-2.0 AND ISC');
  });

  test('anything else is not an expression', () => {
    for (const s of [
      '',
      '   ',
      'GPL-2+',
      'public-domain',
      'MIT OR',
      'AND MIT',
      '(MIT',
      'MIT)',
      'MIT Apache-2.0',
      'MIT WITH',
      'MIT WITH MIT',
      'Classpath-exception-2.0',
      'MIT and Apache-2.0',
      'LicenseRef-foo',
      'MIT++',
      `${'('.repeat(600)}MIT${')'.repeat(600)}`,
    ]) {
      assert.equal(parseLicense(s), null, s);
    }
  });

  test('several declared licenses all apply: AND, parenthesizing an OR', () => {
    assert.equal(spdxExpression(['MIT']), 'MIT');
    assert.equal(spdxExpression(['MIT', 'Apache-2.0 OR ISC']), 'MIT AND (Apache-2.0 OR ISC)');
    assert.equal(spdxExpression(['MIT', 'GPL-2+']), null);
    assert.equal(spdxExpression([]), null);
  });
});
