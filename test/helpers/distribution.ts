import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DISTRIBUTION_SH, run } from '../e2e/helpers.js';
import { IN_CI } from './backends.js';
import type { FakeImage } from './fake-upstream.js';
import { blobOf, type V2 } from './oci.js';

// CNCF Distribution (Debian's docker-registry, started by ../shared/bench/distribution.sh) as a
// real upstream for import tests, optionally with htpasswd Basic auth.

const has = (cmd: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** Distribution and htpasswd are CI dependencies (.ci/run installs them): under CI they must be there. */
export const PEER_GATE: { skip?: string } =
  has('docker-registry') && has('htpasswd') && existsSync(DISTRIBUTION_SH)
    ? {}
    : IN_CI
      ? (() => {
          throw new Error(`CI=true requires docker-registry, htpasswd (apache2-utils) and ${DISTRIBUTION_SH}`);
        })()
      : { skip: `docker-registry, htpasswd or ${DISTRIBUTION_SH} missing` };

export interface Distribution {
  url: string;
  host: string;
  stop: () => Promise<void>;
}

/** A Distribution started by distribution.sh; extraConfig is YAML appended to its config. */
export async function startDistribution(extraConfig?: string): Promise<Distribution> {
  let extra: string | undefined;
  if (extraConfig) {
    extra = path.join(mkdtempSync(path.join(os.tmpdir(), 'berth-dist-')), 'extra.yml');
    writeFileSync(extra, extraConfig);
  }
  const env = { ...process.env, ...(extra ? { EXTRA_CONFIG: extra } : {}) };
  let started = await run('bash', [DISTRIBUTION_SH], { timeoutMs: 60_000, env });
  for (let i = 0; i < 3 && started.code !== 0; i++) started = await run('bash', [DISTRIBUTION_SH], { timeoutMs: 60_000, env });
  assert.equal(started.code, 0, `distribution.sh failed: ${started.stderr}`);
  const vars = Object.fromEntries([...started.stdout.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]])) as Record<string, string>;
  return {
    url: vars.URL!,
    host: new URL(vars.URL!).host,
    stop: async () => {
      await run('bash', [DISTRIBUTION_SH, 'stop', vars.PID!], { timeoutMs: 30_000 });
      if (extra) rmSync(path.dirname(extra), { recursive: true, force: true });
    },
  };
}

/** A Distribution that asks for HTTP Basic auth, with one htpasswd user. */
export async function startDistributionWithUser(username: string, password: string): Promise<Distribution> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-htpasswd-'));
  const file = path.join(dir, 'htpasswd');
  writeFileSync(file, execFileSync('htpasswd', ['-nbB', username, password]));
  const d = await startDistribution(`auth:\n  htpasswd:\n    realm: basic-realm\n    path: ${file}\n`);
  return {
    ...d,
    stop: async () => {
      await d.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Pushes an image (blobs with POST then PUT, which Distribution supports) and tags it. */
export async function seed(v2: V2, repo: string, ref: string, img: FakeImage): Promise<void> {
  for (const data of img.blobs.values()) await v2.pushBlob(repo, blobOf(data), 'post-put');
  const res = await v2.putManifest(repo, ref, img.manifest, img.mediaType);
  assert.equal(res.status, 201, `seed ${repo}:${ref}: ${await res.text()}`);
}
