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
  /** The run's cgroup (its CPU, memory and process limits), entered by every command. */
  cgroupProcs?: readonly string[];
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

async function run(e: BuildahEnv, args: string[], what: string, cwd: string, netns?: string): Promise<void> {
  const bin = e.buildah ?? 'buildah';
  const [cmd, full] = netns ? ['ip', ['netns', 'exec', netns, bin, ...args]] : [bin, args];
  const end = await runCommand(cmd, full, {
    cwd,
    env: env(e),
    timeoutMs: e.timeoutMs,
    signal: e.signal,
    secrets: e.secrets,
    onLine: e.onLine,
    cgroupProcs: e.cgroupProcs,
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
 * With `netns`, the build runs in that network namespace with its bases already pulled, so a RUN
 * instruction has no network beyond it.
 */
export async function buildImage(e: BuildahEnv, contextDir: string, b: BuildArgs, netns?: string): Promise<string> {
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
  args.push(netns ? '--pull=never' : b.pull ? '--pull=always' : '--pull=true');
  // A base from an insecure registry (the Berth itself on plain HTTP in tests and dev setups).
  if (e.insecureRegistries.length > 0) args.push('--tls-verify=false');
  args.push(contextDir);
  await run(e, args, 'the build', contextDir, netns);
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

/** Runs buildah and returns its standard output lines (not logged: inspect output is data). */
async function capture(e: BuildahEnv, args: string[], what: string, extraEnv: Record<string, string> = {}): Promise<string> {
  const lines: string[] = [];
  const end = await runCommand(e.buildah ?? 'buildah', args, {
    cwd: e.workspace,
    env: { ...env(e), ...extraEnv },
    timeoutMs: Math.min(e.timeoutMs, 120_000),
    signal: e.signal,
    secrets: e.secrets,
    onLine: (l) => lines.push(l),
    cgroupProcs: e.cgroupProcs,
  });
  if ('code' in end && end.code === 0) return lines.join('\n');
  for (const l of lines.slice(-20)) e.onLine(l);
  throw new BuildStepError(`${what} failed`, end);
}

/** Pulls an image into the run's storage; returns the digest of the manifest pulled. */
export async function pullImage(e: BuildahEnv, image: string): Promise<string> {
  const args = [...storageArgs(e.workspace), 'pull', '--authfile', e.authFile];
  if (insecure(image, e.insecureRegistries)) args.push('--tls-verify=false');
  args.push(image);
  await run(e, args, `the pull of ${image}`, e.workspace);
  const info = JSON.parse(await capture(e, [...storageArgs(e.workspace), 'inspect', '--type', 'image', image], `inspecting ${image}`)) as {
    FromImageDigest?: string;
  };
  if (!info.FromImageDigest) throw new BuildStepError(`buildah did not report the digest of ${image}`, { code: 0 });
  return info.FromImageDigest;
}

export interface ContainerConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  Env?: string[] | null;
}

/** A working container from an image, for a cmd step; returns its name and the image's config. */
export async function fromImage(
  e: BuildahEnv,
  image: string,
  name: string,
  o: { hosts: string[]; pull: boolean },
): Promise<ContainerConfig> {
  const args = [...storageArgs(e.workspace), 'from', '--name', name, '--authfile', e.authFile];
  if (insecure(image, e.insecureRegistries)) args.push('--tls-verify=false');
  args.push(o.pull ? '--pull=always' : '--pull=true');
  for (const h of o.hosts) args.push('--add-host', h);
  args.push(image);
  await run(e, args, `starting from ${image}`, e.workspace);
  const info = JSON.parse(
    await capture(e, [...storageArgs(e.workspace), 'inspect', '--type', 'container', name], `inspecting ${image}`),
  ) as {
    OCIv1?: { config?: ContainerConfig };
  };
  return info.OCIv1?.config ?? {};
}

export interface RunInContainer {
  argv: string[];
  env: string[];
  workingDir?: string;
  user?: string;
  hosts: string[];
  /** host folder → container path */
  mounts: { source: string; target: string; readOnly?: boolean }[];
  /** The network namespace to run in (ip netns), or none for the node's network. */
  netns?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Runs a command in a working container (chroot isolation) and returns how it ended. */
export async function runInContainer(e: BuildahEnv, name: string, r: RunInContainer): Promise<CommandEnd> {
  const args = [...storageArgs(e.workspace), 'run', '--isolation', 'chroot'];
  for (const v of r.env) args.push('--env', v);
  if (r.workingDir) args.push('--workingdir', r.workingDir);
  if (r.user) args.push('--user', r.user);
  for (const m of r.mounts) args.push('--volume', `${m.source}:${m.target}${m.readOnly ? ':ro' : ''}`);
  args.push(name, '--', ...r.argv);
  const [cmd, full] = r.netns ? ['ip', ['netns', 'exec', r.netns, e.buildah ?? 'buildah', ...args]] : [e.buildah ?? 'buildah', args];
  return runCommand(cmd, full, {
    cwd: e.workspace,
    env: env(e),
    timeoutMs: r.timeoutMs,
    signal: r.signal,
    secrets: e.secrets,
    onLine: e.onLine,
    cgroupProcs: e.cgroupProcs,
  });
}
