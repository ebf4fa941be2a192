import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeLeaf, makeRoot, type Leaf } from '../helpers/pki.js';
import { deploymentGate, deploymentName } from '../helpers/storages.js';
import { BerthFixture, berthJson, MAIN, mustFail, mustRun, removeDir, requireTool, run, tempDir } from './helpers.js';
import { OciLayout, type Descriptor } from './oci-layout.js';
import { managementApi, roleUser, skopeoAs } from './registry-users.js';

// Content trust with a real client, through the automation contract: `berth trust-store add`
// and `berth trust-policy set` make a repository strict; skopeo (an AcrPull user) is refused an
// unsigned image with 403 DENIED, pulls it once `berth sign` has pushed a valid signature (a
// Notation JWS envelope, a referrer), and is refused again when the trust store is removed.

const SKOPEO = requireTool('skopeo', 'openssl');
const target = { backend: 'postgres' as const, storage: 'fs' as const };

describe(`content trust with skopeo against berth serve (${deploymentName(target)})`, await deploymentGate(target), () => {
  const REG = 'e2etrust';
  let f: BerthFixture;
  let work: string;
  let layout: OciLayout;
  let image: Descriptor;
  let good: Leaf;
  let rogue: Leaf;

  before(async () => {
    f = await BerthFixture.start(target, { BERTH_SCAN_MODE: 'off' });
    await f.createRegistry(REG);
    work = tempDir('trust');
    layout = new OciLayout(path.join(work, 'src'));
    image = layout.addImage({ files: { 'app.txt': 'signed by acme\n' } });
    layout.tag('app', image);
    layout.write();
    const acme = makeRoot(work, 'Acme Code Signing Root');
    good = makeLeaf(acme, 'Acme Release Signer');
    rogue = makeLeaf(makeRoot(work, 'Rogue Root'), 'Rogue Signer');
  });

  after(async () => {
    await f?.cleanup();
    removeDir(work);
  });

  /** A user with `role` on the registry: its skopeo auth file, and its name and password for the CLI. */
  const user = async (role: string) => {
    const u = await roleUser({ base: f.url, host: f.host, dir: work, reg: REG, role, prefix: 't' });
    const name = `t${role.toLowerCase().replace(/[^a-z]/g, '')}`;
    return { ...u, user: { name, password: `${name}-password-1` } };
  };
  const berthAs = (who: { name: string; password: string }, args: string[]) =>
    run(process.execPath, [MAIN, ...args, '--server', f.url, '-u', who.name, '-p', who.password, '-o', 'json'], { timeoutMs: 30_000 });

  test('strict policy: unsigned refused, signed pulls, trust store removed refused again', SKOPEO, async () => {
    const docker = `docker://${f.host}/${REG}/app:v1`;
    await mustRun('skopeo', skopeoAs(f.authFile, ['copy', '--preserve-digests', `oci:${layout.dir}:app`, docker]), { timeoutMs: 120_000 });
    const puller = await user('AcrPull');
    const pusher = await user('AcrPush');

    // The automation contract.
    const store = await berthJson<{ type: string; name: string; entries: { subject: string }[] }>(f.url, [
      'trust-store',
      'add',
      '-n',
      REG,
      '--type',
      'ca',
      '--name',
      'acme',
      '--cert',
      acme(),
    ]);
    assert.equal(store.type, 'ca');
    assert.match(store.entries[0]!.subject, /Acme Code Signing Root/);
    const policyFile = path.join(work, 'trustpolicy.json');
    writeFileSync(
      policyFile,
      JSON.stringify({
        version: '1.0',
        trustPolicies: [
          {
            name: 'acme-apps',
            registryScopes: [`${f.host}/${REG}/app`],
            signatureVerification: { level: 'strict' },
            trustStores: ['ca:acme'],
            trustedIdentities: ['x509.subject: C=US, ST=WA, O=Acme, CN=Acme Release Signer'],
          },
        ],
      }),
    );
    const set = await berthJson<{ version: number; missingTrustStores: string[] }>(f.url, [
      'trust-policy',
      'set',
      '-n',
      REG,
      '--file',
      policyFile,
    ]);
    assert.deepEqual(set.missingTrustStores, []);

    // Unsigned: refused with 403 DENIED naming the policy.
    const refused = await mustFail('skopeo', skopeoAs(puller.authFile, ['inspect', '--raw', docker]), { timeoutMs: 60_000 });
    assert.match(refused.stderr, /denied/i);
    assert.match(refused.stderr, /acme-apps/);
    const direct = await managementApi(f.url)('GET', `/v2/${REG}/app/manifests/v1`, undefined, puller.auth);
    assert.equal(direct.status, 403);
    assert.equal(direct.body.errors[0].code, 'DENIED');
    assert.match(direct.body.errors[0].message, /has no signature/);

    // A plain pusher may not push signatures once the registry has a trust policy.
    const byPusher = await berthAs(pusher.user, ['sign', '-n', REG, '--key', good.key, '--cert', good.chain, 'app:v1']);
    assert.equal(byPusher.code, 1, byPusher.stderr);
    assert.match(byPusher.stderr, /AcrImageSigner/);

    // Signed by a certificate from another root: still refused, and the reason says why.
    await berthJson(f.url, ['sign', '-n', REG, '--key', rogue.key, '--cert', rogue.chain, 'app:v1']);
    const stillRefused = await managementApi(f.url)('GET', `/v2/${REG}/app/manifests/v1`, undefined, puller.auth);
    assert.equal(stillRefused.status, 403);
    assert.match(stillRefused.body.errors[0].message, /trust|certificate/i);

    // An AcrImageSigner signs with the trusted certificate: now it pulls, byte for byte.
    const signer = await user('AcrImageSigner');
    const signed = await berthAs(signer.user, ['sign', '-n', REG, '--key', good.key, '--cert', good.chain, 'app:v1']);
    assert.equal(signed.code, 0, signed.stderr);
    const out = JSON.parse(signed.stdout) as { image: string; signature: string };
    assert.equal(out.image, `app@${image.digest}`);
    const info = JSON.parse((await mustRun('skopeo', skopeoAs(puller.authFile, ['inspect', docker]), { timeoutMs: 60_000 })).stdout) as {
      Digest: string;
    };
    assert.equal(info.Digest, image.digest);
    await mustRun('skopeo', skopeoAs(puller.authFile, ['copy', docker, `oci:${path.join(work, 'out')}:v1`]), { timeoutMs: 120_000 });

    // /acr/v1 says who signed and that it verified; the rogue signature shows as failed.
    const meta = await berthJson<{ signed: boolean; signature: { status: string; signers: string[]; signatures: { outcome: string }[] } }>(
      f.url,
      ['manifest', 'show-metadata', '-r', REG, '-n', `app@${image.digest}`],
    );
    assert.equal(meta.signed, true);
    assert.equal(meta.signature.status, 'verified');
    assert.equal(meta.signature.signers.length, 1);
    assert.match(meta.signature.signers[0]!, /CN=Acme Release Signer/);
    assert.deepEqual(meta.signature.signatures.map((s) => s.outcome).sort(), ['failed', 'verified']);

    // The trust store removed: refused again.
    await berthJson(f.url, ['trust-store', 'remove', '-n', REG, '--type', 'ca', '--name', 'acme', '--yes']);
    const again = await mustFail('skopeo', skopeoAs(puller.authFile, ['inspect', '--raw', docker]), { timeoutMs: 60_000 });
    assert.match(again.stderr, /denied/i);
  });

  const acme = () => path.join(work, 'acme-code-signing-root.pem');
});
