import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RegistryError } from './errors.js';
import { ClientAddress, compileGate, gateFor, MAX_IP_RULES, normalizeAddress, parseCidr, withRules } from './network.js';

function refused(raw: unknown, part: RegExp): void {
  assert.throws(
    () => parseCidr(raw),
    (e: unknown) => e instanceof RegistryError && e.code === 'REQUEST_INVALID' && part.test(e.message),
  );
}

const settings = (defaultAction: string, rules: string[], access = 'Enabled') => ({
  public_network_access: access,
  network_default_action: defaultAction,
  network_ip_rules: JSON.stringify(rules),
});

describe('parseCidr', () => {
  test('IPv4 addresses and ranges, canonical', () => {
    assert.deepEqual(parseCidr('10.0.0.0/8'), { family: 'ipv4', address: '10.0.0.0', prefix: 8, value: '10.0.0.0/8' });
    assert.equal(parseCidr('1.2.3.4').value, '1.2.3.4');
    assert.equal(parseCidr('1.2.3.4/32').value, '1.2.3.4');
    assert.equal(parseCidr(' 0.0.0.0/0 ').value, '0.0.0.0/0');
  });

  test('IPv6 addresses and ranges, RFC 5952 form', () => {
    assert.equal(parseCidr('2001:DB8:0:0::/32').value, '2001:db8::/32');
    assert.equal(parseCidr('fe80::/10').value, 'fe80::/10');
    assert.equal(parseCidr('::1').value, '::1');
    assert.equal(parseCidr('::ffff:10.1.2.3/128').value, '::ffff:a01:203');
    assert.equal(parseCidr('::/0').value, '::/0');
  });

  test('malformed values are refused with the reason', () => {
    refused('10.0.0.0/33', /prefix length must be 0-32/);
    refused('fe80::/129', /prefix length must be 0-128/);
    refused('1.2.3', /not an IPv4 or IPv6 address/);
    refused('1.2.3.4/', /prefix length/);
    refused('1.2.3.4/-1', /prefix length/);
    refused('256.1.1.1', /not an IPv4 or IPv6/);
    refused('fe80::1%eth0', /not an IPv4 or IPv6/);
    refused('', /needs an address/);
    refused(42, /needs an address/);
  });

  test('host bits set are refused, naming the network', () => {
    refused('10.0.0.5/24', /host bits set: the range is 10\.0\.0\.0\/24/);
    refused('2001:db8::1/64', /the range is 2001:db8::\/64/);
  });
});

describe('withRules', () => {
  test('exact duplicates (in any spelling) are refused; overlaps are allowed', () => {
    assert.deepEqual(withRules(['10.0.0.0/8'], ['10.1.0.0/16']), ['10.0.0.0/8', '10.1.0.0/16']);
    assert.throws(() => withRules(['1.2.3.4'], ['1.2.3.4/32']), /already exists/);
    assert.throws(() => withRules([], ['10.0.0.0/8', '10.0.0.0/8']), /already exists/);
  });

  test(`at most ${MAX_IP_RULES} rules`, () => {
    const full = Array.from({ length: MAX_IP_RULES }, (_, i) => `10.0.${i}.0/24`);
    assert.equal(withRules([], full).length, MAX_IP_RULES);
    assert.throws(() => withRules(full, ['192.168.0.0/16']), /at most 200 IP rules/);
  });
});

describe('gates', () => {
  test('Allow lets everyone in; Deny only the rules; Disabled no one', () => {
    assert.equal(compileGate(settings('Allow', [])).refusal('1.2.3.4'), undefined);
    const deny = compileGate(settings('Deny', ['127.0.0.1', '10.0.0.0/8', '2001:db8::/32']));
    assert.equal(deny.refusal('127.0.0.1'), undefined);
    assert.equal(deny.refusal('::ffff:10.9.8.7'), undefined);
    assert.equal(deny.refusal('2001:db8::5'), undefined);
    assert.match(deny.refusal('127.0.0.2')!, /no IP rule matches/);
    assert.match(deny.refusal('unknown')!, /no IP rule/);
    assert.match(compileGate(settings('Deny', [])).refusal('1.1.1.1')!, /no IP rules/);
    assert.match(compileGate(settings('Allow', ['127.0.0.1'], 'Disabled')).refusal('127.0.0.1')!, /public network access is disabled/);
  });

  test('gateFor compiles each distinct rule set once', () => {
    const s = settings('Deny', ['192.0.2.0/24']);
    assert.equal(gateFor(s), gateFor({ ...s }));
    assert.notEqual(gateFor(s), gateFor(settings('Deny', ['192.0.2.0/25'])));
  });
});

describe('ClientAddress', () => {
  test('the peer, IPv4-mapped addresses unwrapped', () => {
    assert.equal(normalizeAddress('::ffff:1.2.3.4'), '1.2.3.4');
    assert.equal(new ClientAddress([]).resolve('::ffff:1.2.3.4', '9.9.9.9'), '1.2.3.4');
    assert.equal(new ClientAddress([]).resolve(undefined, undefined), 'unknown');
  });

  test('X-Forwarded-For only from trusted proxies: the right-most untrusted hop', () => {
    const c = new ClientAddress(['10.0.0.0/8', '127.0.0.1']);
    assert.equal(c.resolve('192.0.2.1', '203.0.113.9'), '192.0.2.1', 'untrusted peer: header ignored');
    assert.equal(c.resolve('127.0.0.1', '203.0.113.9'), '203.0.113.9');
    assert.equal(c.resolve('127.0.0.1', '6.6.6.6, 203.0.113.9, 10.1.1.1'), '203.0.113.9', 'spoofed left-most hops are skipped');
    assert.equal(c.resolve('127.0.0.1', ['6.6.6.6', '203.0.113.9']), '203.0.113.9');
    assert.equal(c.resolve('127.0.0.1', '10.1.1.1, 10.2.2.2'), '127.0.0.1', 'all proxies: the peer');
    assert.equal(c.resolve('127.0.0.1', 'garbage'), '127.0.0.1');
    assert.equal(c.resolve('127.0.0.1', '[2001:db8::7]'), '2001:db8::7');
  });
});
