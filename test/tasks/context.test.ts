import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { ContextError, parseContext } from '../../src/domain/tasks/context.js';
import { materializeContext, type DiskContext, type MaterializeOptions } from '../../src/services/tasks/workspace-context.js';
import { removeDir, tempDir } from '../helpers/berth-process.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { requireTool } from '../e2e/helpers.js';

// Build contexts put on disk for a run: real git over smart HTTP (git http-backend), tarballs over
// HTTP and uploaded, and hostile tarballs: each is refused or neutralized, and nothing is ever
// written outside the target folder (its parent, the "workspace", is checked after each).

const tools = requireTool('git');
const MiB = 1024 * 1024;

type Entry = { name: string; type?: tar.Header['type']; body?: string | Buffer; size?: number; mode?: number; linkname?: string };

/** A tar archive built entry by entry, headers exactly as given (hostile ones too). */
async function makeTar(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const e of entries) {
    const body = e.body === undefined ? undefined : Buffer.from(e.body);
    const h: Partial<tar.Header> & { name: string } = { name: e.name, type: e.type ?? 'file', mode: e.mode ?? 0o644 };
    if (e.linkname !== undefined) h.linkname = e.linkname;
    h.size = body?.length ?? e.size ?? 0;
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (body) return void pack.entry(h, body, cb);
      const s = pack.entry(h, cb);
      // Zeros streamed in, so a large entry never sits in memory twice.
      const block = Buffer.alloc(64 * 1024);
      let left = e.size ?? 0;
      const more = () => {
        while (left > 0) {
          const n = Math.min(left, block.length);
          left -= n;
          if (!s.write(block.subarray(0, n))) return void s.once('drain', more);
        }
        s.end(undefined);
      };
      more();
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A context as a task holds it; none of these tests is an OCI one (the run engine pulls those). */
function disk(spec: string): DiskContext {
  const c = parseContext(spec);
  assert.notEqual(c.kind, 'oci');
  return c as DiskContext;
}

/** Every path below a folder (relative, sorted), symlinks not followed. */
function tree(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    out.push(prefix + name);
    const p = path.join(dir, name);
    if (lstatSync(p).isDirectory()) out.push(...tree(p, `${prefix}${name}/`));
  }
  return out.sort();
}

