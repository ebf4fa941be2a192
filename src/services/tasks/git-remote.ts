import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveSafe } from '../../net/egress.js';
import { runCommand } from './process.js';
import { gitEnv } from './workspace-context.js';

// The head commit of a branch of a remote repository (git ls-remote), for source triggers that
// poll. Same rules as a run's clone: no shell, none of the node's git configuration, http(s) only,
// the token in the environment, and loopback or private hosts only when egress.allowPrivate.

export async function branchHead(
  url: string,
  branch: string,
  o: { token?: string; allowPrivate: boolean; timeoutMs?: number },
): Promise<string | undefined> {
  await resolveSafe(new URL(url).hostname.replace(/^\[|\]$/g, ''), o.allowPrivate);
  const home = await mkdtemp(path.join(os.tmpdir(), 'berth-ls-remote-'));
  try {
    const lines: string[] = [];
    const end = await runCommand('git', ['ls-remote', '--heads', '--', url, `refs/heads/${branch}`], {
      cwd: home,
      env: gitEnv(home, url, o.token),
      timeoutMs: o.timeoutMs ?? 30_000,
      secrets: o.token ? [o.token] : [],
      onLine: (l) => lines.push(l),
    });
    if (!('code' in end) || end.code !== 0) return undefined;
    const m = lines.map((l) => /^([0-9a-f]{40})\s+refs\/heads\/(.+)$/.exec(l)).find((x) => x?.[2] === branch);
    return m?.[1];
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}
