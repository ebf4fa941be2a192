import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RegistryError } from './errors.js';
import { onceViewer, parseQuarantineDetails, parseQuarantineState, quarantineHides } from './quarantine.js';

test('quarantine states: ACR spellings in any case; anything else is REQUEST_INVALID', () => {
  assert.equal(parseQuarantineState('Passed'), 'Passed');
  assert.equal(parseQuarantineState('failed'), 'Failed');
  assert.equal(parseQuarantineState('QUARANTINED'), 'Quarantined');
  for (const bad of ['', 'Pass', 'ok', 1, null, undefined, {}])
    assert.throws(
      () => parseQuarantineState(bad),
      (e: unknown) => e instanceof RegistryError && e.code === 'REQUEST_INVALID',
    );
});

test('only Quarantined and Failed hide, and only while the policy is on', () => {
  assert.equal(quarantineHides(1, 'Quarantined'), true);
  assert.equal(quarantineHides(1, 'Failed'), true);
  assert.equal(quarantineHides(1, 'Passed'), false);
  assert.equal(quarantineHides(1, null), false);
  assert.equal(quarantineHides(0, 'Quarantined'), false);
  assert.equal(quarantineHides(0, 'Failed'), false);
});

test('details: a string as given, an object as its JSON, at most 64 KiB', () => {
  assert.equal(parseQuarantineDetails(undefined), null);
  assert.equal(parseQuarantineDetails('{"state":"Scan Passed"}'), '{"state":"Scan Passed"}');
  assert.equal(parseQuarantineDetails({ scanner: 'x' }), '{"scanner":"x"}');
  assert.throws(() => parseQuarantineDetails('x'.repeat(65537)), /64 KiB/);
});

test('a viewer asks once', async () => {
  let asked = 0;
  const v = onceViewer(() => {
    asked++;
    return Promise.resolve(true);
  });
  assert.equal(await v(), true);
  assert.equal(await v(), true);
  assert.equal(asked, 1);
});
