import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildGoBinary, goVersion, toolMissing } from '../../../../../test/helpers/scan-fixtures.js';
import { GoBuildInfoScanner, goPackages } from './go-buildinfo.js';

function scan(bin: Buffer, chunk: (i: number) => number): GoBuildInfoScanner {
  const s = new GoBuildInfoScanner(1 << 20);
  for (let at = 0, i = 0; at < bin.length; i++) {
    const n = chunk(i);
    s.push(bin.subarray(at, at + n));
    at += n;
  }
  s.end();
  return s;
}

test('a binary built by go: toolchain, deps and a replaced module, however the stream is chunked', { skip: toolMissing('go') }, () => {
  const bin = buildGoBinary();
  const want = [
    { kind: 'golang', name: 'stdlib', version: `v${goVersion()}${goVersion().split('.').length === 2 ? '.0' : ''}` },
    // The main module is `(devel)` in a local build: no version to report.
    { kind: 'golang', name: 'example.com/dep', version: 'v1.2.3' },
    { kind: 'golang', name: 'example.com/newer', version: 'v1.1.0' },
  ];
  for (const chunk of [() => 65536, () => 7, (i: number) => 1 + ((i * 7919) % 5000)]) {
    const s = scan(bin, chunk);
    assert.ok(s.info, 'build info found');
    assert.deepEqual(goPackages(s.info), want);
  }
});

test('stray magic, truncated and pre-1.18 build info', () => {
  const magic = Buffer.from('\xff Go buildinf:', 'latin1');
  const inline = (v: string, mod: string) => {
    const head = Buffer.alloc(32);
    magic.copy(head);
    head[14] = 8;
    head[15] = 2;
    const str = (s: string) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]);
    return Buffer.concat([head, str(v), str(mod)]);
  };
  const sentinel = '0123456789abcdef';
  const mod = `${sentinel}path\tx\nmod\texample.com/m\tv0.3.0\th1:x\ndep\tgolang.org/x/net\tv0.7.0\th1:y\n=>\t../local\t\n${sentinel}`;
  const good = inline('go1.21.5', mod);
  // A stray copy of the magic (wrong pointer size) before the real one is skipped.
  const bin = Buffer.concat([Buffer.from('\x7fELF'), magic, Buffer.from([3, 0]), Buffer.alloc(100), good, Buffer.alloc(50)]);
  const s = scan(bin, () => 9);
  assert.deepEqual(goPackages(s.info!), [
    { kind: 'golang', name: 'stdlib', version: 'v1.21.5' },
    { kind: 'golang', name: 'example.com/m', version: 'v0.3.0' },
  ]);
  const old = Buffer.concat([magic, Buffer.from([8, 0]), Buffer.alloc(40)]);
  const o = scan(old, () => 1000);
  assert.equal(o.info, undefined);
  assert.equal(o.unreadable, true);
  const cut = scan(good.subarray(0, 40), () => 1000);
  assert.equal(cut.info, undefined);
});
