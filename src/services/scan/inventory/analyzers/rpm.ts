import { getPackages, getPackagesNdb, getPackagesSqlite } from '@snyk/rpm-parser';
import type { Found } from './found.js';
import { applyWal } from './sqlite-wal.js';

export type RpmDbFormat = 'sqlite' | 'bdb' | 'ndb';

/** Installed rpm packages from an rpmdb (SQLite with its WAL, Berkeley DB `Packages`, or NDB `Packages.db`). */
export async function parseRpmDb(
  format: RpmDbFormat,
  data: Buffer,
  wal: Buffer | undefined,
  maxBytes: number,
): Promise<{ found: Found[]; error?: string }> {
  const r =
    format === 'sqlite'
      ? await getPackagesSqlite(applyWal(data, wal, maxBytes))
      : format === 'bdb'
        ? await getPackages(data)
        : await getPackagesNdb(data);
  const found: Found[] = [];
  for (const p of r.response) {
    // gpg-pubkey entries are imported signing keys, not software.
    if (!p?.name || !p.version || p.name === 'gpg-pubkey' || /\s/.test(p.name + p.version + (p.release ?? ''))) continue;
    const epoch = p.epoch && p.epoch > 0 ? p.epoch : undefined;
    const evr = `${epoch ? `${epoch}:` : ''}${p.version}-${p.release}`;
    const f: Found = { kind: 'rpm', name: p.name, version: evr, rpm: { version: p.version, release: p.release } };
    if (epoch) f.rpm!.epoch = epoch;
    if (p.arch) f.arch = p.arch;
    const src = p.sourceRPM ? sourceOfRpm(p.sourceRPM) : undefined;
    f.source = src ? { name: src.name, version: `${epoch ? `${epoch}:` : ''}${src.version}` } : { name: p.name, version: evr };
    found.push(f);
  }
  return r.error ? { found, error: r.error.message } : { found };
}

/** `openssl-3.0.7-24.el9.src.rpm` → openssl, 3.0.7-24.el9 (name-version-release.arch.rpm; names may hold dashes). */
export function sourceOfRpm(file: string): { name: string; version: string } | undefined {
  const m = /^(.+)-([^-]+)-([^-]+)\.(?:src|nosrc)\.rpm$/.exec(file);
  return m ? { name: m[1]!, version: `${m[2]}-${m[3]}` } : undefined;
}
