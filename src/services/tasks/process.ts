import { spawn } from 'node:child_process';
import { LineMasker } from '../../domain/tasks/mask.js';
import { inCgroup } from './cgroups.js';

// Running one command of a task run (buildah bud, buildah push, a cmd step): in its own process
// group, so a timeout or a cancel kills everything it started (a RUN step's children too); its
// output goes line by line, secrets masked, to the run's log. Nothing goes through a shell.

export interface RunCommandOptions {
  cwd: string;
  env: Record<string, string>;
  /** Kills the process group after this long. */
  timeoutMs: number;
  /** Aborting kills the process group (cancel). */
  signal?: AbortSignal;
  /** Values masked in the output. */
  secrets?: readonly string[];
  /** Each line of output (stdout and stderr, interleaved as they come), already masked. */
  onLine: (line: string) => void;
  /** Written to the process's stdin, then closed; otherwise stdin is empty. */
  stdin?: string;
  /** cgroup.procs files the process enters before it starts (the run's limits: cgroups.ts). */
  cgroupProcs?: readonly string[];
}

export type CommandEnd = { code: number } | { timedOut: true } | { canceled: true } | { error: string };

/** How long a process group gets after SIGTERM before SIGKILL. */
const GRACE_MS = 5_000;

export function runCommand(cmd: string, args: readonly string[], o: RunCommandOptions): Promise<CommandEnd> {
  return new Promise((resolve) => {
    const out = new LineMasker(o.secrets ?? [], o.onLine);
    const err = new LineMasker(o.secrets ?? [], o.onLine);
    let ended: CommandEnd | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const [bin, argv] = inCgroup(o.cgroupProcs ?? [], cmd, args);
    const child = spawn(bin, argv, { cwd: o.cwd, env: o.env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    const killGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    const stop = (why: CommandEnd) => {
      if (ended) return;
      ended = why;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), GRACE_MS);
      killTimer.unref();
    };
    const timer = setTimeout(() => stop({ timedOut: true }), o.timeoutMs);
    const onAbort = () => stop({ canceled: true });
    if (o.signal?.aborted) onAbort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.setEncoding('utf8').on('data', (c: string) => out.write(c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => err.write(c));
    child.stdin.on('error', () => {});
    child.stdin.end(o.stdin ?? '');
    child.on('error', (e) => {
      ended ??= { error: `${cmd}: ${e.message}` };
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      out.end();
      err.end();
      // The group may still hold children that ignored SIGTERM or outlived the leader.
      killGroup('SIGKILL');
      if (killTimer) clearTimeout(killTimer);
      resolve(ended ?? { code: code ?? (sig ? 128 : 1) });
    });
  });
}
