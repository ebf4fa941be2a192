import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RegistryError } from '../../domain/errors.js';
import { isThisDeployment, parseImportRequest, sourceText } from './request.js';
import { parseChallenge, realmMayHaveCredentials } from './upstream.js';

const D = `sha256:${'a'.repeat(64)}`;

test('source forms: registryUri + sourceImage, a full reference, Docker Hub names', () => {
  const a = parseImportRequest({ source: { registryUri: 'https://Registry.Example.com:5000/', sourceImage: 'team/app:1.0' } });
  assert.deepEqual([a.host, a.repository, a.reference, a.force], ['registry.example.com:5000', 'team/app', '1.0', false]);
  assert.deepEqual(a.targets, [{ repository: 'team/app', tag: '1.0' }]);
  const b = parseImportRequest({ source: { sourceImage: `localhost:5000/app@${D}` } });
  assert.deepEqual(b.targets, [{ repository: 'app' }], 'a digest source defaults to an untagged import');
  assert.equal(sourceText(b), `localhost:5000/app@${D}`);
  const c = parseImportRequest({ source: { registryUri: 'docker.io', sourceImage: 'nginx' } });
  assert.deepEqual([c.host, c.repository, c.reference], ['registry-1.docker.io', 'library/nginx', 'latest']);
});

test('targets, mode and credentials', () => {
  const r = parseImportRequest({
    source: { sourceImage: 'r.example/app:v1', credentials: { username: 'u', password: 'p' } },
    targetTags: ['x/app:v1', 'x/app:v1', 'y:latest'],
    untaggedTargetRepositories: ['z'],
    mode: 'Force',
  });
  assert.deepEqual(r.targets, [{ repository: 'x/app', tag: 'v1' }, { repository: 'y', tag: 'latest' }, { repository: 'z' }]);
  assert.equal(r.force, true);
  assert.deepEqual(r.credentials, { username: 'u', password: 'p' });
});

test('bad requests are 400 REQUEST_INVALID with an example', () => {
  for (const body of [
    {},
    { source: { sourceImage: 'app:v1' } },
    { source: { sourceImage: 'r.example/app:v1' }, mode: 'force' },
    { source: { sourceImage: 'r.example/app:v1' }, targetTags: ['noTag'] },
    { source: { sourceImage: 'r.example/app:v1' }, extra: 1 },
    { source: { registryUri: 'not a host', sourceImage: 'app:v1' } },
    { source: { sourceImage: 'r.example/app@sha256:12' } },
  ]) {
    assert.throws(
      () => parseImportRequest(body),
      (e: unknown) => e instanceof RegistryError && e.code === 'REQUEST_INVALID',
      JSON.stringify(body),
    );
  }
});

test('WWW-Authenticate challenges', () => {
  assert.deepEqual(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull' },
  });
  assert.deepEqual(parseChallenge('Basic realm="x"'), { scheme: 'basic', params: { realm: 'x' } });
  assert.equal(parseChallenge(undefined), undefined);
});

test("credentials go only to a token realm on the registry's own host or registrable domain, never downgraded to HTTP", () => {
  const ok = (reg: string, realm: string, scheme: 'https:' | 'http:' = 'https:', trusted: string[] = []) =>
    realmMayHaveCredentials(reg, scheme, new URL(realm), trusted);
  assert.equal(ok('registry-1.docker.io', 'https://auth.docker.io/token'), true, 'Docker Hub: same eTLD+1');
  assert.equal(ok('ghcr.io', 'https://ghcr.io/token'), true);
  assert.equal(ok('registry.example.com:5000', 'https://registry.example.com/auth'), true, 'the same host on another port');
  assert.equal(ok('myreg.azurecr.io', 'https://myreg.azurecr.io/oauth2/token'), true);
  assert.equal(
    ok('myreg.github.io', 'https://attacker.github.io/token'),
    false,
    'another tenant of a shared (public-suffix-listed) domain',
  );
  assert.equal(ok('registry.example.com', 'https://evil.example.net/token'), false, 'another domain');
  assert.equal(ok('registry.example.com', 'http://auth.example.com/token'), false, 'no downgrade to plain HTTP');
  assert.equal(ok('localhost:5000', 'http://localhost:5001/token', 'http:'), true, 'an HTTP registry may use an HTTP realm on its host');
  assert.equal(ok('127.0.0.1:5000', 'http://127.0.0.2/token', 'http:'), false, 'addresses match only exactly');
  assert.equal(ok('registry.freedesktop.org', 'https://gitlab.freedesktop.org/jwt/auth'), false, 'freedesktop.org is a public suffix');
  assert.equal(
    ok('registry.freedesktop.org', 'https://gitlab.freedesktop.org/jwt/auth', 'https:', ['gitlab.freedesktop.org']),
    true,
    'unless the operator trusts it',
  );
});

test('isThisDeployment: where Berth credentials may be the source credentials', () => {
  const self = { listen: '127.0.0.1:5000', publicUrl: '', domain: '' };
  assert.equal(isThisDeployment('127.0.0.1:5000', self), true);
  assert.equal(isThisDeployment('localhost:5000', self), true, 'a loopback listener through another loopback name');
  assert.equal(isThisDeployment('127.0.0.1:5001', self), false);
  assert.equal(isThisDeployment('registry.example.com', self), false);
  assert.equal(isThisDeployment('registry.example.com', self, 'Registry.Example.com:443'), true, 'the Host the caller reached it at');
  const wild = { listen: '[::]:5000', publicUrl: 'https://berth.example.com', domain: 'cr.example.com' };
  assert.equal(isThisDeployment('[::1]:5000', wild), true);
  assert.equal(isThisDeployment('berth.example.com', wild), true);
  assert.equal(isThisDeployment('berth.example.com:8443', wild), false);
  assert.equal(isThisDeployment('myreg.cr.example.com', wild), true, 'host-style <registry>.<domain>');
  assert.equal(isThisDeployment('evilcr.example.com', wild), false);
  assert.equal(isThisDeployment('10.0.0.5:5000', wild), false, 'another machine on the same port');
});
