import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteBudget } from './copy.js';

test('ByteBudget: every chunk, the first included, waits for its share of the rate; 0 = no limit', async () => {
  const budget = new ByteBudget(10_000);
  let t = Date.now();
  await budget.take(1000); // 100 ms worth, even on an idle budget
  assert.ok(Date.now() - t >= 90, `the first chunk waited ${Date.now() - t} ms`);
  t = Date.now();
  await Promise.all([budget.take(500), budget.take(500)]); // shared: one after the other
  assert.ok(Date.now() - t >= 90, `two chunks together waited ${Date.now() - t} ms`);
  t = Date.now();
  await new ByteBudget(0).take(1e9);
  assert.ok(Date.now() - t < 50);
});
