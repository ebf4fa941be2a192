import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkHealth } from '../src/cli/commands/check-health.js';
import { ADMIN_PASSWORD, startTestApp, type TestApp } from './helpers/app.js';
import { backendGate } from './helpers/backends.js';
import { freePort } from './helpers/berth-process.js';

// berth check-health against a real server: good credentials pass every check; a wrong password
// is CONNECTIVITY_REFRESH_TOKEN_ERROR and a non-zero exit; an unreachable server is a
// connectivity error; a missing registry is LOGIN_SERVER_ERROR; a user without a role gets no pull.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function berth(args: string[], configDir: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: configDir, BERTH_CONFIG_DIR: configDir };
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/main.ts'), ...args], {
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
});
