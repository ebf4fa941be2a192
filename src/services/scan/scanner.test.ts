import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SCANNER, scannerDecides } from './scanner.js';

// Which quarantine states a finished scan may decide (docs/quarantine.md, "What Berth's scanner decides").

test('a scan decides Quarantined images, and Passed/Failed ones only when the scanner set them', () => {
  for (const by of [null, 'alice', SCANNER])
    assert.equal(scannerDecides({ quarantine_state: 'Quarantined', quarantine_updated_by: by }), true);
  for (const state of ['Passed', 'Failed']) {
    assert.equal(scannerDecides({ quarantine_state: state, quarantine_updated_by: SCANNER }), true, state);
    assert.equal(scannerDecides({ quarantine_state: state, quarantine_updated_by: 'trivy-scanner' }), false, state);
    assert.equal(scannerDecides({ quarantine_state: state, quarantine_updated_by: null }), false, state);
  }
  // Pushed while the policy was off: never quarantined, nothing to decide.
  assert.equal(scannerDecides({ quarantine_state: null, quarantine_updated_by: SCANNER }), false);
});

test("the scanner's name is one no user, token or service principal can have", () => {
  assert.doesNotMatch(SCANNER, /^[A-Za-z0-9._@-]{3,64}$/);
});
