import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { containersAuthPath, dockerConfigPath, saveRegistryLogin } from './auth-files.js';
import { resolveClientOptions, resolveServer } from '../client.js';
import { accountForHost, configDir, jwtClaims, registryHost, updateAccounts, writePrivateFile, type Account } from './store.js';
import { helperGet, helperList, helperStore, NOT_FOUND } from './helper.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-credentials-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => path.join(dir, String(++n));
const mode = (p: string) => statSync(p).mode & 0o777;

function account(server: string, extra: Partial<Account> = {}): Account {
  return {
    server,
    username: 'admin',
    service: new URL(server).host,
    refreshToken: 'a.b.c',
    expiresAt: new Date(Date.now() + 3600_000).toISOString(),
    ...extra,
  };
}

describe('locations', () => {
  test('config dir: BERTH_CONFIG_DIR, else XDG_CONFIG_HOME/berth, else ~/.config/berth', () => {
    assert.equal(configDir({ BERTH_CONFIG_DIR: '/x/b', XDG_CONFIG_HOME: '/x/c' }), '/x/b');
    assert.equal(configDir({ XDG_CONFIG_HOME: '/x/c' }), '/x/c/berth');
    assert.equal(configDir({ XDG_CONFIG_HOME: 'relative' }), path.join(os.homedir(), '.config', 'berth'));
    assert.equal(configDir({}), path.join(os.homedir(), '.config', 'berth'));
  });

  test('docker config and containers auth file', () => {
    assert.equal(dockerConfigPath({ DOCKER_CONFIG: '/d' }), '/d/config.json');
    assert.equal(dockerConfigPath({}), path.join(os.homedir(), '.docker', 'config.json'));
    assert.equal(containersAuthPath({ REGISTRY_AUTH_FILE: '/a.json', XDG_RUNTIME_DIR: '/run/user/1' }), '/a.json');
    assert.equal(containersAuthPath({ XDG_RUNTIME_DIR: '/run/user/1' }), '/run/user/1/containers/auth.json');
    assert.equal(containersAuthPath({}), path.join(os.homedir(), '.config', 'containers', 'auth.json'));
  });

  test('registry hosts as docker names them', () => {
    assert.equal(registryHost('127.0.0.1:5000'), '127.0.0.1:5000');
    assert.equal(registryHost('https://Reg.Example.com/v1/'), 'reg.example.com');
    assert.equal(registryHost('http://127.0.0.1:5000\n'), '127.0.0.1:5000');
  });
});

describe('files', () => {
  test("writePrivateFile: 0600 file, 0700 directory, tightened when it is Berth's own", () => {
    const d = fresh();
    mkdirSync(d, { mode: 0o755 });
    const f = path.join(d, 'x.json');
    writeFileSync(f, 'old', { mode: 0o644 });
    writePrivateFile(f, 'new', true);
    assert.equal(readFileSync(f, 'utf8'), 'new');
    assert.equal(mode(f), 0o600);
    assert.equal(mode(d), 0o700);
    const nested = path.join(fresh(), 'a', 'b.json');
    writePrivateFile(nested, '{}');
    assert.equal(mode(path.dirname(nested)), 0o700);
  });
});

