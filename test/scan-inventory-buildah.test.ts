import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { inventoryImage, type LayerSource } from '../src/services/scan/inventory/index.js';
import { buildGoBinary, toolMissing } from './helpers/scan-fixtures.js';

// A real image: built by buildah (chroot isolation, vfs storage in a private root), written as an
// OCI layout, and inventoried from the layout's blobs exactly as stored. The RUN step deletes a
// directory (buildah writes a whiteout) and rewrites the dpkg database without one package.

const missing = toolMissing('buildah') ?? toolMissing('busybox') ?? toolMissing('go');

test('an image built by buildah: base layer, a COPY layer and a RUN that purges and deletes', { skip: missing }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-bud-'));
  try {
    const ctx = path.join(dir, 'ctx');
    const w = (p: string, data: string | Buffer, mode?: number) => {
      mkdirSync(path.dirname(path.join(ctx, p)), { recursive: true });
      writeFileSync(path.join(ctx, p), data, { mode });
    };
    copyFileSync(execFileSync('sh', ['-c', 'command -v busybox']).toString().trim(), path.join(dir, 'busybox'));
    w('busybox', readFileSync(path.join(dir, 'busybox')), 0o755);
    w('rootfs/etc/os-release', 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n');
    w(
      'rootfs/var/lib/dpkg/status',
      'Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u4\n\n' +
        'Package: e2fsprogs\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.47.0-2\n\n',
    );
    w('rootfs/usr/lib/node_modules/old/package.json', '{"name":"old","version":"1.0.0"}');
    w('rootfs/usr/lib/node_modules/kept/package.json', '{"name":"kept","version":"2.0.0"}');
    w('rootfs/usr/local/bin/app', buildGoBinary(), 0o755);
    w(
      'Containerfile',
      [
        'FROM scratch',
        'COPY busybox /bin/busybox',
        'COPY rootfs/ /',
        `RUN ["/bin/busybox", "sh", "-c", "/bin/busybox rm -rf /usr/lib/node_modules/old && /bin/busybox sed -i '/^Package: e2fsprogs$/,/^$/d' /var/lib/dpkg/status"]`,
        '',
      ].join('\n'),
    );
    const store = ['--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'runroot'), '--storage-driver', 'vfs'];
    execFileSync(
      'buildah',
      [...store, 'bud', '--isolation', 'chroot', '--layers', '-t', 'berth-scan-test', '-f', path.join(ctx, 'Containerfile'), ctx],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    const layout = path.join(dir, 'layout');
    execFileSync('buildah', [...store, 'push', 'berth-scan-test', `oci:${layout}:latest`], { stdio: ['ignore', 'ignore', 'pipe'] });

    const blob = (d: string) => path.join(layout, 'blobs', d.replace(':', '/'));
    const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8'));
    const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), 'utf8'));
    const layers: LayerSource[] = manifest.layers.map((l: { digest: string; mediaType: string }) => ({
      digest: l.digest,
      mediaType: l.mediaType,
      open: () => Promise.resolve(createReadStream(blob(l.digest))),
    }));
    assert.equal(layers.length, 3);
    const r = await inventoryImage(layers);
    const [, copied] = layers.map((l) => l.digest);
    assert.equal(r.os?.id, 'debian');
    assert.deepEqual(
      r.packages.map((p) => [p.ecosystem, p.name, p.version, p.path, p.layer === copied ? 'copy' : p.layer]),
      [
        ['Debian', 'libc6', '2.36-9+deb12u4', 'var/lib/dpkg/status', 'copy'],
        ['Go', 'example.com/dep', 'v1.2.3', 'usr/local/bin/app', 'copy'],
        ['Go', 'example.com/newer', 'v1.1.0', 'usr/local/bin/app', 'copy'],
        ['Go', 'stdlib', r.packages.find((p) => p.name === 'stdlib')?.version, 'usr/local/bin/app', 'copy'],
        ['npm', 'kept', '2.0.0', 'usr/lib/node_modules/kept/package.json', 'copy'],
      ],
    );
    assert.deepEqual(r.warnings, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
