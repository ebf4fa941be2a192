import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Command } from 'commander';
import { registerRepositoryCommands } from '../src/cli/commands/repository.js';
import type { ChangeableAttributes } from '../src/services/content/attributes.js';
import { ADMIN_PASSWORD, ADMIN_USER, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { withRegistry } from './helpers/with-image.js';
import { MT, uniqueRepo, type V2, type PushedImage } from './helpers/oci.js';

// The lock x operation matrix (container-registry-image-lock.md): writeEnabled=false blocks
// updates and deletes, deleteEnabled=false deletes only, readEnabled=false pulls, listEnabled=false
// listings. Tag and manifest attributes are separate. Denials are 403 DENIED naming the lock.

type Level = 'repository' | 'tag' | 'manifest';
type Attr = 'writeEnabled' | 'deleteEnabled' | 'readEnabled' | 'listEnabled';
type Op =
  'push-over' | 'push-new' | 'untag' | 'delete-manifest' | 'delete-repository' | 'pull-tag' | 'pull-digest' | 'list-tags' | 'catalog';

// Expected outcome: true = allowed (or visible), false = denied (or hidden).
const MATRIX: Record<Level, Partial<Record<Attr, Partial<Record<Op, boolean>>>>> = {
  repository: {
    writeEnabled: {
      'push-over': false,
      'push-new': false,
      untag: false,
      'delete-manifest': false,
      'delete-repository': false,
      'pull-tag': true,
      'list-tags': true,
      catalog: true,
    },
    deleteEnabled: {
      'push-over': true,
      'push-new': true,
      untag: false,
      'delete-manifest': false,
      'delete-repository': false,
      'pull-tag': true,
    },
    readEnabled: { 'pull-tag': false, 'pull-digest': false, 'push-new': true, catalog: true },
    listEnabled: { catalog: false, 'pull-tag': true, 'list-tags': true },
  },
  tag: {
    writeEnabled: {
      'push-over': false,
      'push-new': true,
      untag: false,
      'delete-manifest': false,
      'delete-repository': false,
      'pull-tag': true,
    },
    deleteEnabled: { 'push-over': true, untag: false, 'delete-manifest': false, 'delete-repository': false },
    readEnabled: { 'pull-tag': false, 'pull-digest': true },
    listEnabled: { 'list-tags': false, 'pull-tag': true },
  },
  manifest: {
    writeEnabled: { 'push-over': true, untag: true, 'delete-manifest': false, 'delete-repository': false, 'pull-digest': true },
    deleteEnabled: { 'delete-manifest': false, 'delete-repository': false, untag: true },
    readEnabled: { 'pull-digest': false, 'pull-tag': false },
    listEnabled: { 'pull-digest': true, 'list-tags': true },
  },
};

for (const backend of BACKENDS) {
  describe(`locks on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let v2: V2;
    let reg: string;

    before(async () => {
      ({ t, v2, reg } = await withRegistry(backend));
    });
    after(async () => {
      await t?.close();
    });

    async function setAttr(level: Level, repo: string, img: PushedImage, attr: Attr, value: boolean): Promise<void> {
      const path = level === 'repository' ? repo : level === 'tag' ? `${repo}/_tags/locked` : `${repo}/_manifests/${img.digest}`;
      const res = await v2.fetch(`/acr/v1/${reg}/${path}`, {
        method: 'PATCH',
        body: JSON.stringify({ [attr]: value }),
        headers: { 'Content-Type': 'application/json' },
      });
      assert.equal(res.status, 200, await res.text());
    }

    async function attempt(op: Op, name: string, repo: string, img: PushedImage, other: PushedImage): Promise<boolean> {
      const denied = async (res: Response, okStatus: number) => {
        const text = await res.text();
        if (res.status === okStatus) return true;
        assert.equal(res.status, 403, `${op}: ${res.status} ${text}`);
        const e = JSON.parse(text).errors[0];
        assert.equal(e.code, 'DENIED');
        assert.match(e.message, /is locked: (writeEnabled|deleteEnabled|readEnabled) is false/);
        return false;
      };
      switch (op) {
        case 'push-over':
          return denied(await v2.putManifest(name, 'locked', other.bytes, MT.ociManifest), 201);
        case 'push-new':
          return denied(await v2.putManifest(name, 'fresh', other.bytes, MT.ociManifest), 201);
        case 'untag':
          return denied(await v2.fetch(`${name}/manifests/locked`, { method: 'DELETE' }), 202);
        case 'delete-manifest':
          return denied(await v2.fetch(`${name}/manifests/${img.digest}`, { method: 'DELETE' }), 202);
        case 'delete-repository':
          return denied(await v2.fetch(`/acr/v1/${reg}/${repo}`, { method: 'DELETE' }), 202);
        case 'pull-tag':
          return denied(await v2.fetch(`${name}/manifests/locked`, { headers: { Accept: MT.ociManifest } }), 200);
        case 'pull-digest':
          return denied(await v2.fetch(`${name}/manifests/${img.digest}`, { headers: { Accept: MT.ociManifest } }), 200);
        case 'list-tags': {
          const tags = (await (await v2.fetch(`${name}/tags/list`)).json()) as { tags: string[] };
          const acr = (await (await v2.fetch(`/acr/v1/${reg}/${repo}/_tags`)).json()) as { tags: { name: string }[] };
          assert.equal(
            tags.tags.includes('locked'),
            acr.tags.some((x) => x.name === 'locked'),
          );
          return tags.tags.includes('locked');
        }
        case 'catalog': {
          const v2cat = (await (await v2.fetch(`${reg}/_catalog?n=1000`)).json()) as { repositories: string[] };
          const acrcat = (await (await v2.fetch(`/acr/v1/${reg}/_catalog?n=1000`)).json()) as { repositories: string[] };
          assert.equal(v2cat.repositories.includes(`${reg}/${repo}`), acrcat.repositories.includes(`${reg}/${repo}`));
          return v2cat.repositories.includes(`${reg}/${repo}`);
        }
      }
    }

    for (const [level, attrs] of Object.entries(MATRIX) as [Level, Partial<Record<Attr, Partial<Record<Op, boolean>>>>][]) {
      for (const [attr, ops] of Object.entries(attrs) as [Attr, Partial<Record<Op, boolean>>][]) {
        for (const [op, allowed] of Object.entries(ops) as [Op, boolean][]) {
          test(`${level} ${attr}=false: ${op} is ${allowed ? 'allowed' : 'denied'}`, async () => {
            const repo = uniqueRepo('lock');
            const name = `${reg}/${repo}`;
            const img = await v2.pushImage(name, 'locked');
            const other = await v2.pushImage(name, 'other');
            await setAttr(level, repo, img, attr, false);
            assert.equal(await attempt(op, name, repo, img, other), allowed);
            // Unlocking restores the operation.
            await setAttr(level, repo, img, attr, true);
            if (!allowed) assert.equal(await attempt(op, name, repo, img, other), true, `${op} after unlocking`);
          });
        }
      }
    }

    /** What `berth repository show|update -o json` prints for a repository, an image's tag or its manifest. */
    interface Attributed {
      changeableAttributes: ChangeableAttributes;
    }

    /** Runs a berth repository command in this process; returns its JSON output, of the shape T the caller expects. */
    async function cli<T>(args: string[]): Promise<T> {
      const program = new Command('berth').exitOverride();
      registerRepositoryCommands(program);
      let out = '';
      // eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be restored as is, and called only with .call(process.stdout)
      const write = process.stdout.write;
      process.stdout.write = (chunk: unknown, ...rest: unknown[]) => {
        if (typeof chunk === 'string') {
          out += chunk;
          return true;
        }
        return (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
      };
      try {
        await program.parseAsync([...args, '--server', t.url, '-u', ADMIN_USER, '-p', ADMIN_PASSWORD, '-o', 'json'], { from: 'user' });
      } finally {
        process.stdout.write = write;
      }
      return JSON.parse(out) as T;
    }

    test('berth repository update --image R:T --write-enabled false locks the tag; show --image shows it; --repository locks the repository', async () => {
      const repo = uniqueRepo('clilock');
      const img = await v2.pushImage(`${reg}/${repo}`, 'v1');
      const other = await v2.pushImage(`${reg}/${repo}`, 'other');
      const upd = await cli<{ tag: Attributed }>(['repository', 'update', '-n', reg, '--image', `${repo}:v1`, '--write-enabled', 'false']);
      assert.equal(upd.tag.changeableAttributes.writeEnabled, false);
      const shown = await cli<{ tag: Attributed & { digest: string } }>(['repository', 'show', '-n', reg, '--image', `${repo}:v1`]);
      assert.equal(shown.tag.digest, img.digest);
      assert.equal(shown.tag.changeableAttributes.writeEnabled, false);
      const res = await v2.putManifest(`${reg}/${repo}`, 'v1', other.bytes, MT.ociManifest);
      assert.equal(res.status, 403);
      assert.match(await res.text(), /tag v1 is locked: writeEnabled is false/);
      const m = await cli<{ manifest: Attributed }>([
        'repository',
        'update',
        '-n',
        reg,
        '--image',
        `${repo}@${img.digest}`,
        '--delete-enabled',
        'false',
        '--read-enabled',
        'false',
      ]);
      assert.equal(m.manifest.changeableAttributes.deleteEnabled, false);
      assert.equal(m.manifest.changeableAttributes.readEnabled, false);
      const r = await cli<Attributed>(['repository', 'update', '-n', reg, '--repository', repo, '--list-enabled', 'false']);
      assert.equal(r.changeableAttributes.listEnabled, false);
      assert.equal(
        (await cli<Attributed>(['repository', 'show', '-n', reg, '--repository', repo])).changeableAttributes.listEnabled,
        false,
      );
    });

    test('pushing the same manifest to a write-locked tag is a no-op, not a denial', async () => {
      const repo = uniqueRepo('lock');
      const img = await v2.pushImage(`${reg}/${repo}`, 'locked');
      await setAttr('tag', repo, img, 'writeEnabled', false);
      assert.equal((await v2.putManifest(`${reg}/${repo}`, 'locked', img.bytes, MT.ociManifest)).status, 201);
    });
  });
}
