import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { azuriteMissing } from './helpers/azurite.js';
import { backendGate, IN_CI } from './helpers/backends.js';
import { cleanEnv, ensureBuilt, ROOT } from './helpers/berth-process.js';

// npm run soak's driver (soak/run.ts) for a few seconds, so it keeps working: two nodes on
// PostgreSQL + Azurite, mixed push/pull/untag/delete/GC, then its own checks (no unexpected error,
// no lost artifact, usage counters equal to a recomputation). The real run is `npm run soak`.

const gate = IN_CI ? await backendGate('postgres') : azuriteMissing() ? { skip: azuriteMissing() } : await backendGate('postgres');

interface Summary {
  ok: boolean;
  operations: Record<string, number>;
  unexpectedErrors: number;
  lostArtifacts: number;
  usage: { matches: boolean };
}

describe('npm run soak (a short run)', gate, () => {
  test('a 15-second soak on two nodes ends with zero errors, zero lost artifacts and exact usage counters', async () => {
    ensureBuilt();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'soak', 'run.ts'), '--seconds', '15', '--workers', '4', '--json'],
      {
        cwd: ROOT,
        env: cleanEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(code, 0, `soak exited ${code}:\n${out}\n${err}`);
    const summary = JSON.parse(out.trim().split('\n').pop()!) as Summary;
    assert.equal(summary.ok, true);
    assert.equal(summary.unexpectedErrors, 0);
    assert.equal(summary.lostArtifacts, 0);
    assert.equal(summary.usage.matches, true);
    assert.ok(summary.operations.push! > 0 && summary.operations.pull! >= 0, JSON.stringify(summary.operations));
  });
});
