import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Command, Option } from 'commander';
import YAML from 'yaml';
import { TOKEN_USERNAME } from '../src/cli/credentials/store.js';
import { VERSION } from '../src/cli/version.js';
import { buildProgram } from '../src/program.js';
import { ADMIN_PASSWORD, basicAuthHeader, startTestApp, type TestApp } from './helpers/app.js';
import { cleanEnv, ensureBuilt, freePort, MAIN, ROOT } from './helpers/berth-process.js';
import { runCli } from './helpers/cli.js';
import { MT } from './helpers/oci.js';
import { makeRoot } from './helpers/pki.js';

// Output like az, across the whole CLI: every command takes --query, -o (with yaml),
// --only-show-errors and --debug; -o table and -o tsv of every list/show command never print JSON
// in a cell; bad input (an invalid --query, an unknown -o) exits 2 before anything is sent; the
// CLI identifies itself as berth-cli/<version>. One server for the whole file: most commands run
// in this process (runCli, the same command tree main.ts runs), the automation contract's lines
// through the real entry point (node dist/main.js).

/** Every command with its path, e.g. ["repository", "show-tags"]. */
function commands(cmd: Command, prefix: string[] = []): { path: string[]; cmd: Command }[] {
  return cmd.commands.flatMap((c) => [{ path: [...prefix, c.name()], cmd: c }, ...commands(c, [...prefix, c.name()])]);
}

/** An option the command accepts: its own or an ancestor's (a parent consumes its options anywhere on the line). */
function findOption(cmd: Command, long: string): Option | undefined {
  for (let c: Command | null = cmd; c; c = c.parent) {
    const o = c.options.find((x) => x.long === long);
    if (o) return o;
  }
  return undefined;
}

