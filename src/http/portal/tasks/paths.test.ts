import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { duration, localRepository } from './paths.js';

describe('task screen helpers', () => {
  test("an output image is this registry's repository when runs address the registry so", () => {
    // Path-style: host/registry/repository, whichever host the runs use.
    assert.equal(localRepository('', 'contoso', { registry: '127.0.0.1:5000/contoso', repository: 'web/site' }), 'web/site');
    assert.equal(localRepository('', 'Contoso', { registry: 'berth.example.com', repository: 'contoso/app' }), 'app');
    assert.equal(localRepository('', 'contoso', { registry: '127.0.0.1:5000/other', repository: 'app' }), undefined);
    assert.equal(localRepository('', 'contoso', { registry: 'docker.io', repository: 'library/alpine' }), undefined);
    // Domain-style: registry.domain/repository, and only that host.
    assert.equal(localRepository('example.com', 'contoso', { registry: 'contoso.example.com', repository: 'app' }), 'app');
    assert.equal(localRepository('example.com', 'contoso', { registry: 'contoso.evil.com', repository: 'app' }), undefined);
    assert.equal(localRepository('example.com', 'contoso', { registry: 'x.example.com/contoso', repository: 'app' }), undefined);
  });

  test('durations in words', () => {
    assert.equal(duration(null), '–');
    assert.equal(duration(42), '42 s');
    assert.equal(duration(75), '1 min 15 s');
    assert.equal(duration(3725), '1 h 2 min');
  });
});
