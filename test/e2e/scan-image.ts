import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { removeDir, tempDir } from '../helpers/berth-process.js';
import { buildGoBinary } from '../helpers/scan-fixtures.js';

// The image the scanning tests push (scan.test.ts, scan-quarantine.test.ts): a Debian-like base
// with a dpkg database, an npm package, a Python dist-info, a Go binary, and a later layer that
// purges a package. Matched against test/fixtures/scan/osv it has the golden findings
// (expected-findings.json), two of them high.

/** The test image, built once: an OCI archive buildah can push anywhere. */
let built: { dir: string; store: string[]; name: string } | undefined;

export function buildScanImage(): { dir: string; store: string[]; name: string } {
  if (built) return built;
  const dir = tempDir('scan-image');
  const ctx = path.join(dir, 'ctx');
  const w = (p: string, data: string | Buffer, mode?: number) => {
    mkdirSync(path.dirname(path.join(ctx, p)), { recursive: true });
    writeFileSync(path.join(ctx, p), data, { mode });
  };
  w('busybox', readFileSync(execFileSync('sh', ['-c', 'command -v busybox']).toString().trim()), 0o755);
  w(
    'rootfs/etc/os-release',
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n',
  );
  const pkg = (fields: Record<string, string>) =>
    Object.entries({ Status: 'install ok installed', Architecture: 'amd64', ...fields })
      .map(([k, v]) => `${k}: ${v}`)
      .join('\n');
  w(
    'rootfs/var/lib/dpkg/status',
    [
      pkg({ Package: 'libc6', Source: 'glibc', Version: '2.36-9+deb12u1' }),
      pkg({ Package: 'libssl3', Source: 'openssl', Version: '3.0.11-1~deb12u1' }),
      pkg({ Package: 'bsdutils', Source: 'util-linux (2.38.1-5)', Version: '1:2.38.1-5' }),
      pkg({ Package: 'e2fsprogs', Version: '1.46.5-2' }),
    ].join('\n\n') + '\n',
  );
  w('rootfs/usr/lib/node_modules/lodash/package.json', JSON.stringify({ name: 'lodash', version: '4.17.15', license: 'MIT' }));
  w('rootfs/usr/lib/node_modules/app/package.json', JSON.stringify({ name: 'app', version: '1.0.0' }));
  // A lockfile names minimist, which is not installed: it must not be reported (trivy#4948).
  w(
    'rootfs/usr/lib/node_modules/app/package-lock.json',
    JSON.stringify({ name: 'app', lockfileVersion: 3, packages: { 'node_modules/minimist': { version: '0.0.8' } } }),
  );
  w(
    'rootfs/usr/lib/python3/dist-packages/urllib3-1.26.4.dist-info/METADATA',
    'Metadata-Version: 2.1\nName: urllib3\nVersion: 1.26.4\nLicense: MIT\n',
  );
  w('rootfs/usr/local/bin/app', buildGoBinary(), 0o755);
  w(
    'Containerfile',
    [
      'FROM scratch',
      'COPY busybox /bin/busybox',
      'COPY rootfs/ /',
      // dpkg --purge e2fsprogs, as far as the database is concerned.
      `RUN ["/bin/busybox", "sh", "-c", "/bin/busybox sed -i '/^Package: e2fsprogs$/,/^$/d' /var/lib/dpkg/status"]`,
      '',
    ].join('\n'),
  );
  const store = ['--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'runroot'), '--storage-driver', 'vfs'];
  execFileSync(
    'buildah',
    [...store, 'bud', '--isolation', 'chroot', '--layers', '-t', 'berth-scan-e2e', '-f', path.join(ctx, 'Containerfile'), ctx],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  built = { dir, store, name: 'berth-scan-e2e' };
  return built;
}

/** Removes the image's build directory (call once, after the file's tests). */
export function removeScanImage(): void {
  if (built) removeDir(built.dir);
  built = undefined;
}
