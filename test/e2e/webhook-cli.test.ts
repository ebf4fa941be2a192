import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BerthFixture, berthJson, waitFor } from './helpers.js';
import { OciLayout, pushImage } from './oci-layout.js';

// The webhook automation contract, as a script would drive it: a real `berth serve` with
// BERTH_EGRESS_ALLOW_PRIVATE=true, `berth webhook create ... --actions push delete` and
// `berth webhook list-events -o json`, and a real receiver on loopback.

describe('webhooks through the CLI contract', () => {
  let f: BerthFixture;
  let receiver: http.Server;
  let receiverUrl: string;
  const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  let work: string;

  before(async () => {
    receiver = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
    f = await BerthFixture.start('sqlite', { BERTH_EGRESS_ALLOW_PRIVATE: 'true' });
    work = mkdtempSync(path.join(os.tmpdir(), 'berth-webhook-cli-'));
  });

  after(async () => {
    await f?.cleanup();
    receiver?.close();
    rmSync(work, { recursive: true, force: true });
  });

  test('create, push, delivery with ACR payload and HMAC, list-events', async () => {
    await f.createRegistry('hookreg');
    const created = await berthJson<{ name: string; actions: string[]; secret?: string }>(f.url, [
      'webhook',
      'create',
      '-n',
      'deployhook',
      '-r',
      'hookreg',
      '--uri',
      receiverUrl,
      '--actions',
      'push',
      'delete',
    ]);
    assert.equal(created.name, 'deployhook');
    assert.deepEqual([...created.actions].sort(), ['delete', 'push']);

    const layout = new OciLayout(path.join(work, 'src'));
    const image = layout.addImage({ files: { 'app.txt': 'v1\n' } });
    const digest = await pushImage(f.url, 'hookreg/team/app', layout, image, 'v1');

    await waitFor('the push delivery', () => received.length >= 1, 30_000);
    const event = JSON.parse(received[0]!.body) as {
      action: string;
      target: { repository: string; tag: string; digest: string; mediaType: string };
      request: { method: string };
    };
    assert.equal(event.action, 'push');
    assert.equal(event.target.repository, 'team/app');
    assert.equal(event.target.tag, 'v1');
    assert.equal(event.target.digest, digest);
    assert.equal(event.request.method, 'PUT');
    assert.ok(created.secret, 'the signing secret is shown once, at creation');
    const expected = `sha256=${createHmac('sha256', created.secret).update(received[0]!.body).digest('hex')}`;
    assert.equal(received[0]!.headers['x-berth-signature-256'], expected);

    const events = await berthJson<
      { eventRequestMessage: { content: { action: string } }; eventResponseMessage?: { statusCode: string | number } }[]
    >(f.url, ['webhook', 'list-events', '-n', 'deployhook', '-r', 'hookreg']);
    assert.ok(events.length >= 1);
    assert.ok(events.some((e) => e.eventRequestMessage.content.action === 'push'));
    assert.equal(received.length, 1, 'exactly one delivery for one push');
  });
});
