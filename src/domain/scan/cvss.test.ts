import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cvss2BaseScore, cvss3BaseScore } from './cvss.js';

// Vectors and the base scores NVD published for them.
const V3: [string, string, number][] = [
  ['CVE-2021-44228 (Log4Shell)', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H', 10.0],
  ['CVE-2021-45046 (Log4j)', 'CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:H/A:H', 9.0],
  ['CVE-2022-22965 (Spring4Shell)', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 9.8],
  ['CVE-2014-0160 (Heartbleed)', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N', 7.5],
  ['CVE-2023-44487 (HTTP/2 Rapid Reset)', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H', 7.5],
  ['CVE-2021-4034 (PwnKit)', 'CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H', 7.8],
  ['CVE-2018-11776 (Struts)', 'CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H', 8.1],
  ['CVE-2019-5736 (runc)', 'CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:C/C:H/I:H/A:H', 8.6],
  ['reflected XSS', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N', 6.1],
  ['stored XSS', 'CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:L/I:L/A:N', 5.4],
  ['remote code execution needing user interaction', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H', 8.8],
  ['timing side channel', 'CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N', 5.9],
  ['information disclosure', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N', 5.3],
  ['no impact', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N', 0],
];

describe('cvss3BaseScore', () => {
  for (const [name, vector, score] of V3) {
    test(`${name}: ${vector} = ${score}`, () => assert.equal(cvss3BaseScore(vector), score));
  }

  test('metric order does not matter; temporal metrics are ignored', () => {
    assert.equal(cvss3BaseScore('CVSS:3.1/S:C/C:H/I:H/A:H/AV:N/AC:L/PR:N/UI:N'), 10.0);
    assert.equal(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N/E:U/RL:O/RC:C'), 7.5);
  });

  test('not a v3 vector: undefined', () => {
    for (const bad of [
      '',
      'AV:N/AC:L/Au:N/C:P/I:P/A:P',
      'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N',
      'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H',
      'CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
      'CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
      'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:Q/C:H/I:H/A:H',
    ]) {
      assert.equal(cvss3BaseScore(bad), undefined, bad);
    }
  });
});

describe('cvss2BaseScore', () => {
  test('NVD v2 scores', () => {
    assert.equal(cvss2BaseScore('AV:N/AC:L/Au:N/C:P/I:P/A:P'), 7.5);
    assert.equal(cvss2BaseScore('AV:N/AC:L/Au:N/C:C/I:C/A:C'), 10.0);
    assert.equal(cvss2BaseScore('AV:N/AC:M/Au:N/C:N/I:P/A:N'), 4.3);
    assert.equal(cvss2BaseScore('(AV:N/AC:L/Au:N/C:P/I:N/A:N)'), 5.0);
    assert.equal(cvss2BaseScore('AV:N/AC:L/Au:N/C:N/I:N/A:N'), 0);
    assert.equal(cvss2BaseScore('AV:N/AC:L'), undefined);
  });
});
