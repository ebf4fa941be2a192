import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { strToU8, zipSync } from 'fflate';
import { gzLayer, layerOf, tarOf, type TarFile, type TestLayer } from '../../../../test/helpers/layers.js';
import { buildGoBinary, makeRpmdb, toolMissing } from '../../../../test/helpers/scan-fixtures.js';
import { isTransient } from '../../../domain/errors.js';
import { StorageNotFoundError, StorageUnavailableError } from '../../../storage/driver.js';
import { InventoryError, type InventoryResult, inventoryImage } from './index.js';

const OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n';
const dpkg = (...stanzas: string[]) => stanzas.join('\n');
const deb = (name: string, version: string, extra = '', status = 'install ok installed') =>
  `Package: ${name}\nStatus: ${status}\nArchitecture: amd64\nVersion: ${version}\n${extra}`;

/** A zstd frame made of raw blocks (RFC 8878 §3.1.1.2): valid zstd without needing a compressor. */
function zstdRaw(data: Buffer, windowLog = 17): Buffer {
  const parts: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (windowLog - 10) << 3])];
  const max = 1 << 17;
  for (let at = 0; at < data.length || at === 0; at += max) {
    const block = data.subarray(at, at + max);
    const last = at + max >= data.length ? 1 : 0;
    const h = (block.length << 3) | last; // type 0 = raw
    parts.push(Buffer.from([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff]), block);
    if (last) break;
  }
  return Buffer.concat(parts);
}

function jar(files: Record<string, string | Uint8Array>): Uint8Array {
  const input: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(files)) input[k] = typeof v === 'string' ? strToU8(v) : v;
  return zipSync(input);
}
const pom = (g: string, a: string, v: string) => `groupId=${g}\nartifactId=${a}\nversion=${v}\n`;

function pkgs(r: InventoryResult) {
  return r.packages.map((p) => `${p.ecosystem} ${p.name}@${p.version} ${p.path} L${p.layer}`);
}

