import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { packContext } from '../../src/cli/tasks/context-archive.js';
import { extractTarball } from '../../src/services/tasks/safe-extract.js';
import { removeDir, tempDir } from '../helpers/berth-process.js';

// The CLI's side of an uploaded context: a local folder packed as a gzipped tar with .dockerignore
// honoured, the Dockerfile and .dockerignore always in, symlinks kept as symlinks; and the server's
// safe extractor unpacks what the CLI packs.

const work = tempDir('context-archive');
after(() => removeDir(work));

type Listed = { name: string; type: string; size: number; linkname?: string; mode: number };

async function list(tarGz: Readable): Promise<Listed[]> {
  const ex = tar.extract();
  const out: Listed[] = [];
  const gunzip = tarGz.pipe(createGunzip());
  gunzip.pipe(ex);
  for await (const e of ex) {
    const h = e.header;
    const l: Listed = { name: h.name, type: h.type, size: h.size, mode: h.mode };
    if (h.type === 'symlink') l.linkname = h.linkname;
    out.push(l);
    e.resume();
  }
  return out;
}

function folder(name: string, files: Record<string, string | { symlink: string }>): string {
  const dir = path.join(work, name);
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(dir, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    if (typeof content === 'string') writeFileSync(p, content);
    else symlinkSync(content.symlink, p);
  }
  return dir;
}

describe('packing a local folder as a build context', () => {
  test('.dockerignore is honoured; the Dockerfile and .dockerignore are sent even when ignored; symlinks stay symlinks', async () => {
    const dir = folder('app', {
      '.dockerignore': '# what stays home\n.git\nnode_modules\n*.log\n!keep.log\n**/*.tmp\nDockerfile\n.dockerignore\nsecrets/\n/outside\n',
      Dockerfile: 'FROM scratch\nCOPY . /\n',
      'app.js': 'console.log(1)\n',
      'debug.log': 'x',
      'keep.log': 'kept',
      '.git/HEAD': 'ref: refs/heads/main\n',
      'node_modules/x/index.js': '',
      'src/a.ts': 'a',
      'src/b.tmp': 'b',
      'src/deep/c.tmp': 'c',
      'secrets/key': 'k',
      current: { symlink: 'src/a.ts' },
      outside: { symlink: '../../etc/passwd' },
    });
    const p = await packContext(dir, { maxBytes: 1024 * 1024 });
    const entries = await list(p.tarGz);
    assert.deepEqual(
      entries.map((e) => `${e.type} ${e.name}${e.linkname ? ` -> ${e.linkname}` : ''}`),
      [
        'file .dockerignore',
        'file Dockerfile',
        'file app.js',
        'symlink current -> src/a.ts',
        'file keep.log',
        'directory src',
        'file src/a.ts',
        'directory src/deep',
      ],
    );
    assert.equal(p.files, entries.length);
    assert.equal(
      p.bytes,
      entries.reduce((n, e) => n + e.size, 0),
    );
    assert.equal(entries.find((e) => e.name === 'keep.log')?.size, 4);
  });

  test('a symlink leading out of the folder is refused (the registry would), unless .dockerignore leaves it out', async () => {
    const dir = folder('escaping', { Dockerfile: 'FROM scratch\n', 'sub/up': { symlink: '../..' } });
    await assert.rejects(packContext(dir, { maxBytes: 1024 }), /sub\/up is a symlink to \.\.\/\.\., outside the folder/);
    const abs = folder('absolute', { Dockerfile: 'FROM scratch\n', etc: { symlink: '/etc' } });
    await assert.rejects(packContext(abs, { maxBytes: 1024 }), /etc is a symlink to \/etc, outside the folder/);
    writeFileSync(path.join(abs, '.dockerignore'), 'etc\n');
    const names = (await list((await packContext(abs, { maxBytes: 1024 })).tarGz)).map((e) => e.name);
    assert.deepEqual(names, ['.dockerignore', 'Dockerfile']);
  });

  test('a Dockerfile elsewhere in the folder (-f) is sent although its folder is ignored', async () => {
    const dir = folder('nested', {
      '.dockerignore': 'build\n',
      'build/Dockerfile.prod': 'FROM scratch\n',
      'build/other': 'x',
      'main.c': '',
    });
    const names = (await list((await packContext(dir, { dockerfile: 'build/Dockerfile.prod', maxBytes: 1024 })).tarGz)).map((e) => e.name);
    assert.deepEqual(names, ['.dockerignore', 'build/Dockerfile.prod', 'main.c']);
  });

  test('a folder over the limit is refused before anything is sent', async () => {
    const dir = folder('big', {
      Dockerfile: 'FROM scratch\n',
      'big.bin': 'x'.repeat(4096),
      'ignored.bin': 'y'.repeat(100_000),
      '.dockerignore': 'ignored.bin',
    });
    await assert.rejects(packContext(dir, { maxBytes: 4000 }), /holds more than .* the most a build context may be/);
    // What .dockerignore leaves out does not count.
    const p = await packContext(dir, { maxBytes: 5000 });
    p.tarGz.resume();
    assert.equal(p.bytes, 'FROM scratch\n'.length + 4096 + 'ignored.bin'.length); // Dockerfile, big.bin, .dockerignore
  });

  test('not a folder is a usage error', async () => {
    await assert.rejects(packContext(path.join(work, 'nope'), { maxBytes: 1 }), /is not a folder/);
  });

  test("the server's safe extractor unpacks what the CLI packs (modes kept to 0755/0644, links inside kept)", async () => {
    const dir = folder('roundtrip', { Dockerfile: 'FROM scratch\n', 'bin/run.sh': '#!/bin/sh\n', link: { symlink: 'bin/run.sh' } });
    chmodSync(path.join(dir, 'bin/run.sh'), 0o750);
    const out = path.join(work, 'roundtrip-out');
    mkdirSync(out);
    const p = await packContext(dir, { maxBytes: 1024 });
    const r = await extractTarball(p.tarGz, out, { maxBytes: 1024, maxFiles: 10 });
    assert.deepEqual(r, { files: p.files, bytes: p.bytes });
    assert.equal(readFileSync(path.join(out, 'link'), 'utf8'), '#!/bin/sh\n');
    assert.equal(statSync(path.join(out, 'bin/run.sh')).mode & 0o7777, 0o755);
    assert.equal(statSync(path.join(out, 'Dockerfile')).mode & 0o7777, 0o644);
  });
});
