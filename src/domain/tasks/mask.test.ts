import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineMasker } from './mask.js';

function run(secrets: string[], chunks: string[], maxLine?: number): string[] {
  const lines: string[] = [];
  const m = new LineMasker(secrets, (l) => lines.push(l), maxLine);
  for (const c of chunks) m.write(c);
  m.end();
  return lines;
}

test('secrets are masked in every line, even split across writes', () => {
  assert.deepEqual(run(['hunter2-secret'], ['token=hunter', '2-secret ok\nnext hunter2-secret\r\n', 'last']), [
    'token=*** ok',
    'next ***',
    'last',
  ]);
  assert.deepEqual(
    run(['ab', 'longer-secret', 'longer'], ['ab longer-secret longer\n']),
    ['ab *** ***'],
    'short values are not masked; longest first',
  );
});

test('an endless line is cut without leaking a secret that straddles a cut', () => {
  const secret = 'S3CRET-VALUE';
  const line = 'x'.repeat(95) + secret + 'y'.repeat(200);
  const chunks = line.match(/.{1,7}/g)!;
  const out = run([secret], chunks, 100).join('');
  assert.ok(!out.includes(secret), out);
  assert.ok(out.includes('***'));
  assert.ok(run([], ['z'.repeat(1000)], 100).every((l) => l.length <= 100));
});