async function expectError(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof InventoryError, `an InventoryError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}

test('a three-layer Debian image: whiteouts, opaque dirs, a purge, status.d, language packages, no lockfiles', async (t) => {
  const goMissing = toolMissing('go');
  const rpmMissing = toolMissing('rpmbuild') ?? toolMissing('rpm');
  if (goMissing || rpmMissing) return t.skip(goMissing ?? rpmMissing);
  const goBin = buildGoBinary();
  const rpmdb = makeRpmdb([{ name: 'tiny-tool', version: '1.4.2', release: '3.el9', epoch: 2 }]);
  const appJar = jar({
    'META-INF/maven/com.example/app/pom.properties': pom('com.example', 'app', '1.0.0'),
    'BOOT-INF/lib/log4j-core-2.14.1.jar': jar({
      'META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties': pom('org.apache.logging.log4j', 'log4j-core', '2.14.1'),
    }),
  });
  const base = await gzLayer([
    { name: './usr/lib/os-release', data: OS_RELEASE },
    { name: './etc/os-release', type: 'symlink', linkname: '../usr/lib/os-release' },
    {
      name: './var/lib/dpkg/status',
      data: dpkg(
        deb('libc6', '2.36-9+deb12u4', 'Source: glibc\n'),
        deb('e2fsprogs', '1.47.0-2'),
        deb('libcom-err2', '1.47.0-2+b2', 'Source: e2fsprogs\n'),
        deb('bsdutils', '1:2.38.1-5+deb12u3', 'Source: util-linux (2.38.1-5+deb12u3)\n'),
      ),
    },
    { name: './opt/old/node_modules/left-pad/package.json', data: '{"name":"left-pad","version":"1.1.3"}' },
    { name: './srv/gone/lib/gone.jar', data: Buffer.from(jar({ 'META-INF/maven/g/gone/pom.properties': pom('g', 'gone', '1') })) },
  ]);
  const app = layerOf(
    await tarOf([
      {
        name: 'var/lib/dpkg/status',
        data: dpkg(
          deb('libc6', '2.36-9+deb12u4', 'Source: glibc\n'),
          deb('e2fsprogs', '1.47.0-2', '', 'deinstall ok config-files'),
          deb('libcom-err2', '1.47.0-2+b2', 'Source: e2fsprogs\n'),
          deb('bsdutils', '1:2.38.1-5+deb12u3', 'Source: util-linux (2.38.1-5+deb12u3)\n'),
          deb('curl', '7.88.1-10+deb12u5'),
        ),
      },
      // A bare `.wh.` is an ordinary file: it must not wipe var/lib/dpkg (anchore/stereoscope#647).
      { name: 'var/lib/dpkg/.wh.', data: '' },
      { name: 'var/lib/dpkg/status.d/tzdata', data: 'Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n' },
      { name: 'var/lib/dpkg/status.d/tzdata.md5sums', data: 'abc  usr/share/zoneinfo/UTC\n' },
      { name: 'srv/.wh.gone', data: '' },
      { name: 'app/package.json', data: '{"name":"my-app","version":"0.0.1"}' },
      {
        name: 'app/package-lock.json',
        data: '{"name":"my-app","lockfileVersion":3,"packages":{"node_modules/ghost":{"version":"6.6.6"}}}',
      },
      { name: 'app/node_modules/.package-lock.json', data: '{"name":"ghost","version":"6.6.6"}' },
      { name: 'app/node_modules/lodash/package.json', data: '{"name":"lodash","version":"4.17.15","license":"MIT"}' },
      // trivy#4948: a lockfile inside an installed package is not an installed package.
      { name: 'app/node_modules/lodash/package-lock.json', data: '{"name":"ghost2","version":"6.6.6"}' },
      { name: 'app/node_modules/@babel/core/package.json', data: '{"name":"@babel/core","version":"7.23.0"}' },
      { name: 'app/node_modules/@babel/core/test/fixtures/package.json', data: '{"name":"fixture","version":"0.0.0"}' },
      { name: 'app/node_modules/nameless/package.json', data: '{"version":"1.0.0"}' },
      {
        name: 'usr/lib/python3/dist-packages/urllib3-1.26.4.dist-info/METADATA',
        data: 'Metadata-Version: 2.1\nName: urllib3\nVersion: 1.26.4\nLicense: MIT\n',
      },
      { name: 'usr/lib/python3/dist-packages/PyYAML.egg-info/PKG-INFO', data: 'Metadata-Version: 1.1\nName: PyYAML\nVersion: 5.3.1\n' },
      { name: 'app/app.jar', data: Buffer.from(appJar) },
      { name: 'usr/local/bin/app', data: goBin, mode: 0o755 },
      { name: 'usr/local/bin/app-link', type: 'link', linkname: 'usr/local/bin/app' },
      { name: 'usr/bin/not-go', data: Buffer.concat([Buffer.from('\x7fELF'), randomBytes(5000)]), mode: 0o755 },
    ]),
    'application/vnd.oci.image.layer.v1.tar',
  );
  const top = layerOf(
    zstdRaw(
      await tarOf([
        { name: 'opt/old/.wh..wh..opq', data: '' },
        { name: 'opt/old/node_modules/right-pad/package.json', data: '{"name":"right-pad","version":"1.0.1"}' },
        { name: 'var/lib/rpm/rpmdb.sqlite', data: rpmdb['rpmdb.sqlite']! },
      ]),
    ),
    'application/vnd.oci.image.layer.v1.tar+zstd',
  );
  const r = await inventoryImage([base, app, top]);
  const [B, A, T] = [base.digest, app.digest, top.digest];
  assert.deepEqual(r.os, { id: 'debian', versionId: '12', versionCodename: 'bookworm', prettyName: 'Debian GNU/Linux 12 (bookworm)' });
  assert.deepEqual(pkgs(r), [
    `Debian bsdutils@1:2.38.1-5+deb12u3 var/lib/dpkg/status L${B}`,
    `Debian curl@7.88.1-10+deb12u5 var/lib/dpkg/status L${A}`,
    `Debian libc6@2.36-9+deb12u4 var/lib/dpkg/status L${B}`,
    `Debian libcom-err2@1.47.0-2+b2 var/lib/dpkg/status L${B}`,
    `Debian tzdata@2024a-0+deb12u1 var/lib/dpkg/status.d/tzdata L${A}`,
    `Go example.com/dep@v1.2.3 usr/local/bin/app L${A}`,
    `Go example.com/dep@v1.2.3 usr/local/bin/app-link L${A}`,
    `Go example.com/newer@v1.1.0 usr/local/bin/app L${A}`,
    `Go example.com/newer@v1.1.0 usr/local/bin/app-link L${A}`,
    `Go stdlib@${r.packages.find((p) => p.name === 'stdlib')!.version} usr/local/bin/app L${A}`,
    `Go stdlib@${r.packages.find((p) => p.name === 'stdlib')!.version} usr/local/bin/app-link L${A}`,
    `Maven com.example:app@1.0.0 app/app.jar L${A}`,
    `Maven org.apache.logging.log4j:log4j-core@2.14.1 app/app.jar!/BOOT-INF/lib/log4j-core-2.14.1.jar L${A}`,
    `PyPI pyyaml@5.3.1 usr/lib/python3/dist-packages/PyYAML.egg-info/PKG-INFO L${A}`,
    `PyPI urllib3@1.26.4 usr/lib/python3/dist-packages/urllib3-1.26.4.dist-info/METADATA L${A}`,
    `Red Hat tiny-tool@2:1.4.2-3.el9 var/lib/rpm/rpmdb.sqlite L${T}`,
    `npm @babel/core@7.23.0 app/node_modules/@babel/core/package.json L${A}`,
    `npm lodash@4.17.15 app/node_modules/lodash/package.json L${A}`,
    `npm right-pad@1.0.1 opt/old/node_modules/right-pad/package.json L${T}`,
  ]);
  const get = (name: string) => r.packages.find((p) => p.name === name)!;
  assert.deepEqual(get('libcom-err2').source, { name: 'e2fsprogs', version: '1.47.0-2' });
  assert.equal(get('libc6').purl, 'pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=debian-12');
  assert.equal(get('org.apache.logging.log4j:log4j-core').purl, 'pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1');
  assert.equal(get('example.com/dep').purl, 'pkg:golang/example.com/dep@v1.2.3');
  assert.equal(get('@babel/core').purl, 'pkg:npm/%40babel/core@7.23.0');
  assert.equal(get('tiny-tool').purl, 'pkg:rpm/debian/tiny-tool@1.4.2-3.el9?arch=noarch&distro=debian-12&epoch=2');
  assert.deepEqual(r.warnings, []);
  assert.deepEqual(
    r.layers.map((l) => l.digest),
    [B, A, T],
  );
});

test('a package purged and later reinstalled belongs to the layer that reinstalled it', async () => {
  const status = (...s: string[]) => ({ name: 'var/lib/dpkg/status', data: dpkg(...s) });
  const l1 = await gzLayer([status(deb('a', '1'), deb('b', '1'))]);
  const l2 = await gzLayer([status(deb('a', '1'))]);
  const l3 = await gzLayer([status(deb('a', '1'), deb('b', '1'))]);
  const l4 = await gzLayer([status(deb('a', '2'), deb('b', '1'))]);
  const r = await inventoryImage([l1, l2, l3, l4]);
  assert.deepEqual(pkgs(r), [`Debian a@2 var/lib/dpkg/status L${l4.digest}`, `Debian b@1 var/lib/dpkg/status L${l3.digest}`]);
});

test('Alpine from a zstd layer; a file replacing a directory hides what was under it', async () => {
  const l1 = layerOf(
    zstdRaw(
      await tarOf([
        { name: 'etc/os-release', data: 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\n' },
        {
          name: 'lib/apk/db/installed',
          data: 'P:musl\nV:1.2.4_git20230717-r4\nA:x86_64\no:musl\nL:MIT\n\nP:libcrypto3\nV:3.1.4-r5\nA:x86_64\no:openssl\n',
        },
        { name: 'usr/lib/node_modules/npm/package.json', data: '{"name":"npm","version":"10.2.3"}' },
        { name: 'usr/lib/node_modules/x/package.json', data: '{"name":"x","version":"1.0.0"}' },
      ]),
    ),
    'application/vnd.oci.image.layer.v1.tar+zstd',
  );
  const l2 = await gzLayer([{ name: 'usr/lib/node_modules/x', data: 'now a file' }]);
  const r = await inventoryImage([l1, l2]);
  assert.deepEqual(
    r.packages.map((p) => [p.ecosystem, p.name, p.version, p.source?.name, p.purl]),
    [
      ['Alpine', 'libcrypto3', '3.1.4-r5', 'openssl', 'pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1'],
      ['Alpine', 'musl', '1.2.4_git20230717-r4', 'musl', 'pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1'],
      ['npm', 'npm', '10.2.3', undefined, 'pkg:npm/npm@10.2.3'],
    ],
  );
});

test('a real zstd stream (two frames with checksums, compressed blocks) and the window guard on every frame', async () => {
  // testdata: a tar of os-release and a 2000-package dpkg status, split in two and compressed by `zstd -3`, frames concatenated.
  const zst = readFileSync(new URL('./testdata/dpkg-2000-two-frames.tar.zst', import.meta.url));
  const r = await inventoryImage([layerOf(zst, 'application/vnd.oci.image.layer.v1.tar+zstd')]);
  assert.equal(r.packages.length, 2000);
  assert.equal(r.packages.find((p) => p.name === 'pkg-1999')?.version, '1.1999-4');
  // A third frame asking for a 1 GiB window is refused before it is decoded.
  const wide = Buffer.concat([zst, Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (30 - 10) << 3]), Buffer.alloc(64)]);
  await expectError(
    inventoryImage([layerOf(wide)]),
    'unreadable-layer',
    /zstd-compressed with a 1073741824-byte window, more than the 134217728 allowed/,
  );
});

test('budgets: each limit fails the scan with a message naming the layer and the limit', async () => {
  const many: TarFile[] = Array.from({ length: 30 }, (_, i) => ({ name: `f${i}`, data: 'x' }));
  const l = await gzLayer(many);
  await expectError(
    inventoryImage([l], { maxEntriesPerLayer: 10 }),
    'too-many-entries',
    new RegExp(`layer ${l.digest} has more than 10 entries`),
  );

  const long = await gzLayer([{ name: `${'d/'.repeat(100)}${'x'.repeat(300)}`, data: 'x' }]);
  await expectError(inventoryImage([long], { maxPathLength: 256 }), 'path-too-long', /longer than 256 characters/);
  await expectError(inventoryImage([long], { maxPathDepth: 50 }), 'path-too-long', /deeper than 50 directories/);

  // 64 MiB of zeros gzip to ~64 KiB: a bomb for a 8 MiB limit.
  const bomb = layerOf(gzipSync(await tarOf([{ name: 'zeros', data: Buffer.alloc(64 << 20) }]), { level: 1 }));
  assert.ok(bomb.bytes.length < 1 << 20);
  await expectError(inventoryImage([bomb], { maxLayerBytes: 8 << 20 }), 'layer-too-large', /unpacks to more than 8388608 bytes/);

  const big = await gzLayer([{ name: 'var/lib/dpkg/status', data: deb('a', '1').repeat(100) }]);
  await expectError(inventoryImage([big], { maxMetadataFileBytes: 1000 }), 'file-too-large', /package database var\/lib\/dpkg\/status/);
  await expectError(inventoryImage([big], { maxRetainedBytes: 1000 }), 'too-much-retained', /more than 1000 bytes/);
  const two = await gzLayer([{ name: 'var/lib/dpkg/status', data: dpkg(deb('a', '1'), deb('b', '1'), deb('c', '1')) }]);
  await expectError(inventoryImage([two], { maxPackages: 2 }), 'too-many-packages', /more than 2 packages/);

  const wide = layerOf(
    Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (30 - 10) << 3]), Buffer.alloc(32)]),
    'application/vnd.oci.image.layer.v1.tar+zstd',
  );
  await expectError(inventoryImage([wide]), 'unreadable-layer', /zstd-compressed with a 1073741824-byte window/);

  // A big jar is skipped with a warning; the rest of the image is still read.
  const jarLayer = await gzLayer([
    { name: 'big.jar', data: Buffer.alloc(5000) },
    { name: 'var/lib/dpkg/status', data: deb('a', '1') },
  ]);
  const r = await inventoryImage([jarLayer], { maxArchiveBytes: 1000 });
  assert.equal(r.packages.length, 1);
  assert.match(r.warnings[0]!, /skipped big\.jar in layer sha256:[0-9a-f]{64} is 5000 bytes/);
});

test('broken layers, stalled sources and cancellation end in a clear error', async () => {
  const good = await tarOf([{ name: 'var/lib/dpkg/status', data: deb('a', '1') }]);
  const gz = gzipSync(good);
  const cases: [TestLayer, RegExp][] = [
    [
      layerOf(randomBytes(3000), 'application/vnd.oci.image.layer.v1.tar'),
      /could not be read as a tar archive: a tar header is damaged, or the data is not a tar archive$/,
    ],
    [layerOf(gz.subarray(0, gz.length - 30)), /could not be read as a tar archive: the gzip data ends early: the blob is truncated/],
    [layerOf(Buffer.from('BZh91AY&SY')), /bzip2/],
    [layerOf(Buffer.from('not gzip')), /declared .*gzip but is neither/],
    // Random bytes of any size under a tar+gzip label: the 512-byte header check tells them from a mislabelled tar.
    [layerOf(randomBytes(100_000)), /declared application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip but is neither compressed nor a tar$/],
    [
      layerOf(good.subarray(0, 700), 'application/vnd.oci.image.layer.v1.tar'),
      /could not be read as a tar archive: the archive ends in the middle of an entry: the blob is truncated$/,
    ],
  ];
  for (const [layer, message] of cases) await expectError(inventoryImage([layer]), 'unreadable-layer', message);

  const failing: TestLayer = {
    ...layerOf(gz),
    open: () => {
      const s = new PassThrough();
      s.write(gz.subarray(0, 20));
      setTimeout(() => s.destroy(new Error('connection reset by peer')), 10);
      return Promise.resolve(s);
    },
  };
  await expectError(inventoryImage([failing]), 'unreadable-layer', /could not be read as a tar archive: connection reset by peer/);
  const unopenable: TestLayer = { ...layerOf(gz), open: () => Promise.reject(new Error('blob unknown')) };
  await expectError(inventoryImage([unopenable]), 'unreadable-layer', /layer sha256:[0-9a-f]{64} could not be opened: blob unknown/);
  const missing: TestLayer = { ...layerOf(gz), open: () => Promise.reject(new StorageNotFoundError('fs', 'blobs/x')) };
  await expectError(
    inventoryImage([missing]),
    'unreadable-layer',
    /layer sha256:[0-9a-f]{64} is missing from storage \(fs: not found: blobs\/x\)/,
  );
  // A storage outage stays recognisable underneath, so the scan job retries it rather than failing the image.
  const outage = new StorageUnavailableError('azure', 'timed out');
  const down: TestLayer = { ...layerOf(gz), open: () => Promise.reject(outage) };
  await assert.rejects(inventoryImage([down]), (e: unknown) => e instanceof InventoryError && isTransient(e) === 'storage');
  // A tar mislabelled as tar+gzip (some builders do) is still read.
  assert.equal((await inventoryImage([layerOf(good)])).packages.length, 1);

  const stalled: TestLayer = { ...layerOf(gz), open: () => Promise.resolve(new PassThrough()) };
  const t0 = Date.now();
  await expectError(inventoryImage([stalled], { maxDurationMs: 300 }), 'deadline', /took longer than 0.3 s/);
  assert.ok(Date.now() - t0 < 3000);

  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  await expectError(inventoryImage([stalled], {}, ac.signal), 'aborted', /cancelled/);
  // The caller's reason is the message (the scan job aborts at scan.timeoutSeconds with one).
  const timed = new AbortController();
  setTimeout(() => timed.abort(new Error('the scan of app@sha256:1 took longer than 1 s and was stopped')), 50);
  await expectError(
    inventoryImage([stalled], {}, timed.signal),
    'aborted',
    /^the scan of app@sha256:1 took longer than 1 s and was stopped$/,
  );

  // An empty layer (some builders emit them) is fine.
  const empty = await inventoryImage([
    layerOf(gzipSync(Buffer.alloc(0))),
    layerOf(Buffer.alloc(0), 'application/vnd.oci.image.layer.v1.tar'),
  ]);
  assert.deepEqual(empty.packages, []);
  // A source that yields strings and odd chunk sizes still reads.
  const odd: TestLayer = {
    ...layerOf(gz),
    open: () => Promise.resolve(Readable.from([gz.subarray(0, 1), gz.subarray(1, 3), gz.subarray(3)])),
  };
  assert.equal((await inventoryImage([odd])).packages.length, 1);
});

test('package databases with binary data or absurd fields fail the scan; such a language package is skipped', async () => {
  const status = 'var/lib/dpkg/status';
  const binary = await gzLayer([{ name: status, data: Buffer.concat([Buffer.from(deb('a', '1')), Buffer.from([0, 1, 2])]) }]);
  await expectError(
    inventoryImage([binary]),
    'bad-package-database',
    /^the package database var\/lib\/dpkg\/status in layer sha256:[0-9a-f]{64} is not a text file/,
  );
  const apk = await gzLayer([{ name: 'lib/apk/db/installed', data: `P:musl\nV:${'1'.repeat(2000)}\n\n` }]);
  await expectError(
    inventoryImage([apk]),
    'bad-package-database',
    /names a package whose version is 2000 characters long, more than the 1024 allowed$/,
  );
  const source = await gzLayer([{ name: status, data: deb('a', '1', `Source: ${'s'.repeat(300)}\n`) }]);
  await expectError(
    inventoryImage([source], { maxPackageFieldLength: 200 }),
    'bad-package-database',
    /whose source name is 300 characters long/,
  );
  // Many packages with long (but each allowed) fields: the inventory as a whole is bounded.
  const many = await gzLayer([{ name: status, data: Array.from({ length: 50 }, (_, i) => deb(`${'n'.repeat(900)}${i}`, '1')).join('\n') }]);
  await expectError(
    inventoryImage([many], { maxInventoryChars: 20_000 }),
    'inventory-too-large',
    /^the names, versions and paths of the image's 50 packages come to more than 20000 characters \(at layer sha256:[0-9a-f]{64}\)/,
  );
  assert.equal((await inventoryImage([many])).packages.length, 50);
  const npm = await gzLayer([
    { name: 'usr/lib/node_modules/big/package.json', data: JSON.stringify({ name: 'big', version: '1.0.0', license: 'x'.repeat(5000) }) },
    { name: 'usr/lib/node_modules/ok/package.json', data: JSON.stringify({ name: 'ok', version: '1.0.0' }) },
  ]);
  const r = await inventoryImage([npm]);
  assert.deepEqual(
    r.packages.map((p) => p.name),
    ['ok'],
  );
  assert.match(
    r.warnings[0]!,
    /^skipped a package in usr\/lib\/node_modules\/big\/package\.json in layer sha256:[0-9a-f]{64}: its license is 5000 characters long/,
  );
});
