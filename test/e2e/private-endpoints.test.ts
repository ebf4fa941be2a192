import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { removeDir, startBerth, tempDir, writeAuthFile, type BerthProcess } from '../helpers/berth-process.js';
import { runCli } from '../helpers/cli.js';
import { V2, type PushedImage } from '../helpers/oci.js';
import { ADMIN_PASSWORD, mustRun, requireTool, sha256 } from './helpers.js';
import { call, eventually, freePort } from '../helpers/endpoints.js';

// Real clients against `berth serve`: the CLI creates and manages private endpoints, skopeo pulls
// through a private listener and through a dedicated data endpoint's redirect.

describe('private endpoints and the data endpoint with the CLI and skopeo', requireTool('skopeo'), () => {
  let server: BerthProcess;
  let dataDir: string;
  let work: string;
  let img: PushedImage;
  let dataListen: string;
  const reg = 'peskopeo1';
  let as: string[];
  const berth = async (args: string[], code = 0) => {
    const r = await runCli([...args, ...as]);
    assert.equal(r.code, code, `berth ${args.join(' ')}: exit ${r.code}\n${r.stdout}${r.stderr}`);
    return r;
  };

  /** skopeo copy of app:v1 from `host` into a fresh dir; every file checked against its digest. */
  const pull = async (host: string, out: string) => {
    const authFile = path.join(work, `auth-${out}.json`);
    writeAuthFile(authFile, host);
    const dir = path.join(work, out);
    await mustRun('skopeo', ['copy', '--authfile', authFile, '--src-tls-verify=false', `docker://${host}/${reg}/app:v1`, `dir:${dir}`], {
      timeoutMs: 60_000,
    });
    assert.equal(sha256(readFileSync(path.join(dir, 'manifest.json'))), img.digest);
    for (const b of [img.config, ...img.layers])
      assert.equal(sha256(readFileSync(path.join(dir, b.digest.slice('sha256:'.length)))), b.digest, `${b.digest} pulled intact`);
  };

  before(async () => {
    dataDir = tempDir('pe-e2e');
    work = tempDir('pe-e2e-out');
    dataListen = `127.0.0.1:${await freePort('127.0.0.1')}`;
    server = await startBerth({ dataDir, env: { BERTH_DATA_ENDPOINT_LISTEN: dataListen } });
    as = ['--server', server.url, '-u', 'admin', '-p', ADMIN_PASSWORD];
    await berth(['create', '-n', reg, '--sku', 'Premium']);
    img = await new V2(server.url).pushImage(`${reg}/app`, 'v1', { layers: 3 });
  });
  after(async () => {
    await server?.stop();
    removeDir(dataDir);
    removeDir(work);
  });

  test('berth private-endpoint create/list/show/approve/reject/delete, and az names', async () => {
    const listen = `127.0.0.2:${await freePort('127.0.0.2')}`;
    const made = JSON.parse((await berth(['private-endpoint', 'create', '-n', reg, '--name', 'pe-app', '--listen', listen])).stdout) as {
      privateLinkServiceConnectionState: { status: string };
    };
    assert.equal(made.privateLinkServiceConnectionState.status, 'Approved');
    const bad = await berth(['private-endpoint', 'create', '-n', reg, '--name', 'pe-bad', '--listen', 'localhost:1'], 1);
    assert.match(bad.stderr, /not an IP address/);
    const manual = await berth([
      'private-endpoint',
      'create',
      '-n',
      reg,
      '--name',
      'pe-wait',
      '--listen',
      `127.0.0.2:${await freePort('127.0.0.2')}`,
      '--manual',
      '--request-message',
      'for ci',
    ]);
    assert.equal((JSON.parse(manual.stdout) as { requestMessage: string }).requestMessage, 'for ci');
    const listed = JSON.parse((await berth(['private-endpoint', 'list', '-n', reg])).stdout) as {
      name: string;
      privateEndpoint: { listen: string };
      privateLinkServiceConnectionState: { status: string };
      listener: { state: string };
    }[];
    assert.deepEqual(
      listed.map((c) => [c.name, c.privateLinkServiceConnectionState.status, c.listener.state]),
      [
        ['pe-app', 'Approved', 'Listening'],
        ['pe-wait', 'Pending', 'Listening'],
      ],
    );
    assert.equal(listed[0]!.privateEndpoint.listen, listen);
    const table = await berth(['private-endpoint', 'list', '-n', reg, '-o', 'table']);
    assert.match(table.stdout, /pe-app\s+127\.0\.0\.2:\d+\s+Approved/);
    const approved = await berth(['private-endpoint-connection', 'approve', '-r', reg, '-n', 'pe-wait', '--description', 'ok']);
    assert.deepEqual((JSON.parse(approved.stdout) as { privateLinkServiceConnectionState: unknown }).privateLinkServiceConnectionState, {
      status: 'Approved',
      description: 'ok',
      actionsRequired: 'None',
    });
    await berth(['private-endpoint', 'reject', '-n', reg, '--name', 'pe-wait', '--description', 'changed my mind']);
    const again = await berth(['private-endpoint', 'approve', '-n', reg, '--name', 'pe-wait'], 1);
    assert.match(again.stderr, /final/);
    const shown = JSON.parse((await berth(['private-endpoint-connection', 'show', '-r', reg, '-n', 'pe-wait'])).stdout) as {
      privateLinkServiceConnectionState: { status: string };
    };
    assert.equal(shown.privateLinkServiceConnectionState.status, 'Rejected');
    await berth(['private-endpoint-connection', 'delete', '-r', reg, '-n', 'pe-wait', '--yes']);

    // skopeo pulls through the private listener, with public network access off.
    await berth(['update', '-n', reg, '--public-network-enabled', 'false']);
    await pull(listen, 'via-private');
    const refused = await runCli(['repository', 'list', '-n', reg, ...as]);
    assert.equal(refused.code, 0, 'management stays reachable on the public listener');
    assert.equal((await call(server.url, 'GET', `/v2/${reg}/app/tags/list`)).status, 403);
    await berth(['update', '-n', reg, '--public-network-enabled', 'true']);
    await berth(['private-endpoint', 'delete', '-n', reg, '--name', 'pe-app', '--yes']);
    assert.equal((JSON.parse((await berth(['private-endpoint', 'list', '-n', reg])).stdout) as unknown[]).length, 0);
  });

  test('skopeo follows the redirect to the dedicated data endpoint; show-endpoints names it', async () => {
    const updated = JSON.parse((await berth(['update', '-n', reg, '--data-endpoint-enabled', 'true'])).stdout) as {
      dataEndpointEnabled: boolean;
      dataEndpointHostNames: string[];
    };
    assert.equal(updated.dataEndpointEnabled, true);
    assert.deepEqual(updated.dataEndpointHostNames, [dataListen]);
    const endpoints = JSON.parse((await berth(['show-endpoints', '-n', reg])).stdout) as { dataEndpoints: { endpoint: string }[] };
    assert.deepEqual(
      endpoints.dataEndpoints.map((d) => d.endpoint),
      [dataListen],
    );
    await pull(server.host, 'via-data-endpoint');
    // The bytes came from the data endpoint: its listener answered the blob GETs. A response is
    // counted when the server sees its last write complete, which on a loaded machine may be just
    // after skopeo, having read every byte, exits: asked again until counted.
    const served = async () => {
      const metrics = (await call(server.url, 'GET', '/metrics')).text;
      return [...metrics.matchAll(/^berth_http_requests_total\{([^}]*)\} (\d+)/gm)]
        .filter((m) => m[1]!.includes('route="data-endpoint"') && m[1]!.includes('status="2xx"'))
        .reduce((n, m) => n + Number(m[2]), 0);
    };
    await eventually('every blob is counted as served by the data endpoint', async () => (await served()) >= 1 + img.layers.length, 40);
  });
});
