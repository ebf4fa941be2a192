import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startBerth, type BerthProcess } from '../helpers/berth-process.js';
import { basicAuthHeader as basic } from '../helpers/credentials.js';
import { mustFail, mustRun, removeDir, requireTool } from './helpers.js';
import { Home, OWNER, OWNER_PASSWORD, TOKEN_USERNAME, authEntry, mode, podman, rawGet, tempDir } from './login-helpers.js';
import { OciLayout } from './oci-layout.js';

// Signing in like az: `berth account login` (az login) keeps a refresh token in the user's config
// directory, every command then works without a password; `berth login -n REG` (az acr login)
// writes credentials podman, skopeo and docker read; --expose-token prints one for `podman login`;
// docker-credential-berth serves the docker credential helper protocol. Real `berth serve`
// processes, the real CLI, real skopeo and podman.

const SKOPEO = requireTool('skopeo');
const PODMAN = requireTool('podman', 'skopeo');

const REG = 'loginreg';
const jwtShape = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;

describe('berth account login / berth login / docker-credential-berth', () => {
  let server: BerthProcess;
  let data: string;
  let work: string;
  let layout: OciLayout;

  before(async () => {
    data = tempDir('login-data');
    work = tempDir('login-work');
    server = await startBerth({ dataDir: data, env: { BERTH_ADMIN_PASSWORD: OWNER_PASSWORD } });
    // Set up as the owner with a password: a registry and one image in it.
    const setup = new Home();
    await setup.berthOk(['create', '-n', REG, '--server', server.url, '-u', OWNER, '-p', OWNER_PASSWORD]);
    layout = new OciLayout(path.join(work, 'layout'));
    layout.tag('v1', layout.addImage({ files: { 'hello.txt': 'hello from berth login\n' } }));
    layout.write();
    if (!SKOPEO.skip) {
      await mustRun(
        'skopeo',
        [
          'copy',
          '--dest-tls-verify=false',
          '--dest-creds',
          `${OWNER}:${OWNER_PASSWORD}`,
          `oci:${layout.dir}:v1`,
          `docker://${server.host}/${REG}/hello:v1`,
        ],
        { timeoutMs: 120_000 },
      );
    }
    removeDir(setup.dir);
  });

  after(async () => {
    await server?.stop();
    removeDir(data);
    removeDir(work);
  });

  describe('berth account login', () => {
    let home: Home;
    before(() => {
      home = new Home();
    });
    after(() => removeDir(home.dir));

    test('a wrong password is refused and nothing is stored', async () => {
      const r = await home.berth(['account', 'login', '--server', server.url, '-u', OWNER, '--password-stdin'], {
        input: 'not-the-password\n',
      });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /sign-in to http:\/\/127\.0\.0\.1:\d+ failed: wrong user name or password/);
      assert.equal(existsSync(home.credentialsFile), false);
    });

    test('without a password and without a terminal it is a usage error', async () => {
      const r = await home.berth(['account', 'login', '--server', server.url]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /give --username and --password \(or --password-stdin\)/);
    });

    test('stores a refresh token readable by the user only (file 0600, directory 0700) and prints no secret', async () => {
      const r = await home.berthOk(['account', 'login', '--server', server.url, '-u', OWNER, '--password-stdin'], {
        input: `${OWNER_PASSWORD}\n`,
      });
      const shown = JSON.parse(r.stdout) as Record<string, unknown>;
      assert.equal(shown.server, server.url);
      assert.equal(shown.username, OWNER);
      assert.equal(shown.expired, false);
      assert.ok(!r.stdout.includes('eyJ') && !r.stderr.includes('eyJ'), 'no token on the terminal');
      assert.equal(mode(home.credentialsFile), 0o600);
      assert.equal(mode(home.berthConfig), 0o700);
      const stored = home.json<{ accounts: Record<string, { server: string; username: string; refreshToken: string; expiresAt: string }> }>(
        home.credentialsFile,
      ).accounts[server.url]!;
      assert.equal(stored.username, OWNER);
      assert.match(stored.refreshToken, jwtShape);
      const c = claims(stored.refreshToken);
      assert.equal(c.grant_type, 'refresh_token');
      assert.equal(c.aud, server.host);
      assert.equal(new Date(stored.expiresAt).getTime(), (c.exp as number) * 1000);
      assert.ok(Date.parse(stored.expiresAt) > Date.now() + 3600_000, 'about 3 hours');
    });

    test('commands then work without --username/--password, and the only stored server is the default', async () => {
      const listed = JSON.parse((await home.berthOk(['list'])).stdout) as { name: string }[];
      assert.deepEqual(
        listed.map((r) => r.name),
        [REG],
      );
      const shown = JSON.parse((await home.berthOk(['show', '-n', REG, '--server', server.url])).stdout) as { loginServer: string };
      assert.equal(shown.loginServer, `${server.host}/${REG}`);
      const tags = JSON.parse((await home.berthOk(['repository', 'list', '-n', REG])).stdout) as string[];
      if (!SKOPEO.skip) assert.deepEqual(tags, ['hello']);
    });

    test('BERTH_USERNAME/BERTH_PASSWORD win over the stored sign-in', async () => {
      const r = await home.berth(['list'], { env: { BERTH_USERNAME: OWNER, BERTH_PASSWORD: 'wrong' } });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /wrong user name or password/);
    });

    test('account show and account list show the sign-in without the token', async () => {
      const show = JSON.parse((await home.berthOk(['account', 'show'])).stdout) as Record<string, unknown>;
      assert.deepEqual(Object.keys(show).sort(), ['expired', 'expiresAt', 'loginServers', 'server', 'username']);
      assert.equal(show.server, server.url);
      const list = JSON.parse((await home.berthOk(['account', 'list'])).stdout) as unknown[];
      assert.equal(list.length, 1);
    });

    test('account logout forgets it; commands then ask for credentials', async () => {
      const other = new Home();
      try {
        await other.berthOk(['account', 'login', '--server', server.url, '-u', OWNER, '-p', OWNER_PASSWORD]);
        await other.berthOk(['account', 'logout', '--server', server.url]);
        assert.deepEqual(other.json<{ accounts: object }>(other.credentialsFile).accounts, {});
        const r = await other.berth(['list', '--server', server.url]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /berth account login/);
        const s = await other.berth(['account', 'show', '--server', server.url]);
        assert.equal(s.code, 1);
        assert.match(s.stderr, /not signed in to http:\/\/127\.0\.0\.1:\d+: run `berth account login --server/);
      } finally {
        removeDir(other.dir);
      }
    });
  });

  describe('an expired or damaged stored sign-in', () => {
    let home: Home;
    let stored: Record<string, Record<string, unknown>>;
    before(async () => {
      home = new Home();
      await home.berthOk(['account', 'login', '--server', server.url, '-u', OWNER, '-p', OWNER_PASSWORD]);
      stored = home.json<{ accounts: Record<string, Record<string, unknown>> }>(home.credentialsFile).accounts;
    });
    after(() => removeDir(home.dir));

    const tamper = (change: Record<string, unknown>) => {
      const accounts = { [server.url]: { ...stored[server.url], ...change } };
      writeFileSync(home.credentialsFile, JSON.stringify({ version: 1, accounts }), { mode: 0o600 });
    };

    test('expired: commands, berth login and the credential helper say to run berth account login', async () => {
      tamper({ expiresAt: '2020-01-01T00:00:00.000Z' });
      const expected = new RegExp(
        `your sign-in to ${server.url.replace(/\./g, '\\.')} as admin expired at 2020-01-01T00:00:00\\.000Z: run \`berth account login --server ${server.url.replace(/\./g, '\\.')}\``,
      );
      for (const args of [['list'], ['repository', 'list', '-n', REG], ['login', '-n', REG]]) {
        const r = await home.berth(args);
        assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, expected, args.join(' '));
      }
      const h = await home.helper('get', `${server.host}\n`);
      assert.equal(h.code, 1);
      assert.match(h.stdout, expected);
    });

    test('garbage token: the server refuses it and the message says to run berth account login', async () => {
      tamper({ refreshToken: 'garbage' });
      const r = await home.berth(['list']);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /the server refused the sign-in stored for http:\/\/127\.0\.0\.1:\d+: invalid token: .*UNAUTHORIZED, HTTP 401.*Run `berth account login --server/,
      );
      const l = await home.berth(['login', '-n', REG]);
      assert.equal(l.code, 1);
      assert.match(l.stderr, /berth account login --server/);
      const h = await home.helper('get', `${server.host}\n`);
      assert.equal(h.code, 1);
      assert.match(h.stdout, /the server refused the sign-in stored for .*run `berth account login --server/);
    });

    test('a damaged credentials file is reported, not overwritten', async () => {
      writeFileSync(home.credentialsFile, '{"accounts": ', { mode: 0o600 });
      const r = await home.berth(['list', '--server', server.url]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /credentials\.json is not valid JSON .*fix or remove it/);
      assert.equal(readFileSync(home.credentialsFile, 'utf8'), '{"accounts": ');
    });
  });

  describe('berth login -n (like az acr login)', () => {
    let home: Home;
    before(async () => {
      home = new Home();
      await home.berthOk(['account', 'login', '--server', server.url, '-u', OWNER, '-p', OWNER_PASSWORD]);
    });
    after(() => removeDir(home.dir));

    test('without a sign-in or credentials it says how to sign in', async () => {
      const fresh = new Home();
      try {
        const r = await fresh.berth(['login', '-n', REG, '--server', server.url]);
        assert.equal(r.code, 1);
        assert.match(
          r.stderr,
          /not signed in to http:\/\/127\.0\.0\.1:\d+: run `berth account login --server .*`, or give --username and --password/,
        );
      } finally {
        removeDir(fresh.dir);
      }
    });

    test('writes the 00000000 username and a refresh token into the docker config and the containers auth file (0600), merged', async () => {
      mkdirSync(home.dockerConfig, { recursive: true });
      writeFileSync(
        home.dockerConfigFile,
        JSON.stringify({ auths: { 'other.example.com': { auth: 'b3RoZXI6c2VjcmV0' } }, psFormat: 'table {{.ID}}' }),
      );
      mkdirSync(path.dirname(home.authFile), { recursive: true });
      writeFileSync(home.authFile, JSON.stringify({ auths: { [server.host]: { auth: 'c3RhbGU6c3RhbGU=', identitytoken: 'stale' } } }));
      const r = await home.berthOk(['login', '-n', REG]);
      assert.equal(r.stdout.trim(), 'Login Succeeded');
      for (const file of [home.dockerConfigFile, home.authFile]) {
        assert.equal(mode(file), 0o600, file);
        const entry = authEntry(file, server.host);
        assert.ok(entry, `${file} has ${server.host}`);
        assert.equal(entry.user, TOKEN_USERNAME);
        assert.match(entry.password, jwtShape);
        assert.equal(claims(entry.password).grant_type, 'refresh_token');
        assert.equal(claims(entry.password).aud, server.host);
        assert.equal(
          (home.json<{ auths: Record<string, object> }>(file).auths[server.host] as Record<string, unknown>).identitytoken,
          undefined,
          'stale identitytoken dropped',
        );
      }
      const docker = home.json<{ auths: Record<string, unknown>; psFormat: string }>(home.dockerConfigFile);
      assert.deepEqual(docker.auths['other.example.com'], { auth: 'b3RoZXI6c2VjcmV0' });
      assert.equal(docker.psFormat, 'table {{.ID}}');
      const account = home.json<{ accounts: Record<string, { loginServers: Record<string, unknown> }> }>(home.credentialsFile).accounts[
        server.url
      ]!;
      assert.deepEqual(Object.keys(account.loginServers), [server.host]);
    });

    test('the written credentials work on /v2 as Basic, and the management API too', async () => {
      const entry = authEntry(home.authFile, server.host)!;
      assert.equal((await rawGet(`${server.url}/v2/`, { authorization: basic(entry.user, entry.password) })).status, 200);
      assert.equal((await rawGet(`${server.url}/api/registries`, { authorization: basic(entry.user, entry.password) })).status, 200);
    });

    test('skopeo list-tags reads them from REGISTRY_AUTH_FILE (and fails without them)', SKOPEO, async () => {
      const env = home.env();
      const r = await mustRun('skopeo', ['list-tags', '--tls-verify=false', `docker://${server.host}/${REG}/hello`], {
        env,
        timeoutMs: 60_000,
      });
      assert.deepEqual((JSON.parse(r.stdout) as { Tags: string[] }).Tags, ['v1']);
      const empty = path.join(home.dir, 'empty-auth.json');
      writeFileSync(empty, '{"auths":{}}');
      const denied = await mustFail('skopeo', ['list-tags', '--tls-verify=false', `docker://${server.host}/${REG}/hello`], {
        env: { ...env, REGISTRY_AUTH_FILE: empty, DOCKER_CONFIG: path.join(home.dir, 'none') },
        timeoutMs: 60_000,
      });
      assert.match(denied.stderr, /unauthorized|authentication required/i);
    });

    test('podman pull reads them from REGISTRY_AUTH_FILE', PODMAN, async () => {
      const r = await podman(path.join(home.dir, 'podman'), ['pull', '--tls-verify=false', `${server.host}/${REG}/hello:v1`], home.env());
      assert.match(r.stdout.trim(), /^[0-9a-f]{64}$/m);
    });

    test('with --username/--password it works without a stored sign-in', async () => {
      const fresh = new Home();
      try {
        await fresh.berthOk(['login', '-n', REG, '--server', server.url, '-u', OWNER, '--password-stdin'], { input: OWNER_PASSWORD });
        const entry = authEntry(fresh.authFile, server.host)!;
        assert.equal(entry.user, TOKEN_USERNAME);
        assert.equal((await rawGet(`${server.url}/v2/`, { authorization: basic(entry.user, entry.password) })).status, 200);
        assert.equal(existsSync(fresh.credentialsFile), false, 'no account stored');
      } finally {
        removeDir(fresh.dir);
      }
    });

    test('an unknown registry is an error and writes nothing', async () => {
      const fresh = new Home();
      try {
        await fresh.berthOk(['account', 'login', '--server', server.url, '-u', OWNER, '-p', OWNER_PASSWORD]);
        const r = await fresh.berth(['login', '-n', 'nosuchregistry']);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /nosuchregistry/);
        assert.equal(existsSync(fresh.authFile), false);
        assert.equal(existsSync(fresh.dockerConfigFile), false);
      } finally {
        removeDir(fresh.dir);
      }
    });
  });

  describe('berth login --expose-token', () => {
    let home: Home;
    before(async () => {
      home = new Home();
      await home.berthOk(['account', 'login', '--server', server.url, '-u', OWNER, '-p', OWNER_PASSWORD]);
    });
    after(() => removeDir(home.dir));

    test('prints accessToken, loginServer and the 00000000 username, and writes nothing', async () => {
      const r = await home.berthOk(['login', '-n', REG, '--expose-token']);
      const out = JSON.parse(r.stdout) as Record<string, string>;
      assert.deepEqual(Object.keys(out), ['accessToken', 'loginServer', 'username']);
      assert.equal(out.loginServer, server.host);
      assert.equal(out.username, TOKEN_USERNAME);
      assert.match(out.accessToken!, jwtShape);
      assert.equal(existsSync(home.authFile), false);
      assert.equal(existsSync(home.dockerConfigFile), false);
      const tsv = await home.berthOk(['login', '-n', REG, '--expose-token', '-o', 'tsv']);
      const [token, host, user] = tsv.stdout.trim().split('\t');
      assert.match(token!, jwtShape);
      assert.equal(host, server.host);
      assert.equal(user, TOKEN_USERNAME);
    });

    test('podman login -u 00000000-0000-0000-0000-000000000000 with the token, then skopeo and podman use it', PODMAN, async () => {
      const out = JSON.parse((await home.berthOk(['login', '-n', REG, '--expose-token'])).stdout) as {
        accessToken: string;
        loginServer: string;
        username: string;
      };
      const authFile = path.join(home.dir, 'podman-auth.json');
      const env = home.env({ REGISTRY_AUTH_FILE: authFile, DOCKER_CONFIG: path.join(home.dir, 'no-docker') });
      const pm = path.join(home.dir, 'podman');
      const login = await podman(pm, ['login', '--tls-verify=false', '-u', out.username, '-p', out.accessToken, out.loginServer], env);
      assert.match(login.stdout + login.stderr, /Login Succeeded/);
      assert.equal(authEntry(authFile, out.loginServer)?.password, out.accessToken);
      const tags = await mustRun('skopeo', ['list-tags', '--tls-verify=false', `docker://${out.loginServer}/${REG}/hello`], {
        env,
        timeoutMs: 60_000,
      });
      assert.deepEqual((JSON.parse(tags.stdout) as { Tags: string[] }).Tags, ['v1']);
      await podman(pm, ['pull', '--tls-verify=false', `${out.loginServer}/${REG}/hello:v1`], env);
    });

    test('podman login with a garbage token is refused', PODMAN, async () => {
      const authFile = path.join(home.dir, 'garbage-auth.json');
      const env = home.env({ REGISTRY_AUTH_FILE: authFile, DOCKER_CONFIG: path.join(home.dir, 'no-docker') });
      await assert.rejects(
        podman(path.join(home.dir, 'podman2'), ['login', '--tls-verify=false', '-u', TOKEN_USERNAME, '-p', 'garbage', server.host], env),
        /invalid username\/password|unauthorized|401/i,
      );
    });
  });

  describe('docker-credential-berth', () => {
    let home: Home;
    before(async () => {
      home = new Home();
      await home.berthOk(['account', 'login', '--server', server.url, '-u', OWNER, '-p', OWNER_PASSWORD]);
    });
    after(() => removeDir(home.dir));

    test('store, get, list and erase round-trip any credentials (file 0600)', async () => {
      const creds = { ServerURL: 'https://registry.example.com/v1/', Username: 'bob', Secret: 's3cr3t "quoted"' };
      const s = await home.helper('store', JSON.stringify(creds));
      assert.equal(s.code, 0, s.stdout);
      assert.equal(mode(path.join(home.berthConfig, 'docker-credentials.json')), 0o600);
      const g = await home.helper('get', 'registry.example.com\n');
      assert.equal(g.code, 0, g.stdout);
      assert.deepEqual(JSON.parse(g.stdout), { ServerURL: 'registry.example.com', Username: 'bob', Secret: 's3cr3t "quoted"' });
      const l = await home.helper('list', '');
      assert.deepEqual(JSON.parse(l.stdout), { 'registry.example.com': 'bob' });
      assert.equal((await home.helper('erase', 'https://registry.example.com/v1/\n')).code, 0);
      assert.deepEqual(JSON.parse((await home.helper('list', '')).stdout), {});
    });

    test('get for an unknown host answers "credentials not found in native keychain" (exit 1)', async () => {
      const g = await home.helper('get', 'unknown.example.com:5000\n');
      assert.equal(g.code, 1);
      assert.equal(g.stdout.trim(), 'credentials not found in native keychain');
    });

    test('get for the Berth server answers a fresh token from the stored sign-in, and reuses it while valid', async () => {
      const g = await home.helper('get', `${server.host}\n`);
      assert.equal(g.code, 0, g.stdout);
      const c = JSON.parse(g.stdout) as { ServerURL: string; Username: string; Secret: string };
      assert.equal(c.ServerURL, server.host);
      assert.equal(c.Username, TOKEN_USERNAME);
      assert.match(c.Secret, jwtShape);
      assert.equal(claims(c.Secret).aud, server.host);
      assert.equal((await rawGet(`${server.url}/v2/`, { authorization: basic(c.Username, c.Secret) })).status, 200);
      const again = JSON.parse((await home.helper('get', `http://${server.host}/\n`)).stdout) as { Secret: string };
      assert.equal(again.Secret, c.Secret);
    });

    test('an expired token it minted is replaced by a fresh one', async () => {
      const file = path.join(home.berthConfig, 'docker-credentials.json');
      const doc = home.json<{ version: number; auths: Record<string, { Secret: string; expiresAt?: string }> }>(file);
      const old = doc.auths[server.host]!.Secret;
      doc.auths[server.host]!.expiresAt = new Date(Date.now() - 1000).toISOString();
      writeFileSync(file, JSON.stringify(doc), { mode: 0o600 });
      const c = JSON.parse((await home.helper('get', `${server.host}\n`)).stdout) as { Secret: string };
      assert.notEqual(c.Secret, old);
      assert.equal((await rawGet(`${server.url}/v2/`, { authorization: basic(TOKEN_USERNAME, c.Secret) })).status, 200);
    });

    test('skopeo and podman use it through credHelpers in the auth file', PODMAN, async () => {
      const authFile = path.join(home.dir, 'helper-auth.json');
      writeFileSync(authFile, JSON.stringify({ credHelpers: { [server.host]: 'berth' } }));
      const env = home.env({ REGISTRY_AUTH_FILE: authFile, DOCKER_CONFIG: path.join(home.dir, 'no-docker') });
      const tags = await mustRun('skopeo', ['list-tags', '--tls-verify=false', `docker://${server.host}/${REG}/hello`], {
        env,
        timeoutMs: 60_000,
      });
      assert.deepEqual((JSON.parse(tags.stdout) as { Tags: string[] }).Tags, ['v1']);
      await podman(path.join(home.dir, 'podman'), ['pull', '--tls-verify=false', `${server.host}/${REG}/hello:v1`], env);
      // Control: the same setup with a helper that knows nothing is refused.
      const denied = await mustFail('skopeo', ['list-tags', '--tls-verify=false', `docker://${server.host}/${REG}/hello`], {
        env: { ...env, BERTH_CONFIG_DIR: path.join(home.dir, 'empty-berth') },
        timeoutMs: 60_000,
      });
      assert.match(denied.stderr, /unauthorized|authentication required/i);
    });

    test('berth login -n stores through the helper named by credsStore/credHelpers, leaving no secret in the files', async () => {
      const fresh = new Home();
      try {
        await fresh.berthOk(['account', 'login', '--server', server.url, '-u', OWNER, '-p', OWNER_PASSWORD]);
        mkdirSync(fresh.dockerConfig, { recursive: true });
        writeFileSync(
          fresh.dockerConfigFile,
          JSON.stringify({ credsStore: 'berth', auths: { [server.host]: { auth: 'c3RhbGU6c3RhbGU=' } } }),
        );
        mkdirSync(path.dirname(fresh.authFile), { recursive: true });
        writeFileSync(fresh.authFile, JSON.stringify({ credHelpers: { [server.host]: 'berth' } }));
        const r = await fresh.berthOk(['login', '-n', REG]);
        assert.match(r.stderr, /with docker-credential-berth/);
        assert.deepEqual(fresh.json<{ auths: Record<string, unknown> }>(fresh.dockerConfigFile).auths[server.host], {});
        assert.deepEqual(fresh.json(fresh.authFile), { credHelpers: { [server.host]: 'berth' } });
        const stored = fresh.json<{ auths: Record<string, { Username: string; Secret: string }> }>(
          path.join(fresh.berthConfig, 'docker-credentials.json'),
        ).auths[server.host]!;
        assert.equal(stored.Username, TOKEN_USERNAME);
        const g = JSON.parse((await fresh.helper('get', `${server.host}\n`)).stdout) as { Secret: string };
        assert.equal(g.Secret, stored.Secret);
      } finally {
        removeDir(fresh.dir);
      }
    });

    test('account logout drops the tokens the helper minted', async () => {
      const fresh = new Home();
      try {
        await fresh.berthOk(['account', 'login', '--server', server.url, '-u', OWNER, '-p', OWNER_PASSWORD]);
        assert.equal((await fresh.helper('get', `${server.host}\n`)).code, 0);
        await fresh.berthOk(['account', 'logout']);
        const g = await fresh.helper('get', `${server.host}\n`);
        assert.equal(g.code, 1);
        assert.equal(g.stdout.trim(), 'credentials not found in native keychain');
      } finally {
        removeDir(fresh.dir);
      }
    });
  });
});

