import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RegistryError } from './errors.js';
import { assertEndpointName, parseListenAddress, signDataUrl, transitionRefusal, verifyDataUrl, dataEndpointBase } from './endpoints.js';

const invalid = (fn: () => unknown, part: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof RegistryError && e.code === 'REQUEST_INVALID' && part.test(e.message));

describe('parseListenAddress', () => {
  test('IPv4 and IPv6 literals with a port, canonical keys', () => {
    assert.deepEqual(parseListenAddress('10.0.0.5:5000'), { kind: 'tcp', host: '10.0.0.5', port: 5000, key: '10.0.0.5:5000' });
    assert.deepEqual(parseListenAddress(' [FD00:0:0::5]:443 '), { kind: 'tcp', host: 'fd00::5', port: 443, key: '[fd00::5]:443' });
    assert.equal(parseListenAddress('0.0.0.0:1').key, '0.0.0.0:1');
  });
  test('Unix socket paths', () => {
    assert.deepEqual(parseListenAddress('unix:/run/berth/pe.sock'), {
      kind: 'unix',
      path: '/run/berth/pe.sock',
      key: 'unix:/run/berth/pe.sock',
    });
    invalid(() => parseListenAddress('unix:pe.sock'), /must be absolute/);
    invalid(() => parseListenAddress('unix:/run/../pe.sock'), /not a usable Unix socket path/);
    invalid(() => parseListenAddress(`unix:/${'a'.repeat(120)}`), /at most 107 bytes/);
  });
  test('refused: no port, port 0 or too big, host names, zones, nothing', () => {
    invalid(() => parseListenAddress('10.0.0.5'), /not ADDRESS:PORT/);
    invalid(() => parseListenAddress('10.0.0.5:0'), /port must be 1-65535/);
    invalid(() => parseListenAddress('10.0.0.5:65536'), /port must be 1-65535/);
    invalid(() => parseListenAddress('registry.local:5000'), /not an IP address/);
    invalid(() => parseListenAddress('999.1.1.1:5000'), /not an IP address/);
    invalid(() => parseListenAddress('fd00::5:5000'), /IPv6 address goes in brackets/);
    invalid(() => parseListenAddress('[fe80::1%eth0]:5000'), /not an IPv6 address/);
    invalid(() => parseListenAddress(''), /needs a listen address/);
    invalid(() => parseListenAddress(42), /needs a listen address/);
  });
});

test('endpoint names', () => {
  assert.equal(assertEndpointName('pe-app.subnet_1'), 'pe-app.subnet_1');
  for (const bad of ['a', '-a', 'a-', 'a b', 'x'.repeat(65), 7]) invalid(() => assertEndpointName(bad), /not a private endpoint name/);
});

test("connection state transitions follow ACR's", () => {
  assert.equal(transitionRefusal('Pending', 'Approved'), undefined);
  assert.equal(transitionRefusal('Pending', 'Rejected'), undefined);
  assert.equal(transitionRefusal('Approved', 'Rejected'), undefined);
  assert.equal(transitionRefusal('Approved', 'Disconnected'), undefined);
  assert.equal(transitionRefusal('Approved', 'Approved'), undefined);
  assert.match(transitionRefusal('Approved', 'Pending')!, /cannot return to Pending/);
  assert.match(transitionRefusal('Rejected', 'Approved')!, /final/);
  assert.match(transitionRefusal('Disconnected', 'Approved')!, /final/);
});

describe('signed data-endpoint URLs', () => {
  const key = Buffer.alloc(32, 7);
  const blob = { registry: 'DemoReg', repository: 'team/app', digest: `sha256:${'a'.repeat(64)}` };
  const parts = (url: string) => {
    const u = new URL(url);
    return { path: u.pathname, query: u.searchParams, host: u.host };
  };

  test('the template names the host; the path is the login server blob path', () => {
    const u = parts(signDataUrl(key, 'https://{registry}.data.example.com/', blob, 1000));
    assert.equal(u.host, 'demoreg.data.example.com');
    assert.equal(u.path, `/v2/demoreg/team/app/blobs/${blob.digest}`);
    assert.equal(dataEndpointBase('http://127.0.0.1:5001', 'x'), 'http://127.0.0.1:5001');
  });

  test('valid until it expires; bound to registry, repository, digest and expiry; other keys fail', () => {
    const u = parts(signDataUrl(key, 'http://d', blob, 1000));
    assert.deepEqual(verifyDataUrl(key, u.path, u.query, 999), { registry: 'demoreg', repository: 'team/app', digest: blob.digest });
    assert.deepEqual(verifyDataUrl(key, u.path, u.query, 1000), { registry: 'demoreg', repository: 'team/app', digest: blob.digest });
    assert.match(verifyDataUrl(key, u.path, u.query, 1001) as string, /expired/);
    assert.match(verifyDataUrl(Buffer.alloc(32, 8), u.path, u.query, 0) as string, /does not match/);
    for (const path of [u.path.replace('demoreg', 'otherreg'), u.path.replace('team/app', 'team/other'), u.path.replace('aaaa', 'aaab')])
      assert.match(verifyDataUrl(key, path, u.query, 0) as string, /does not match/);
    const later = new URLSearchParams(u.query);
    later.set('se', '99999');
    assert.match(verifyDataUrl(key, u.path, later, 0) as string, /does not match/);
    assert.match(verifyDataUrl(key, u.path, new URLSearchParams(), 0) as string, /no valid signature/);
    assert.match(verifyDataUrl(key, '/v2/demoreg/team/app/manifests/v1', u.query, 0) as string, /only blob downloads/);
  });
});
