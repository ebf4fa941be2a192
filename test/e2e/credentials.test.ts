import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { CLIENT_DEPLOYMENTS, deploymentGate, deploymentName } from '../helpers/storages.js';
import {
  BerthFixture,
  MAIN,
  berthJson,
  cliServer,
  mustFail,
  mustRun,
  removeDir,
  requireTool,
  run,
  tempDir,
  type RunResult,
} from './helpers.js';
import { OciLayout, readLayoutRefs, type Descriptor } from './oci-layout.js';

// Every kind of credential a person signs in with, used by real clients (podman, buildah, skopeo)
// against a real `berth serve`: each may push and pull exactly what its grant allows, and no more.
//   - a user with AcrPush on one registry (podman login, buildah push, skopeo copy, podman pull);
//   - a service principal with AcrPull (skopeo login / --creds);
//   - the registry's admin user (buildah login), then disabled;
//   - a scope-map token for one repository (podman login), then disabled;
//   - anonymous pull on a Standard registry, and its absence elsewhere;
//   - `berth login -n REG` as the owner, then skopeo without --creds.
// What is asserted is what users rely on: exit statuses, and that the digest pulled is the digest
// pushed; never log text (a refusal is only checked to be a 401/403 of some wording, so that a
// typo cannot pass for a denial). One server per deployment of CLIENT_DEPLOYMENTS (SQLite on fs,
// PostgreSQL on Azure Blob Storage (Azurite)), about 15 s each on a quiet machine.

const TOOLS = requireTool('podman', 'buildah', 'skopeo');

type Tool = 'podman' | 'buildah' | 'skopeo';

/**
 * One person's machine: podman and buildah with their own storage (vfs), and one auth file that
 * all three tools read (REGISTRY_AUTH_FILE) and that starts empty. DOCKER_CONFIG points at an empty
 * directory, so no credentials leak in from the machine running the tests.
 */
class Machine {
  readonly dir = tempDir('cred-machine');
  readonly authFile = path.join(this.dir, 'auth.json');
  readonly env: Record<string, string>;

  /** diagnostic: where CRED_DEBUG sends each refusal's output (the test's diagnostics). */
  constructor(private readonly diagnostic: (message: string) => void) {
    const tmp = path.join(this.dir, 'tmp');
    mkdirSync(tmp, { recursive: true });
    mkdirSync(path.join(this.dir, 'docker'), { recursive: true });
    writeFileSync(this.authFile, '{"auths":{}}', { mode: 0o600 });
    this.env = {
      TMPDIR: tmp,
      REGISTRY_AUTH_FILE: this.authFile,
      DOCKER_CONFIG: path.join(this.dir, 'docker'),
      BERTH_CONFIG_DIR: path.join(this.dir, 'berth'),
    };
  }

  private argv(tool: Tool, args: string[]): string[] {
    if (tool === 'skopeo') return args;
    const storage = ['--root', path.join(this.dir, tool, 'root'), '--runroot', path.join(this.dir, tool, 'run'), '--storage-driver', 'vfs'];
    if (tool === 'podman') storage.push('--tmpdir', path.join(this.dir, 'podman', 'tmp'), '--events-backend', 'none');
    return [...storage, ...args];
  }

  /** Runs the tool; throws with its output unless it exits 0. */
  ok(tool: Tool, args: string[]): Promise<RunResult> {
    return mustRun(tool, this.argv(tool, args), { env: this.env, timeoutMs: 120_000 });
  }

  /**
   * Runs the tool and expects it to be refused: a non-zero exit, for an authentication or
   * authorization reason (so a typo in a reference cannot pass for a denial).
   */
  async fails(tool: Tool, args: string[]): Promise<RunResult> {
    const r = await mustFail(tool, this.argv(tool, args), { env: this.env, timeoutMs: 120_000 });
    if (process.env.CRED_DEBUG) this.diagnostic(`--- ${tool} ${args.join(' ')}\n${r.stderr.trim()}`);
    assert.match(r.stderr, REFUSED, `${tool} ${args.join(' ')} failed for another reason:\n${r.stderr}`);
    return r;
  }

  /** `<tool> login` with a user name and password into this machine's auth file. */
  login(tool: Tool, host: string, user: string, password: string): Promise<RunResult> {
    return this.ok(tool, ['login', '--tls-verify=false', '--authfile', this.authFile, '-u', user, '-p', password, host]);
  }

