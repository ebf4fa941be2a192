import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { ContextError, type BuildContext } from '../../domain/tasks/context.js';
import { runCommand, type CommandEnd } from './process.js';
import { extractTarball, sizeText, type ExtractLimits } from './safe-extract.js';

// Putting a run's build context on disk, inside its workspace: a git clone (shallow for a branch
// or tag, full then checked out for a commit), a downloaded or uploaded tarball (unpacked by the
// safe extractor), or an empty folder. git runs without a shell, without the node's system or
// user config, never prompts, speaks only http(s), and receives the access token through its
// environment (GIT_CONFIG_*), so the token is in no command line, no process listing and no log.

export interface MaterializeOptions extends ExtractLimits {
  /** An empty folder inside the run's workspace; the context is written below it. */
  dir: string;
  timeoutMs: number;
  signal?: AbortSignal;
  /** The task's git access token, for private repositories. */
  gitToken?: string;
  /** Values masked in the lines passed to onLine. */
  secrets: readonly string[];
  onLine: (line: string) => void;
  /** The uploaded tarball, for an upload context. */
  openUpload?: () => Promise<Readable>;
  fetchImpl?: typeof fetch;
  /** Build exactly this commit (a source trigger's), whatever the context's ref says. */
  commit?: string;
  /** The git binary (default: git on PATH). */
  git?: string;
}

export interface MaterializedContext {
  /** The context's root: the folder to build from (the git subfolder applied). */
  dir: string;
  /** The commit checked out (git rev-parse HEAD), for a git context. */
  commit?: string;
  /** The branch checked out, when HEAD is on one. */
  branch?: string;
}

const COMMIT_SHA = /^[0-9a-f]{40}$/i;

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}

/**
 * The contexts put on disk here. An OCI artifact context is not one of them: it is pulled through
 * the registry's own content service, which the run engine holds (and wires).
 */
export type DiskContext = Exclude<BuildContext, { kind: 'oci' }>;

export async function materializeContext(ctx: DiskContext, o: MaterializeOptions): Promise<MaterializedContext> {
  switch (ctx.kind) {
    case 'none':
      return { dir: o.dir };
    case 'git':
      return cloneGit(ctx, o);
    case 'tarball':
      await downloadTarball(ctx.url, o);
      return { dir: o.dir };
    case 'upload': {
      if (!o.openUpload) throw new ContextError('the uploaded context is missing');
      await withDeadline(o, 'reading the uploaded context', async (signal) => {
        const body = await o.openUpload!();
        await extractTarball(body, o.dir, o, signal);
      });
      return { dir: o.dir };
    }
  }
}

/** Runs `work` with a signal that fires on the run's cancel or after timeoutMs, as a ContextError. */
async function withDeadline<T>(o: MaterializeOptions, what: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new ContextError(`${what} timed out after ${seconds(o.timeoutMs)}`)), o.timeoutMs);
  const onAbort = () => ac.abort(new ContextError(`${what} was canceled`));
  if (o.signal?.aborted) onAbort();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await work(ac.signal);
  } catch (e) {
    if (ac.signal.aborted && ac.signal.reason instanceof ContextError) throw ac.signal.reason;
    throw e;
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
  }
}