describe('every command takes the az output flags', () => {
  const program = buildProgram();
  const leaves = commands(program).filter((c) => c.cmd.commands.length === 0);

  test('the walk sees the whole tree', () => {
    assert.ok(leaves.length > 60, `only ${leaves.length} commands`);
    for (const p of ['config keys', 'import', 'check-health', 'account login', 'login', 'purge schedule list', 'show-usage'])
      assert.ok(
        leaves.some((l) => l.path.join(' ') === p),
        p,
      );
  });

  test('--query, -o/--output (json ... none), --only-show-errors and --debug on each command', () => {
    const missing: string[] = [];
    for (const { path: p, cmd } of leaves) {
      const output = findOption(cmd, '--output');
      if (!output || output.short !== '-o') missing.push(`${p.join(' ')}: -o/--output`);
      else
        for (const f of ['json', 'jsonc', 'yaml', 'yamlc', 'table', 'tsv', 'none'])
          if (!output.argChoices?.includes(f)) missing.push(`${p.join(' ')}: -o ${f}`);
      for (const flag of ['--query', '--only-show-errors', '--debug']) if (!findOption(cmd, flag)) missing.push(`${p.join(' ')}: ${flag}`);
    }
    assert.deepEqual(missing, []);
  });

  test('the help of a command shows them', () => {
    const show = commands(program).find((c) => c.path.join(' ') === 'repository show-tags')!.cmd;
    const help = show.helpInformation();
    for (const flag of ['--query <JMESPath>', '-o, --output <format>', 'yaml', '--only-show-errors', '--debug'])
      assert.ok(help.includes(flag), flag);
  });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('output of the CLI against a server', () => {
  let t: TestApp;
  let configDir: string;
  const REG = 'outputreg';
  let digest = '';

  /** The real entry point (dist/main.js) as a child process. */
  function berthProcess(args: string[], stdin?: string): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [MAIN, ...args], {
        cwd: ROOT,
        env: cleanEnv({ BERTH_CONFIG_DIR: configDir, HOME: configDir }),
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(stdin ?? '');
    });
  }
  const auth = () => ['--server', t.url, '-u', 'admin', '-p', ADMIN_PASSWORD];
  /** A command in this process (same tree and exit codes as main.ts). */
  const berth = (args: string[]) => runCli([...args, ...auth()]);
  async function ok(args: string[]): Promise<string> {
    const r = await berth(args);
    assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  before(async () => {
    ensureBuilt();
    configDir = mkdtempSync(path.join(os.tmpdir(), 'berth-cli-output-'));
    process.env.BERTH_CONFIG_DIR = configDir;
    // The webhook below points at loopback, which the egress policy refuses unless allowed.
    t = await startTestApp('sqlite', { egress: { allowPrivate: true } });
    await t.createRegistry(REG, 'Premium');
    // Content: an image with a signature-like referrer, so manifests and referrers have rows.
    const v2 = t.v2();
    const img = await v2.pushImage(`${REG}/app`, 'v1');
    digest = img.digest;
    await v2.pushImage(`${REG}/app`, 'sig', {
      artifactType: 'application/vnd.example.signature',
      subject: { mediaType: MT.ociManifest, digest: img.digest, size: img.size },
    });
    await ok(['update', '-n', REG, '--admin-enabled', 'true']);
    await ok(['token', 'create', '-r', REG, '-n', 'outtoken', '--scope-map', '_repositories_pull']);
    await ok(['scope-map', 'create', '-r', REG, '-n', 'outmap', '--repository', 'app', 'content/read', '--description', 'output map']);
    await ok(['webhook', 'create', '-r', REG, '-n', 'outhook', '--uri', 'http://127.0.0.1:9/hook', '--actions', 'push']);
    await ok(['webhook', 'ping', '-r', REG, '-n', 'outhook']);
    await ok(['user', 'create', '-n', 'out.user', '--new-password', 'out-user-password-1']);
    await ok(['sp', 'create-for-rbac', '--name', 'outsp', '--role', 'AcrPull', '--scopes', REG]);
    await ok(['immutability', 'add', '-r', REG, '--name', 'outpolicy', '--repository', 'prod/**', '--tag', 'v*']);
    await ok([
      'purge',
      '-r',
      REG,
      'schedule',
      'create',
      '--name',
      'nightly',
      '--schedule',
      '0 0 * * *',
      '--filter',
      'app:.*',
      '--ago',
      '30d',
    ]);
    await ok(['account', 'login']);
    await ok(['gc', 'run']);
    // A task with a timer and another registry's credentials, and a run of it (queued: this server runs no tasks).
    await ok([
      'task',
      'create',
      '-n',
      REG,
      '--name',
      'outtask',
      '-c',
      '/dev/null',
      '--cmd',
      'busybox echo hi',
      '--schedule',
      'nightly:0 1 * * *',
    ]);
    await runCli([
      'task',
      'credential',
      'add',
      '-n',
      REG,
      '--name',
      'outtask',
      '--login-server',
      'other.example.com',
      '-u',
      'bot',
      '-p',
      'bot-secret',
      '--server',
      t.url,
    ]);
    await ok(['task', 'run', '-n', REG, '--name', 'outtask', '--no-wait']);
    await ok(['agentpool', 'create', '-n', REG, '--name', 'outpool', '--count', '2']);
    // A trust store and a trust policy (over a repository nothing here pulls).
    const root = makeRoot(configDir, 'Output Root');
    await ok(['trust-store', 'add', '-n', REG, '--type', 'ca', '--name', 'outstore', '--cert', root.rootCert]);
    const policy = path.join(configDir, 'trustpolicy.json');
    writeFileSync(
      policy,
      JSON.stringify({
        version: '1.0',
        trustPolicies: [
          {
            name: 'out',
            registryScopes: [`${REG}/signed`],
            signatureVerification: { level: 'strict' },
            trustStores: ['ca:outstore'],
            trustedIdentities: ['*'],
          },
        ],
      }),
    );
    await ok(['trust-policy', 'set', '-n', REG, '--file', policy]);
    // A private endpoint on a Unix socket in the config dir (no port to find).
    await ok([
      'private-endpoint',
      'create',
      '-n',
      REG,
      '--name',
      'outpe',
      '--listen',
      `unix:${path.join(configDir, 'pe.sock')}`,
      '--manual',
    ]);
  });
  after(async () => {
    delete process.env.BERTH_CONFIG_DIR;
    await t?.close();
    if (configDir) rmSync(configDir, { recursive: true, force: true });
  });

  // Every list/show command of the tree, with the arguments that make it show something here.
  const LIST_SHOW: Record<string, string[]> = {
    list: [],
    show: ['-n', REG],
    'show-usage': ['-n', REG],
    'encryption show': ['-n', REG],
    'credential show': ['-n', REG],
    'repository list': ['-n', REG],
    'repository show': ['-n', REG, '--repository', 'app'],
    'repository show-tags': ['-n', REG, '--repository', 'app', '--detail'],
    'repository show-manifests': ['-n', REG, '--repository', 'app', '--detail'],
    'repository show-usage': ['-n', REG, '--repository', 'app'],
    'repository list-anonymous': ['-n', REG],
    'repository list-deleted': ['-n', REG],
    'manifest show': ['-r', REG, '-n', 'app:v1'],
    'manifest list-referrers': ['-r', REG, '-n', 'app:v1'],
    'manifest list': ['-r', REG, '-n', 'app'],
    'manifest list-metadata': ['-r', REG, '-n', 'app'],
    'manifest show-metadata': ['-r', REG, '-n', 'app:v1'],
    'show-endpoints': ['-n', REG],
    'network-rule list': ['-n', REG],
    'manifest list-deleted': ['-r', REG, '-n', 'app'],
    'manifest list-deleted-tags': ['-r', REG, '-n', 'app'],
    'token list': ['-r', REG],
    'token show': ['-r', REG, '-n', 'outtoken'],
    'scope-map list': ['-r', REG],
    'scope-map show': ['-r', REG, '-n', 'outmap'],
    'webhook list': ['-r', REG],
    'webhook show': ['-r', REG, '-n', 'outhook'],
    'webhook list-events': ['-r', REG, '-n', 'outhook'],
    'user list': [],
    'user show': ['-n', 'out.user'],
    'sp list': [],
    'role assignment list': [],
    'audit list': ['--top', '5'],
    'job list': [],
    'gc status': [],
    'encryption status': [],
    'immutability list': ['-r', REG],
    'immutability show': ['-r', REG, '--name', 'outpolicy'],
    'config retention show': ['-r', REG],
    'config soft-delete show': ['-r', REG],
    'purge schedule list': ['-r', REG],
    'purge schedule show': ['-r', REG, '--name', 'nightly'],
    'scan show': ['-n', REG, '--image', 'app:v1'],
    'scan list': ['-n', REG],
    'scan policy show': ['-n', REG],
    'account list': [],
    'account show': [],
    'vulndb show': [],
    'task list': ['-n', REG],
    'task show': ['-n', REG, '--name', 'outtask'],
    'task list-runs': ['-n', REG],
    'task show-run': ['-n', REG, '--run-id', 'ca1'],
    'task timer list': ['-n', REG, '--name', 'outtask'],
    'task credential list': ['-n', REG, '--name', 'outtask'],
    'taskrun list': ['-n', REG],
    'taskrun show': ['-n', REG, '--run-id', 'ca1'],
    'agentpool list': ['-n', REG],
    'agentpool show': ['-n', REG, '--name', 'outpool'],
    'region list': [],
    'replication list': ['-r', REG],
    'replication show': ['-r', REG, '-l', 'default'],
    'trust-store list': ['-n', REG],
    'trust-store show': ['-n', REG, '--type', 'ca', '--name', 'outstore'],
    'trust-policy show': ['-n', REG],
    'private-endpoint list': ['-n', REG],
    'private-endpoint show': ['-n', REG, '--name', 'outpe'],
    'private-endpoint-connection list': ['-r', REG],
    'private-endpoint-connection show': ['-r', REG, '-n', 'outpe'],
  };
  // Listing commands of other kinds, checked elsewhere: sp show and job show need ids made at run time;
  // sp federated-credential list/show too (test/identity/federation.test.ts checks their table and tsv).
  const ELSEWHERE = new Set(['sp show', 'job show', 'sp federated-credential list', 'sp federated-credential show']);

  test('the table covers every list/show command of the tree', () => {
    const names = commands(buildProgram())
      .filter((c) => c.cmd.commands.length === 0 && /^(list|show)/.test(c.cmd.name()))
      .map((c) => c.path.join(' '));
    const uncovered = names.filter((n) => !(n in LIST_SHOW) && !ELSEWHERE.has(n));
    assert.deepEqual(uncovered, [], 'add these commands (with arguments) to LIST_SHOW');
  });

  test('-o table and -o tsv of every list/show command: no JSON in a cell; -o yaml parses to the json', async () => {
    const failures: string[] = [];
    for (const [name, args] of Object.entries(LIST_SHOW)) {
      const argv = [...name.split(' '), ...args];
      const json = await berth([...argv, '-o', 'json']);
      if (json.code !== 0) {
        failures.push(`${name}: exit ${json.code}: ${json.stderr.trim()}`);
        continue;
      }
      for (const f of ['table', 'tsv']) {
        const r = await berth([...argv, '-o', f]);
        if (r.code !== 0) failures.push(`${name} -o ${f}: exit ${r.code}: ${r.stderr.trim()}`);
        else if (/[{[]/.test(r.stdout)) failures.push(`${name} -o ${f}: JSON in a cell:\n${r.stdout}`);
      }
      // nextRunAt (gc status) is "now" while a collection is overdue: it moves between the two calls.
      const stable = (v: unknown) => JSON.stringify(v, (k, x: unknown) => (k === 'nextRunAt' ? undefined : x));
      const parsed = (out: string): unknown => (out.trim() ? JSON.parse(out) : undefined);
      // Background work (a webhook delivery retrying, a job moving through its states) may change the
      // answer between two calls: the yaml must equal the json taken just before or just after it, in
      // one of a few tries (a job can change state twice while three commands run).
      let before = json;
      let matched = false;
      let yamlCode = 0;
      for (let attempt = 0; attempt < 5 && !matched; attempt++) {
        const yaml = await berth([...argv, '-o', 'yaml']);
        const after = await berth([...argv, '-o', 'json']);
        yamlCode = yaml.code;
        if (yaml.code !== 0) break;
        const got = stable(YAML.parse(yaml.stdout) ?? undefined);
        matched = got === stable(parsed(before.stdout)) || got === stable(parsed(after.stdout));
        before = after;
      }
      if (yamlCode !== 0 || !matched) failures.push(`${name} -o yaml: does not parse to the json answer`);
    }
    assert.deepEqual(failures, []);
  });

  test('the tables that would lose their main information are shaped: usage, credentials, gc, referrers, tokens', async () => {
    const usage = (await ok(['show-usage', '-n', REG, '-o', 'table'])).split('\n');
    assert.match(usage[0]!, /^Name\s+Limit\s+Current Value\s+Unit$/);
    assert.match(
      usage.find((l) => l.startsWith('Size'))!,
      /^Size\s+\d+\s+\d+\s+Bytes$/,
    );
    const creds = (await ok(['credential', 'show', '-n', REG, '-o', 'table'])).split('\n');
    assert.match(creds[0]!, /^Username\s+Password\s+Password2$/);
    assert.match(creds[2]!, new RegExp(`^${REG}\\s+\\S{20,}\\s+\\S{20,}$`));
    assert.match(
      await ok(['gc', 'status', '-o', 'table']),
      /^Grace Period Seconds\s+Next Run At\s+Pending Links\s+Pending Blobs\s+Pending Bytes/,
    );
    const refs = (await ok(['manifest', 'list-referrers', '-r', REG, '-n', 'app:v1', '-o', 'table'])).split('\n');
    assert.match(refs[0]!, /^Digest\s+Artifact Type/);
    assert.match(refs[2]!, /application\/vnd\.example\.signature/);
    assert.match(await ok(['token', 'list', '-r', REG, '-o', 'table']), /outtoken\s+_repositories_pull\s+enabled/);
    const purge = await ok(['purge', '-r', REG, '--filter', 'app:.*', '--ago', '0d', '--dry-run', '-o', 'table']);
    assert.match(purge, /^Repository\s+Deleted Tags\s+Deleted Manifests\s+Dry Run\n/);
    assert.match(purge, /\(total\)\s+\d+\s+\d+\s+true/);
    // With --query, az uses the selected fields, not the command's shape.
    assert.equal(
      await ok(['show-usage', '-n', REG, '--query', "value[?name=='Webhooks'].{n: name, u: unit}", '-o', 'tsv']),
      'Webhooks\tCount\n',
    );
  });

  test('--query EXPR -o tsv prints bare values (dist/main.js)', async () => {
    const r = await berthProcess(['show', '-n', REG, '--query', 'name', '-o', 'tsv', ...auth()]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${REG}\n`);
    const manifests = await berthProcess([
      'repository',
      'show-manifests',
      '-n',
      REG,
      '--repository',
      'app',
      '--query',
      '[].digest',
      '-o',
      'tsv',
      ...auth(),
    ]);
    assert.equal(manifests.code, 0, manifests.stderr);
    assert.ok(manifests.stdout.split('\n').includes(digest));
  });

  test('show-usage -o table prints the Name, Limit, Current Value header (dist/main.js)', async () => {
    const r = await berthProcess(['show-usage', '-n', REG, '-o', 'table', ...auth()]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.split('\n')[0]!, /^Name\s+Limit\s+Current Value\s+Unit$/);
  });

  test('login --expose-token --query accessToken -o tsv prints just the token, which signs in as podman would', async () => {
    const r = await berthProcess(['login', '-n', REG, '--expose-token', '--query', 'accessToken', '-o', 'tsv', ...auth()]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const token = r.stdout.trim();
    // What `podman login --username 00000000-... --password-stdin` then does: Basic with the token.
    const res = await fetch(`${t.url}/oauth2/token?service=${encodeURIComponent(t.host)}&scope=repository:${REG}/app:pull`, {
      headers: { Authorization: basicAuthHeader(TOKEN_USERNAME, token) },
    });
    assert.equal(res.status, 200, await res.text());
    // --only-show-errors drops the hint az prints on stderr.
    const quiet = await berthProcess(['login', '-n', REG, '--expose-token', '--only-show-errors', '-o', 'none', ...auth()]);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stderr, '');
  });

  test('an invalid --query is bad usage (exit 2, one line) and nothing is sent', async () => {
    const r = await berthProcess(['create', '-n', 'neverreg1', '--query', 'name[', '--debug', ...auth()]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error: argument --query: invalid JMESPath expression "name\[": .+\n$/);
    const unknownFn = await berth(['create', '-n', 'neverreg2', '--query', 'nosuch(name)']);
    assert.equal(unknownFn.code, 2);
    assert.match(unknownFn.stderr, /unknown function nosuch\(\)/);
    for (const name of ['neverreg1', 'neverreg2']) {
      const res = await t.fetch(`/api/registries/${name}`, { headers: { Authorization: basicAuthHeader('admin', ADMIN_PASSWORD) } });
      assert.equal(res.status, 404, `${name} must not have been created`);
    }
  });

  test('an unknown -o format or flag is bad usage (exit 2) naming the fix', async () => {
    const r = await berthProcess(['list', '-o', 'xml', ...auth()]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /argument 'xml' is invalid\. Allowed choices are json, jsonc, yaml, yamlc, table, tsv, none/);
    const flag = await berth(['list', '--querry', 'x']);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /unknown option '--querry'[\s\S]*--query/);
  });

  test('a server that is not there: exit 1, one line', async () => {
    const port = await freePort();
    const r = await berthProcess(['list', '--server', `http://127.0.0.1:${port}`, '-u', 'a', '-p', 'b']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^error: cannot reach Berth at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED\\..*\n$`));
  });

  test('--debug traces each request with credentials redacted, and the User-Agent is berth-cli/<version>', async () => {
    const r = await berthProcess(['show', '-n', REG, '--debug', '-o', 'none', ...auth()]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`DEBUG: Request: GET ${t.url}/api/registries/${REG}`));
    assert.match(r.stderr, /DEBUG: Response: 200 GET .* \(\d+ ms\)/);
    assert.match(r.stderr, new RegExp(`"User-Agent":"berth-cli/${VERSION.replace(/\./g, '\\.')}"`));
    assert.match(r.stderr, /"Authorization":"Basic REDACTED"/);
    assert.ok(!r.stderr.includes(ADMIN_PASSWORD) && !r.stderr.includes(Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')));
    // The server saw the CLI's User-Agent (its sign-in log records it). A user of its own, so its
    // one sign-in is this command's (admin's Basic sign-ins are cached, other tests sign in too).
    const who = await berthProcess(['list', '-o', 'none', '--server', t.url, '-u', 'out.user', '-p', 'out-user-password-1']);
    assert.equal(who.code, 0, who.stderr);
    const events = JSON.parse(await ok(['audit', 'list', '--category', 'login', '--identity', 'out.user', '--top', '1'])) as {
      userAgent: string;
    }[];
    assert.equal(events[0]!.userAgent, `berth-cli/${VERSION}`);
    // A failure under --debug shows the stack too.
    const fail = await berthProcess(['show', '-n', 'nosuchreg', '--debug', ...auth()]);
    assert.equal(fail.code, 1);
    assert.match(fail.stderr, /DEBUG: CliError: .*\n\s+at /);
  });

  test('config keys and check-health keep their text by default and take every format', async () => {
    const text = await berthProcess(['config', 'keys']);
    assert.match(text.stdout, /^\S+\tBERTH_\S+\t/);
    const tsv = await berthProcess(['config', 'keys', '--query', "[?key=='listen'].env", '-o', 'tsv']);
    assert.equal(tsv.stdout, 'BERTH_LISTEN\n');
    const health = await berth(['check-health', '-n', REG, '-o', 'table']);
    assert.match(health.stdout, /^Check\s+Status\s+Message/);
  });

  test('serve --query url -o tsv prints the listening URL on stdout once ready (for scripts)', async () => {
    const port = await freePort();
    const data = mkdtempSync(path.join(os.tmpdir(), 'berth-serve-output-'));
    const child = spawn(process.execPath, [MAIN, 'serve', '--listen', `127.0.0.1:${port}`, '--data', data, '--query', 'url', '-o', 'tsv'], {
      env: cleanEnv({ BERTH_ADMIN_PASSWORD: 'serve-output-password-1', BERTH_AUTH_PASSWORD_HASH_COST: '10' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString();
          if (out.includes('\n')) resolve(out);
        });
        child.on('exit', (code) => reject(new Error(`serve exited ${code} before it printed its URL`)));
      });
      assert.equal(line, `http://127.0.0.1:${port}\n`);
      assert.equal((await fetch(`${line.trim()}/readyz`)).status, 200);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(data, { recursive: true, force: true });
    }
  });
});
