import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { repositoryActions } from '../src/cli/commands/identity.js';
import type { RegistryView } from '../src/services/content/registries.js';
import type {
  AdminCredentialsView,
  AnonymousPullView,
  RoleAssignmentView,
  ScopeMapView,
  ServicePrincipalView,
  TokenPasswordView,
  TokenView,
  UserView,
} from '../src/services/identity/views.js';
import { ensureBuilt, MAIN } from './helpers/berth-process.js';
import { runCli } from './helpers/cli.js';
import { basicAuthHeader, startTestApp, type TestApp } from './helpers/app.js';
import { ROOT } from './helpers/root.js';

// The identity commands of the berth CLI against a server in this process (the commands run in
// this process too, and the built entry point as a child): flags shaped like az, JSON and tsv
// output, confirmations, exit codes.
// The API's rules are tested in identity-api.test.ts; this covers the command layer, on SQLite.

const OWNER_PASSWORD = 'identity-cli-owner-password';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

// What the commands print (-o json): the API's answers as they are.
/** A user; password only in the answer that generated it. */
type UserAnswer = UserView & { password?: string };
/** A service principal's new secret (create-for-rbac, credential reset), shown once. */
interface SpSecret {
  appId: string;
  password: string;
  tenant: string;
}
/** A token's regenerated passwords, values shown once. */
interface NewTokenPasswords {
  username: string;
  passwords: TokenPasswordView[];
}