async function downloadTarball(url: string, o: MaterializeOptions): Promise<void> {
  const shown = url.replace(/[?#].*$/, '');
  await withDeadline(o, `downloading the context ${shown}`, async (signal) => {
    let res: Response;
    try {
      res = await (o.fetchImpl ?? fetch)(url, { signal, redirect: 'follow' });
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      throw new ContextError(`the context ${shown} could not be downloaded: ${(e as Error).message}`);
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel().catch(() => {});
      throw new ContextError(`the context ${shown} could not be downloaded: the server answered ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > o.maxBytes + (o.maxFiles + 2) * 1536) {
      await res.body.cancel().catch(() => {});
      throw new ContextError(`the context is larger than the ${sizeText(o.maxBytes)} limit`);
    }
    o.onLine(`downloading the context ${shown}`);
    const r = await extractTarball(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), o.dir, o, signal);
    o.onLine(`the context holds ${r.files} files, ${r.bytes} bytes`);
  });
}

// ------------------------------------------------------------------------------------------ git

/** The environment every git command of a run gets: nothing of the node's git setup leaks in. */
export function gitEnv(home: string, url: string, token?: string): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '',
    SSH_ASKPASS: '',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_ALLOW_PROTOCOL: 'http:https',
    GIT_LFS_SKIP_SMUDGE: '1',
    LC_ALL: 'C',
  };
  if (token) {
    // Scoped to the repository's origin, so a redirect elsewhere does not carry the token.
    const origin = new URL(url).origin;
    env.GIT_CONFIG_COUNT = '1';
    env.GIT_CONFIG_KEY_0 = `http.${origin}/.extraHeader`;
    env.GIT_CONFIG_VALUE_0 = `Authorization: ${basicAuth(token)}`;
  }
  return env;
}

function basicAuth(token: string): string {
  return `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
}

interface GitRun {
  env: Record<string, string>;
  secrets: string[];
  o: MaterializeOptions;
}

/** Runs git; returns its output lines (masked); throws a ContextError saying what failed. */
async function git(g: GitRun, args: string[], cwd: string, what: string, quiet = false): Promise<string[]> {
  const lines: string[] = [];
  const end: CommandEnd = await runCommand(g.o.git ?? 'git', args, {
    cwd,
    env: g.env,
    timeoutMs: g.o.timeoutMs,
    signal: g.o.signal,
    secrets: g.secrets,
    onLine: (l) => {
      lines.push(l);
      if (!quiet) g.o.onLine(l);
    },
  });
  if ('code' in end && end.code === 0) return lines;
  const fatal = lines.filter((l) => /^(fatal|error):/.test(l)).pop();
  const why =
    'timedOut' in end
      ? `timed out after ${seconds(g.o.timeoutMs)}`
      : 'canceled' in end
        ? 'was canceled'
        : 'error' in end
          ? `could not start: ${end.error}`
          : fatal
            ? `failed: ${fatal.replace(/^(fatal|error):\s*/, '')}`
            : `failed (exit code ${end.code})`;
  throw new ContextError(`${what} ${why}`);
}

async function cloneGit(ctx: Extract<BuildContext, { kind: 'git' }>, o: MaterializeOptions): Promise<MaterializedContext> {
  const home = path.dirname(o.dir);
  const secrets = [...o.secrets];
  if (o.gitToken) secrets.push(o.gitToken, basicAuth(o.gitToken).slice('Basic '.length));
  const g: GitRun = { env: gitEnv(home, ctx.url, o.gitToken), secrets, o };
  const commit = o.commit ?? (ctx.ref && COMMIT_SHA.test(ctx.ref) ? ctx.ref : undefined);
  if (commit !== undefined && !COMMIT_SHA.test(commit))
    throw new ContextError(`"${commit.slice(0, 80)}" is not a commit id (40 hex digits)`);
  const branch = ctx.ref && ctx.ref !== commit ? ctx.ref : undefined;
  const args = ['-c', 'advice.detachedHead=false', 'clone', '--no-recurse-submodules'];
  // A branch or tag alone: its tip is all the build needs. A commit: any depth may hold it.
  if (!commit) args.push('--depth', '1', '--single-branch');
  else args.push('--no-checkout');
  if (branch) args.push('--branch', branch);
  args.push('--', ctx.url, o.dir);
  const shown = `the clone of ${ctx.url}${branch ? ` (${branch})` : ''}`;
  o.onLine(`cloning ${ctx.url}${branch ? ` at ${branch}` : ''}${commit ? ` for commit ${commit}` : ''}`);
  await git(g, args, home, shown);
  if (commit)
    await git(g, ['-c', 'advice.detachedHead=false', 'checkout', '--detach', commit, '--'], o.dir, `checking out commit ${commit}`);
  const head = (await git(g, ['rev-parse', 'HEAD'], o.dir, 'reading the commit', true)).join('').trim();
  const onBranch = (await git(g, ['symbolic-ref', '--quiet', '--short', 'HEAD'], o.dir, 'reading the branch', true).catch(() => []))
    .join('')
    .trim();
  const out: MaterializedContext = { dir: o.dir, commit: head };
  if (onBranch) out.branch = onBranch;
  else if (branch && commit) out.branch = branch; // a source trigger's commit on its branch
  if (ctx.subdir) out.dir = await insideClone(o.dir, ctx.subdir);
  await withinLimits(out.dir, o);
  return out;
}

/**
 * A checkout is held to the same limits as a tarball (files and their bytes, .git not counted).
 * git has no cap of its own, so this is measured after the clone; the timeout bounds the clone.
 */
async function withinLimits(dir: string, o: ExtractLimits): Promise<void> {
  let files = 0;
  let bytes = 0;
  const visit = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (d === dir && e.name === '.git') continue;
      if (++files > o.maxFiles) throw new ContextError(`the context holds more than ${o.maxFiles} files`);
      const p = path.join(d, e.name);
      if (e.isDirectory()) await visit(p);
      else if (e.isFile()) {
        bytes += (await lstat(p)).size;
        if (bytes > o.maxBytes) throw new ContextError(`the context is larger than the ${sizeText(o.maxBytes)} limit`);
      }
    }
  };
  await visit(dir);
}

/** The context folder below the clone, symlinks resolved; it must exist and stay inside. */
async function insideClone(clone: string, subdir: string): Promise<string> {
  const root = await realpath(clone);
  let real: string;
  try {
    real = await realpath(path.join(root, subdir));
  } catch {
    throw new ContextError(`the folder ${subdir} is not in the repository`);
  }
  if (real !== root && !real.startsWith(root + path.sep))
    throw new ContextError(`the folder ${subdir} leaves the repository (through a symlink)`);
  if (!(await stat(real)).isDirectory()) throw new ContextError(`${subdir} in the repository is a file, not a folder`);
  return real;
}
