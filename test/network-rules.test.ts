import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { adminAuthHeader, ADMIN_PASSWORD, startTestApp, type TestApp } from './helpers/app.js';
import { backendGate, BACKENDS } from './helpers/backends.js';
import { removeDir, startBerth, tempDir, writeAuthFile, type BerthProcess } from './helpers/berth-process.js';
import { requireTool } from './e2e/helpers.js';
import { runCli } from './helpers/cli.js';

// Network rules of a registry (docs/network-rules.md) over real sockets: the server listens on
// 127.0.0.1 and clients connect from 127.0.0.1 or 127.0.0.2 (Linux routes all of 127/8 to lo, and
// http.request's localAddress picks the source). The rules are parsed and matched in
// src/domain/network.test.ts; this covers enforcement, the API, the CLI and the client address.

interface Answer {
  status: number;
  body: { errors?: { code: string; message: string; detail?: unknown }[]; [k: string]: unknown };
  text: string;
}

function call(
  base: string,
  method: string,
  path: string,
  o: { from?: string; auth?: string | null; headers?: Record<string, string>; body?: unknown } = {},
): Promise<Answer> {
  const u = new URL(path, base);
  const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.auth !== null) headers.Authorization = o.auth ?? adminAuthHeader();
  if (payload !== undefined) headers['Content-Type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers, localAddress: o.from ?? '127.0.0.1', agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          let body: Answer['body'] = {};
          try {
            body = text ? (JSON.parse(text) as Answer['body']) : {};
          } catch {
            // not JSON (metrics)
          }
          resolve({ status: res.statusCode ?? 0, body, text });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const denied = (a: Answer, ip: string) => {
  assert.equal(a.status, 403, a.text);
  const err = a.body.errors?.[0];
  assert.equal(err?.code, 'DENIED', a.text);
  assert.match(err.message, new RegExp(`client with IP '${ip.replace(/\./g, '\\.')}' is not allowed access`));
};

for (const backend of BACKENDS) {
  describe(`network rules (${backend})`, async () => {
    const gate = await backendGate(backend);
    let t: TestApp;
    const reg = 'netreg1';
    const basic = 'netbasic1';
    const catalog = `/v2/${reg}/_catalog`;
    const tags = `/v2/${reg}/app/tags/list`;
    const acr = `/acr/v1/${reg}/_catalog`;
    const api = (sub: string, o: Parameters<typeof call>[3] = {}, method = 'GET') => call(t.url, method, `/api/registries/${reg}${sub}`, o);

    before(async () => {
      if (gate.skip) return;
      t = await startTestApp(backend);
      await t.createRegistry(reg, 'Premium');
      await t.createRegistry(basic, 'Basic');
    });
    after(async () => {
      await t?.close();
    });

    test('a new registry is open: Enabled, Allow, no rules, shown by GET and the network-rules view', gate, async () => {
      const shown = await api('');
      assert.equal(shown.status, 200, shown.text);
      assert.equal(shown.body.publicNetworkAccess, 'Enabled');
      assert.deepEqual(shown.body.networkRuleSet, { defaultAction: 'Allow', ipRules: [] });
      assert.equal(shown.body.networkRuleBypassOptions, 'AzureServices');
      assert.equal((await call(t.url, 'GET', catalog, { from: '127.0.0.2' })).status, 200);
    });

    test('bad values and limits: 400 with the reason; Premium only', gate, async () => {
      for (const [value, reason] of [
        ['10.0.0.0/33', /prefix length must be 0-32/],
        ['1.2.3', /not an IPv4 or IPv6/],
        ['fe80::/129', /prefix length must be 0-128/],
        ['10.0.0.5/24', /host bits set: the range is 10\.0\.0\.0\/24/],
      ] as const) {
        const r = await api('/network-rules', { body: { value } }, 'POST');
        assert.equal(r.status, 400, r.text);
        assert.match(r.body.errors![0]!.message, reason);
      }
      const noValue = await api('/network-rules', { body: { action: 'Deny', value: '1.2.3.4' } }, 'POST');
      assert.equal(noValue.status, 400, noValue.text);
      const onBasic = await call(t.url, 'POST', `/api/registries/${basic}/network-rules`, { body: { value: '1.2.3.4' } });
      assert.equal(onBasic.status, 400, onBasic.text);
      assert.match(onBasic.body.errors![0]!.message, /Premium/);
      const denyOnBasic = await call(t.url, 'PATCH', `/api/registries/${basic}`, { body: { networkRuleSet: { defaultAction: 'Deny' } } });
      assert.equal(denyOnBasic.status, 400, denyOnBasic.text);
      const badAction = await api('', { body: { networkRuleSet: { defaultAction: 'Maybe' } } }, 'PATCH');
      assert.equal(badAction.status, 400, badAction.text);
      assert.match(badAction.body.errors![0]!.message, /defaultAction" must be Allow or Deny/);
      // 201 rules at once through the PATCH (ipRules replace the list), and one more than 200 rule by rule.
      const many = Array.from({ length: 201 }, (_, i) => ({ action: 'Allow', value: `10.${i}.0.0/16` }));
      const tooMany = await api('', { body: { networkRuleSet: { ipRules: many } } }, 'PATCH');
      assert.equal(tooMany.status, 400, tooMany.text);
      assert.match(tooMany.body.errors![0]!.message, /at most 200 IP rules/);
      const full = await api('', { body: { networkRuleSet: { ipRules: many.slice(0, 200) } } }, 'PATCH');
      assert.equal(full.status, 200, full.text);
      const oneMore = await api('/network-rules', { body: { value: '192.168.0.0/16' } }, 'POST');
      assert.equal(oneMore.status, 400, oneMore.text);
      assert.match(oneMore.body.errors![0]!.message, /at most 200/);
      const cleared = await api('', { body: { networkRuleSet: { ipRules: [] } } }, 'PATCH');
      assert.deepEqual((cleared.body.networkRuleSet as { ipRules: unknown[] }).ipRules, []);
    });

    test('rules by rule: canonical values, duplicates refused, overlaps allowed, removal by any spelling', gate, async () => {
      const added = await api('/network-rules', { body: { action: 'Allow', value: '127.0.0.1/32' } }, 'POST');
      assert.equal(added.status, 201, added.text);
      assert.deepEqual((added.body.networkRuleSet as { ipRules: unknown[] }).ipRules, [{ action: 'Allow', value: '127.0.0.1' }]);
      const dup = await api('/network-rules', { body: { value: '127.0.0.1' } }, 'POST');
      assert.equal(dup.status, 400, dup.text);
      assert.match(dup.body.errors![0]!.message, /already exists/);
      assert.equal((await api('/network-rules', { body: { value: '127.0.0.0/30' } }, 'POST')).status, 201);
      assert.equal((await api('/network-rules', { body: { value: '2001:DB8::/32' } }, 'POST')).status, 201);
      const gone = await api(`/network-rules?value=${encodeURIComponent('127.0.0.0/30')}`, {}, 'DELETE');
      assert.equal(gone.status, 200, gone.text);
      const missing = await api(`/network-rules?value=${encodeURIComponent('127.0.0.0/30')}`, {}, 'DELETE');
      assert.equal(missing.status, 404, missing.text);
      const listed = await api('/network-rules');
      assert.deepEqual((listed.body.networkRuleSet as { ipRules: unknown[] }).ipRules, [
        { action: 'Allow', value: '127.0.0.1' },
        { action: 'Allow', value: '2001:db8::/32' },
      ]);
    });

    test(
      'Deny: the allowed address passes, the other gets 403 DENIED naming it, on /v2 and /acr/v1; /api still answers',
      gate,
      async () => {
        const set = await api('', { body: { networkRuleSet: { defaultAction: 'Deny' } } }, 'PATCH');
        assert.equal(set.status, 200, set.text);
        assert.equal((set.body.networkRuleSet as { defaultAction: string }).defaultAction, 'Deny');
        assert.equal((await call(t.url, 'GET', catalog, { from: '127.0.0.1' })).status, 200);
        assert.equal((await call(t.url, 'GET', acr, { from: '127.0.0.1' })).status, 200);
        denied(await call(t.url, 'GET', catalog, { from: '127.0.0.2' }), '127.0.0.2');
        denied(await call(t.url, 'GET', tags, { from: '127.0.0.2' }), '127.0.0.2');
        denied(await call(t.url, 'GET', acr, { from: '127.0.0.2' }), '127.0.0.2');
        // Anonymous callers are refused too, before any challenge.
        denied(await call(t.url, 'GET', tags, { from: '127.0.0.2', auth: null }), '127.0.0.2');
        // Management stays reachable from anywhere, so the owner can fix the rules.
        assert.equal((await api('/network-rules', { from: '127.0.0.2' })).status, 200);
        // Other registries are not affected.
        assert.equal((await call(t.url, 'GET', `/v2/${basic}/_catalog`, { from: '127.0.0.2' })).status, 200);
      },
    );

    test('X-Forwarded-For from an untrusted peer changes nothing', gate, async () => {
      denied(await call(t.url, 'GET', catalog, { from: '127.0.0.2', headers: { 'X-Forwarded-For': '127.0.0.1' } }), '127.0.0.2');
      assert.equal((await call(t.url, 'GET', catalog, { from: '127.0.0.1', headers: { 'X-Forwarded-For': '127.0.0.2' } })).status, 200);
    });

    test('refusals are counted, and recorded in the activity log with the address; rule changes too', gate, async () => {
      const m = await call(t.url, 'GET', '/metrics');
      assert.match(m.text, new RegExp(`berth_network_refusals_total\\{registry="${reg}"\\} [1-9]`));
      const log = await call(t.url, 'GET', `/api/audit/activity?top=1000&registry=${reg}`);
      assert.equal(log.status, 200, log.text);
      const entries = log.body.value as { operationName: string; callerIpAddress: string | null; resultType: string }[];
      const refusals = entries.filter((e) => e.operationName === 'Berth/registries/networkRules/refused/action');
      // Once a minute per client and registry, however many requests were refused.
      assert.equal(refusals.length, 1, JSON.stringify(refusals));
      assert.equal(refusals[0]!.callerIpAddress, '127.0.0.2');
      assert.equal(refusals[0]!.resultType, 'Failed');
      assert.ok(entries.some((e) => e.operationName === 'Microsoft.ContainerRegistry/registries/networkRules/write'));
    });

    test('networkRuleBypassOptions: task runs pass with AzureServices, not with None', gate, async () => {
      const row = await t.app.services.registries.get(reg);
      const client = { ip: '127.0.0.2' };
      const run = { kind: 'run' as const, id: 1, name: 'run-1', registryId: row.id };
      assert.doesNotThrow(() => t.app.services.access.admit(row, client, run));
      assert.throws(() => t.app.services.access.admit(row, client, { kind: 'user', id: 1, name: 'alice' }), /127\.0\.0\.2/);
      const none = await api('', { body: { networkRuleBypassOptions: 'None' } }, 'PATCH');
      assert.equal(none.body.networkRuleBypassOptions, 'None');
      assert.throws(() => t.app.services.access.admit({ ...row, network_bypass: 'None' }, client, run), /not allowed access/);
      assert.equal((await api('', { body: { networkRuleBypassOptions: 'AzureServices' } }, 'PATCH')).status, 200);
    });

    test('publicNetworkAccess Disabled refuses every client; Allow opens again', gate, async () => {
      assert.equal((await api('', { body: { publicNetworkAccess: 'Disabled' } }, 'PATCH')).status, 200);
      for (const from of ['127.0.0.1', '127.0.0.2']) {
        const r = await call(t.url, 'GET', catalog, { from });
        denied(r, from);
        assert.match(r.body.errors![0]!.message, /public network access is disabled/);
      }
      assert.equal((await api('', { from: '127.0.0.2' })).status, 200);
      const open = await api('', { body: { publicNetworkAccess: 'Enabled', networkRuleSet: { defaultAction: 'Allow' } } }, 'PATCH');
      assert.equal(open.status, 200, open.text);
      assert.equal((await call(t.url, 'GET', catalog, { from: '127.0.0.2' })).status, 200);
      // A Premium registry with rules cannot leave Premium until they are gone.
      const down = await api('', { body: { sku: 'Standard' } }, 'PATCH');
      assert.equal(down.status, 409, down.text);
      assert.match(down.text, /network rules, a Premium feature/);
    });
  });
}

describe('network rules behind a trusted proxy, and the CLI against berth serve', requireTool('skopeo'), () => {
  let t: TestApp;
  let server: BerthProcess | undefined;
  let dataDir: string | undefined;
  const reg = 'netproxy1';

  before(async () => {
    t = await startTestApp('sqlite', { network: { trustedProxies: ['127.0.0.1/32'] } });
    await t.createRegistry(reg, 'Premium');
  });
  after(async () => {
    await t?.close();
    await server?.stop();
    removeDir(dataDir);
  });

  test('from a trusted proxy the forwarded address decides; its own address does not', async () => {
    const patch = await call(t.url, 'PATCH', `/api/registries/${reg}`, {
      body: { networkRuleSet: { defaultAction: 'Deny', ipRules: [{ action: 'Allow', value: '198.51.100.0/24' }] } },
    });
    assert.equal(patch.status, 200, patch.text);
    const viaProxy = `/v2/${reg}/_catalog`;
    assert.equal((await call(t.url, 'GET', viaProxy, { from: '127.0.0.1', headers: { 'X-Forwarded-For': '198.51.100.7' } })).status, 200);
    denied(await call(t.url, 'GET', viaProxy, { from: '127.0.0.1', headers: { 'X-Forwarded-For': '203.0.113.5' } }), '203.0.113.5');
    // A client cannot prepend an allowed address: the right-most untrusted hop counts.
    denied(
      await call(t.url, 'GET', viaProxy, { from: '127.0.0.1', headers: { 'X-Forwarded-For': '198.51.100.7, 203.0.113.5' } }),
      '203.0.113.5',
    );
    // Without the header the proxy itself is the client (not allowed here).
    denied(await call(t.url, 'GET', viaProxy, { from: '127.0.0.1' }), '127.0.0.1');
    // 127.0.0.2 is no trusted proxy: its header is ignored.
    denied(await call(t.url, 'GET', viaProxy, { from: '127.0.0.2', headers: { 'X-Forwarded-For': '198.51.100.7' } }), '127.0.0.2');
  });

  test('CLI: berth update --default-action Deny, berth network-rule add; a real client from the other address is refused', async () => {
    dataDir = tempDir('netrules');
    server = await startBerth({ dataDir });
    const as = ['--server', server.url, '-u', 'admin', '-p', ADMIN_PASSWORD];
    const run = async (args: string[], code = 0) => {
      const r = await runCli([...args, ...as]);
      assert.equal(r.code, code, `berth ${args.join(' ')}: exit ${r.code}\n${r.stdout}${r.stderr}`);
      return r;
    };
    await run(['create', '-n', 'cliNet1', '--sku', 'Premium']);
    const updated = JSON.parse((await run(['update', '-n', 'cliNet1', '--default-action', 'Deny'])).stdout) as Record<string, unknown>;
    assert.deepEqual(updated.networkRuleSet, { defaultAction: 'Deny', ipRules: [] });
    const added = JSON.parse((await run(['network-rule', 'add', '-n', 'cliNet1', '--ip-address', '127.0.0.1/32'])).stdout) as unknown;
    assert.deepEqual(added, [{ action: 'Allow', value: '127.0.0.1' }]);
    const bad = await run(['network-rule', 'add', '-n', 'cliNet1', '--ip-address', '10.0.0.0/33'], 1);
    assert.match(bad.stderr, /prefix length must be 0-32/);
    const listed = await run(['network-rule', 'list', '-n', 'cliNet1', '-o', 'tsv']);
    assert.equal(listed.stdout.trim(), 'Allow\t127.0.0.1');
    const shown = JSON.parse((await run(['show', '-n', 'cliNet1'])).stdout) as Record<string, unknown>;
    assert.equal(shown.publicNetworkAccess, 'Enabled');
    assert.equal((shown.networkRuleSet as { defaultAction: string }).defaultAction, 'Deny');

    const catalogPath = '/v2/clinet1/_catalog';
    assert.equal((await call(server.url, 'GET', catalogPath, { from: '127.0.0.1' })).status, 200);
    denied(await call(server.url, 'GET', catalogPath, { from: '127.0.0.2' }), '127.0.0.2');

    await run(['network-rule', 'remove', '-n', 'cliNet1', '--ip-address', '127.0.0.1']);
    denied(await call(server.url, 'GET', catalogPath, { from: '127.0.0.1' }), '127.0.0.1');
    // A real client (from 127.0.0.1, now refused) shows the refusal.
    const authFile = path.join(dataDir, 'auth.json');
    writeAuthFile(authFile, server.host);
    const skopeo = spawnSync(
      'skopeo',
      ['inspect', '--tls-verify=false', '--authfile', authFile, `docker://${server.host}/clinet1/app:v1`],
      {
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    assert.notEqual(skopeo.status, 0, skopeo.stdout);
    assert.match(skopeo.stderr, /client with IP '127\.0\.0\.1' is not allowed access/);
    await run(['update', '-n', 'cliNet1', '--public-network-enabled', 'false', '--default-action', 'Allow']);
    denied(await call(server.url, 'GET', catalogPath, { from: '127.0.0.1' }), '127.0.0.1');
    await run(['update', '-n', 'cliNet1', '--public-network-enabled', 'true']);
    assert.equal((await call(server.url, 'GET', catalogPath, { from: '127.0.0.2' })).status, 200);
  });
});