describe('identity CLI commands', () => {
  let t: TestApp;
  let configDir: string;

  /** Runs a berth command in this process (as main.ts would), capturing its output and exit code. */
  function berth(args: string[], auth: [string, string] | null = ['admin', OWNER_PASSWORD]): Promise<Run> {
    return runCli([...args, '--server', t.url, ...(auth ? ['-u', auth[0], '-p', auth[1]] : [])]);
  }

  /** Runs the real entry point (dist/main.js) as a child process. */
  function berthProcess(args: string[]): Promise<Run> {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: configDir, BERTH_CONFIG_DIR: configDir };
    const full = [...args, '--server', t.url, '-u', 'admin', '-p', OWNER_PASSWORD];
    return new Promise((resolve, reject) => {
      // The built entry point, as users run it (npm test builds first): a child under tsx would
      // spend about a second more starting.
      ensureBuilt();
      const child = spawn(process.execPath, [MAIN, ...full], {
        cwd: ROOT,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  }

  async function ok<T = unknown>(args: string[], auth?: [string, string] | null): Promise<T> {
    const r = await berth(args, auth);
    assert.equal(r.code, 0, `berth ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    return (r.stdout.trim() ? JSON.parse(r.stdout) : undefined) as T;
  }

  async function fails(args: string[], code: number, pattern?: RegExp, auth?: [string, string] | null): Promise<Run> {
    const r = await berth(args, auth);
    assert.equal(r.code, code, `berth ${args.join(' ')}: expected exit ${code}, got ${r.code}\n${r.stdout}${r.stderr}`);
    if (pattern) assert.match(r.stderr, pattern);
    return r;
  }

  before(async () => {
    configDir = mkdtempSync(path.join(os.tmpdir(), 'berth-cli-config-'));
    t = await startTestApp('sqlite', { auth: { adminPassword: OWNER_PASSWORD } });
    await t.createRegistry('clireg1', 'Standard');
  });
  after(async () => {
    await t?.close();
    rmSync(configDir, { recursive: true, force: true });
  });

  test('berth (dist/main.js) registers the identity commands', async () => {
    const r = await berthProcess(['scope-map', 'list', '-r', 'clireg1', '-o', 'tsv']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^_repositories_admin\t/);
    const bad = await berthProcess(['token', 'create', '-n', 'x', '-r', 'clireg1']);
    assert.equal(bad.code, 2, bad.stderr);
  });

  test('--repository REPO ACTION... groups actions by the repository before them', () => {
    assert.deepEqual(repositoryActions(['samples/hello', 'content/read', 'content/write', 'team/*', 'metadata/read']), [
      'repositories/samples/hello/content/read',
      'repositories/samples/hello/content/write',
      'repositories/team/*/metadata/read',
    ]);
    assert.deepEqual(repositoryActions(undefined), []);
    assert.throws(() => repositoryActions(['content/read']), /repository first/);
    assert.throws(() => repositoryActions(['a', 'b', 'content/read']), /a: no actions/);
    assert.throws(() => repositoryActions(['a', 'content/read', 'b']), /b: no actions/);
  });

  test('user create|list|show|update|delete', async () => {
    const created = await ok<UserAnswer>(['user', 'create', '-n', 'cli.user', '--new-password', 'cli-user-password']);
    assert.equal(created.name, 'cli.user');
    assert.equal(created.password, undefined);
    const gen = await ok<UserView & { password: string }>(['user', 'create', '-n', 'cli.gen']);
    assert.ok(gen.password.length >= 32);
    assert.ok((await ok<{ name: string }[]>(['user', 'list'])).some((u) => u.name === 'cli.user'));
    assert.equal((await ok<UserView>(['user', 'show', '-n', 'cli.user'])).enabled, true);
    assert.equal((await ok<UserView>(['user', 'update', '-n', 'cli.user', '--enabled', 'false'])).enabled, false);
    await fails(['user', 'show', '-n', 'cli.user'], 1, /UNAUTHORIZED/, ['cli.user', 'cli-user-password']);
    await ok(['user', 'update', '-n', 'cli.user', '--enabled', 'true', '--new-password', 'cli-user-password-2']);
    await ok(['user', 'show', '-n', 'cli.user'], ['cli.user', 'cli-user-password-2']);
    await fails(['user', 'update', '-n', 'cli.user'], 2, /nothing to update/);
    await fails(['user', 'update', '-n', 'cli.user', '--enabled', 'maybe'], 2);
    await fails(['user', 'delete', '-n', 'cli.gen'], 2, /--yes/);
    await ok(['user', 'delete', '-n', 'cli.gen', '--yes']);
    await fails(['user', 'show', '-n', 'cli.gen'], 1, /RESOURCE_UNKNOWN, HTTP 404/);
    await fails(['user', 'delete', '-n', 'admin', '--yes'], 1, /last Owner/);
  });

  test('role assignment create|list|delete and sp create-for-rbac|credential reset|list|show|delete', async () => {
    await ok(['user', 'create', '-n', 'cli.reader', '--new-password', 'cli-reader-password']);
    const a = await ok<RoleAssignmentView>([
      'role',
      'assignment',
      'create',
      '--assignee',
      'cli.reader',
      '--role',
      'reader',
      '--scope',
      '/registries/clireg1',
    ]);
    assert.equal(a.roleDefinitionName, 'Reader');
    const listed = await ok<{ id: string }[]>(['role', 'assignment', 'list', '--assignee', 'cli.reader']);
    assert.deepEqual(
      listed.map((x) => x.id),
      [a.id],
    );
    const tsv = await berth(['role', 'assignment', 'list', '--assignee', 'cli.reader', '-o', 'tsv']);
    assert.equal(tsv.code, 0);
    assert.match(tsv.stdout, new RegExp(`^${a.id}\\t`));
    // A Reader cannot create tokens: the CLI reports 403 DENIED and exits 1.
    await fails(['token', 'create', '-n', 'readertoken', '-r', 'clireg1', '--scope-map', '_repositories_pull'], 1, /DENIED, HTTP 403/, [
      'cli.reader',
      'cli-reader-password',
    ]);
    await ok(['role', 'assignment', 'delete', '--assignee', 'cli.reader', '--scope', '/registries/clireg1', '--yes']);
    assert.deepEqual(await ok(['role', 'assignment', 'list', '--assignee', 'cli.reader']), []);

    const sp = await ok<SpSecret>(['sp', 'create-for-rbac', '--name', 'cli-sp', '--role', 'acrpull', '--scopes', 'clireg1/team/*']);
    assert.equal(sp.tenant, 'berth');
    assert.ok(sp.password);
    const shown = await ok<ServicePrincipalView>(['sp', 'show', '--id', sp.appId]);
    assert.equal(shown.passwordCredentials.length, 1);
    const reset = await ok<SpSecret>(['sp', 'credential', 'reset', '--id', sp.appId, '--append', '--years', '2']);
    assert.notEqual(reset.password, sp.password);
    assert.equal((await ok<ServicePrincipalView>(['sp', 'show', '--id', sp.appId])).passwordCredentials.length, 2);
    assert.ok((await ok<{ appId: string }[]>(['sp', 'list'])).some((s) => s.appId === sp.appId));
    await fails(['sp', 'create-for-rbac', '--name', 'x', '--role', 'AcrPull'], 2, /together/);
    await ok(['sp', 'delete', '--id', sp.appId, '--yes']);
    await fails(['sp', 'show', '--id', sp.appId], 1, /RESOURCE_UNKNOWN/);
  });

  test('scope-map create|update|show|list|delete and token create|update|show|list|credential generate|credential delete|delete', async () => {
    const map = await ok<ScopeMapView>([
      'scope-map',
      'create',
      '-n',
      'cli-map',
      '-r',
      'clireg1',
      '--repository',
      'samples/hello',
      'content/read',
      'content/write',
      '--repository',
      'team/*',
      'metadata/read',
      '--description',
      'CLI map',
    ]);
    assert.deepEqual(map.actions, [
      'repositories/samples/hello/content/read',
      'repositories/samples/hello/content/write',
      'repositories/team/*/metadata/read',
    ]);
    const upd = await ok<ScopeMapView>([
      'scope-map',
      'update',
      '-n',
      'cli-map',
      '-r',
      'clireg1',
      '--add-repository',
      'samples/nginx',
      'content/read',
      '--remove-repository',
      'samples/hello',
      'content/write',
    ]);
    assert.deepEqual(upd.actions, [
      'repositories/samples/hello/content/read',
      'repositories/team/*/metadata/read',
      'repositories/samples/nginx/content/read',
    ]);
    const maps = await ok<{ name: string; type: string }[]>(['scope-map', 'list', '-r', 'clireg1']);
    assert.deepEqual(
      maps.map((m) => m.name),
      ['_repositories_admin', '_repositories_pull', '_repositories_push', 'cli-map'],
    );
    const table = await berth(['scope-map', 'list', '-r', 'clireg1', '-o', 'table']);
    assert.match(table.stdout, /_repositories_admin\s+.*SystemDefined/);
    assert.equal((await ok<ScopeMapView>(['scope-map', 'show', '-n', 'cli-map', '-r', 'clireg1'])).description, 'CLI map');
    await fails(['scope-map', 'update', '-n', '_repositories_pull', '-r', 'clireg1', '--description', 'x'], 1, /system scope map/);

    const tok = await ok<TokenView>([
      'token',
      'create',
      '-n',
      'cli-token',
      '-r',
      'clireg1',
      '--scope-map',
      'cli-map',
      '--expiration-in-days',
      '30',
    ]);
    assert.equal(tok.credentials.passwords.length, 2);
    assert.ok(tok.credentials.passwords.every((p) => p.value && p.expiry));
    const made = await ok<TokenView>([
      'token',
      'create',
      '-n',
      'cli-token2',
      '-r',
      'clireg1',
      '--repository',
      'app',
      'content/read',
      '--no-passwords',
      '--status',
      'disabled',
    ]);
    assert.equal(made.scopeMapName, 'cli-token2-scope-map');
    assert.equal(made.status, 'disabled');
    assert.deepEqual(made.credentials.passwords, []);
    await fails(['token', 'create', '-n', 'cli-token3', '-r', 'clireg1'], 2, /--scope-map or --repository/);
    await fails(
      [
        'token',
        'create',
        '-n',
        'cli-token3',
        '-r',
        'clireg1',
        '--scope-map',
        'cli-map',
        '--expiration-in-days',
        '3',
        '--expiration',
        '2099-01-01',
      ],
      2,
    );

    const shown = await ok<TokenView>(['token', 'show', '-n', 'cli-token', '-r', 'clireg1']);
    assert.ok(shown.credentials.passwords.every((p: { value?: string }) => p.value === undefined));
    assert.deepEqual(
      (await ok<{ name: string }[]>(['token', 'list', '-r', 'clireg1'])).map((x) => x.name),
      ['cli-token', 'cli-token2'],
    );
    assert.equal(
      (
        await ok<TokenView>([
          'token',
          'update',
          '-n',
          'cli-token2',
          '-r',
          'clireg1',
          '--status',
          'enabled',
          '--scope-map',
          '_repositories_pull',
        ])
      ).scopeMapName,
      '_repositories_pull',
    );

    // az's recipe: TOKEN_PWD=$(az acr token credential generate ... --password1 --query 'passwords[0].value' -o tsv)
    const gen = await ok<NewTokenPasswords>([
      'token',
      'credential',
      'generate',
      '-n',
      'cli-token2',
      '-r',
      'clireg1',
      '--password1',
      '--expiration-in-days',
      '30',
    ]);
    assert.deepEqual(
      gen.passwords.map((p: { name: string }) => p.name),
      ['password1'],
    );
    const pull = await t.fetch(`${t.url}/v2/clireg1/app/tags/list`, {
      headers: { Authorization: basicAuthHeader('cli-token2', gen.passwords[0]!.value!) },
    });
    assert.equal(pull.status, 404, 'the token signs in (the repository does not exist yet)');
    await fails(['token', 'credential', 'delete', '-n', 'cli-token2', '-r', 'clireg1', '--yes'], 2, /--password1/);
    await ok(['token', 'credential', 'delete', '-n', 'cli-token2', '-r', 'clireg1', '--password1', '--yes']);
    assert.deepEqual((await ok<TokenView>(['token', 'show', '-n', 'cli-token2', '-r', 'clireg1'])).credentials.passwords, []);

    await fails(['scope-map', 'delete', '-n', 'cli-map', '-r', 'clireg1', '--yes'], 1, /cli-token.*CONFLICT, HTTP 409/);
    await ok(['token', 'delete', '-n', 'cli-token', '-r', 'clireg1', '--yes']);
    await ok(['scope-map', 'delete', '-n', 'cli-map', '-r', 'clireg1', '--yes']);
  });

  test('update --admin-enabled / --anonymous-pull-enabled, credential show|renew, repository update|list-anonymous', async () => {
    const reg = await ok<RegistryView>(['update', '-n', 'clireg1', '--admin-enabled', 'true']);
    assert.equal(reg.adminUserEnabled, true);
    const creds = await ok<AdminCredentialsView>(['credential', 'show', '-n', 'clireg1']);
    assert.equal(creds.username, 'clireg1');
    assert.equal(creds.passwords.length, 2);
    const renewed = await ok<AdminCredentialsView>(['credential', 'renew', '-n', 'clireg1', '--password-name', 'password2']);
    assert.equal(renewed.passwords[0]!.value, creds.passwords[0]!.value);
    assert.notEqual(renewed.passwords[1]!.value, creds.passwords[1]!.value);
    await fails(['credential', 'renew', '-n', 'clireg1'], 2);
    // The admin user signs in to the API too (and has no management powers there).
    await fails(['token', 'list', '-r', 'clireg1'], 1, /DENIED/, ['clireg1', renewed.passwords[0]!.value]);

    assert.equal((await ok<RegistryView>(['update', '-n', 'clireg1', '--anonymous-pull-enabled'])).anonymousPullEnabled, true);
    assert.equal(
      (await ok<RegistryView>(['update', '-n', 'clireg1', '--anonymous-pull-enabled', 'false', '--admin-enabled', 'false']))
        .anonymousPullEnabled,
      false,
    );
    await fails(['update', '-n', 'clireg1'], 2, /nothing to update/);
    await t.createRegistry('clireg2', 'Basic');
    await fails(['update', '-n', 'clireg2', '--anonymous-pull-enabled', 'true'], 1, /Standard and Premium/);

    const open = await ok<AnonymousPullView>([
      'repository',
      'update',
      '-n',
      'clireg2',
      '--repository',
      'public/*',
      '--anonymous-pull-enabled',
    ]);
    assert.deepEqual(
      open.repositories.map((r: { repository: string }) => r.repository),
      ['public/*'],
    );
    assert.deepEqual(
      (await ok<AnonymousPullView>(['repository', 'list-anonymous', '-n', 'clireg2'])).repositories.map(
        (r: { repository: string }) => r.repository,
      ),
      ['public/*'],
    );
    const closed = await ok<AnonymousPullView>([
      'repository',
      'update',
      '-n',
      'clireg2',
      '--repository',
      'public/*',
      '--anonymous-pull-enabled',
      'false',
    ]);
    assert.deepEqual(closed.repositories, []);
  });

  test('audit list with filters, --top and --jsonl', async () => {
    for (let i = 0; i < 3; i++) await berth(['user', 'list'], ['cli.audited', `wrong-${i}`]);
    const events = await ok<{ identity: string; resultType: string }[]>([
      'audit',
      'list',
      '--identity',
      'cli.audited',
      '--since',
      '1h',
      '--result',
      'Denied',
    ]);
    assert.equal(events.length, 3);
    assert.ok(events.every((e) => e.identity === 'cli.audited' && e.resultType === 'Denied'));
    assert.equal((await ok<unknown[]>(['audit', 'list', '--identity', 'cli.audited', '--top', '2'])).length, 2);
    const jsonl = await berth(['audit', 'list', '--identity', 'cli.audited', '--jsonl']);
    assert.equal(jsonl.code, 0, jsonl.stderr);
    const lines = jsonl.stdout.trim().split('\n');
    assert.equal(lines.length, 3);
    assert.equal(JSON.parse(lines[0]!).identity, 'cli.audited');
    await fails(['audit', 'list', '--since', 'yesterday'], 1, /REQUEST_INVALID/);
    await fails(['audit', 'list', '--result', 'Maybe'], 2);
  });
});