describe('berth login with host-style addressing (domain)', () => {
  let server: BerthProcess;
  let data: string;
  let home: Home;

  before(async () => {
    data = tempDir('login-host-data');
    home = new Home();
    server = await startBerth({ dataDir: data, args: ['--domain', 'berth.test'], env: { BERTH_ADMIN_PASSWORD: OWNER_PASSWORD } });
    await home.berthOk(['create', '-n', REG, '--server', server.url, '-u', OWNER, '-p', OWNER_PASSWORD]);
    await home.berthOk(['account', 'login', '--server', server.url, '-u', OWNER, '-p', OWNER_PASSWORD]);
  });

  after(async () => {
    await server?.stop();
    removeDir(data);
    removeDir(home.dir);
  });

  test('writes <registry>.<domain>, with a token for that login server exchanged from the stored sign-in', async () => {
    await home.berthOk(['login', '-n', REG]);
    const host = `${REG}.berth.test`;
    const entry = authEntry(home.authFile, host);
    assert.ok(entry, `auth file has ${host}: ${readFileSync(home.authFile, 'utf8')}`);
    assert.equal(entry.user, TOKEN_USERNAME);
    assert.equal(claims(entry.password).aud, host);
    assert.deepEqual(authEntry(home.dockerConfigFile, host), entry);
    // The registry answers at its own host name with these credentials (no DNS: Host header).
    const ok = await rawGet(`${server.url}/v2/`, { host, authorization: basic(entry.user, entry.password) });
    assert.equal(ok.status, 200, ok.body);
    // A token for the server's own host is for another audience there.
    const stored = home.json<{ accounts: Record<string, { refreshToken: string }> }>(home.credentialsFile).accounts[server.url]!;
    assert.equal((await rawGet(`${server.url}/v2/`, { host, authorization: basic(TOKEN_USERNAME, stored.refreshToken) })).status, 401);
  });

  test('the credential helper answers for the host-style login server too', async () => {
    const host = `${REG}.berth.test`;
    const g = await home.helper('get', `${host}\n`);
    assert.equal(g.code, 0, g.stdout);
    const c = JSON.parse(g.stdout) as { Username: string; Secret: string };
    assert.equal(claims(c.Secret).aud, host);
    assert.equal((await rawGet(`${server.url}/v2/`, { host, authorization: basic(c.Username, c.Secret) })).status, 200);
  });

  test('/oauth2/exchange takes a token for the requested service or for the host it is sent to, nothing else', async () => {
    const xchg = (token: string, service: string) =>
      fetch(`${server.url}/oauth2/exchange`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', service, refresh_token: token }),
      });
    const stored = home.json<{ accounts: Record<string, { refreshToken: string }> }>(home.credentialsFile).accounts[server.url]!;
    const ok = await xchg(stored.refreshToken, `other.berth.test`);
    assert.equal(ok.status, 200);
    const forOther = ((await ok.json()) as { refresh_token: string }).refresh_token;
    assert.equal(claims(forOther).aud, 'other.berth.test');
    // A token for other.berth.test, sent to 127.0.0.1 for a third service: for neither.
    const refused = await xchg(forOther, `${REG}.berth.test`);
    assert.equal(refused.status, 401);
    assert.match(await refused.text(), /another audience/);
  });

  test('--expose-token names the host-style login server', async () => {
    const out = JSON.parse((await home.berthOk(['login', '-n', REG, '--expose-token'])).stdout) as {
      loginServer: string;
      accessToken: string;
    };
    assert.equal(out.loginServer, `${REG}.berth.test`);
    assert.equal(claims(out.accessToken).aud, `${REG}.berth.test`);
  });
});
