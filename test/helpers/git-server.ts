import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, symlinkSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

// A real git server for tests: git's own smart-HTTP CGI (git http-backend) behind a small node
// bridge, so clones, fetches and pushes go over HTTP exactly as against a hosted service. Repos are
// bare repos in a temp folder; commits are made in a throwaway working copy with a fixed author
// and date (same files, same parent: same commit id). With authToken, every request must carry
// HTTP Basic auth whose password is that token, else 401 (as GitHub's x-access-token).

const run = promisify(execFile);

/** A file's content, or a symlink to create in its place. */
export type RepoFile = string | { symlink: string };

export interface GitServer {
  url(repo: string): string;
  createRepo(name: string, files: Record<string, RepoFile>, o?: { branch?: string }): Promise<{ commit: string }>;
  push(name: string, files: Record<string, RepoFile>, message: string, o?: { branch?: string }): Promise<{ commit: string }>;
  /** Tags a branch's tip (lightweight tag). */
  tag(name: string, tag: string, o?: { branch?: string }): Promise<void>;
  /** Requests seen: method and path (for tests that check what a client asked). */
  readonly requests: { method: string; path: string; authorized: boolean }[];
  close(): Promise<void>;
}

export async function startGitServer(o: { authToken?: string } = {}): Promise<GitServer> {
  const base = mkdtempSync(path.join(os.tmpdir(), 'berth-git-server-'));
  const root = path.join(base, 'repos');
  const home = path.join(base, 'home');
  mkdirSync(root);
  mkdirSync(home);
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'Berth Test',
    GIT_AUTHOR_EMAIL: 'test@berth.invalid',
    GIT_AUTHOR_DATE: '2026-01-01T00:00:00Z',
    GIT_COMMITTER_NAME: 'Berth Test',
    GIT_COMMITTER_EMAIL: 'test@berth.invalid',
    GIT_COMMITTER_DATE: '2026-01-01T00:00:00Z',
  };
  const git = async (cwd: string, ...args: string[]) => (await run('git', args, { cwd, env })).stdout.trim();
  const requests: GitServer['requests'] = [];

  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const auth = req.headers.authorization ?? '';
    const password = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString().split(':').slice(1).join(':') : undefined;
    const authorized = !o.authToken || password === o.authToken;
    requests.push({ method: req.method ?? '', path: u.pathname, authorized });
    if (!authorized) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="berth-test-git"' }).end('unauthorized\n');
      req.resume();
      return;
    }
    const cgi = spawn('git', ['http-backend'], {
      env: {
        ...env,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        REMOTE_USER: 'test',
        REMOTE_ADDR: '127.0.0.1',
        PATH_INFO: decodeURIComponent(u.pathname),
        QUERY_STRING: u.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
        ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
      },
      stdio: ['pipe', 'pipe', 'ignore'], // its complaints (a missing repo) become the HTTP status
    });
    req.pipe(cgi.stdin);
    cgi.stdin.on('error', () => {});
    // CGI answer: header lines (Status: among them), a blank line, then the body.
    let head = Buffer.alloc(0);
    let started = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (started) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      let end = head.indexOf('\r\n\r\n');
      let sep = 4;
      if (end < 0) {
        end = head.indexOf('\n\n');
        sep = 2;
      }
      if (end < 0) return;
      started = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString().split(/\r?\n/)) {
        const i = line.indexOf(':');
        if (i < 0) continue;
        const k = line.slice(0, i).trim();
        const v = line.slice(i + 1).trim();
        if (k.toLowerCase() === 'status') status = Number.parseInt(v, 10);
        else headers[k] = v;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + sep));
    });
    cgi.on('close', () => {
      if (!started) res.writeHead(502).end('git http-backend gave no answer\n');
      else res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  let seq = 0;
  const writeFiles = (dir: string, files: Record<string, RepoFile>) => {
    for (const [name, content] of Object.entries(files)) {
      const p = path.join(dir, name);
      mkdirSync(path.dirname(p), { recursive: true });
      rmSync(p, { force: true });
      if (typeof content === 'string') writeFileSync(p, content);
      else symlinkSync(content.symlink, p);
    }
  };
  const commitAndPush = async (name: string, files: Record<string, RepoFile>, message: string, branch: string, fresh: boolean) => {
    const work = path.join(base, `work-${++seq}`);
    const bare = path.join(root, `${name}.git`);
    if (fresh) {
      mkdirSync(work);
      await git(work, 'init', '-q', '-b', branch);
    } else {
      await git(base, 'clone', '-q', '--', bare, work);
      const has = await git(work, 'ls-remote', '--heads', 'origin', branch);
      if (has) await git(work, 'checkout', '-q', branch);
      else await git(work, 'checkout', '-q', '-b', branch);
    }
    writeFiles(work, files);
    await git(work, 'add', '-A');
    await git(work, 'commit', '-q', '--allow-empty', '-m', message);
    await git(work, 'push', '-q', bare, `HEAD:refs/heads/${branch}`);
    const commit = await git(work, 'rev-parse', 'HEAD');
    rmSync(work, { recursive: true, force: true });
    return { commit };
  };

  return {
    requests,
    url: (repo) => `http://127.0.0.1:${port}/${repo}.git`,
    async createRepo(name, files, ro = {}) {
      const branch = ro.branch ?? 'main';
      const bare = path.join(root, `${name}.git`);
      await git(root, 'init', '-q', '--bare', '-b', branch, bare);
      await git(bare, 'config', 'http.receivepack', 'true');
      return commitAndPush(name, files, 'first commit', branch, true);
    },
    async tag(name, tag, to = {}) {
      await git(path.join(root, `${name}.git`), 'tag', tag, `refs/heads/${to.branch ?? 'main'}`);
    },
    push: (name, files, message, po = {}) => commitAndPush(name, files, message, po.branch ?? 'main', false),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(base, { recursive: true, force: true });
    },
  };
}
