import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BACKENDS, backendGate, freshMetadataUrl } from './helpers/backends.js';
import { ADMIN_PASSWORD, ADMIN_USER, basicAuthHeader } from './helpers/credentials.js';
import { MAIN, freePort, removeDir, serverEnv, startBerth, tempDir, type BerthProcess } from './helpers/berth-process.js';
import { request, run, type RunResult } from './e2e/helpers.js';

// The owner account of a real `berth serve`: created only once the listener is bound, a
// BERTH_ADMIN_PASSWORD that no longer applies is reported, `berth admin reset-password` recovers
// a lost password offline (SQLite and PostgreSQL) and revokes earlier sign-ins, and a
// `berth account login` session lasts days while registry tokens keep their hours.

const TOKEN_USER = '00000000-0000-0000-0000-000000000000';

/** `berth ARGS` as a user runs it, with the test deployments' environment (low hash cost, no caller BERTH_*). */
function berth(args: string[], env: Record<string, string | undefined> = {}, input?: string): Promise<RunResult> {
  return run(process.execPath, [MAIN, ...args], { env: serverEnv({ BERTH_ADMIN_PASSWORD: undefined, ...env }), input, timeoutMs: 60_000 });
}

const status = async (url: string, auth: string | false) => (await request('GET', url, { auth })).status;

