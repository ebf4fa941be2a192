import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PackageURL } from 'packageurl-js';
import { digestOf } from '../../digest.js';
import { encodePurlComponent, genericPurl, isWellFormedPurl, ociPurl, wellFormed } from './purl.js';

describe('purl', () => {
  test('components are percent-encoded over UTF-8, unreserved characters left alone', () => {
    assert.equal(encodePurlComponent('a-b_c.d~e'), 'a-b_c.d~e');
    assert.equal(encodePurlComponent("@/?#:+ '()*!"), '%40%2F%3F%23%3A%2B%20%27%28%29%2A%21');
    assert.equal(encodePurlComponent('é😀'), '%C3%A9%F0%9F%98%80');
    assert.equal(encodePurlComponent('a/b:c', '/'), 'a/b%3Ac');
    assert.equal(encodePurlComponent('x\uD800'), 'x%EF%BF%BD');
    assert.equal(wellFormed('a\uDC00b\uD83D\uDE00'), 'a\uFFFDb\uD83D\uDE00');
  });

  test('well-formed purls', () => {
    for (const s of [
      'pkg:deb/debian/curl@7.88.1-10+deb12u5?arch=amd64&distro=debian-12',
      'pkg:npm/%40types/node@20.1.0',
      'pkg:npm/@types/node@20.1.0',
      'pkg:golang/golang.org/x/net@v0.7.0',
      'pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1',
      'pkg:pypi/urllib3',
      'pkg:npm/x@1#sub/path',
      `pkg:oci/debian@sha256%3A${'a'.repeat(64)}?repository_url=docker.io/library/debian&tag=12`,
    ]) {
      assert.ok(isWellFormedPurl(s), s);
    }
  });

  test('malformed purls', () => {
    for (const s of [
      '',
      'npm/x@1',
      'pkg:',
      'pkg:npm',
      'pkg:npm/',
      'pkg:1npm/x@1',
      'pkg:npm/x@',
      'pkg:npm/@1',
      'pkg:npm/a b@1',
      'pkg:npm/é@1',
      'pkg:npm/x@1"',
      'pkg:npm/x%zz@1',
      'pkg:npm/x%C3@1',
      'pkg:npm/x@1?arch',
      'pkg:npm/x@1?=v',
      'pkg:npm/x@1?a=',
      'pkg:npm/x@1?a b=c',
      'pkg:npm/x\n@1',
    ]) {
      assert.ok(!isWellFormedPurl(s), JSON.stringify(s));
    }
  });

  test('the fallback and the image purls are well formed and decode to what they name', () => {
    const g = genericPurl('we/ird @name?', '1:2+3 #x');
    assert.ok(isWellFormedPurl(g));
    const p = PackageURL.fromString(g);
    assert.deepEqual([p.type, p.name, p.version], ['generic', 'we/ird @name?', '1:2+3 #x']);
    assert.equal(genericPurl('', ''), 'pkg:generic/unnamed');

    const digest = digestOf('img');
    const oci = ociPurl('127.0.0.1:5000/reg', 'Team/Debian', digest, 'v1.0');
    assert.equal(oci, `pkg:oci/debian@sha256%3A${digest.slice(7)}?repository_url=127.0.0.1%3A5000/reg/Team/Debian&tag=v1.0`);
    assert.ok(isWellFormedPurl(oci));
    const o = PackageURL.fromString(oci);
    assert.equal(o.version, digest);
    assert.deepEqual({ ...o.qualifiers }, { repository_url: '127.0.0.1:5000/reg/Team/Debian', tag: 'v1.0' });
  });
});
