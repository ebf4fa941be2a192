// Real artefacts for the scanner's tests, made by the real tools: a Go binary from `go build` (its
// dependencies vendored, so no network) and an rpmdb from rpmbuild + `rpm --justdb`.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { IN_CI } from './backends.js';

/** Why `tool` cannot be used here, or undefined. Under CI a missing tool fails the test instead of skipping it. */
export function toolMissing(tool: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${tool}`]);
  if (r.status === 0) return undefined;
  if (IN_CI) throw new Error(`CI=true requires ${tool} (.ci/run installs it)`);
  return `${tool} is not installed`;
}

/**
 * A Go program depending on example.com/dep v1.2.3 and on example.com/old v1.0.0 replaced by
 * example.com/newer v1.1.0. Returns the binary's bytes.
 */
export function buildGoBinary(): Buffer {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-go-'));
  try {
    const w = (p: string, s: string) => {
      mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
      writeFileSync(path.join(dir, p), s);
    };
    w(
      'go.mod',
      'module example.com/app\n\ngo 1.19\n\nrequire (\n\texample.com/dep v1.2.3\n\texample.com/old v1.0.0\n)\n\nreplace example.com/old v1.0.0 => example.com/newer v1.1.0\n',
    );
    w(
      'main.go',
      'package main\n\nimport (\n\t"example.com/dep"\n\t"example.com/old"\n)\n\nfunc main() { println(dep.Name(), old.Name()) }\n',
    );
    w('vendor/example.com/dep/dep.go', 'package dep\n\nfunc Name() string { return "dep" }\n');
    w('vendor/example.com/old/old.go', 'package old\n\nfunc Name() string { return "newer" }\n');
    w(
      'vendor/modules.txt',
      '# example.com/dep v1.2.3\n## explicit\nexample.com/dep\n# example.com/old v1.0.0 => example.com/newer v1.1.0\n## explicit\nexample.com/old\n# example.com/old v1.0.0 => example.com/newer v1.1.0\n',
    );
    execFileSync('go', ['build', '-trimpath', '-o', 'app', '.'], {
      cwd: dir,
      env: {
        ...process.env,
        GOFLAGS: '-mod=vendor',
        GOPROXY: 'off',
        CGO_ENABLED: '0',
        GOCACHE: path.join(os.tmpdir(), 'berth-test-gocache'),
        HOME: process.env.HOME ?? dir,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    return readFileSync(path.join(dir, 'app'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function goVersion(): string {
  return /go(\d+\.\d+(?:\.\d+)?)/.exec(execFileSync('go', ['version']).toString())![1]!;
}

export interface RpmSpec {
  name: string;
  version: string;
  release: string;
  epoch?: number;
}

/** Builds each package with rpmbuild and records them with `rpm --justdb`; returns the files under var/lib/rpm. */
export function makeRpmdb(packages: RpmSpec[]): Record<string, Buffer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-rpm-'));
  try {
    const rpms: string[] = [];
    for (const p of packages) {
      const spec = path.join(dir, `${p.name}.spec`);
      writeFileSync(
        spec,
        `Name: ${p.name}\n${p.epoch ? `Epoch: ${p.epoch}\n` : ''}Version: ${p.version}\nRelease: ${p.release}\nSummary: test\nLicense: MIT\nBuildArch: noarch\n%description\ntest\n%files\n`,
      );
      execFileSync('rpmbuild', ['--quiet', '-bb', '--define', `_topdir ${dir}/top`, spec], { stdio: ['ignore', 'ignore', 'pipe'] });
      rpms.push(path.join(dir, 'top/RPMS/noarch', `${p.name}-${p.version}-${p.release}.noarch.rpm`));
    }
    const root = path.join(dir, 'root');
    mkdirSync(root);
    execFileSync('rpm', ['--root', root, '--dbpath', '/var/lib/rpm', '--initdb']);
    execFileSync('rpm', ['--root', root, '--dbpath', '/var/lib/rpm', '--justdb', '--nodeps', '--noscripts', '-i', ...rpms], {
      stdio: 'ignore',
    });
    const out: Record<string, Buffer> = {};
    for (const f of ['rpmdb.sqlite', 'rpmdb.sqlite-wal']) {
      try {
        out[f] = readFileSync(path.join(root, 'var/lib/rpm', f));
      } catch {
        // rpm removes an empty WAL on a clean close.
      }
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