  loginFails(tool: Tool, host: string, user: string, password: string): Promise<RunResult> {
    return this.fails(tool, ['login', '--tls-verify=false', '--authfile', this.authFile, '-u', user, '-p', password, host]);
  }

  /** Loads an image of an OCI layout into podman's or buildah's storage; returns its image id. */
  async load(tool: 'podman' | 'buildah', layoutDir: string, ref: string): Promise<string> {
    const r = await this.ok(tool, ['pull', '-q', `oci:${layoutDir}:${ref}`]);
    return r.stdout.trim().split('\n').pop()!;
  }

  digestFile(): string {
    return path.join(this.dir, `digest-${Math.random().toString(36).slice(2)}`);
  }

  cleanup(): void {
    removeDir(this.dir);
  }
}

const readDigest = (file: string) => readFileSync(file, 'utf8').trim();
const DIGEST = /^sha256:[0-9a-f]{64}$/;
/** How the clients report a 401 or 403 (the wording differs between tools and operations). */
const REFUSED = /denied|unauthori[sz]ed|forbidden|authentication required|invalid username\/password|\b40[13]\b/i;

for (const target of CLIENT_DEPLOYMENTS) {
  describe(`credentials with real clients (${deploymentName(target)})`, await deploymentGate(target), () => {
    const REG = 'credreg';
    const OTHER = 'credother';
    const ANON = 'credpublic';
    let f: BerthFixture;
    let work: string;
    let layout: OciLayout;
    const images: Record<string, Descriptor> = {};
    const machines: Machine[] = [];

    const owner = <T = unknown>(args: string[]) => berthJson<T>(f.url, args);
    const docker = (reg: string, repo: string, tag: string) => `docker://${f.host}/${reg}/${repo}:${tag}`;
    const ref = (reg: string, repo: string, tag: string) => `${f.host}/${reg}/${repo}:${tag}`;
    const machine = (t: TestContext) => {
      const m = new Machine((message) => t.diagnostic(message));
      machines.push(m);
      return m;
    };
    /** The owner copies an image of the layout into Berth; returns the digest pushed. */
    async function ownerPush(name: string, reg: string, repo: string, tag: string): Promise<string> {
      await mustRun(
        'skopeo',
        [
          'copy',
          '--preserve-digests',
          '--dest-tls-verify=false',
          '--authfile',
          f.authFile,
          `oci:${layout.dir}:${name}`,
          docker(reg, repo, tag),
        ],
        { timeoutMs: 120_000 },
      );
      return images[name]!.digest;
    }
    /** The digest the owner sees for reg/repo:tag, or undefined when it cannot be read. */
    async function ownerDigest(reg: string, repo: string, tag: string): Promise<string | undefined> {
      const r = await run('skopeo', ['inspect', '--tls-verify=false', '--authfile', f.authFile, docker(reg, repo, tag)], {
        timeoutMs: 60_000,
      });
      return r.code === 0 ? (JSON.parse(r.stdout) as { Digest: string }).Digest : undefined;
    }
    const repositories = (reg: string) => owner<string[]>(['repository', 'list', '-n', reg]);
    /** skopeo copy reg/repo:tag out of Berth into a fresh OCI layout on m; returns the digest it got. */
    async function copyOut(m: Machine, reg: string, repo: string, tag: string, extra: string[] = []): Promise<string> {
      const out = path.join(m.dir, `out-${Math.random().toString(36).slice(2)}`);
      await m.ok('skopeo', ['copy', '--preserve-digests', '--src-tls-verify=false', ...extra, docker(reg, repo, tag), `oci:${out}:${tag}`]);
      const got = readLayoutRefs(out).get(tag)?.digest;
      assert.ok(got, `skopeo wrote ${tag} into ${out}`);
      return got;
    }
    /** podman pull, then the digest podman recorded for the image. */
    async function podmanPull(m: Machine, image: string): Promise<string> {
      await m.ok('podman', ['pull', '-q', '--tls-verify=false', image]);
      return (await m.ok('podman', ['image', 'inspect', '--format', '{{.Digest}}', image])).stdout.trim();
    }

    before(async () => {
      f = await BerthFixture.start(target);
      await owner(['create', '-n', REG]);
      await owner(['create', '-n', OTHER]);
      await owner(['create', '-n', ANON]);
      // buildah and podman name an image pulled from oci:DIR after DIR, which must be lower case.
      work = path.join(os.tmpdir(), `berth-e2e-cred-work-${randomBytes(6).toString('hex')}`);
      mkdirSync(work);
      layout = new OciLayout(path.join(work, 'layout'));
      for (const name of ['user', 'sp', 'sp-intruder', 'admin', 'token', 'token-other', 'public', 'public-intruder', 'private', 'login']) {
        images[name] = layout.addImage({ files: { 'who.txt': `${name} on ${deploymentName(target)}\n` } });
        layout.tag(name, images[name]);
      }
      layout.write();
    });

    after(async () => {
      for (const m of machines) m.cleanup();
      await f?.cleanup();
      removeDir(work);
    });

    test(
      'a user with AcrPush on a registry: podman login, buildah push, skopeo copy and podman pull; no push to another registry',
      TOOLS,
      async (t) => {
        const password = 'alice-e2e-password-1234';
        await owner(['user', 'create', '-n', 'alice', '--new-password', password]);
        await owner(['role', 'assignment', 'create', '--assignee', 'alice', '--role', 'AcrPush', '--scope', `/registries/${REG}`]);
        const m = machine(t);
        await m.login('podman', f.host, 'alice', password);

        const id = await m.load('buildah', layout.dir, 'user');
        const df = m.digestFile();
        await m.ok('buildah', ['push', '--tls-verify=false', '--digestfile', df, id, docker(REG, 'alice/app', 'v1')]);
        const pushed = readDigest(df);
        assert.match(pushed, DIGEST);
        assert.equal(await ownerDigest(REG, 'alice/app', 'v1'), pushed, 'the owner sees what alice pushed');

        assert.equal(await copyOut(m, REG, 'alice/app', 'v1'), pushed, 'skopeo copy brings back the digest buildah pushed');
        assert.equal(await podmanPull(m, ref(REG, 'alice/app', 'v1')), pushed, 'podman pulls the digest buildah pushed');

        // No role in OTHER: the push is refused and nothing appears there.
        await m.fails('buildah', ['push', '--tls-verify=false', id, docker(OTHER, 'alice/app', 'v1')]);
        await m.fails('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout.dir}:user`, docker(OTHER, 'alice/copied', 'v1')]);
        const otherRepos = await repositories(OTHER);
        assert.ok(
          !otherRepos.includes('alice/app') && !otherRepos.includes('alice/copied'),
          `nothing was created in ${OTHER}: ${otherRepos.join(', ')}`,
        );
        assert.equal(await ownerDigest(OTHER, 'alice/app', 'v1'), undefined);
        // Nor may alice read it.
        await ownerPush('private', OTHER, 'private/app', 'v1');
        await m.fails('skopeo', ['inspect', '--tls-verify=false', docker(OTHER, 'private/app', 'v1')]);
      },
    );

    test('a service principal with AcrPull: skopeo login and --creds pull; pushes are refused', TOOLS, async (t) => {
      const pulled = await ownerPush('sp', REG, 'sp/app', 'v1');
      const sp = await owner<{ appId: string; password: string }>([
        'sp',
        'create-for-rbac',
        '--name',
        'ci-puller',
        '--role',
        'acrpull',
        '--scopes',
        `/registries/${REG}`,
      ]);
      assert.ok(sp.appId && sp.password);
      const creds = `${sp.appId}:${sp.password}`;

      const m = machine(t);
      await m.login('skopeo', f.host, sp.appId, sp.password);
      assert.equal(await copyOut(m, REG, 'sp/app', 'v1'), pulled, 'pull with the stored login');
      const fresh = machine(t);
      assert.equal(await copyOut(fresh, REG, 'sp/app', 'v1', ['--src-creds', creds]), pulled, 'pull with --src-creds');

      // Push refused, whether to a new repository or over an existing tag, with --dest-creds or the stored login.
      await fresh.fails('skopeo', [
        'copy',
        '--dest-tls-verify=false',
        '--dest-creds',
        creds,
        `oci:${layout.dir}:sp-intruder`,
        docker(REG, 'sp/new', 'v1'),
      ]);
      await m.fails('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout.dir}:sp-intruder`, docker(REG, 'sp/app', 'v1')]);
      assert.ok(!(await repositories(REG)).includes('sp/new'), 'no repository created by the refused push');
      assert.equal(await ownerDigest(REG, 'sp/app', 'v1'), pulled, "the tag still points at the owner's image");
    });

    test('the admin user: buildah login, push and pull; disabling it makes the next login fail', TOOLS, async (t) => {
      await owner(['update', '-n', REG, '--admin-enabled', 'true']);
      const cred = await owner<{ username: string; passwords: { name: string; value: string }[] }>(['credential', 'show', '-n', REG]);
      assert.equal(cred.username, REG);
      const password = cred.passwords[0]!.value;

      const m = machine(t);
      await m.login('buildah', f.host, cred.username, password);
      const id = await m.load('buildah', layout.dir, 'admin');
      const df = m.digestFile();
      await m.ok('buildah', ['push', '--tls-verify=false', '--digestfile', df, id, docker(REG, 'admin/app', 'v1')]);
      const pushed = readDigest(df);
      assert.match(pushed, DIGEST);
      assert.equal(await ownerDigest(REG, 'admin/app', 'v1'), pushed);

      await m.ok('buildah', ['rmi', '-f', id]);
      await m.ok('buildah', ['pull', '-q', '--tls-verify=false', ref(REG, 'admin/app', 'v1')]);
      const pulled = (await m.ok('buildah', ['images', '--digests', '--format', '{{.Digest}}', ref(REG, 'admin/app', 'v1')])).stdout.trim();
      assert.equal(pulled, pushed, 'buildah pulls the digest it pushed');
      // The admin user is confined to its registry.
      await m.fails('buildah', ['push', '--tls-verify=false', ref(REG, 'admin/app', 'v1'), docker(OTHER, 'admin/app', 'v1')]);
      assert.ok(!(await repositories(OTHER)).includes('admin/app'));

      await owner(['update', '-n', REG, '--admin-enabled', 'false']);
      await m.loginFails('buildah', f.host, cred.username, password);
      // The credentials stored before are refused as well.
      await m.fails('skopeo', ['inspect', '--tls-verify=false', docker(REG, 'admin/app', 'v1')]);
    });

    test('a scope-map token for team/app: podman login, push and pull there only; disabled, its login fails', TOOLS, async (t) => {
      const token = await owner<{ credentials: { username: string; passwords: { name: string; value: string }[] } }>([
        'token',
        'create',
        '-n',
        'teamtoken',
        '-r',
        REG,
        '--repository',
        'team/app',
        'content/read',
        'content/write',
      ]);
      assert.equal(token.credentials.username, 'teamtoken');
      const password1 = token.credentials.passwords.find((p) => p.name === 'password1')!.value;

      const m = machine(t);
      await m.login('podman', f.host, 'teamtoken', password1);
      const id = await m.load('podman', layout.dir, 'token');
      const df = m.digestFile();
      await m.ok('podman', ['push', '--tls-verify=false', '--digestfile', df, id, docker(REG, 'team/app', 'v1')]);
      const pushed = readDigest(df);
      assert.match(pushed, DIGEST);
      assert.equal(await ownerDigest(REG, 'team/app', 'v1'), pushed);

      const puller = machine(t);
      await puller.login('podman', f.host, 'teamtoken', password1);
      assert.equal(await podmanPull(puller, ref(REG, 'team/app', 'v1')), pushed, 'podman pulls the digest pushed with the token');

      // Outside its scope map: no push, no pull.
      await m.fails('podman', ['push', '--tls-verify=false', id, docker(REG, 'other/app', 'v1')]);
      assert.ok(!(await repositories(REG)).includes('other/app'), 'the refused push created nothing');
      await ownerPush('token-other', REG, 'team/other', 'v1');
      await puller.fails('skopeo', ['inspect', '--tls-verify=false', docker(REG, 'team/other', 'v1')]);

      // Another team's token of the same name in another registry is a different credential:
      // it works in its own registry only, and outlives the first one being disabled.
      const twin = await owner<{ credentials: { passwords: { name: string; value: string }[] } }>([
        'token',
        'create',
        '-n',
        'teamtoken',
        '-r',
        OTHER,
        '--repository',
        'team/app',
        'content/read',
        'content/write',
      ]);
      const twinPassword = twin.credentials.passwords[0]!.value;
      const other = machine(t);
      await other.login('podman', f.host, 'teamtoken', twinPassword);
      const df2 = other.digestFile();
      await other.ok('skopeo', [
        'copy',
        '--dest-tls-verify=false',
        '--digestfile',
        df2,
        `oci:${layout.dir}:token-other`,
        docker(OTHER, 'team/app', 'v1'),
      ]);
      const twinPushed = readDigest(df2);
      await other.fails('skopeo', ['inspect', '--tls-verify=false', docker(REG, 'team/app', 'v1')]);
      await m.fails('skopeo', ['inspect', '--tls-verify=false', docker(OTHER, 'team/app', 'v1')]);

      await owner(['token', 'update', '-n', 'teamtoken', '-r', REG, '--status', 'disabled']);
      await machine(t).loginFails('podman', f.host, 'teamtoken', password1);
      await puller.fails('podman', ['pull', '-q', '--tls-verify=false', `${f.host}/${REG}/team/app@${pushed}`]);

      const stillWorks = machine(t);
      await stillWorks.login('podman', f.host, 'teamtoken', twinPassword);
      assert.equal(await copyOut(stillWorks, OTHER, 'team/app', 'v1'), twinPushed, "the other registry's token still pulls");
    });

    test(
      'anonymous pull: skopeo inspect and podman pull with no credentials on a Standard registry that allows it; no anonymous push; elsewhere no anonymous pull',
      TOOLS,
      async (t) => {
        await owner(['update', '-n', ANON, '--sku', 'Standard']);
        const reg = await owner<{ anonymousPullEnabled: boolean }>(['update', '-n', ANON, '--anonymous-pull-enabled', 'true']);
        assert.equal(reg.anonymousPullEnabled, true);
        const published = await ownerPush('public', ANON, 'public/app', 'v1');
        await ownerPush('private', REG, 'private/app', 'v1');

        const m = machine(t); // an empty auth file: no credentials at all
        const info = JSON.parse((await m.ok('skopeo', ['inspect', '--tls-verify=false', docker(ANON, 'public/app', 'v1')])).stdout) as {
          Digest: string;
        };
        assert.equal(info.Digest, published);
        assert.equal(await podmanPull(m, ref(ANON, 'public/app', 'v1')), published);

        await m.fails('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout.dir}:public-intruder`, docker(ANON, 'public/app', 'v2')]);
        await m.fails('skopeo', [
          'copy',
          '--dest-tls-verify=false',
          `oci:${layout.dir}:public-intruder`,
          docker(ANON, 'anon/pushed', 'v1'),
        ]);
        const repos = await repositories(ANON);
        assert.deepEqual(repos, ['public/app'], 'anonymous pushes created nothing');
        assert.equal(await ownerDigest(ANON, 'public/app', 'v2'), undefined);

        // REG does not allow anonymous pull.
        await m.fails('skopeo', ['inspect', '--tls-verify=false', docker(REG, 'private/app', 'v1')]);
        await m.fails('podman', ['pull', '-q', '--tls-verify=false', ref(REG, 'private/app', 'v1')]);
      },
    );

    test('berth login -n REG as the owner writes the auth file; skopeo then works without --creds', TOOLS, async (t) => {
      const pushed = await ownerPush('login', REG, 'login/app', 'v1');
      const m = machine(t);
      await m.fails('skopeo', ['inspect', '--tls-verify=false', docker(REG, 'login/app', 'v1')]);
      await mustRun(process.execPath, [MAIN, 'login', '-n', REG, ...cliServer(f.url)], { env: m.env, timeoutMs: 30_000 });
      const auths = (JSON.parse(readFileSync(m.authFile, 'utf8')) as { auths: Record<string, unknown> }).auths;
      assert.ok(auths[f.host], `the auth file has credentials for ${f.host}`);
      const info = JSON.parse((await m.ok('skopeo', ['inspect', '--tls-verify=false', docker(REG, 'login/app', 'v1')])).stdout) as {
        Digest: string;
      };
      assert.equal(info.Digest, pushed);
      assert.equal(await copyOut(m, REG, 'login/app', 'v1'), pushed);
    });
  });
}
