// A synthetic OSV export shaped like osv.dev's Debian all.zip: DEBIAN-CVE-*, DSA-* and DLA-*
// records, each with affected entries for several Debian releases (source package, an ECOSYSTEM
// range, a list of affected versions, urgency), about 2-3 KB of JSON each. Deterministic for a
// given count, so two runs load the same data. The source packages are srcpkg0..srcpkg2999 unless
// real names are given (packageNames), so an image's own packages have advisories to match.
import { createWriteStream } from 'node:fs';
import { Zip, ZipDeflate } from 'fflate';

const RELEASES = ['Debian:11', 'Debian:12', 'Debian:13'];
const PACKAGES = Array.from({ length: 3000 }, (_, i) => `srcpkg${i}`);

/** The 3,000 source package names with `real` ones in place of the first srcpkgN (each real name gets ~1/3000 of the records). */
export function packageNames(real = []) {
  return [...real, ...PACKAGES.slice(real.length)];
}

/** A small deterministic generator (mulberry32). */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The i-th record of the export. */
export function syntheticDebianRecord(i, modified = '2026-11-30T08:00:00Z', packages = PACKAGES) {
  const rnd = random(i + 1);
  const kind = i % 10 < 7 ? 'DEBIAN-CVE' : i % 10 < 9 ? 'DLA' : 'DSA';
  const year = 2014 + (i % 13);
  const id = kind === 'DEBIAN-CVE' ? `DEBIAN-CVE-${year}-${10000 + i}` : `${kind}-${1000 + i}-1`;
  const pkg = packages[Math.floor(rnd() * packages.length)];
  const major = 1 + Math.floor(rnd() * 9);
  const affected = RELEASES.filter(() => rnd() < 0.8).map((ecosystem, r) => {
    const versions = Array.from({ length: Math.floor(rnd() * 12) }, (_, v) => `${major}.${r}.${v}-${1 + (v % 3)}`);
    const fixed = rnd() < 0.85;
    return {
      package: { name: pkg, ecosystem, purl: `pkg:deb/debian/${pkg}?arch=source` },
      ranges: [
        {
          type: 'ECOSYSTEM',
          events: [{ introduced: '0' }, ...(fixed ? [{ fixed: `${major}.${r}.${versions.length}-1+deb${11 + r}u1` }] : [])],
        },
      ],
      versions,
      ecosystem_specific: { urgency: ['low', 'medium', 'high', 'not yet assigned', 'unimportant'][Math.floor(rnd() * 5)] },
      database_specific: { source: `https://storage.googleapis.com/debian-osv/debian-cve-osv/${id}.json` },
    };
  });
  return {
    id,
    summary: kind === 'DEBIAN-CVE' ? undefined : `${pkg} - security update`,
    details:
      `A flaw was found in ${pkg} that allows a remote attacker to cause a denial of service or possibly execute arbitrary code via crafted input. `.repeat(
        1 + Math.floor(rnd() * 3),
      ),
    aliases: kind === 'DEBIAN-CVE' ? [] : [`CVE-${year}-${10000 + i}`],
    upstream: [`CVE-${year}-${10000 + i}`],
    modified,
    published: `${year}-0${1 + (i % 9)}-15T00:00:00Z`,
    affected,
    schema_version: '1.6.0',
  };
}

/** Writes a zip of `count` records (one `<id>.json` per entry, as all.zip); resolves with its size in bytes. */
export function writeSyntheticDebianZip(file, count, modified) {
  return new Promise((resolve, reject) => {
    const out = createWriteStream(file);
    let size = 0;
    const zip = new Zip((err, chunk, final) => {
      if (err) return reject(err);
      size += chunk.length;
      out.write(chunk);
      if (final) out.end(() => resolve(size));
    });
    for (let i = 0; i < count; i++) {
      const rec = syntheticDebianRecord(i, modified);
      const entry = new ZipDeflate(`${rec.id}.json`, { level: 6 });
      zip.add(entry);
      entry.push(Buffer.from(JSON.stringify(rec, null, 2)), true);
    }
    zip.end();
  });
}

/** The same records as NDJSON chunks (about 1 MiB each), for importOsv(..., 'ndjson'): no zip to write first. */
export async function* syntheticDebianNdjson(count, { modified, packages = PACKAGES } = {}) {
  let lines = [];
  let size = 0;
  for (let i = 0; i < count; i++) {
    const line = JSON.stringify(syntheticDebianRecord(i, modified, packages)) + '\n';
    lines.push(line);
    size += line.length;
    if (size >= 1 << 20) {
      yield Buffer.from(lines.join(''));
      lines = [];
      size = 0;
    }
  }
  if (lines.length) yield Buffer.from(lines.join(''));
}
