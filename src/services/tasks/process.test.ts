import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { runCommand } from './process.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-process-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

const alive = (marker: string) => {
  try {
    return execFileSync('pgrep', ['-f', marker]).toString().trim().length > 0;
  } catch {
    return false;
  }
};

test('exit codes and output lines, with secrets masked', async () => {
  const lines: string[] = [];
  const end = await runCommand('sh', ['-c', 'echo "token is s3cr3t-value"; echo oops >&2; exit 3'], {
    cwd: dir,
    env,
    timeoutMs: 10_000,
    secrets: ['s3cr3t-value'],
    onLine: (l) => lines.push(l),
  });
  assert.deepEqual(end, { code: 3 });
  assert.deepEqual(lines.sort(), ['oops', 'token is ***']);
});

test('a timeout kills the whole process group, children included', async () => {
  const marker = `berth-timeout-${process.pid}`;
  const started = Date.now();
  const end = await runCommand('sh', ['-c', `sleep 300 & exec -a ${marker} sleep 301`], {
    cwd: dir,
    env,
    timeoutMs: 500,
    onLine: () => {},
  });
  assert.deepEqual(end, { timedOut: true });
  assert.ok(Date.now() - started < 8_000);
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(!alive(marker), 'the command is gone');
  assert.ok(!alive('sleep 300'), 'and its child');
});

test('cancel (abort) kills it too; a missing program is an error, not a hang', async () => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 200);
  assert.deepEqual(await runCommand('sleep', ['30'], { cwd: dir, env, timeoutMs: 30_000, signal: ac.signal, onLine: () => {} }), {
    canceled: true,
  });
  const missing = await runCommand('/nonexistent/tool', [], { cwd: dir, env, timeoutMs: 5_000, onLine: () => {} });
  assert.ok('error' in missing && /ENOENT/.test(missing.error), JSON.stringify(missing));
});
