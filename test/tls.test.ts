import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkListenerSecurity, isLoopbackHost, loadConfig } from '../src/config/config.js';
import { MAIN, ensureBuilt, freePort, removeDir, serverEnv, startBerth, tempDir, type BerthProcess } from './helpers/berth-process.js';
import { basicAuthHeader } from './helpers/credentials.js';
import { requireTool, run } from './e2e/helpers.js';
import { selfSignedCert } from './helpers/tls.js';

// HTTPS listener (--tls-cert/--tls-key), https token realms, and the refusal to serve plain HTTP
// on an address other machines can reach. Real `berth serve` processes, a throwaway certificate.

const OPENSSL = requireTool('openssl');
const PASSWORD = 'tls-test-password';

/** The environment of the servers and CLI runs here: the owner password PASSWORD. */
function childEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  return serverEnv({ BERTH_ADMIN_PASSWORD: PASSWORD, ...extra });
}

/** `berth serve` with the owner password PASSWORD. */
function serve(dataDir: string, opts: { host?: string; args?: string[]; env?: Record<string, string> } = {}): Promise<BerthProcess> {
  return startBerth({ dataDir, host: opts.host, args: opts.args, env: { BERTH_ADMIN_PASSWORD: PASSWORD, ...opts.env } });
}

function get(
  url: string,
  ca: Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ca, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('loopback detection', () => {
  test('127.0.0.0/8, ::1 and localhost are loopback; everything else is not', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1'])
      assert.ok(isLoopbackHost(h), h);
    for (const h of [
      '0.0.0.0',
      '::',
      '[::]',
      '10.0.0.1',
      '192.168.1.1',
      'example.com',
      '127.0.0.1.nip.io',
      '1127.0.0.1',
      'localhost.example.com',
    ])
      assert.ok(!isLoopbackHost(h), h);
  });

  test('a non-loopback listener needs TLS or insecureHttp', () => {
    assert.deepEqual(checkListenerSecurity(loadConfig({ env: {}, overrides: { listen: '127.0.0.1:0' } })), { insecure: false });
    assert.throws(
      () => checkListenerSecurity(loadConfig({ env: {}, overrides: { listen: '0.0.0.0:0' } })),
      /refusing to serve plain HTTP on 0\.0\.0\.0:0/,
    );
    assert.deepEqual(checkListenerSecurity(loadConfig({ env: {}, overrides: { listen: '0.0.0.0:0', insecureHttp: true } })), {
      insecure: true,
    });
    assert.deepEqual(
      checkListenerSecurity(loadConfig({ env: {}, overrides: { listen: '[::]:0', tls: { cert: 'c.pem', key: 'k.pem' } } })),
      { insecure: false },
    );
  });

  test('tls.cert and tls.key come together; BERTH_TLS_CERT/BERTH_TLS_KEY/BERTH_INSECURE_HTTP set them', () => {
    assert.throws(
      () => loadConfig({ env: { BERTH_TLS_CERT: '/x/cert.pem' } }),
      /tls\.cert and tls\.key must be given together \(tls\.key is missing\)/,
    );
    const c = loadConfig({ env: { BERTH_TLS_CERT: '/x/cert.pem', BERTH_TLS_KEY: '/x/key.pem', BERTH_INSECURE_HTTP: 'true' } });
    assert.deepEqual(c.tls, { cert: '/x/cert.pem', key: '/x/key.pem' });
    assert.equal(c.insecureHttp, true);
  });
});

