import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostRegistry } from './target.js';

test('host-style addressing: <registry>.<domain>, and <registry>.<region>.<domain> for declared regions only', () => {
  const regions = [{ name: 'westeurope' }, { name: 'eastus' }];
  assert.equal(hostRegistry('demoreg.registry.example.com', 'registry.example.com', regions), 'demoreg');
  assert.equal(hostRegistry('Demoreg.Registry.Example.com:5000', 'registry.example.com', regions), 'demoreg');
  assert.equal(hostRegistry('demoreg.eastus.registry.example.com', 'registry.example.com', regions), 'demoreg');
  assert.equal(
    hostRegistry('demoreg.mars.registry.example.com', 'registry.example.com', regions),
    undefined,
    'an undeclared region is no endpoint',
  );
  assert.equal(hostRegistry('demoreg.eastus.registry.example.com', 'registry.example.com'), undefined, 'no regions, no regional endpoints');
  assert.equal(
    hostRegistry('a-b.eastus.registry.example.com', 'registry.example.com', regions),
    undefined,
    'registry names are letters and digits',
  );
  assert.equal(hostRegistry('registry.example.com', 'registry.example.com', regions), undefined);
  assert.equal(hostRegistry('demoreg.registry.example.com', '', regions), undefined);
});