/** POST /oauth2/exchange as the CLI does it. */
async function exchange(server: string, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server}/oauth2/exchange`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as { iat: number; exp: number };

describe('starting on a busy address', () => {
  test('fails with "already in use; choose another address with --listen", having created nothing and shown no password', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    const parent = tempDir('busy');
    try {
      const dataDir = path.join(parent, 'data');
      const r = await berth(['serve', '--listen', `127.0.0.1:${port}`, '--data', dataDir]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`error: 127\\.0\\.0\\.1:${port} is already in use; choose another address with --listen HOST:PORT`),
      );
      assert.doesNotMatch(r.stderr + r.stdout, /password/i);
      assert.equal(existsSync(dataDir), false, 'no data directory, database or owner account');
    } finally {
      blocker.close();
      removeDir(parent);
    }
  });
});

for (const backend of BACKENDS) {
  describe(`owner account (${backend})`, await backendGate(backend), () => {
    let dataDir: string;
    let configDir: string;
    let metadataUrl = '';
    let drop = async () => {};
    let port: number;
    let server: BerthProcess | undefined;
    const metaArgs = () => (metadataUrl ? ['--metadata', metadataUrl] : []);
    const start = async (env: Record<string, string | undefined> = {}) => {
      server = await startBerth({ dataDir, metadataUrl, port, env });
      return server;
    };
    const stop = async () => {
      await server?.stop();
      server = undefined;
    };

    before(async () => {
      dataDir = tempDir(`owner-${backend}`);
      configDir = tempDir(`owner-cli-${backend}`);
      ({ url: metadataUrl, drop } = await freshMetadataUrl(backend));
      port = await freePort();
    });
    after(async () => {
      await stop();
      await drop().catch(() => {});
      removeDir(dataDir);
      removeDir(configDir);
    });

    test('BERTH_ADMIN_PASSWORD on a deployment that has an owner: a warning when it differs, silence when it is the owner password', async () => {
      await start();
      await stop();
      const other = await start({ BERTH_ADMIN_PASSWORD: 'not-the-owner-password' });
      assert.match(
        other.output(),
        /warning: BERTH_ADMIN_PASSWORD is set, but the owner account "admin" already exists with another password/,
      );
      // The JSON log is written asynchronously: give it a moment to reach the output.
      const logged = /"level":40[^\n]*BERTH_ADMIN_PASSWORD is set/;
      for (let i = 0; i < 50 && !logged.test(other.output()); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(other.output(), logged, 'the warning is in the log too');
      assert.equal(await status(`${other.url}/api/registries`, basicAuthHeader(ADMIN_USER, 'not-the-owner-password')), 401);
      await stop();
      const same = await start();
      assert.doesNotMatch(same.output(), /warning/);
    });

    test('berth admin reset-password: refused while the server runs, then a new password shown once that revokes earlier sign-ins', async () => {
      const s = server ?? (await start());
      const cli = { BERTH_CONFIG_DIR: configDir };
      const login = await berth(['account', 'login', '--server', s.url, '-u', ADMIN_USER, '--password-stdin'], cli, ADMIN_PASSWORD);
      assert.equal(login.code, 0, login.stderr);
      const registryToken = (
        await exchange(s.url, { grant_type: 'password', service: s.host, username: ADMIN_USER, password: ADMIN_PASSWORD })
      ).body.refresh_token as string;

      const refused = await berth(['admin', 'reset-password', '--data', dataDir, ...metaArgs()]);
      assert.equal(refused.code, 1);
      assert.match(
        refused.stderr,
        new RegExp(`a berth server \\(pid ${s.pid}, ${s.url.replace(/\./g, '\\.')}\\) is running on .*: stop it first`),
      );
      assert.equal(refused.stdout, '');

      await stop();
      const reset = await berth(['admin', 'reset-password', '--data', dataDir, ...metaArgs()]);
      assert.equal(reset.code, 0, reset.stderr);
      const lines = reset.stdout.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, 'only the password, on one line');
      const password = lines[0]!;
      assert.ok(password.length >= 20 && password !== ADMIN_PASSWORD);
      assert.match(reset.stderr, /reset the owner account "admin" in .*; its earlier sign-ins are revoked/);

      const again = await start();
      assert.equal(await status(`${again.url}/api/registries`, basicAuthHeader(ADMIN_USER, ADMIN_PASSWORD)), 401, 'old password');
      assert.equal(await status(`${again.url}/api/registries`, basicAuthHeader(ADMIN_USER, password)), 200, 'new password');
      assert.equal(await status(`${again.url}/api/registries`, basicAuthHeader(TOKEN_USER, registryToken)), 401, 'old registry token');
      const list = await berth(['list', '--server', again.url], cli);
      assert.equal(list.code, 1, 'the old CLI session is revoked');
      assert.match(list.stderr, /revoked when the password was reset[\s\S]*berth account login --server/);

      // BERTH_ADMIN_PASSWORD chooses the password, and nothing is printed on stdout.
      await stop();
      const chosen = await berth(['admin', 'reset-password', '--data', dataDir, ...metaArgs()], {
        BERTH_ADMIN_PASSWORD: 'chosen-owner-Secret-42',
      });
      assert.equal(chosen.code, 0, chosen.stderr);
      assert.equal(chosen.stdout, '');
      const third = await start({ BERTH_ADMIN_PASSWORD: 'chosen-owner-Secret-42' });
      assert.equal(await status(`${third.url}/api/registries`, basicAuthHeader(ADMIN_USER, 'chosen-owner-Secret-42')), 200);
      assert.equal(await status(`${third.url}/api/registries`, basicAuthHeader(ADMIN_USER, password)), 401);
      assert.doesNotMatch(third.output(), /warning/, 'the chosen password is the owner password now');
    });
  });
}

test('berth admin reset-password where there is no deployment: refused (exit 2), nothing created', async () => {
  const parent = tempDir('no-deployment');
  try {
    const dataDir = path.join(parent, 'data');
    const r = await berth(['admin', 'reset-password', '--data', dataDir]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /no Berth deployment at .*berth\.db does not exist/);
    assert.equal(existsSync(dataDir), false);
  } finally {
    removeDir(parent);
  }
});

describe('berth account login session', () => {
  let dataDir: string;
  let configDir: string;
  let server: BerthProcess;
  const cli = () => ({ BERTH_CONFIG_DIR: configDir });

  before(async () => {
    dataDir = tempDir('cli-session');
    configDir = tempDir('cli-session-config');
    server = await startBerth({ dataDir, env: { BERTH_AUTH_CLI_SESSION_DAYS: '14' } });
  });
  after(async () => {
    await server?.stop();
    removeDir(dataDir);
    removeDir(configDir);
  });

  test('lasts auth.cliSessionDays, while the registry tokens made from it last hours, and /v2 refuses the session itself', async () => {
    const login = await berth(['account', 'login', '--server', server.url, '-u', ADMIN_USER, '--password-stdin'], cli(), ADMIN_PASSWORD);
    assert.equal(login.code, 0, login.stderr);
    const account = JSON.parse(login.stdout) as { expiresAt: string };
    const days = (Date.parse(account.expiresAt) - Date.now()) / 86400_000;
    assert.ok(days > 13.9 && days <= 14, `session lasts 14 days, got ${days}`);

    assert.equal(
      (await berth(['create', '--name', 'sessionreg', '--server', server.url], cli())).code,
      0,
      'the CLI works with the session',
    );
    const exposed = await berth(['login', '-n', 'sessionreg', '--server', server.url, '--expose-token'], cli());
    assert.equal(exposed.code, 0, exposed.stderr);
    const token = (JSON.parse(exposed.stdout) as { accessToken: string }).accessToken;
    const c = claims(token);
    assert.equal(c.exp - c.iat, 3 * 3600, 'registry refresh tokens keep auth.refreshTokenSeconds');
    assert.equal(await status(`${server.url}/v2/_catalog`, basicAuthHeader(TOKEN_USER, token)), 200, 'the registry token works on /v2');

    const { accounts } = JSON.parse(readFileSync(path.join(configDir, 'credentials.json'), 'utf8')) as {
      accounts: Record<string, { refreshToken: string }>;
    };
    const session = Object.values(accounts)[0]!.refreshToken;
    const v2 = await request('GET', `${server.url}/v2/_catalog`, { auth: basicAuthHeader(TOKEN_USER, session) });
    assert.equal(v2.status, 401);
    assert.match(v2.body.toString(), /berth account login session is for the berth CLI only/);
    assert.equal(await status(`${server.url}/api/registries`, basicAuthHeader(TOKEN_USER, session)), 200, 'the management API takes it');
    // A session starts only from a password, and only from the session=cli request.
    const renew = await exchange(server.url, { grant_type: 'refresh_token', service: server.host, refresh_token: session, session: 'cli' });
    assert.equal(renew.status, 400);
    const plain = await exchange(server.url, {
      grant_type: 'password',
      service: server.host,
      username: ADMIN_USER,
      password: ADMIN_PASSWORD,
    });
    const p = claims(plain.body.refresh_token as string);
    assert.equal(p.exp - p.iat, 3 * 3600);
  });
});
