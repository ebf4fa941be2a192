import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkHealth, probeTool, versionIn } from '../src/cli/commands/check-health.js';
import { ADMIN_PASSWORD, startTestApp, type TestApp } from './helpers/app.js';
import { backendGate } from './helpers/backends.js';
import { ensureBuilt, freePort, MAIN } from './helpers/berth-process.js';
import { runCli } from './helpers/cli.js';
import { ROOT } from './helpers/root.js';

// berth check-health against a real server: good credentials pass every check; a wrong password
// is CONNECTIVITY_REFRESH_TOKEN_ERROR and a non-zero exit; an unreachable server is a
// connectivity error; a missing registry is LOGIN_SERVER_ERROR; a user without a role gets no pull.
// Without -n: the client tools on PATH (shell-script stand-ins written here, so the result does not depend on
// what this machine has installed) with their versions, and whether the Berth server answers.

/** A stand-in client tool: a shell script that prints `output` and exits with `code` (or hangs). */
function fakeTool(dir: string, name: string, output: string, code = 0, hang = false): void {
  const file = path.join(dir, name);
  const quoted = `'${output.replace(/'/g, `'\\''`)}'`;
  writeFileSync(file, `#!/bin/sh\n${hang ? 'exec /bin/sleep 60' : `printf '%s' ${quoted}\nexit ${code}`}\n`);
  chmodSync(file, 0o755);
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function berth(args: string[], configDir: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: configDir, BERTH_CONFIG_DIR: configDir };
    // The built entry point, as users run it (npm test builds first): a child under tsx would spend
    // about a second more starting.
    ensureBuilt();
    const child = spawn(process.execPath, [MAIN, ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('berth check-health', await backendGate('sqlite'), () => {
  let t: TestApp;
  let reg: string;
  let configDir: string;

  before(async () => {
    t = await startTestApp('sqlite');
    reg = await t.createRegistry();
    configDir = mkdtempSync(path.join(os.tmpdir(), 'berth-check-health-'));
  });
  after(async () => {
    await t?.close();
    if (configDir) rmSync(configDir, { recursive: true, force: true });
  });

  test('good credentials: every check passes, exit 0', async () => {
    const r = await berth(
      ['check-health', '-n', reg, '--server', t.url, '-u', 'admin', '-p', ADMIN_PASSWORD, '--push', '--yes'],
      configDir,
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const check of ['connectivity', 'challenge', 'token endpoint', 'login', 'registry', 'pull permission', 'push permission']) {
      assert.match(r.stdout, new RegExp(`^OK +${check}:`, 'm'), check);
    }
    assert.match(r.stdout, /Health check passed\./);
  });

  test('wrong password: CONNECTIVITY_REFRESH_TOKEN_ERROR with a hint, non-zero exit', async () => {
    const r = await berth(['check-health', '-n', reg, '--server', t.url, '-u', 'admin', '-p', 'not-the-password'], configDir);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^ERROR +login:/m);
    assert.match(r.stdout, /An error occurred: CONNECTIVITY_REFRESH_TOKEN_ERROR/);
    assert.match(r.stdout, /Hint: /);
    assert.match(r.stderr, /CONNECTIVITY_REFRESH_TOKEN_ERROR/);
    // Without --ignore-errors nothing after the failed check runs.
    assert.doesNotMatch(r.stdout, /pull permission/);
  });

  test('unreachable server: CONNECTIVITY_DNS_ERROR, non-zero exit', async () => {
    const port = await freePort();
    const r = await berth(
      ['check-health', '-n', reg, '--server', `http://127.0.0.1:${port}`, '-u', 'admin', '-p', ADMIN_PASSWORD, '-o', 'json'],
      configDir,
    );
    assert.equal(r.code, 1);
    const results = JSON.parse(r.stdout) as { check: string; status: string; code?: string; message: string }[];
    const failed = results.find((x) => x.status === 'error');
    assert.equal(failed?.check, 'connectivity');
    assert.equal(failed?.code, 'CONNECTIVITY_DNS_ERROR');
    assert.match(failed.message, /ECONNREFUSED/);
  });

  test('an unresolvable host name is CONNECTIVITY_DNS_ERROR', async () => {
    const results = await checkHealth({
      registry: reg,
      server: 'http://no-such-host.invalid:5000',
      username: 'admin',
      password: ADMIN_PASSWORD,
      timeoutMs: 5000,
    });
    assert.equal(results.at(-1)?.code, 'CONNECTIVITY_DNS_ERROR');
    assert.equal(results.at(-1)?.check, 'DNS');
  });

  test('a registry that does not exist is LOGIN_SERVER_ERROR', async () => {
    const results = await checkHealth({ registry: 'nosuchregistry9', server: t.url, username: 'admin', password: ADMIN_PASSWORD });
    assert.equal(results.at(-1)?.code, 'LOGIN_SERVER_ERROR');
  });

  test('a server without a Bearer challenge is CONNECTIVITY_CHALLENGE_ERROR', async () => {
    const { createServer } = await import('node:http');
    const other = createServer((_req, res) => {
      res.statusCode = 200;
      res.end('{}');
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    try {
      const results = await checkHealth({
        registry: reg,
        server: `http://127.0.0.1:${(other.address() as net.AddressInfo).port}`,
        username: 'admin',
        password: ADMIN_PASSWORD,
      });
      assert.equal(results.at(-1)?.code, 'CONNECTIVITY_CHALLENGE_ERROR');
    } finally {
      other.close();
    }
  });

  test('anonymous, without pull access: CONNECTIVITY_ACCESS_TOKEN_ERROR; --ignore-errors runs on', async () => {
    const results = await checkHealth({ registry: reg, server: t.url, ignoreErrors: true, push: true });
    assert.equal(results.find((r) => r.check === 'login')?.status, 'skipped');
    assert.equal(results.find((r) => r.check === 'pull permission')?.code, 'CONNECTIVITY_ACCESS_TOKEN_ERROR');
    assert.equal(results.find((r) => r.check === 'push permission')?.code, 'CONNECTIVITY_ACCESS_TOKEN_ERROR');
  });

  describe('without -n: the local environment and the server', () => {
    let bin: string;
    /** A berth command in this process (helpers/cli.ts) with only the stand-in tools on PATH. */
    async function inProcess(args: string[]) {
      const saved = process.env.PATH;
      process.env.PATH = bin;
      try {
        return await runCli(args);
      } finally {
        process.env.PATH = saved;
      }
    }
    before(() => {
      bin = mkdtempSync(path.join(os.tmpdir(), 'berth-check-health-bin-'));
      fakeTool(bin, 'docker', 'Docker version 27.1.1, build 6312585\n');
      fakeTool(bin, 'helm', 'v3.15.4+gfa9efb0\n');
      fakeTool(bin, 'oras', 'Version:        1.2.0\nGo version:     go1.22.3\n');
      fakeTool(bin, 'skopeo', 'skopeo: cannot read policy\n', 3);
    });
    after(() => rmSync(bin, { recursive: true, force: true }));

    test('tools found with their versions, missing ones as warnings, the server reachable: exit 0', async () => {
      // The real entry point, as users run it (node dist/main.js).
      ensureBuilt();
      const r = await new Promise<Run>((resolve, reject) => {
        const child = spawn(process.execPath, [MAIN, 'check-health', '--server', t.url], {
          cwd: ROOT,
          env: { PATH: bin, HOME: configDir, BERTH_CONFIG_DIR: configDir },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^OK +berth CLI: Berth CLI version: \d+\.\d+\.\d+/m);
      assert.match(r.stdout, /^OK +docker: Docker version: 27\.1\.1 /m);
      assert.match(r.stdout, /^OK +helm: Helm version: 3\.15\.4\+gfa9efb0 /m);
      assert.match(r.stdout, /^OK +oras: ORAS version: 1\.2\.0 /m);
      assert.match(r.stdout, /^WARNING podman: Podman could not be found on PATH\n +An error occurred: PODMAN_COMMAND_ERROR/m);
      assert.match(r.stdout, /^WARNING notation: /m);
      assert.match(r.stdout, /^WARNING skopeo: "skopeo --version" failed .*exit code 3: skopeo: cannot read policy/m);
      assert.match(r.stdout, /An error occurred: SKOPEO_VERSION_ERROR/);
      assert.match(r.stdout, /^OK +server: Berth at http:\/\/127\.0\.0\.1:\d+ answers \(\/healthz: ok\)/m);
      assert.match(r.stdout, /^OK +ready: /m);
      assert.match(r.stdout, /Health check passed\./);
      // The registry checks need -n.
      assert.doesNotMatch(r.stdout, /pull permission|challenge/);
    });

    test('-o json, table and tsv: one row per check with the same fields', async () => {
      const json = await inProcess(['check-health', '--server', t.url, '-o', 'json']);
      assert.equal(json.code, 0, json.stderr);
      const rows = JSON.parse(json.stdout) as Record<string, unknown>[];
      for (const row of rows) assert.deepEqual(Object.keys(row), ['check', 'status', 'message', 'version', 'code', 'hint']);
      assert.deepEqual(
        rows.find((x) => x.check === 'docker'),
        {
          check: 'docker',
          status: 'ok',
          message: `Docker version: 27.1.1 (${path.join(bin, 'docker')})`,
          version: '27.1.1',
          code: null,
          hint: null,
        },
      );
      assert.equal(rows.find((x) => x.check === 'podman')?.code, 'PODMAN_COMMAND_ERROR');
      assert.equal(rows.find((x) => x.check === 'server')?.status, 'ok');

      const table = await inProcess(['check-health', '--server', t.url, '-o', 'table']);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout.split('\n')[0]!, /^Check +Status +Message +Version +Code +Hint$/);
      const tsv = await inProcess(['check-health', '--server', t.url, '-o', 'tsv']);
      assert.equal(tsv.code, 0, tsv.stderr);
      const docker = tsv.stdout.split('\n').find((l) => l.startsWith('docker\t'));
      assert.equal(docker?.split('\t')[3], '27.1.1');
    });

    test('the server unreachable is an error (exit 1); an unresolvable host is CONNECTIVITY_DNS_ERROR', async () => {
      const port = await freePort();
      const r = await inProcess(['check-health', '--server', `http://127.0.0.1:${port}`, '-o', 'json']);
      assert.equal(r.code, 1);
      const server = (JSON.parse(r.stdout) as { check: string; status: string; code: string; message: string }[]).find(
        (x) => x.check === 'server',
      );
      assert.equal(server?.status, 'error');
      assert.equal(server?.code, 'CONNECTIVITY_DNS_ERROR');
      assert.match(server.message, /ECONNREFUSED/);
      assert.match(r.stderr, /health check failed: CONNECTIVITY_DNS_ERROR/);

      const dns = await inProcess(['check-health', '--server', 'http://no-such-host.invalid:5000']);
      assert.equal(dns.code, 1);
      assert.match(dns.stdout, /^ERROR +DNS: no-such-host\.invalid does not resolve/m);
      assert.doesNotMatch(dns.stdout, /server:/, 'stops at the first error without --ignore-errors');
    });

    test('with -n the client tools are checked too, then the registry', async () => {
      const r = await inProcess(['check-health', '-n', reg, '--server', t.url, '-u', 'admin', '-p', ADMIN_PASSWORD]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^OK +docker: Docker version: 27\.1\.1/m);
      assert.match(r.stdout, /^OK +pull permission:/m);
    });

    test('a tool that hangs is killed at the deadline and reported as a warning', async () => {
      fakeTool(bin, 'notation', '', 0, true);
      const started = Date.now();
      const r = await probeTool({ tool: 'notation', label: 'Notation', args: ['version'] }, { timeoutMs: 300, env: { PATH: bin } });
      assert.ok(Date.now() - started < 5000);
      assert.equal(r.status, 'warning');
      assert.equal(r.code, 'NOTATION_VERSION_ERROR');
      assert.match(r.message, /timed out after 0\.3 s/);
    });

    test('versions are read from what the tools print', () => {
      assert.equal(versionIn('Docker version 27.1.1, build 6312585'), '27.1.1');
      assert.equal(versionIn('podman version 4.3.1'), '4.3.1');
      assert.equal(versionIn('v3.15.4+gfa9efb0'), '3.15.4+gfa9efb0');
      assert.equal(versionIn('Notation - a tool to sign and verify artifacts.\n\nVersion:     1.1.0\n'), '1.1.0');
      assert.equal(versionIn('no version here'), undefined);
    });
  });
});
