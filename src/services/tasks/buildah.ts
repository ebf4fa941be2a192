import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { BuildArgs } from '../../domain/tasks/argv.js';
import { runCommand, type CommandEnd } from './process.js';

// The build engine of task runs: buildah (Debian's), driven as a program, never through a shell.
// Every run has its own storage (--root/--runroot under the run's workspace, vfs driver), so runs
// share no image cache and cleaning up is deleting one folder; RUN steps use chroot isolation (no
// container runtime needed). Registry credentials come from an auth file the run writes, never
// from the command line, so they appear in no process listing or log.

export interface BuildahEnv {
  /** The run's workspace: storage, auth file and temporary files live below it. */
  workspace: string;
  /** containers-auth.json with the run's scoped registry token. */
  authFile: string;
  /** Registries reached over plain HTTP or with a self-signed certificate (host[:port]). */
  insecureRegistries: readonly string[];
  timeoutMs: number;
  signal?: AbortSignal;
  secrets: readonly string[];
  onLine: (line: string) => void;
  /** The buildah binary (default: buildah on PATH). */
  buildah?: string;
}

export class BuildStepError extends Error {
  constructor(
    message: string,
    readonly end: CommandEnd,
  ) {
    super(message);
    this.name = 'BuildStepError';
  }
}

function storageArgs(ws: string): string[] {
  return ['--root', path.join(ws, 'storage', 'root'), '--runroot', path.join(ws, 'storage', 'run'), '--storage-driver', 'vfs'];
}

/** Whether an image reference's registry is one reached without TLS verification. */
function insecure(image: string, list: readonly string[]): boolean {
  const host = image.split('/')[0]!;
  return list.includes(host);
}

function env(e: BuildahEnv): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: e.workspace,
    TMPDIR: path.join(e.workspace, 'tmp'),
    BUILDAH_ISOLATION: 'chroot',
    REGISTRY_AUTH_FILE: e.authFile,
    // No user-wide containers.conf or registries.conf of the node leaks into a run.
    CONTAINERS_CONF: '/dev/null',
  };
}

async function run(e: BuildahEnv, args: string[], what: string, cwd: string): Promise<void> {
  const end = await runCommand(e.buildah ?? 'buildah', args, {
    cwd,
    env: env(e),
    timeoutMs: e.timeoutMs,
    signal: e.signal,
    secrets: e.secrets,
    onLine: e.onLine,
  });
  if ('code' in end && end.code === 0) return;
  const why =
    'timedOut' in end
      ? `${what} timed out after ${Math.round(e.timeoutMs / 1000)} s`
      : 'canceled' in end
        ? `${what} was canceled`
        : 'error' in end
          ? `${what} could not start: ${end.error}`
          : `${what} failed (exit code ${end.code})`;
  throw new BuildStepError(why, end);
}

/**
 * Builds an image from a context folder (buildah bud) and names it with every tag; returns the
 * image id. `contextDir` must already be inside the workspace (the run resolved and checked it).
 */
export async function buildImage(e: BuildahEnv, contextDir: string, b: BuildArgs): Promise<string> {
  const iid = path.join(e.workspace, 'tmp', `iid-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  const args = [...storageArgs(e.workspace), 'bud', '--isolation', 'chroot', '--iidfile', iid, '--authfile', e.authFile];
  args.push('--layers=false', '--format', 'oci');
  if (b.file) args.push('--file', path.join(contextDir, b.file));
  for (const t of b.tags) args.push('--tag', t);
  for (const a of [...b.buildArgs, ...b.secretBuildArgs]) args.push('--build-arg', `${a.name}=${a.value}`);
  for (const l of b.labels) args.push('--label', `${l.name}=${l.value}`);
  if (b.target) args.push('--target', b.target);
  if (b.platform) args.push('--platform', b.platform);
  if (b.noCache) args.push('--no-cache');
  args.push(b.pull ? '--pull-always' : '--pull');
  // A base from an insecure registry (the Berth itself on plain HTTP in tests and dev setups).
  if (e.insecureRegistries.length > 0) args.push('--tls-verify=false');
  args.push(contextDir);
  await run(e, args, 'the build', contextDir);
  return (await readFile(iid, 'utf8')).trim();
}

/** Pushes a built image to `dest` (registry/repository:tag); returns the pushed manifest's digest. */
export async function pushImage(e: BuildahEnv, image: string, dest: string): Promise<string> {
  const df = path.join(e.workspace, 'tmp', `digest-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  const args = [...storageArgs(e.workspace), 'push', '--authfile', e.authFile, '--digestfile', df];
  if (insecure(dest, e.insecureRegistries)) args.push('--tls-verify=false');
  args.push(image, `docker://${dest}`);
  await run(e, args, `the push of ${dest}`, e.workspace);
  return (await readFile(df, 'utf8')).trim();
}
