import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REDACTED, redact, scrub } from './redact.js';

test('redact: secrets by field name, header values, URI user info and query, JWTs; flags stay', () => {
  const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXZhbHVl';
  const r = redact({
    name: 'alice',
    password: 'hunter2-hunter2',
    password1: true,
    noPasswords: true,
    expirationInDays: 30,
    source: { sourceImage: 'library/alpine:3', credentials: { username: 'bob', password: 'upstream-pass' } },
    serviceUri: 'https://user:uri-secret@hooks.example.com/path?sig=abcdef123',
    customHeaders: { Authorization: 'Bearer xyz-header-secret', 'X-Env': 'prod' },
    description: `copied ${jwt}`,
    actions: Array.from({ length: 150 }, (_, i) => `repositories/r${i}/content/read`),
  });
  const v = r.value as Record<string, unknown>;
  assert.equal(v.name, 'alice');
  assert.equal(v.password, REDACTED);
  assert.equal(v.password1, true, 'which password to generate is not a secret');
  assert.equal(v.noPasswords, true);
  assert.equal(v.expirationInDays, 30);
  assert.deepEqual(v.source, { sourceImage: 'library/alpine:3', credentials: REDACTED });
  assert.equal(v.serviceUri, `https://hooks.example.com/path?${REDACTED}`);
  assert.deepEqual(v.customHeaders, { Authorization: REDACTED, 'X-Env': REDACTED });
  assert.equal(v.description, `copied ${REDACTED}`);
  assert.equal((v.actions as string[]).length, 101);
  const text = JSON.stringify(v);
  for (const secret of ['hunter2-hunter2', 'upstream-pass', 'uri-secret', 'abcdef123', 'xyz-header-secret', jwt])
    assert.ok(!text.includes(secret), secret);
  assert.ok(r.secrets.includes('hunter2-hunter2') && r.secrets.includes('upstream-pass') && r.secrets.includes('uri-secret'));
  assert.equal(scrub('login to upstream failed for bob:upstream-pass', r.secrets), `login to upstream failed for bob:${REDACTED}`);
});
