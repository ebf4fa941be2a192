import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { BerthFixture, cleanEnv, MAIN, removeDir, ROOT, tempDir } from './helpers/berth-process.js';
import { ADMIN_PASSWORD, basicAuthHeader } from './helpers/credentials.js';
import { PEER_GATE, seed, startDistribution, startDistributionWithUser, type Distribution } from './helpers/distribution.js';
import { makeImage } from './helpers/fake-upstream.js';
import { V2 } from './helpers/oci.js';

// The import credentials contract, with the real CLI (`node dist/main.js import`), a real
// `berth serve` and Distribution (htpasswd) as the upstream behind a proxy that records every
// request it passes on:
//   BERTH_USERNAME=… BERTH_PASSWORD=… berth import -n REG --source HOST/REPO:TAG -t REPO:TAG [--source-username U --source-password P]
// -u/-p are the source's (az acr import); Berth's own credentials given there are refused before
// anything reaches the upstream, by the CLI when it knows them and by the server otherwise.

const PULLER = { username: 'puller', password: 'pull-Secret-1' };
const OWNER_BASIC = basicAuthHeader('admin', ADMIN_PASSWORD);

/** Passes requests on to a registry and records each one's method, path and Authorization. */
class RecordingProxy {
  readonly seen: { method: string; url: string; authorization?: string }[] = [];
  private server?: http.Server;
  host = '';

