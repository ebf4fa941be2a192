import { access, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

// CPU, memory and process limits of a run: a control group per run, under tasks.cgroupParent,
// that every process of the run is started in (the run's commands are wrapped so that they enter
// it before they exec, so nothing they fork escapes). cgroup v2 (one hierarchy, the usual today)
// and v1 (a hierarchy per controller) are both handled. Limits that cannot be applied fail the
// run with the reason rather than letting it run unbounded.

export interface RunLimits {
  /** CPUs (fractions allowed); 0 = no limit. */
  cpus: number;
  memoryMB: number;
  maxProcesses: number;
}

export class CgroupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CgroupError';
  }
}

const ROOT = '/sys/fs/cgroup';
const PERIOD_US = 100_000;

export interface RunCgroup {
  /** The cgroup.procs files a process writes its pid to (one on v2, one per controller on v1). */
  procs: string[];
  remove(): Promise<void>;
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

export function limited(l: RunLimits): boolean {
  return l.cpus > 0 || l.memoryMB > 0 || l.maxProcesses > 0;
}

/** Creates the run's cgroup with its limits; undefined when no limit is set. */
export async function createRunCgroup(parent: string, name: string, l: RunLimits): Promise<RunCgroup | undefined> {
  if (!limited(l)) return undefined;
  const rel = path.posix.join('/', parent, name).slice(1);
  const fail = (what: string, e: unknown) =>
    new CgroupError(
      `could not apply the run's ${what} limit (cgroup ${rel}): ${(e as Error).message}; nodes that limit runs need root and a writable /sys/fs/cgroup`,
    );
  try {
    if (await exists(path.join(ROOT, 'cgroup.controllers'))) {
      // v2: the parent holds no processes, so it may hand the controllers down to the runs.
      const parentDir = path.join(ROOT, parent);
      await mkdir(parentDir, { recursive: true });
      const want = [l.cpus > 0 && 'cpu', l.memoryMB > 0 && 'memory', l.maxProcesses > 0 && 'pids'].filter(Boolean) as string[];
      const available = (await readFile(path.join(parentDir, 'cgroup.controllers'), 'utf8')).split(/\s+/);
      const missing = want.filter((c) => !available.includes(c));
      if (missing.length) throw new Error(`controllers ${missing.join(', ')} are not available to ${parent}`);
      await writeFile(path.join(parentDir, 'cgroup.subtree_control'), want.map((c) => `+${c}`).join(' '));
      const dir = path.join(ROOT, rel);
      await mkdir(dir, { recursive: true });
      if (l.cpus > 0) await writeFile(path.join(dir, 'cpu.max'), `${Math.round(l.cpus * PERIOD_US)} ${PERIOD_US}`);
      if (l.memoryMB > 0) {
        await writeFile(path.join(dir, 'memory.max'), String(l.memoryMB * 1024 * 1024));
        await writeFile(path.join(dir, 'memory.swap.max'), '0').catch(() => undefined);
      }
      if (l.maxProcesses > 0) await writeFile(path.join(dir, 'pids.max'), String(l.maxProcesses));
      return { procs: [path.join(dir, 'cgroup.procs')], remove: () => rmdir(dir).catch(() => undefined) };
    }
    // v1: one group per controller hierarchy.
    const dirs: string[] = [];
    const set = async (controller: string, files: Record<string, string>) => {
      const dir = path.join(ROOT, controller, rel);
      await mkdir(dir, { recursive: true });
      dirs.push(dir);
      for (const [f, v] of Object.entries(files)) await writeFile(path.join(dir, f), v);
    };
    if (l.cpus > 0)
      await set('cpu', { 'cpu.cfs_period_us': String(PERIOD_US), 'cpu.cfs_quota_us': String(Math.round(l.cpus * PERIOD_US)) });
    if (l.memoryMB > 0) await set('memory', { 'memory.limit_in_bytes': String(l.memoryMB * 1024 * 1024) });
    if (l.maxProcesses > 0) await set('pids', { 'pids.max': String(l.maxProcesses) });
    return {
      procs: dirs.map((d) => path.join(d, 'cgroup.procs')),
      remove: async () => {
        for (const d of dirs) await rmdir(d).catch(() => undefined);
      },
    };
  } catch (e) {
    throw fail(l.memoryMB > 0 ? 'memory' : l.cpus > 0 ? 'CPU' : 'process', e);
  }
}

/** Removes a run's cgroup left by a node that was killed (its processes were killed first). */
export async function removeRunCgroup(parent: string, name: string): Promise<void> {
  const rel = path.posix.join('/', parent, name).slice(1);
  for (const c of ['', 'cpu', 'memory', 'pids']) await rmdir(path.join(ROOT, c, rel)).catch(() => undefined);
}

/** A command line that enters the cgroup, then runs cmd with args (no shell parses them: they are "$@"). */
export function inCgroup(procs: readonly string[], cmd: string, args: readonly string[]): [string, string[]] {
  if (procs.length === 0) return [cmd, [...args]];
  const enter = procs.map((_, i) => `echo $$ > "$${i + 1}"`).join(' && ');
  return ['/bin/sh', ['-c', `${enter} && shift ${procs.length} && exec "$@"`, 'berth-run', ...procs, cmd, ...args]];
}