describe('build contexts on disk', tools, () => {
  let git: GitServer;
  let privateGit: GitServer;
  const work = tempDir('contexts');
  let n = 0;
  let files: http.Server;
  let filesUrl = '';
  const served = new Map<string, Buffer>();
  const TOKEN = 'ghp_TestTokenValue1234567890';
  let main = { commit: '' };
  let first = { commit: '' };

  before(async () => {
    git = await startGitServer();
    privateGit = await startGitServer({ authToken: TOKEN });
    first = await git.createRepo('app', {
      Dockerfile: 'FROM scratch\n',
      'web/Dockerfile': 'FROM scratch\nCOPY index.html /\n',
      'web/index.html': '<h1>v1</h1>\n',
      'escape/Dockerfile': 'FROM scratch\n',
      up: { symlink: '..' },
      etc: { symlink: '/etc' },
    });
    main = await git.push('app', { 'web/index.html': '<h1>v2</h1>\n' }, 'second commit');
    await git.tag('app', 'v2');
    await git.push('app', { 'web/index.html': '<h1>feature</h1>\n' }, 'on a branch', { branch: 'feature/x' });
    await privateGit.createRepo('secret', { Dockerfile: 'FROM scratch\n', 'private.txt': 'only with the token\n' });
    files = http.createServer((req, res) => {
      if (req.url === '/slow.tar') return void res.writeHead(200).write(Buffer.alloc(512)); // and never ends
      const body = served.get(req.url ?? '');
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' }).end(body);
    });
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
    filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  });
  after(async () => {
    await git?.close();
    await privateGit?.close();
    files?.closeAllConnections();
    files?.close();
    removeDir(work);
  });

  /** A fresh workspace with an empty context folder; lines collected. */
  function ws(extra: Partial<MaterializeOptions> = {}) {
    const workspace = path.join(work, `run-${++n}`);
    const dir = path.join(workspace, 'context');
    mkdirSync(dir, { recursive: true });
    const lines: string[] = [];
    const o: MaterializeOptions = {
      dir,
      maxBytes: 10 * MiB,
      maxFiles: 100,
      timeoutMs: 30_000,
      secrets: [],
      onLine: (l) => lines.push(l),
      ...extra,
    };
    return { workspace, dir, lines, o };
  }

  /** Nothing but the context folder in the workspace (git's HOME may hold nothing either). */
  function onlyContext(workspace: string) {
    assert.deepEqual(readdirSync(workspace), ['context']);
  }

  test('a branch is cloned shallow; HEAD commit and branch come back', async () => {
    const { dir, o } = ws();
    const r = await materializeContext(disk(`${git.url('app')}#main`), o);
    assert.equal(r.dir, dir);
    assert.equal(r.commit, main.commit);
    assert.equal(r.branch, 'main');
    assert.equal(readFileSync(path.join(dir, 'web/index.html'), 'utf8'), '<h1>v2</h1>\n');
    assert.equal(readFileSync(path.join(dir, '.git/shallow'), 'utf8').trim(), main.commit);
  });

  test('no ref: the default branch; another branch by name (with a slash)', async () => {
    const a = ws();
    const r = await materializeContext(disk(git.url('app')), a.o);
    assert.equal(r.branch, 'main');
    assert.equal(r.commit, main.commit);
    const b = ws();
    const f = await materializeContext(disk(`${git.url('app')}#feature/x`), b.o);
    assert.equal(f.branch, 'feature/x');
    assert.equal(readFileSync(path.join(b.dir, 'web/index.html'), 'utf8'), '<h1>feature</h1>\n');
  });

  test('a tag is cloned at its commit, on no branch', async () => {
    const { dir, o } = ws();
    const r = await materializeContext(disk(`${git.url('app')}#v2`), o);
    assert.equal(r.commit, main.commit);
    assert.equal(r.branch, undefined);
    assert.equal(readFileSync(path.join(dir, 'web/index.html'), 'utf8'), '<h1>v2</h1>\n');
  });

  test('a canceled run clones nothing', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(materializeContext(disk(git.url('app')), ws({ signal: ac.signal }).o), /clone of .* was canceled/);
  });

  test('a subfolder becomes the context root', async () => {
    const { dir, o } = ws();
    const r = await materializeContext(disk(`${git.url('app')}#main:web`), o);
    assert.equal(r.dir, path.join(dir, 'web'));
    assert.ok(existsSync(path.join(r.dir, 'index.html')));
  });

  test('a commit id in the ref, and a commit option (a source trigger), check out exactly that commit', async () => {
    const a = ws();
    const r = await materializeContext(disk(`${git.url('app')}#${first.commit}:web`), a.o);
    assert.equal(r.commit, first.commit);
    assert.equal(r.branch, undefined);
    assert.equal(readFileSync(path.join(r.dir, 'index.html'), 'utf8'), '<h1>v1</h1>\n');
    const b = ws({ commit: first.commit });
    const t = await materializeContext(disk(`${git.url('app')}#main`), b.o);
    assert.equal(t.commit, first.commit);
    assert.equal(t.branch, 'main');
    assert.equal(readFileSync(path.join(b.dir, 'web/index.html'), 'utf8'), '<h1>v1</h1>\n');
  });

  test('a missing branch, a missing commit and a missing repository are ContextErrors', async () => {
    await assert.rejects(materializeContext(disk(`${git.url('app')}#nope`), ws().o), (e: Error) => {
      assert.ok(e instanceof ContextError);
      assert.match(e.message, /clone of .*app\.git \(nope\) failed: .*nope/);
      return true;
    });
    const sha = 'a'.repeat(40);
    await assert.rejects(materializeContext(disk(`${git.url('app')}#${sha}`), ws().o), (e: Error) => {
      assert.ok(e instanceof ContextError);
      assert.match(e.message, new RegExp(`checking out commit ${sha}`));
      return true;
    });
    await assert.rejects(materializeContext(disk(git.url('missing')), ws().o), ContextError);
  });

  test('a subfolder that is missing, a file, or a symlink leaving the repository is refused', async () => {
    await assert.rejects(materializeContext(disk(`${git.url('app')}#main:nowhere`), ws().o), /the folder nowhere is not in the repository/);
    await assert.rejects(materializeContext(disk(`${git.url('app')}#main:Dockerfile`), ws().o), /is a file, not a folder/);
    await assert.rejects(materializeContext(disk(`${git.url('app')}#main:up`), ws().o), /the folder up leaves the repository/);
    await assert.rejects(materializeContext(disk(`${git.url('app')}#main:etc`), ws().o), /the folder etc leaves the repository/);
    // parseContext refuses "..", and the clone checks again (realpath) for contexts made otherwise.
    await assert.rejects(materializeContext({ kind: 'git', url: git.url('app'), subdir: 'escape/../up' }, ws().o), /leaves the repository/);
  });

  test('a checkout is held to the limits of a context (.git not counted)', async () => {
    // main holds 8 entries (4 files, 2 symlinks, 2 folders); web/ holds 2.
    await assert.rejects(materializeContext(disk(`${git.url('app')}#main`), ws({ maxFiles: 5 }).o), /the context holds more than 5 files/);
    await assert.rejects(materializeContext(disk(`${git.url('app')}#main`), ws({ maxBytes: 20 }).o), /larger than the 20 bytes limit/);
    const r = await materializeContext(disk(`${git.url('app')}#main:web`), ws({ maxFiles: 2 }).o);
    assert.ok(r.dir.endsWith('web'));
  });

  test('a private repository: refused without the token, cloned with it; the token is in no line', async () => {
    const a = ws();
    await assert.rejects(materializeContext(disk(privateGit.url('secret')), a.o), (e: Error) => {
      assert.ok(e instanceof ContextError);
      assert.match(e.message, /clone of .*secret\.git failed/);
      return true;
    });
    const seen = privateGit.requests.length;
    const b = ws({ gitToken: TOKEN, secrets: [TOKEN] });
    const r = await materializeContext(disk(privateGit.url('secret')), b.o);
    assert.equal(readFileSync(path.join(r.dir, 'private.txt'), 'utf8'), 'only with the token\n');
    assert.ok(
      privateGit.requests.slice(seen).every((q) => q.authorized),
      'every request carried the token',
    );
    const basic = Buffer.from(`x-access-token:${TOKEN}`).toString('base64');
    for (const l of b.lines) {
      assert.ok(!l.includes(TOKEN) && !l.includes(basic), l);
    }
    assert.ok(
      b.lines.some((l) => l.startsWith('Cloning into')),
      'git wrote its lines',
    );
    assert.deepEqual(readdirSync(b.workspace), ['context'], 'git wrote nothing in its HOME');
    // Nothing of the token in the clone's config either (it came through the environment only).
    assert.ok(!readFileSync(path.join(r.dir, '.git/config'), 'utf8').includes(basic));
  });

  test('the token never reaches the log even when git itself prints it (GIT_TRACE_CURL-like output)', async () => {
    // A "git" that prints its environment's header: the masking of runCommand is what protects.
    const b = ws({ gitToken: TOKEN, secrets: [] });
    const fake = path.join(b.workspace, 'git-echo.sh');
    writeFileSync(fake, '#!/bin/sh\necho "args: $*"\necho "header: $GIT_CONFIG_VALUE_0"\nexit 1\n');
    chmodSync(fake, 0o755);
    await assert.rejects(materializeContext(disk(privateGit.url('secret')), { ...b.o, git: fake }), ContextError);
    const joined = b.lines.join('\n');
    assert.match(joined, /header: Authorization: Basic \*\*\*/);
    // The command line (what a process listing shows) holds no part of it, masked or not.
    const args = b.lines.find((l) => l.startsWith('args: '))!;
    assert.match(args, /clone --no-recurse-submodules --depth 1 --single-branch -- http:\/\/127\.0\.0\.1:\d+\/secret\.git /);
    assert.ok(!args.includes('***') && !args.includes('Authorization'), args);
    assert.ok(!joined.includes(TOKEN));
    assert.ok(!joined.includes(Buffer.from(`x-access-token:${TOKEN}`).toString('base64')));
  });

  test('a tarball over HTTP, gzipped or not, and an uploaded one', async () => {
    const archive = await makeTar([
      { name: 'Dockerfile', body: 'FROM scratch\n' },
      { name: 'bin/', type: 'directory', mode: 0o777 },
      { name: 'bin/run.sh', body: '#!/bin/sh\n', mode: 0o775 },
      { name: 'docs/readme.txt', body: 'hi\n' },
      { name: 'latest', type: 'symlink', linkname: 'bin/run.sh' },
      { name: 'docs/up', type: 'symlink', linkname: '../bin' },
    ]);
    served.set('/ctx.tar.gz', gzipSync(archive));
    served.set('/ctx.tar', archive);
    for (const name of ['ctx.tar.gz', 'ctx.tar']) {
      const { workspace, dir, o } = ws();
      const r = await materializeContext(disk(`${filesUrl}/${name}`), o);
      assert.equal(r.dir, dir);
      assert.deepEqual(tree(dir), ['Dockerfile', 'bin', 'bin/run.sh', 'docs', 'docs/readme.txt', 'docs/up', 'latest']);
      assert.equal(statSync(path.join(dir, 'bin/run.sh')).mode & 0o7777, 0o755);
      assert.equal(statSync(path.join(dir, 'bin')).mode & 0o7777, 0o755);
      assert.equal(statSync(path.join(dir, 'Dockerfile')).mode & 0o7777, 0o644);
      assert.equal(readlinkSync(path.join(dir, 'latest')), 'bin/run.sh');
      onlyContext(workspace);
    }
    const { dir, o } = ws({ openUpload: () => Promise.resolve(Readable.from([gzipSync(archive)])) });
    await materializeContext({ kind: 'upload', blob: 'sha256:x' }, o);
    assert.equal(readFileSync(path.join(dir, 'docs/readme.txt'), 'utf8'), 'hi\n');
  });

  test('a download that stalls ends at the timeout; a cancel ends it at once', async () => {
    await assert.rejects(materializeContext(disk(`${filesUrl}/slow.tar`), ws({ timeoutMs: 300 }).o), (e: Error) => {
      assert.ok(e instanceof ContextError);
      assert.match(e.message, /downloading the context .*slow\.tar timed out after 300 ms/);
      return true;
    });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    await assert.rejects(materializeContext(disk(`${filesUrl}/slow.tar`), ws({ signal: ac.signal }).o), /was canceled/);
  });

  test('a tarball URL that answers 404 is a ContextError naming the status', async () => {
    await assert.rejects(
      materializeContext(disk(`${filesUrl}/missing.tar.gz`), ws().o),
      /could not be downloaded: the server answered 404/,
    );
  });

  test('/dev/null is an empty folder', async () => {
    const { dir, o } = ws();
    assert.deepEqual(await materializeContext(disk('/dev/null'), o), { dir });
    assert.deepEqual(readdirSync(dir), []);
  });

  describe('hostile archives', () => {
    async function refuse(entries: Entry[] | Buffer, message: RegExp, limits: Partial<MaterializeOptions> = {}) {
      const body = Buffer.isBuffer(entries) ? entries : gzipSync(await makeTar(entries));
      const { workspace, dir, o } = ws({ openUpload: () => Promise.resolve(Readable.from([body])), ...limits });
      await assert.rejects(materializeContext({ kind: 'upload', blob: 'x' }, o), (e: Error) => {
        assert.ok(e instanceof ContextError, `${e.name}: ${e.message}`);
        assert.match(e.message, message);
        return true;
      });
      onlyContext(workspace);
      return dir;
    }

    test('../evil leaves the context', async () => {
      await refuse([{ name: '../evil', body: 'x' }], /the context entry \.\.\/evil leaves the context/);
      await refuse([{ name: 'a/../../evil', body: 'x' }], /leaves the context/);
    });

    test('an absolute path is refused', async () => {
      await refuse([{ name: '/tmp/evil', body: 'x' }], /the context entry \/tmp\/evil is an absolute path/);
    });

    test('a symlink to /etc, then a file written through it: the symlink is refused', async () => {
      await refuse(
        [
          { name: 'etc', type: 'symlink', linkname: '/etc' },
          { name: 'etc/evil', body: 'x' },
        ],
        /the context entry etc is a symlink to \/etc, which leaves the context/,
      );
      await refuse([{ name: 'up', type: 'symlink', linkname: '../..' }], /symlink to \.\.\/\.\., which leaves the context/);
    });

    test('a file through an (inside) symlink is refused: nothing is written through a symlink', async () => {
      await refuse(
        [
          { name: 'real/', type: 'directory' },
          { name: 'alias', type: 'symlink', linkname: 'real' },
          { name: 'alias/file', body: 'x' },
        ],
        /the context entry alias\/file goes through the symlink alias/,
      );
      await refuse(
        [
          { name: 'link', type: 'symlink', linkname: 'target' },
          { name: 'link', body: 'x' },
        ],
        /would replace a symlink/,
      );
    });

    test('a chain of symlinks that leaves only when followed is refused', async () => {
      await refuse(
        [
          { name: 'd/', type: 'directory' },
          { name: 'd/self', type: 'symlink', linkname: '..' },
          { name: 'x', type: 'symlink', linkname: 'd/self/d/self/..' },
        ],
        /the context entry x is a symlink that leads outside the context/,
      );
    });

    test('a hard link, a device and a fifo are refused', async () => {
      await refuse(
        [
          { name: 'a', body: 'x' },
          { name: 'b', type: 'link', linkname: 'a' },
        ],
        /the context entry b is a hard link/,
      );
      await refuse([{ name: 'tty', type: 'character-device' }], /the context entry tty is a character device/);
      await refuse([{ name: 'p', type: 'fifo' }], /the context entry p is a fifo/);
    });

    test('a gzip bomb stops at the limit', async () => {
      // 64 MiB of zeros in one entry, ~64 KiB gzipped; the limit is 1 MiB.
      const bomb = gzipSync(await makeTar([{ name: 'zeros', size: 64 * MiB }]), { level: 9 });
      assert.ok(bomb.length < MiB);
      const dir = await refuse(bomb, /the context is larger than the 1 MiB limit/, { maxBytes: MiB });
      const written = existsSync(path.join(dir, 'zeros')) ? lstatSync(path.join(dir, 'zeros')).size : 0;
      assert.ok(written <= MiB, `${written} bytes written`);
      // Many small files adding up, and a tar of padding alone (the decompressed stream is capped).
      await refuse(
        Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, body: Buffer.alloc(100 * 1024) })),
        /larger than the 1 MiB limit/,
        { maxBytes: MiB },
      );
      await refuse(gzipSync(Buffer.alloc(8 * MiB)), /larger than the 1 MiB limit/, { maxBytes: MiB, maxFiles: 10 });
    });

    test('too many files', async () => {
      await refuse(
        Array.from({ length: 12 }, (_, i) => ({ name: `f${i}`, body: 'x' })),
        /the context holds more than 10 files/,
        { maxFiles: 10 },
      );
    });

    test('setuid, setgid and sticky bits are stripped; world-writable becomes 0644/0755', async () => {
      const body = gzipSync(
        await makeTar([
          { name: 'suid', body: '#!/bin/sh\n', mode: 0o4777 },
          { name: 'sgid', body: 'x', mode: 0o2666 },
          { name: 'dir/', type: 'directory', mode: 0o1777 },
        ]),
      );
      const { workspace, dir, o } = ws({ openUpload: () => Promise.resolve(Readable.from([body])) });
      await materializeContext({ kind: 'upload', blob: 'x' }, o);
      assert.equal(statSync(path.join(dir, 'suid')).mode & 0o7777, 0o755);
      assert.equal(statSync(path.join(dir, 'sgid')).mode & 0o7777, 0o644);
      assert.equal(statSync(path.join(dir, 'dir')).mode & 0o7777, 0o755);
      onlyContext(workspace);
    });

    test('not a tar at all, and a truncated gzip, are ContextErrors', async () => {
      await refuse(Buffer.from('hello, this is not an archive'.repeat(40)), /the context archive could not be read/);
      const good = gzipSync(await makeTar([{ name: 'a', body: 'x'.repeat(10_000) }]));
      await refuse(good.subarray(0, good.length - 40), /the context archive could not be read/);
    });
  });
});