  async start(target: string): Promise<void> {
    const to = new URL(target);
    this.server = http.createServer((req, res) => {
      this.seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
      const out = http.request(
        { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host } },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      out.on('error', () => res.destroy());
      req.pipe(out);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node dist/main.js ARGS` with a clean environment (no BERTH_* from the caller) plus env. */
function berth(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('berth import: source credentials and Berth’s own (real CLI, berth serve, Distribution with htpasswd)', PEER_GATE, () => {
  let f: BerthFixture;
  let privateUp: Distribution;
  let publicUp: Distribution;
  const proxy = new RecordingProxy();
  const REG = 'importcreds';
  const dirs: string[] = [];
  let configDir: string;
  let img: ReturnType<typeof makeImage>;

  before(async () => {
    [f, privateUp, publicUp] = await Promise.all([
      BerthFixture.start('sqlite', { BERTH_EGRESS_ALLOW_PRIVATE: 'true', BERTH_JOBS_POLL_INTERVAL_MS: '100' }),
      startDistributionWithUser(PULLER.username, PULLER.password),
      startDistribution(),
    ]);
    await f.createRegistry(REG);
    img = makeImage([4096, 9000]);
    await seed(new V2(privateUp.url, { authorization: basicAuthHeader(PULLER.username, PULLER.password) }), 'private/app', 'v1', img);
    await seed(new V2(publicUp.url, { authorization: null }), 'public/app', 'v1', img);
    await proxy.start(privateUp.url);
    // No stored sign-in unless a test makes one (cleanEnv drops BERTH_CONFIG_DIR; the user's own must not be read).
    configDir = tempDir('config');
    dirs.push(configDir);
  });
  after(async () => {
    await proxy.close();
    await privateUp?.stop();
    await publicUp?.stop();
    await f?.cleanup();
    for (const d of dirs) removeDir(d);
  });

  const asOwner = () => ({ BERTH_USERNAME: 'admin', BERTH_PASSWORD: ADMIN_PASSWORD, BERTH_CONFIG_DIR: configDir });
  const imported = (r: Run) => {
    assert.equal(r.code, 0, r.stderr);
    const v = JSON.parse(r.stdout) as { status: string; digest: string };
    assert.equal(v.status, 'Succeeded');
    assert.equal(v.digest, img.digest);
  };
  const ownerSentUpstream = () => proxy.seen.filter((s) => s.authorization === OWNER_BASIC).length;

  test('the contract line: Berth’s credentials from the environment, with --source-username/-password, with -u/-p, and without', async () => {
    const src = `${proxy.host}/private/app:v1`;
    // Independent commands run side by side (each `node` start costs a second or more on a busy machine).
    const [explicit, az, anonymous, clash] = await Promise.all([
      berth(
        [
          'import',
          '-n',
          REG,
          '--source',
          src,
          '-t',
          'app:explicit',
          '--source-username',
          PULLER.username,
          '--source-password',
          PULLER.password,
        ],
        { ...asOwner(), BERTH_SERVER: f.url },
      ),
      // az's spelling: -u/-p are the source registry's credentials.
      berth(
        ['import', '-n', REG, '--source', src, '-t', 'app:az', '-u', PULLER.username, '-p', PULLER.password, '--server', f.url],
        asOwner(),
      ),
      // A public source needs no source credentials.
      berth(['import', '-n', REG, '--source', `${publicUp.host}/public/app:v1`, '-t', 'app:public', '--server', f.url], asOwner()),
      // Both spellings at once must agree.
      berth(
        ['import', '-n', REG, '--source', src, '--source-username', 'a', '--source-password', 'b', '-u', 'c', '-p', 'b', '--server', f.url],
        asOwner(),
      ),
    ]);
    for (const r of [explicit, az, anonymous]) imported(r);
    assert.ok(proxy.seen.some((s) => s.authorization === basicAuthHeader(PULLER.username, PULLER.password)));
    assert.equal(clash.code, 2, clash.stderr);
    assert.match(clash.stderr, /--source-username and its alias --username \(-u\) disagree/);
    assert.equal(ownerSentUpstream(), 0);
  });

  test('-u admin -p <the owner password> is refused before anything is sent: by the CLI, or by the server', async () => {
    const src = `${proxy.host}/private/app:v1`;
    const before = proxy.seen.length;
    // Berth's credentials in the environment: the CLI knows them and refuses (usage, exit 2).
    // A stored sign-in (berth account login): only the server can tell the password is Berth's; it refuses (400, exit 1).
    const signedIn = tempDir('config');
    dirs.push(signedIn);
    const leak = ['import', '-n', REG, '--source', src, '-t', 'app:leak', '-u', 'admin', '-p', ADMIN_PASSWORD, '--server', f.url];
    const [local, login] = await Promise.all([
      berth(leak, asOwner()),
      berth(['account', 'login', '--server', f.url, '-u', 'admin', '-p', ADMIN_PASSWORD], { BERTH_CONFIG_DIR: signedIn }),
    ]);
    assert.equal(local.code, 2, local.stderr);
    assert.match(local.stderr, /refusing to send Berth's own credentials to the source registry 127\.0\.0\.1:\d+/);
    assert.match(local.stderr, /-u\/--username and -p\/--password are the SOURCE registry's credentials/);
    assert.match(local.stderr, /BERTH_USERNAME\/BERTH_PASSWORD or `berth account login`/);

    assert.equal(login.code, 0, login.stderr);
    const remote = await berth(leak, { BERTH_CONFIG_DIR: signedIn });
    assert.equal(remote.code, 1, remote.stderr);
    assert.match(
      remote.stderr,
      /credentials of this Berth deployment, and Berth credentials must not be sent upstream \(to 127\.0\.0\.1:\d+\)/,
    );
    assert.match(remote.stderr, /REQUEST_INVALID, HTTP 400/);

    assert.equal(proxy.seen.length, before, `the upstream got no request: ${JSON.stringify(proxy.seen.slice(before))}`);
    assert.equal(ownerSentUpstream(), 0);
    const tags = await fetch(`${f.url}/v2/${REG}/app/tags/list`, { headers: { Authorization: OWNER_BASIC } });
    assert.ok(!((await tags.json()) as { tags: string[] }).tags.includes('leak'), 'nothing imported');

    // From this same deployment, its own credentials are the source's: allowed.
    imported(
      await berth(
        ['import', '-n', REG, '--source', `${f.host}/${REG}/app:explicit`, '-t', 'self:v1', '-u', 'admin', '-p', ADMIN_PASSWORD],
        {
          ...asOwner(),
          BERTH_SERVER: f.url,
        },
      ),
    );
  });

  test('missing or refused Berth credentials: the error names BERTH_USERNAME/BERTH_PASSWORD and berth account login', async () => {
    const before = proxy.seen.length;
    const args = ['import', '-n', REG, '--source', `${proxy.host}/private/app:v1`, '-u', 'admin', '-p', ADMIN_PASSWORD, '--server', f.url];
    const hint =
      /set BERTH_USERNAME and BERTH_PASSWORD or run `berth account login`; -u\/-p \(--source-username\/--source-password\) are the source registry's credentials, as in az acr import/;
    const [missing, refused] = await Promise.all([
      berth(args, { BERTH_CONFIG_DIR: configDir }),
      berth(['import', '-n', REG, '--source', `${publicUp.host}/public/app:v1`, '--server', f.url], {
        BERTH_USERNAME: 'admin',
        BERTH_PASSWORD: 'not-the-password',
        BERTH_CONFIG_DIR: configDir,
      }),
    ]);
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(missing.stderr, /no Berth credentials for http:\/\/127\.0\.0\.1:\d+/);
    assert.match(missing.stderr, hint);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /HTTP 401/);
    assert.match(refused.stderr, hint);
    assert.equal(proxy.seen.length, before, 'nothing reached the upstream');
  });
});
