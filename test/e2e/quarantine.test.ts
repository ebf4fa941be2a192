import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { deploymentGate, deploymentName } from '../helpers/storages.js';
import { BerthFixture, berthJson, mustFail, mustRun, removeDir, requireTool, tempDir } from './helpers.js';
import { OciLayout, type Descriptor } from './oci-layout.js';
import { managementApi, roleUser, skopeoAs } from './registry-users.js';

// Quarantine with a real client: `berth update --quarantine-policy enabled` (the automation
// contract) on a real `berth serve`; skopeo, signed in as an AcrPull user, cannot see an image
// pushed under the policy (inspect and copy fail) until an AcrQuarantineWriter marks it Passed
// through ACR's PATCH, and then pulls it byte for byte.

const SKOPEO = requireTool('skopeo');

for (const backend of ['sqlite', 'postgres'] as const) {
  const target = { backend, storage: 'fs' as const };
  describe(`quarantine with skopeo against berth serve (${deploymentName(target)})`, await deploymentGate(target), () => {
    const REG = `e2equarantine${backend}`;
    let f: BerthFixture;
    let work: string;
    let layout: OciLayout;
    let image: Descriptor;

    before(async () => {
      // The state is set by hand here, as an external scanner would; the built-in scanner would
      // pass this image (no packages) on its own (scan-quarantine.test.ts tests it deciding).
      f = await BerthFixture.start(target, { BERTH_SCAN_MODE: 'off' });
      await f.createRegistry(REG);
      work = tempDir('quarantine');
      layout = new OciLayout(path.join(work, 'src'));
      image = layout.addImage({ files: { 'hello.txt': 'held back until scanned\n' } });
      layout.tag('app', image);
      layout.write();
    });

    after(async () => {
      await f?.cleanup();
      removeDir(work);
    });

    const api = (method: string, url: string, body?: unknown, auth?: string) => managementApi(f.url)(method, url, body, auth);
    /** A user with `role` on the registry, and a containers auth file signing skopeo in as it. */
    const user = (role: string) => roleUser({ base: f.url, host: f.host, dir: work, reg: REG, role, prefix: 'q' });
    const skopeo = skopeoAs;

    test('a quarantined image is invisible to skopeo until Passed, then pulls', SKOPEO, async () => {
      const docker = `docker://${f.host}/${REG}/app:v1`;
      const puller = await user('AcrPull');
      const writer = await user('AcrQuarantineWriter');

      // The automation contract: berth update -n REG --quarantine-policy enabled.
      const updated = await berthJson<{ policies: { quarantinePolicy: { status: string } } }>(f.url, [
        'update',
        '-n',
        REG,
        '--quarantine-policy',
        'enabled',
      ]);
      assert.equal(updated.policies.quarantinePolicy.status, 'enabled');
      const shown = await berthJson<{ policies: { quarantinePolicy: { status: string } } }>(f.url, ['show', '-n', REG]);
      assert.equal(shown.policies.quarantinePolicy.status, 'enabled');

      await mustRun('skopeo', skopeo(f.authFile, ['copy', '--preserve-digests', `oci:${layout.dir}:app`, docker]), {
        timeoutMs: 120_000,
      });

      // Invisible to the AcrPull user: inspect and copy fail as for an unknown manifest.
      const inspect = await mustFail('skopeo', skopeo(puller.authFile, ['inspect', '--raw', docker]), { timeoutMs: 60_000 });
      assert.match(inspect.stderr, /manifest unknown|not found/i);
      const out = path.join(work, 'out');
      await mustFail('skopeo', skopeo(puller.authFile, ['copy', docker, `oci:${out}:v1`]), { timeoutMs: 60_000 });
      const tags = JSON.parse(
        (await mustRun('skopeo', skopeo(puller.authFile, ['list-tags', `docker://${f.host}/${REG}/app`]), { timeoutMs: 60_000 })).stdout,
      ) as { Tags: string[] };
      assert.deepEqual(tags.Tags, []);

      // The writer (a scanner) sees it, and the CLI shows its state.
      const raw = (await mustRun('skopeo', skopeo(writer.authFile, ['inspect', '--raw', docker]), { timeoutMs: 60_000 })).stdout;
      assert.equal(raw, layout.blobs.get(image.digest)!.toString('utf8'));
      const meta = await berthJson<{ changeableAttributes: { quarantineState?: string } }>(f.url, [
        'manifest',
        'show-metadata',
        '-r',
        REG,
        '-n',
        `app@${image.digest}`,
      ]);
      assert.equal(meta.changeableAttributes.quarantineState, 'Quarantined');

      // ACR's PATCH: AcrPull may not; AcrQuarantineWriter marks it Passed.
      const patch = { quarantineState: 'Passed', quarantineDetails: '{"scanner":"e2e","state":"Scan Passed"}' };
      assert.equal((await api('PATCH', `/acr/v1/${REG}/app/_manifests/${image.digest}`, patch, puller.auth)).status, 403);
      const passed = await api('PATCH', `/acr/v1/${REG}/app/_manifests/${image.digest}`, patch, writer.auth);
      assert.equal(passed.status, 200, JSON.stringify(passed.body));

      // Now the AcrPull user pulls it, byte for byte.
      const info = JSON.parse((await mustRun('skopeo', skopeo(puller.authFile, ['inspect', docker]), { timeoutMs: 60_000 })).stdout) as {
        Digest: string;
      };
      assert.equal(info.Digest, image.digest);
      await mustRun('skopeo', skopeo(puller.authFile, ['copy', '--preserve-digests', docker, `oci:${out}:v1`]), { timeoutMs: 120_000 });
      const index = JSON.parse(readFileSync(path.join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
      assert.equal(index.manifests[0]!.digest, image.digest);
      const after = await berthJson<{ changeableAttributes: { quarantineState?: string; quarantineDetails?: string } }>(f.url, [
        'manifest',
        'show-metadata',
        '-r',
        REG,
        '-n',
        `app@${image.digest}`,
      ]);
      assert.equal(after.changeableAttributes.quarantineState, 'Passed');
      assert.equal(after.changeableAttributes.quarantineDetails, patch.quarantineDetails);
    });
  });
}