describe('which server and credentials a command uses', () => {
  test('--server, else BERTH_SERVER, else the only stored server, else 127.0.0.1:5000', () => {
    const env = { BERTH_CONFIG_DIR: fresh() };
    assert.equal(resolveServer(undefined, env), 'http://127.0.0.1:5000');
    updateAccounts((a) => {
      a['http://10.0.0.1:5000'] = account('http://10.0.0.1:5000');
    }, env);
    assert.equal(resolveServer(undefined, env), 'http://10.0.0.1:5000');
    assert.equal(resolveServer(undefined, { ...env, BERTH_SERVER: 'http://b:1' }), 'http://b:1');
    assert.equal(resolveServer('http://c:2', { ...env, BERTH_SERVER: 'http://b:1' }), 'http://c:2');
    updateAccounts((a) => {
      a['http://10.0.0.2:5000'] = account('http://10.0.0.2:5000');
    }, env);
    assert.equal(resolveServer(undefined, env), 'http://127.0.0.1:5000');
  });

  test('a username (flag or env) wins; else the stored sign-in; an expired one is an error', () => {
    const env = { BERTH_CONFIG_DIR: fresh() };
    assert.deepEqual(resolveClientOptions({ server: 'http://s:1' }, env), { server: 'http://s:1', account: undefined });
    updateAccounts((a) => {
      a['http://s:1'] = account('http://s:1');
    }, env);
    assert.equal(resolveClientOptions({}, env).account?.server, 'http://s:1');
    assert.deepEqual(resolveClientOptions({}, { ...env, BERTH_USERNAME: 'u', BERTH_PASSWORD: 'p' }), {
      server: 'http://s:1',
      username: 'u',
      password: 'p',
    });
    updateAccounts((a) => {
      a['http://s:1']!.expiresAt = '2020-01-01T00:00:00.000Z';
    }, env);
    assert.throws(
      () => resolveClientOptions({}, env),
      /expired at 2020-01-01T00:00:00\.000Z: run `berth account login --server http:\/\/s:1`/,
    );
  });

  test("the account serving a host: a login server berth login wrote, or the server's own host", () => {
    const env = { BERTH_CONFIG_DIR: fresh() };
    updateAccounts((a) => {
      a['http://127.0.0.1:5000'] = account('http://127.0.0.1:5000', {
        loginServers: { 'reg.example.test': { service: 'reg.example.test' } },
      });
    }, env);
    assert.equal(accountForHost('127.0.0.1:5000', env)?.service, '127.0.0.1:5000');
    assert.equal(accountForHost('REG.example.test', env)?.service, 'reg.example.test');
    assert.equal(accountForHost('other:1', env), undefined);
  });
});

describe('credential helper and auth files (no server)', () => {
  test("get for an unknown host is the protocol's not-found answer", async () => {
    await assert.rejects(helperGet('nowhere:1', { BERTH_CONFIG_DIR: fresh() }), (e: Error) => e.message === NOT_FOUND);
  });

  test('a stored, unexpired token is returned as stored', async () => {
    const env = { BERTH_CONFIG_DIR: fresh() };
    const payload = Buffer.from(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 3600 })).toString('base64url');
    const token = `e30.${payload}.sig`;
    assert.equal(jwtClaims(token)?.exp !== undefined, true);
    helperStore({ ServerURL: 'h:1', Username: '00000000-0000-0000-0000-000000000000', Secret: token }, env);
    assert.deepEqual(await helperGet('h:1', env), { ServerURL: 'h:1', Username: '00000000-0000-0000-0000-000000000000', Secret: token });
    assert.deepEqual(helperList(env), { 'h:1': '00000000-0000-0000-0000-000000000000' });
  });

  test('saveRegistryLogin merges into both files and dedupes when they are the same file', async () => {
    const d = fresh();
    const file = path.join(d, 'config.json');
    mkdirSync(d);
    writeFileSync(file, JSON.stringify({ auths: { keep: { auth: 'eA==' } }, detachKeys: 'ctrl-x' }));
    const saved = await saveRegistryLogin('h:1', 'tok', { DOCKER_CONFIG: d, REGISTRY_AUTH_FILE: file, BERTH_CONFIG_DIR: fresh() });
    assert.deepEqual(saved, [{ file, via: 'file' }]);
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { auths: Record<string, { auth: string }>; detachKeys: string };
    assert.equal(doc.detachKeys, 'ctrl-x');
    assert.deepEqual(doc.auths.keep, { auth: 'eA==' });
    assert.equal(Buffer.from(doc.auths['h:1']!.auth, 'base64').toString(), '00000000-0000-0000-0000-000000000000:tok');
    assert.equal(mode(file), 0o600);
  });

  test('a damaged auth file is reported and left alone', async () => {
    const d = fresh();
    mkdirSync(d);
    writeFileSync(path.join(d, 'config.json'), '{oops');
    await assert.rejects(
      saveRegistryLogin('h:1', 'tok', { DOCKER_CONFIG: d, REGISTRY_AUTH_FILE: path.join(d, 'auth.json'), BERTH_CONFIG_DIR: fresh() }),
      /config\.json is not valid JSON/,
    );
    assert.equal(readFileSync(path.join(d, 'config.json'), 'utf8'), '{oops');
  });
});
