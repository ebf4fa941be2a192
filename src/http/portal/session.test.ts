import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cookie, parseCookies, sameSecret } from './session.js';

describe('portal session helpers', () => {
  test('cookies: HttpOnly, SameSite=Lax, Path=/portal; Secure only when asked', () => {
    assert.equal(cookie('a', 'v', 60, false), 'a=v; Path=/portal; HttpOnly; SameSite=Lax; Max-Age=60');
    assert.equal(cookie('a', '', 0, true), 'a=; Path=/portal; HttpOnly; SameSite=Lax; Max-Age=0; Secure');
  });

  test('parseCookies keeps the first of a repeated name and skips junk', () => {
    const c = parseCookies('x=1; berth_portal=a.b.c; junk; berth_portal=second; y = 2 ');
    assert.equal(c.get('berth_portal'), 'a.b.c');
    assert.equal(c.get('y'), '2');
    assert.equal(parseCookies(undefined).size, 0);
  });

  test('sameSecret: equal non-empty secrets only', () => {
    assert.ok(sameSecret('abc', 'abc'));
    assert.ok(!sameSecret('abc', 'abd'));
    assert.ok(!sameSecret('abc', 'abcd'));
    assert.ok(!sameSecret('', ''));
  });
});