describe('berth serve over HTTPS', OPENSSL, () => {
  let dir: string;
  let cert: string;
  let key: string;
  let ca: Buffer;
  let server: BerthProcess | undefined;
  let base: string;

  before(async () => {
    dir = tempDir('tls');
    ({ certFile: cert, keyFile: key } = selfSignedCert(dir, 'IP:127.0.0.1'));
    ca = readFileSync(cert);
    server = await serve(path.join(dir, 'data'), { args: ['--tls-cert', cert, '--tls-key', key] });
    base = `https://127.0.0.1:${server.port}`;
  });

  after(async () => {
    await server?.stop();
    removeDir(dir);
  });

  test('announces an https URL and answers over TLS with the certificate given', async () => {
    assert.match(server!.output(), new RegExp(`berth listening on ${base.replace(/\./g, '\\.')}`));
    const r = await get(`${base}/healthz`, ca);
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { status: 'ok' });
  });

  test('the token realm in challenges is https', async () => {
    const r = await get(`${base}/v2/`, ca);
    assert.equal(r.status, 401);
    const challenge = String(r.headers['www-authenticate']);
    assert.match(challenge, new RegExp(`^Bearer realm="${base.replace(/\./g, '\\.')}/oauth2/token",service="127\\.0\\.0\\.1:\\d+"`));
  });

  test('the token endpoint works over TLS', async () => {
    const r = await get(`${base}/oauth2/token?service=${encodeURIComponent(new URL(base).host)}`, ca, {
      authorization: basicAuthHeader('admin', PASSWORD),
    });
    assert.equal(r.status, 200, r.body);
    assert.ok((JSON.parse(r.body) as { access_token: string }).access_token);
  });

  test('plain HTTP to the TLS port gets no registry answer', async () => {
    const answer = await new Promise<string>((resolve) => {
      const req = http.get(`${base.replace('https:', 'http:')}/healthz`, { agent: false }, (res) => {
        res.resume();
        resolve(`HTTP ${res.statusCode}`);
      });
      req.on('error', (e) => resolve(`error ${(e as NodeJS.ErrnoException).code ?? e.message}`));
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    });
    assert.notEqual(answer, 'HTTP 200');
  });

  test('a client that does not trust the certificate is refused', async () => {
    await assert.rejects(get(`${base}/healthz`, Buffer.from('')), /certificate|self.signed/i);
  });

  test('the CLI signs in over HTTPS when told to trust the certificate (NODE_EXTRA_CA_CERTS)', async () => {
    const home = path.join(dir, 'home');
    const env = childEnv({
      BERTH_CONFIG_DIR: path.join(home, 'berth'),
      DOCKER_CONFIG: path.join(home, 'docker'),
      REGISTRY_AUTH_FILE: path.join(home, 'auth.json'),
      NODE_EXTRA_CA_CERTS: cert,
    });
    const cli = (args: string[], extra: Record<string, string | undefined> = {}) =>
      run(process.execPath, [MAIN, ...args], { env: { ...env, ...extra }, timeoutMs: 30_000 });
    const untrusted = await cli(['account', 'login', '--server', base, '-u', 'admin', '-p', PASSWORD], { NODE_EXTRA_CA_CERTS: undefined });
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /cannot reach Berth at https:\/\/127\.0\.0\.1:\d+: .*(CERT|SELF_SIGNED|certificate)/i);
    const login = await cli(['account', 'login', '--server', base, '-u', 'admin', '-p', PASSWORD]);
    assert.equal(login.code, 0, login.stderr);
    const created = await cli(['create', '-n', 'tlsreg']);
    assert.equal(created.code, 0, created.stderr);
    assert.equal((JSON.parse(created.stdout) as { loginServer: string }).loginServer, `${new URL(base).host}/tlsreg`);
    const reg = await cli(['login', '-n', 'tlsreg']);
    assert.equal(reg.code, 0, reg.stderr);
    const auth = JSON.parse(readFileSync(path.join(home, 'auth.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
    const [user, token] = Buffer.from(auth.auths[new URL(base).host]!.auth, 'base64').toString('utf8').split(':');
    assert.equal(user, '00000000-0000-0000-0000-000000000000');
    assert.equal((await get(`${base}/v2/`, ca, { authorization: basicAuthHeader(user, token!) })).status, 200);
  });

  test('a non-loopback listener with TLS starts', async () => {
    const s = await serve(path.join(dir, 'data-any'), { host: '0.0.0.0', args: ['--tls-cert', cert, '--tls-key', key] });
    try {
      assert.equal((await get(`https://127.0.0.1:${s.port}/healthz`, ca)).status, 200);
    } finally {
      await s.stop();
    }
  });
});

describe('plain HTTP on a non-loopback address', () => {
  let dir: string;
  before(() => {
    dir = tempDir('insecure');
  });
  after(() => removeDir(dir));

  test('refuses to start on 0.0.0.0 without --insecure-http: exit 2, a clear message, nothing created', async () => {
    ensureBuilt();
    const data = path.join(dir, 'refused');
    const r = await run(process.execPath, [MAIN, 'serve', '--listen', `0.0.0.0:${await freePort()}`, '--data', data], {
      env: childEnv(),
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /refusing to serve plain HTTP on 0\.0\.0\.0:\d+/);
    assert.match(r.stderr, /--tls-cert FILE --tls-key FILE/);
    assert.match(r.stderr, /--insecure-http/);
    assert.equal(r.stdout.includes('listening'), false);
    assert.throws(() => readFileSync(path.join(data, 'berth.db')), /ENOENT/);
  });

  test('BERTH_LISTEN on [::] is refused the same way', async () => {
    const r = await run(process.execPath, [MAIN, 'serve', '--data', path.join(dir, 'v6')], {
      env: childEnv({ BERTH_LISTEN: `[::]:${await freePort()}` }),
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /refusing to serve plain HTTP/);
  });

  test('--insecure-http starts it, with a warning in the log', async () => {
    const s = await serve(path.join(dir, 'allowed'), { host: '0.0.0.0', args: ['--insecure-http'] });
    try {
      assert.match(s.output(), /"level":40[^\n]*plain HTTP on a non-loopback address/);
      assert.match(s.output(), new RegExp(`berth listening on http://0\\.0\\.0\\.0:${s.port}`));
    } finally {
      await s.stop();
    }
  });

  test('BERTH_INSECURE_HTTP=true does the same', async () => {
    const s = await serve(path.join(dir, 'allowed-env'), { host: '0.0.0.0', env: { BERTH_INSECURE_HTTP: 'true' } });
    await s.stop();
  });
});
